/// <reference types="vite/client" />
/**
 * The demo page: wires the form, the image pickers and the loss plot to one <style-transfer controls> element.
 * The element does the work; this file only turns controls into its properties and its events into the plot.
 * Weights come from `?weights=URL` or /weights/ (npm start serves STYLE_TRANSFER_WEIGHTS or ./weights there).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import '../src/ui/define.js';
import { PRESETS, resolveOptions, type OptimizerName, type PresetName } from '../src/net/options.js';
import type { StyleTransferElement } from '../src/ui/style-transfer.js';
import chelseaUrl from '../samples/chelsea.png?url';
import starryNightUrl from '../samples/starry_night.jpg?url';

const DEMO_DEFAULTS = { size: 256, iterations: 200 };

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`demo: #${id} is missing`);
  return element as T;
}

const stylizer = byId<StyleTransferElement>('stylizer');
const form = byId<HTMLFormElement>('settings');
const preset = byId<HTMLSelectElement>('preset');
const optimizer = byId<HTMLSelectElement>('optimizer');
const size = byId<HTMLInputElement>('size');
const iterations = byId<HTMLInputElement>('iterations');
const originalColors = byId<HTMLInputElement>('original-colors');
const layerFieldset = byId<HTMLFieldSetElement>('layer-weights');
const download = byId<HTMLButtonElement>('download');
const runNote = byId<HTMLElement>('run-note');

// ---------------------------------------------------------------------------------------------------------------
// Log-scale weight sliders: the range holds log10(weight); the TV slider's lowest position means 0 (off).
// ---------------------------------------------------------------------------------------------------------------

interface WeightSlider {
  input: HTMLInputElement;
  output: HTMLOutputElement;
  zeroAtMin: boolean;
}

const weightSliders = {
  contentWeight: { input: byId<HTMLInputElement>('content-weight'), output: byId<HTMLOutputElement>('content-weight-value'), zeroAtMin: false },
  styleWeight: { input: byId<HTMLInputElement>('style-weight'), output: byId<HTMLOutputElement>('style-weight-value'), zeroAtMin: false },
  tvWeight: { input: byId<HTMLInputElement>('tv-weight'), output: byId<HTMLOutputElement>('tv-weight-value'), zeroAtMin: true },
} satisfies Record<string, WeightSlider>;

function formatWeight(value: number): string {
  if (value === 0) return '0 (off)';
  return value >= 0.01 && value < 10000 ? String(+value.toPrecision(3)) : value.toExponential(1);
}

function sliderValue(slider: WeightSlider): number {
  const exponent = Number(slider.input.value);
  return slider.zeroAtMin && exponent <= Number(slider.input.min) ? 0 : 10 ** exponent;
}

function setSlider(slider: WeightSlider, value: number): void {
  const min = Number(slider.input.min);
  slider.input.value = String(value > 0 ? Math.min(Number(slider.input.max), Math.max(min, Math.log10(value))) : min);
  showSlider(slider);
}

function showSlider(slider: WeightSlider): void {
  const text = formatWeight(sliderValue(slider));
  slider.output.value = text;
  slider.input.setAttribute('aria-valuetext', text);
}

// ---------------------------------------------------------------------------------------------------------------
// Per-layer style weights: one multiplier slider per style layer of the chosen preset.
// ---------------------------------------------------------------------------------------------------------------

let layerBase: number[] = [];
let layerInputs: HTMLInputElement[] = [];

function buildLayerSliders(layers: string[], base: number[]): void {
  layerBase = base;
  layerFieldset.querySelectorAll('.row').forEach((row) => row.remove());
  layerInputs = layers.map((layer) => {
    const row = document.createElement('div');
    row.className = 'row';
    const id = `layer-${layer}`;
    const label = Object.assign(document.createElement('label'), { htmlFor: id, textContent: layer });
    const input = Object.assign(document.createElement('input'), { id, type: 'range', min: '0', max: '4', step: '0.1', value: '1' });
    const output = Object.assign(document.createElement('output'), { htmlFor: id });
    const show = () => {
      output.value = `× ${Number(input.value).toFixed(1)}`;
      input.setAttribute('aria-valuetext', output.value);
    };
    input.addEventListener('input', show);
    show();
    row.append(label, input, output);
    layerFieldset.append(row);
    return input;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Form <-> element
// ---------------------------------------------------------------------------------------------------------------

/** Fills the form with a preset's values (the engine's defaults for ""), keeping the demo's lighter size/iterations. */
function loadPreset(name: PresetName | ''): void {
  const options = resolveOptions({ preset: name || undefined });
  optimizer.value = options.optimizer;
  size.value = String(name ? (PRESETS[name].size ?? DEMO_DEFAULTS.size) : DEMO_DEFAULTS.size);
  iterations.value = String(name ? (PRESETS[name].iterations ?? DEMO_DEFAULTS.iterations) : DEMO_DEFAULTS.iterations);
  setSlider(weightSliders.contentWeight, options.contentWeight);
  setSlider(weightSliders.styleWeight, options.styleWeight);
  setSlider(weightSliders.tvWeight, options.tvWeight);
  buildLayerSliders(options.styleLayers, options.styleLayerWeights ?? options.styleLayers.map(() => 1));
}

