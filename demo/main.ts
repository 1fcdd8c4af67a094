/// <reference types="vite/client" />
/**
 * The demo page: wires the form, the image pickers, the before/after comparison and the loss plot to one
 * <style-transfer controls> element. The element does the work; this file only turns controls into its properties
 * and its events into the plot and notes. Weights come from `?weights=URL` or weights/ next to this page (`npm
 * start` and `npm run preview` serve STYLE_TRANSFER_WEIGHTS or ./weights there).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import '../src/ui/define.js';
import { PRESETS, resolveOptions, type OptimizerName, type PresetName } from '../src/net/options.js';
import { formatDuration, type StyleTransferElement } from '../src/ui/style-transfer.js';
import { DEFAULT_LOSS, lossDepth } from '../src/net/loss.js';
import { parseSafetensorsHeader, safetensorsHeaderLength } from '../src/net/safetensors.js';
import { VGG19 } from '../src/net/vgg19.js';
import { convLayersForDepth, weightsFileName } from '../src/net/weightsFormat.js';
import { MASK_REGIONS, MaskPainter, type MaskRegion } from './mask-painter.js';
import chelseaUrl from '../samples/chelsea.png?url';
import starryNightUrl from '../samples/starry_night.jpg?url';

const DEMO_DEFAULTS = { size: 256, iterations: 200 };
const SIZE_PRESETS = ['128', '256', '512'];

/** What each style layer contributes, in words; the layer's name follows as secondary text. */
const LAYER_WORDS: Record<string, string> = {
  relu1_1: 'Fine grain and colour',
  relu2_1: 'Small brush strokes',
  relu3_1: 'Medium patterns',
  relu4_1: 'Large shapes',
  relu5_1: 'Overall arrangement',
};

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`demo: #${id} is missing`);
  return element as T;
}

const stylizer = byId<StyleTransferElement>('stylizer');
const form = byId<HTMLFormElement>('settings');
const preset = byId<HTMLSelectElement>('preset');
const optimizer = byId<HTMLSelectElement>('optimizer');
const sizePreset = byId<HTMLSelectElement>('size-preset');
const size = byId<HTMLInputElement>('size');
const sizeNote = byId<HTMLElement>('size-note');
const iterations = byId<HTMLInputElement>('iterations');
const originalColors = byId<HTMLInputElement>('original-colors');
const matchStyleColors = byId<HTMLInputElement>('match-style-colors');
const reflectPadding = byId<HTMLInputElement>('reflect-padding');
const layerFieldset = byId<HTMLFieldSetElement>('layer-weights');
const download = byId<HTMLButtonElement>('download');
const runNote = byId<HTMLElement>('run-note');

// ---------------------------------------------------------------------------------------------------------------
// Weights: a log slider (log10 of the weight) beside a number field holding the exact value. The number field is
// what runs; the slider follows it, and moving the slider writes a rounded value into it. The TV slider's lowest
// position means 0 (off).
// ---------------------------------------------------------------------------------------------------------------

interface WeightControl {
  slider: HTMLInputElement;
  number: HTMLInputElement;
  zeroAtMin: boolean;
}

const weightControl = (id: string, zeroAtMin: boolean): WeightControl => ({ slider: byId(id), number: byId(`${id}-number`), zeroAtMin });
const weights = {
  contentWeight: weightControl('content-weight', false),
  styleWeight: weightControl('style-weight', false),
  tvWeight: weightControl('tv-weight', true),
} satisfies Record<string, WeightControl>;

/** The exact weight in the number field (NaN when it holds no number). */
const weightValue = (control: WeightControl): number => (control.number.value.trim() === '' ? NaN : Number(control.number.value));

function setWeight(control: WeightControl, value: number): void {
  control.number.value = String(value);
  moveSlider(control, value);
}

function moveSlider(control: WeightControl, value: number): void {
  const min = Number(control.slider.min);
  control.slider.value = String(value > 0 ? Math.min(Number(control.slider.max), Math.max(min, Math.log10(value))) : min);
  control.slider.setAttribute('aria-valuetext', value === 0 ? '0 (off)' : String(value));
}