/** Copies the form into the element's properties (read by its next start()). */
function applySettings(): void {
  stylizer.preset = (preset.value || undefined) as PresetName | undefined;
  stylizer.optimizer = optimizer.value as OptimizerName;
  stylizer.size = size.valueAsNumber;
  stylizer.iterations = iterations.valueAsNumber;
  stylizer.contentWeight = sliderValue(weightSliders.contentWeight);
  stylizer.styleWeight = sliderValue(weightSliders.styleWeight);
  stylizer.tvWeight = sliderValue(weightSliders.tvWeight);
  stylizer.styleLayerWeights = layerInputs.map((input, i) => layerBase[i] * Number(input.value));
  stylizer.originalColors = originalColors.checked;
  // Small results are shown enlarged: crisp pixels say honestly what was computed.
  stylizer.style.setProperty('--style-transfer-image-rendering', size.valueAsNumber < 200 ? 'pixelated' : 'auto');
}

for (const slider of Object.values(weightSliders)) slider.input.addEventListener('input', () => showSlider(slider));
preset.addEventListener('change', () => {
  loadPreset(preset.value as PresetName | '');
  applySettings();
});
form.addEventListener('input', applySettings);
form.addEventListener('change', applySettings);
form.addEventListener('submit', (event) => event.preventDefault());

// ---------------------------------------------------------------------------------------------------------------
// Images: the bundled samples, a file picker and drag-and-drop per panel. A file that does not decode is refused
// with a note and the previous image stays.
// ---------------------------------------------------------------------------------------------------------------

type Role = 'content' | 'style';
const objectUrls: Partial<Record<Role, string>> = {};

function showImage(role: Role, src: string, alt: string): void {
  const img = byId<HTMLImageElement>(`${role}-image`);
  img.src = src;
  img.alt = alt;
}

async function useFile(role: Role, file: File): Promise<void> {
  const note = byId<HTMLElement>(`${role}-note`);
  try {
    (await createImageBitmap(file)).close();
  } catch {
    note.textContent = `"${file.name}" is not an image this browser can decode; the previous ${role} image stays.`;
    return;
  }
  if (objectUrls[role]) URL.revokeObjectURL(objectUrls[role]);
  objectUrls[role] = URL.createObjectURL(file);
  showImage(role, objectUrls[role], `${role === 'content' ? 'Content' : 'Style'} image: ${file.name}`);
  if (role === 'content') stylizer.contentSrc = file;
  else stylizer.styleSrc = file;
  note.textContent = `Using ${file.name}.`;
}

for (const role of ['content', 'style'] as const) {
  const input = byId<HTMLInputElement>(`${role}-file`);
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) void useFile(role, file);
  });
  const panel = byId<HTMLElement>(`${role}-panel`);
  panel.addEventListener('dragover', (event) => {
    event.preventDefault();
    panel.classList.add('dragging');
  });
  panel.addEventListener('dragleave', () => panel.classList.remove('dragging'));
  panel.addEventListener('drop', (event) => {
    event.preventDefault();
    panel.classList.remove('dragging');
    const file = event.dataTransfer?.files[0];
    if (file) void useFile(role, file);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Loss plot (uPlot, log scale) and run notes, from the element's events.
// ---------------------------------------------------------------------------------------------------------------

const plotElement = byId<HTMLElement>('loss-plot');
const series: [number[], Array<number | null>, Array<number | null>, Array<number | null>, Array<number | null>] = [[], [], [], [], []];
const positive = (v: number) => (v > 0 ? v : null); // log axes cannot show 0 (e.g. TV weight 0)

const plot = new uPlot(
  {
    width: plotElement.clientWidth || 600,
    height: 240,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [
      { label: 'iteration', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
      { label: 'loss', size: 60, values: (_u, splits) => splits.map((v) => (v == null ? '' : v.toExponential(0))) },
    ],
    series: [
      { label: 'iteration' },
      { label: 'total', stroke: '#111', width: 2 },
      { label: 'content', stroke: '#1565c0' },
      { label: 'style', stroke: '#c62828' },
      { label: 'TV', stroke: '#2e7d32' },
    ],
  },
  series,
  plotElement,
);
new ResizeObserver(() => plot.setSize({ width: plotElement.clientWidth, height: 240 })).observe(plotElement);

stylizer.addEventListener('style-transfer-progress', ({ detail }) => {
  if (detail.iteration === 1) series.forEach((s) => (s.length = 0));
  series[0].push(detail.iteration);
  series[1].push(positive(detail.total));
  series[2].push(positive(detail.content));
  series[3].push(positive(detail.style));
  series[4].push(positive(detail.tv));
  plot.setData(series);
  download.disabled = false;
  runNote.textContent = `Iteration ${detail.iteration}: total loss ${detail.total.toExponential(3)}`;
});
stylizer.addEventListener('style-transfer-complete', ({ detail }) => {
  const seconds = (detail.ms / 1000).toFixed(1);
  runNote.textContent = detail.stopped ? `Stopped after ${detail.iterations} iterations (${seconds} s).` : `Done: ${detail.iterations} iterations in ${seconds} s.`;
});
stylizer.addEventListener('style-transfer-error', () => {
  runNote.textContent = 'The run failed: see the message on the result.';
});

async function downloadResult(): Promise<void> {
  const blob = await stylizer.toBlob('image/png');
  const link = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: 'style-transfer.png' });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
download.addEventListener('click', () => void downloadResult());

// ---------------------------------------------------------------------------------------------------------------
// Start state
// ---------------------------------------------------------------------------------------------------------------

stylizer.weightsSrc = new URLSearchParams(location.search).get('weights') ?? '/weights/';
stylizer.contentSrc = chelseaUrl;
stylizer.styleSrc = starryNightUrl;
showImage('content', chelseaUrl, 'Content image: Chelsea the cat');
showImage('style', starryNightUrl, 'Style image: The Starry Night by Vincent van Gogh');
loadPreset('');
applySettings();