for (const control of Object.values(weights)) {
  control.slider.addEventListener('input', () => {
    const exponent = Number(control.slider.value);
    const value = control.zeroAtMin && exponent <= Number(control.slider.min) ? 0 : +(10 ** exponent).toPrecision(3);
    control.number.value = String(value);
    control.slider.setAttribute('aria-valuetext', value === 0 ? '0 (off)' : String(value));
  });
  control.number.addEventListener('input', () => {
    const value = weightValue(control);
    if (Number.isFinite(value) && value >= 0) moveSlider(control, value);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Per-layer style weights: one multiplier per style layer of the chosen preset, in words with the layer's name.
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
    const label = Object.assign(document.createElement('label'), { htmlFor: id, textContent: `${LAYER_WORDS[layer] ?? layer} ` });
    label.append(Object.assign(document.createElement('small'), { textContent: layer }));
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
// Size: presets, and the limits of this GPU for these images (the element computes them from the same memory
// estimates a run uses), enforced when the field is left.
// ---------------------------------------------------------------------------------------------------------------

let limits: { minimum: number; maximum: number } | undefined;

async function updateLimits(): Promise<void> {
  const content = byId<HTMLImageElement>('content-image');
  const style = byId<HTMLImageElement>('style-image');
  if (!content.naturalWidth || !style.naturalWidth) return;
  try {
    limits = await stylizer.sizeLimits({ width: content.naturalWidth, height: content.naturalHeight }, { width: style.naturalWidth, height: style.naturalHeight });
  } catch {
    limits = undefined; // no WebGPU (the banner says so) or a bad setting (the run will say which)
    return;
  }
  size.min = String(limits.minimum);
  size.max = String(limits.maximum);
  enforceSize();
}

/** The limits in a sentence (empty before they are known). */
function limitsText(): string {
  if (!limits) return '';
  return limits.maximum > 0 ? `From ${limits.minimum} to ${limits.maximum} px for these images on this GPU.` : 'These images do not fit this GPU at any size with these settings.';
}

/** Keeps the size a whole number within the limits, saying why it changed it. */
function enforceSize(): void {
  const value = size.valueAsNumber;
  let fixed = value;
  let why = '';
  if (!Number.isFinite(value) || value < 1) {
    fixed = DEMO_DEFAULTS.size;
    why = `The size must be a whole number of pixels; set to ${fixed}.`;
  } else if (!Number.isInteger(value)) {
    fixed = Math.round(value);
    why = `The size must be a whole number of pixels; set to ${fixed}.`;
  }
  if (limits && limits.maximum > 0) {
    if (fixed < limits.minimum) {
      fixed = limits.minimum;
      why = `The smallest size the network can work with for this photo is ${limits.minimum} px; set to ${fixed}.`;
    } else if (fixed > limits.maximum) {
      fixed = limits.maximum;
      why = `The largest size that fits this GPU's memory for these images is ${limits.maximum} px; set to ${fixed}.`;
    }
  }
  if (fixed !== value) size.value = String(fixed);
  sizeNote.textContent = why || limitsText();
  sizePreset.value = SIZE_PRESETS.includes(size.value) ? size.value : 'custom';
  applySettings();
}

sizePreset.addEventListener('change', () => {
  if (sizePreset.value === 'custom') {
    size.focus();
    return;
  }
  size.value = sizePreset.value;
  enforceSize();
});
size.addEventListener('change', enforceSize);

// ---------------------------------------------------------------------------------------------------------------
// Form <-> element
// ---------------------------------------------------------------------------------------------------------------

/** Fills the form with a preset's exact values (the engine's defaults for ""), keeping the demo's lighter size/iterations. */
function loadPreset(name: PresetName | ''): void {
  const options = resolveOptions({ preset: name || undefined });
  optimizer.value = options.optimizer;
  size.value = String(name ? (PRESETS[name].size ?? DEMO_DEFAULTS.size) : DEMO_DEFAULTS.size);
  sizePreset.value = SIZE_PRESETS.includes(size.value) ? size.value : 'custom';
  iterations.value = String(name ? (PRESETS[name].iterations ?? DEMO_DEFAULTS.iterations) : DEMO_DEFAULTS.iterations);
  setWeight(weights.contentWeight, options.contentWeight);
  setWeight(weights.styleWeight, options.styleWeight);
  setWeight(weights.tvWeight, options.tvWeight);
  buildLayerSliders(options.styleLayers, options.styleLayerWeights ?? options.styleLayers.map(() => 1));
}

/** Copies the form into the element's properties (read by its next start()); a bad field is the run's error. */
function applySettings(): void {
  stylizer.preset = (preset.value || undefined) as PresetName | undefined;
  stylizer.optimizer = optimizer.value as OptimizerName;
  stylizer.size = size.valueAsNumber;
  stylizer.iterations = iterations.valueAsNumber;
  stylizer.contentWeight = weightValue(weights.contentWeight);
  stylizer.styleWeight = weightValue(weights.styleWeight);
  stylizer.tvWeight = weightValue(weights.tvWeight);
  stylizer.styleLayerWeights = layerInputs.map((input, i) => layerBase[i] * Number(input.value));
  stylizer.originalColors = originalColors.checked;
  stylizer.matchStyleColors = matchStyleColors.checked;
  stylizer.padding = reflectPadding.checked ? 'reflect' : 'zero';
  // Small results are shown enlarged: crisp pixels say honestly what was computed.
  stylizer.style.setProperty('--style-transfer-image-rendering', size.valueAsNumber < 200 ? 'pixelated' : 'auto');
}

preset.addEventListener('change', () => {
  loadPreset(preset.value as PresetName | '');
  applySettings();
  void updateLimits();
});
optimizer.addEventListener('change', () => void updateLimits());
// Reflect padding needs a larger image (a reflected border needs two pixels at the deepest layer).
reflectPadding.addEventListener('change', () => {
  applySettings();
  void updateLimits();
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
  if (role === 'content') byId<HTMLImageElement>('before-image').src = src;
  void img.decode().then(updateLimits, () => undefined);
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
  applyRegions();
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
// Style regions: a mask painted over the photo (pointer events, or region presets from the keyboard) and an
// optional second painting. Painted with one painting: that style over the painted part only. Painted with two: the
// first over the painted part, the second over the rest (two styles, two masks). Nothing painted: the whole photo
// (two paintings blended).
// ---------------------------------------------------------------------------------------------------------------

const contentImage = byId<HTMLImageElement>('content-image');
const maskCanvas = byId<HTMLCanvasElement>('mask-canvas');
const painter = new MaskPainter(maskCanvas);
const brushSize = byId<HTMLInputElement>('brush-size');
const maskOpacity = byId<HTMLInputElement>('mask-opacity');
const maskRegion = byId<HTMLSelectElement>('mask-region');
const maskApply = byId<HTMLButtonElement>('mask-apply');
const maskNote = byId<HTMLElement>('mask-note');
const style2Canvas = byId<HTMLCanvasElement>('style2-canvas');
const style2Remove = byId<HTMLButtonElement>('style2-remove');
const style2Note = byId<HTMLElement>('style2-note');
let secondStyle: File | undefined;

for (const [value, text] of Object.entries(MASK_REGIONS)) maskRegion.append(new Option(text, value));

/** Keeps the overlay over the photo as shown (the photo is scaled to fit its frame and centred in it). */
function fitOverlay(): void {
  maskCanvas.style.left = `${contentImage.offsetLeft}px`;
  maskCanvas.style.top = `${contentImage.offsetTop}px`;
  maskCanvas.style.width = `${contentImage.clientWidth}px`;
  maskCanvas.style.height = `${contentImage.clientHeight}px`;
}
const overlayObserver = new ResizeObserver(fitOverlay);
overlayObserver.observe(contentImage);
overlayObserver.observe(contentImage.parentElement!);
// A new photo starts an empty mask of its shape.
contentImage.addEventListener('load', () => painter.resize(contentImage.naturalWidth, contentImage.naturalHeight));

/** Copies the mask and the paintings into the element (read by its next start()), and says what a run will do. */
function applyRegions(): void {
  const painted = painter.paintedFraction();
  const first = stylizer.styleSrc;
  stylizer.styles = secondStyle && first ? [first, secondStyle] : undefined;
  if (painted > 0) {
    const { painted: mask, unpainted } = painter.masks();
    stylizer.styleMasks = secondStyle ? [mask, unpainted] : [mask];
  } else {
    stylizer.styleMasks = undefined;
  }
  const share = `${(painted * 100).toFixed(painted > 0 && painted < 0.01 ? 1 : 0)} % painted`;
  if (painted === 0)
    maskNote.textContent = secondStyle ? 'Nothing painted: the two paintings are blended over the whole photo.' : 'Nothing painted: the painting styles the whole photo.';
  else if (secondStyle) maskNote.textContent = `${share}: the first painting styles the painted part, the second painting the rest.`;
  else maskNote.textContent = `${share}: the painting styles the painted part only; choose a second painting for the rest.`;
}
painter.onChange = applyRegions;

function setBrushMode(): void {
  painter.erasing = byId<HTMLInputElement>('mask-erase').checked;
  maskApply.textContent = painter.erasing ? 'Erase region' : 'Paint region';
}
for (const id of ['mask-paint', 'mask-erase']) byId(id).addEventListener('change', setBrushMode);

function showBrushSize(): void {
  painter.brushFraction = Number(brushSize.value) / 100;
  byId<HTMLOutputElement>('brush-size-value').value = `${brushSize.value} %`;
}
brushSize.addEventListener('input', showBrushSize);

function showOpacity(): void {
  maskCanvas.style.opacity = String(Number(maskOpacity.value) / 100);
  byId<HTMLOutputElement>('mask-opacity-value').value = `${maskOpacity.value} %`;
}
maskOpacity.addEventListener('input', showOpacity);

maskApply.addEventListener('click', () => painter.fillRegion(maskRegion.value as MaskRegion));
byId('mask-invert').addEventListener('click', () => painter.invert());
byId('mask-clear').addEventListener('click', () => painter.clear());

/** Takes a second painting (drawn into a canvas: a blob: URL in an <img> would need img-src blob: in a CSP). */
async function useSecondStyle(file: File): Promise<void> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    style2Note.textContent = `"${file.name}" is not an image this browser can decode; the previous choice stays.`;
    return;
  }
  style2Canvas.width = bitmap.width;
  style2Canvas.height = bitmap.height;
  style2Canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
  bitmap.close();
  style2Canvas.setAttribute('aria-label', `Second style image: ${file.name}`);
  secondStyle = file;
  style2Remove.disabled = false;
  style2Note.textContent = `Using ${file.name}.`;
  applyRegions();
}

function removeSecondStyle(): void {
  secondStyle = undefined;
  style2Canvas.width = style2Canvas.height = 1;
  style2Canvas.setAttribute('aria-label', 'No second painting chosen');
  style2Remove.disabled = true;
  style2Note.textContent = 'One painting only.';
  applyRegions();
}

const style2File = byId<HTMLInputElement>('style2-file');
style2File.addEventListener('change', () => {
  const file = style2File.files?.[0];
  if (file) void useSecondStyle(file);
});
style2Remove.addEventListener('click', removeSecondStyle);
const style2Panel = byId<HTMLElement>('style2-panel');
style2Panel.addEventListener('dragover', (event) => {
  event.preventDefault();
  style2Panel.classList.add('dragging');
});
style2Panel.addEventListener('dragleave', () => style2Panel.classList.remove('dragging'));
style2Panel.addEventListener('drop', (event) => {
  event.preventDefault();
  style2Panel.classList.remove('dragging');
  const file = event.dataTransfer?.files[0];
  if (file) void useSecondStyle(file);
});

// ---------------------------------------------------------------------------------------------------------------
// Before/after: the result under the original photo, which a slider uncovers.
// ---------------------------------------------------------------------------------------------------------------

const compareSection = byId<HTMLElement>('compare-section');
const compare = byId<HTMLElement>('compare');
const compareSlider = byId<HTMLInputElement>('compare-slider');

function showSplit(): void {
  compare.style.setProperty('--split', `${compareSlider.value}%`);
  byId<HTMLOutputElement>('compare-value').value = `${compareSlider.value} %`;
}
compareSlider.addEventListener('input', showSplit);
showSplit();

/** Copies the result into the comparison (a 2D canvas: a blob: URL in an <img> would need img-src blob: in a CSP). */
async function showComparison(): Promise<void> {
  const bitmap = await createImageBitmap(await stylizer.toBlob('image/png'));
  const canvas = byId<HTMLCanvasElement>('after-canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
  bitmap.close();
  compareSection.hidden = false;
}

// ---------------------------------------------------------------------------------------------------------------
// Loss plot (uPlot, log scale, every loss divided by the first total loss) and run notes, from the element's events.
// ---------------------------------------------------------------------------------------------------------------

const plotElement = byId<HTMLElement>('loss-plot');
/** iteration, total, content, style, TV, then one style curve per style image when there are several. */
const series: [number[], ...Array<Array<number | null>>] = [[], [], [], [], []];
const curve = (k: number) => series[k] as Array<number | null>;
const FIXED_SERIES = 5;
const STYLE_COLOURS = ['#fb8c00', '#8e24aa', '#00897b', '#6d4c41'];
let firstTotal = 1;
const relative = (v: number) => (v > 0 ? v / firstTotal : null); // log axes cannot show 0 (e.g. TV weight 0)
const dark = matchMedia('(prefers-color-scheme: dark)');
const ink = () => (dark.matches ? '#e6e6ee' : '#111');

const plot = new uPlot(
  {
    width: plotElement.clientWidth || 600,
    height: 240,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [
      { label: 'iteration', stroke: ink, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
      {
        label: 'loss ÷ first total',
        stroke: ink,
        size: 60,
        values: (_u, splits) => splits.map((v) => (v == null ? '' : +v.toPrecision(2) >= 0.01 ? String(+v.toPrecision(2)) : v.toExponential(0))),
      },
    ],
    series: [
      { label: 'iteration' },
      { label: 'total', stroke: () => ink(), width: 2 },
      { label: 'content', stroke: '#1e88e5' },
      { label: 'style', stroke: '#e53935' },
      { label: 'smoothness (TV)', stroke: '#43a047' },
    ],
  },
  series,
  plotElement,
);
new ResizeObserver(() => plot.setSize({ width: plotElement.clientWidth, height: 240 })).observe(plotElement);

/** One style curve per style image (none beside the style total with a single style). */
function showStyleCurves(count: number): void {
  while (series.length > FIXED_SERIES) {
    plot.delSeries(series.length - 1);
    series.pop();
  }
  for (let k = 0; k < count; k++) {
    plot.addSeries({ label: `style ${k + 1}${k === 0 ? ' (painted)' : k === 1 ? ' (rest)' : ''}`, stroke: STYLE_COLOURS[k % STYLE_COLOURS.length], dash: [6, 3] });
    series.push([]);
  }
}
dark.addEventListener('change', () => plot.redraw(false, true));

stylizer.addEventListener('style-transfer-phase', ({ detail }) => {
  if (detail.phase === 'loading-weights') runNote.textContent = 'Loading the network and the images…';
  else if (detail.phase === 'compiling') runNote.textContent = 'Preparing the GPU programs (the first run takes longest)…';
  else if (detail.phase === 'style-targets') runNote.textContent = 'Measuring the style of the painting and the content of the photo…';
  else if (detail.phase === 'stopping') runNote.textContent = 'Stopping after the current step…';
});
stylizer.addEventListener('style-transfer-progress', ({ detail }) => {
  if (detail.iteration === 1) {
    series.forEach((s) => (s.length = 0));
    firstTotal = detail.total > 0 ? detail.total : 1;
    showStyleCurves(detail.styles.length > 1 ? detail.styles.length : 0);
  }
  series[0].push(detail.iteration);
  series[1].push(relative(detail.total));
  series[2].push(relative(detail.content));
  series[3].push(relative(detail.style));
  series[4].push(relative(detail.tv));
  for (let k = FIXED_SERIES; k < series.length; k++) curve(k).push(relative(detail.styles[k - FIXED_SERIES] ?? 0));
  plot.setData(series);
  download.disabled = false;
  runNote.textContent = `Step ${detail.iteration}: ${formatDuration(detail.elapsedMs)} elapsed, about ${formatDuration(detail.etaMs)} left.`;
});
stylizer.addEventListener('style-transfer-complete', ({ detail }) => {
  const seconds = (detail.ms / 1000).toFixed(1);
  runNote.textContent = detail.stopped
    ? `Stopped after ${detail.iterations} steps (${seconds} s). Continue goes on from here.`
    : `Done: ${detail.iterations} steps in ${seconds} s. Continue runs as many again.`;
  if (detail.iterations > 0) void showComparison();
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
// Before the first Start: is there WebGPU (what to do in this browser if not), and how much will be downloaded.
// ---------------------------------------------------------------------------------------------------------------

/** What to do in this browser to get WebGPU. */
function webGpuAdvice(): string {
  const ua = navigator.userAgent;
  if (/Firefox\//.test(ua)) return 'In Firefox, WebGPU is on from version 141 on Windows; elsewhere set dom.webgpu.enabled to true in about:config, or use Chrome or Edge.';
  if (/Edg\//.test(ua))
    return 'In Edge, use version 113 or later and turn on "Use graphics acceleration when available" (edge://settings/system); on Linux also enable edge://flags/#enable-unsafe-webgpu.';
  if (/Chrome\//.test(ua))
    return 'In Chrome, use version 113 or later and turn on "Use graphics acceleration when available" (chrome://settings/system); on Linux also enable chrome://flags/#enable-unsafe-webgpu.';
  if (/Safari\//.test(ua)) return 'In Safari, WebGPU is on from Safari 26 (macOS Tahoe, iOS 26); on Safari 18 turn it on under Develop > Feature Flags > WebGPU.';
  return 'Use a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled.';
}

async function checkWebGpu(): Promise<void> {
  const banner = byId<HTMLElement>('gpu-banner');
  let problem = '';
  if (!isSecureContext) problem = 'WebGPU needs a secure page: open this demo over https or from localhost.';
  else if (!('gpu' in navigator) || !navigator.gpu) problem = `This browser has no WebGPU, which the demo needs. ${webGpuAdvice()}`;
  else if (!(await navigator.gpu.requestAdapter().catch(() => null))) problem = `WebGPU is present but found no usable GPU (it may be turned off or blocked). ${webGpuAdvice()}`;
  banner.textContent = problem;
  banner.hidden = !problem;
}

/** The bytes a first run downloads: the header and the f16 layers up to the default loss's deepest, from the file's header. */
async function announceDownload(weightsBase: string): Promise<void> {
  try {
    const response = await fetch(new URL(weightsFileName('f16'), weightsBase), { headers: { Range: 'bytes=0-16383' } });
    if (response.status !== 206) return;
    const bytes = new Uint8Array(await response.arrayBuffer());
    const header = parseSafetensorsHeader(bytes.subarray(8, 8 + safetensorsHeaderLength(bytes)));
    const layers = convLayersForDepth(lossDepth(DEFAULT_LOSS), VGG19);
    const end = Math.max(...header.tensors.filter((t) => layers.includes(t.name.split('/')[0])).map((t) => t.end));
    byId<HTMLElement>('weights-note').textContent =
      `The first Start downloads the network's weights (${((header.dataStart + end) / 1e6).toFixed(0)} MB) once; later visits read them from the browser's cache.`;
  } catch {
    // The note keeps its approximate figure.
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Start state
// ---------------------------------------------------------------------------------------------------------------

const weightsBase = new URL(new URLSearchParams(location.search).get('weights') ?? 'weights/', location.href).href;
stylizer.weightsSrc = weightsBase;
stylizer.contentSrc = chelseaUrl;
stylizer.styleSrc = starryNightUrl;
loadPreset('');
applySettings();
showImage('content', chelseaUrl, 'Content image: Chelsea the cat');
showImage('style', starryNightUrl, 'Style image: The Starry Night by Vincent van Gogh');
setBrushMode();
showBrushSize();
showOpacity();
applyRegions();
void checkWebGpu();
void announceDownload(weightsBase);
