/**
 * The browser bench page (demo/bench.html): the measurements of `npm run bench` (bench/run.ts, the same modules) on
 * this browser's WebGPU adapter. URL parameters are the CLI's options without their dashes
 * (`bench.html?sizes=24&no-optim&autorun`, parsed by bench/args.ts); `autorun` starts at once. Random VGG-19-shaped
 * weights unless `weights=URL` names a weights directory. `window.styleTransferBench` is set at load to a Promise of
 * the first finished run's JSON report, the very object "Download JSON" saves (same schema as `npm run bench --json`).
 * TensorFlow.js is loaded by bench/run.ts only when the peer is measured (a lazy chunk of this page alone).
 */
import { BENCH_USAGE, BenchUsageError, parseBenchArgs, urlParamsToArgs, type BenchOptions } from '../bench/args.js';
import { randomVggWeights } from '../bench/inputs.js';
import { renderMarkdown, renderText, type BenchReport } from '../bench/report.js';
import { runBench } from '../bench/run.js';
import { openBrowserGpu } from '../src/gpu/device.js';
import type { WeightTensors } from '../src/net/weights.js';
import { VGG19_CONV_LAYERS } from '../src/net/vgg19.js';
import { loadWeights } from '../src/ui/weights-loader.js';

declare global {
  interface Window {
    /** The first finished run's report (the JSON "Download JSON" saves); rejects when that run fails or is stopped. */
    styleTransferBench: Promise<BenchReport>;
  }
}

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`bench page: #${id} is missing`);
  return element as T;
}

const form = byId<HTMLFormElement>('bench-form');
const paramsInput = byId<HTMLInputElement>('params');
const runButton = byId<HTMLButtonElement>('run');
const stopButton = byId<HTMLButtonElement>('stop');
const optionsNote = byId<HTMLElement>('options-note');
const status = byId<HTMLElement>('status');
const progressBar = byId<HTMLProgressElement>('progress-bar');
const log = byId<HTMLOListElement>('log');
const results = byId<HTMLElement>('results');
const downloadButton = byId<HTMLButtonElement>('download-json');
const copyButton = byId<HTMLButtonElement>('copy-markdown');
const copyNote = byId<HTMLElement>('copy-note');
const chart = byId<HTMLElement>('chart');
const chartTable = byId<HTMLTableElement>('chart-table');
const reportPre = byId<HTMLElement>('report');
byId<HTMLElement>('usage').textContent = BENCH_USAGE.replace(
  /^Usage:.*\n.*\n/,
  'URL parameters: each option without its leading dashes (sizes=64,128&no-peer); autorun starts at once.\n',
);

let first: { resolve: (r: BenchReport) => void; reject: (e: unknown) => void } | undefined;
window.styleTransferBench = new Promise<BenchReport>((resolve, reject) => (first = { resolve, reject }));
// A page that never awaits it must not log an unhandled rejection.
window.styleTransferBench.catch(() => undefined);

let controller: AbortController | undefined;
let current: { report: BenchReport; json: string; markdown: string } | undefined;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The options from the parameter text (a query string, with or without its "?"), or a message for the page. */
function parseOptions(text: string): BenchOptions | string {
  const params = new URLSearchParams(text.trim().replace(/^\?/, ''));
  for (const key of params.keys()) {
    if (key === 'out') return 'The "out" parameter writes a file in the CLI; here use "Download JSON" once the run ends.';
    if (key === 'help' || key === 'h') return 'Every option is listed under "All options" below.';
  }
  try {
    const options = parseBenchArgs(urlParamsToArgs(params));
    if (options === 'help') return 'Every option is listed under "All options" below.';
    return options;
  } catch (e) {
    if (e instanceof BenchUsageError) {
      // The parser names CLI flags; the page speaks of parameters.
      return `Parameters: ${e.message.replace(/Unknown option "--([^"]*)" \(see --help\)/, 'unknown parameter "$1" (see "All options")').replace(/--([a-z0-9-]+)/g, '$1')}`;
    }
    throw e;
  }
}

function setStatus(text: string, isError = false): void {
  status.textContent = text;
  status.classList.toggle('error', isError);
}

function addLog(text: string): void {
  const item = document.createElement('li');
  item.textContent = text;
  log.append(item);
  item.scrollIntoView?.({ block: 'nearest' });
}

async function getWeights(options: BenchOptions): Promise<WeightTensors> {
  if (!options.weights) return randomVggWeights();
  const base = new URL(options.weights.endsWith('/') ? options.weights : `${options.weights}/`, location.href).href;
  // Every layer, in f32 as the CLI bench reads them (the deep-layer timings need conv5_2..conv5_4 too).
  return loadWeights(base, { precision: 'f32', layers: VGG19_CONV_LAYERS.map((l) => l.name) }, (p) =>
    setStatus(`Loading weights: ${(p.loaded / 2 ** 20).toFixed(0)} of ${(p.total / 2 ** 20).toFixed(0)} MiB (${p.source})`),
  );
}

async function run(): Promise<void> {
  const parsed = parseOptions(paramsInput.value);
  if (typeof parsed === 'string') {
    optionsNote.textContent = parsed;
    optionsNote.classList.add('error');
    paramsInput.setAttribute('aria-invalid', 'true');
    paramsInput.focus();
    first?.reject(new Error(parsed));
    first = undefined;
    return;
  }
  optionsNote.textContent = '';
  optionsNote.classList.remove('error');
  paramsInput.removeAttribute('aria-invalid');
  // Random weights unless a weights URL is given: the report says so, as the CLI's --random-weights does.
  const options: BenchOptions = { ...parsed, randomWeights: !parsed.weights };

  controller = new AbortController();
  const { signal } = controller;
  runButton.disabled = true;
  stopButton.disabled = false;
  progressBar.hidden = false;
  log.replaceChildren();
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  let last = 'Starting';
  const ticker = setInterval(() => setStatus(`${last} (${elapsed()})`), 1000);
  const progress = (text: string) => {
    last = text;
    addLog(`[${elapsed()}] ${text}`);
    setStatus(`${text} (${elapsed()})`);
  };
  let device: GPUDevice | undefined;
  try {
    progress(options.weights ? `loading weights from ${options.weights}` : 'random VGG-19-shaped weights');
    const weights = await getWeights(options);
    signal.throwIfAborted();
    const gpu = navigator.gpu;
    const context = await openBrowserGpu();
    device = context.device;
    const report = await runBench({ gpu, context, weights, options, runtime: { node: null, browser: navigator.userAgent }, progress, signal, started });
    const json = JSON.stringify(report, null, 2);
    // The JSON object itself (JSON has no undefined or NaN): what the download holds and the promise resolves to.
    const plain = JSON.parse(json) as BenchReport;
    current = { report: plain, json: `${json}\n`, markdown: renderMarkdown(plain) };
    showResults(plain);
    const verdict = plain.guard ? (plain.guard.ok ? 'correctness guard ok' : 'correctness guard MISMATCH') : 'no peer check';
    setStatus(
      `Done in ${elapsed()}: ${verdict}${plain.errors.length ? `, ${plain.errors.length} error(s) (see the report)` : ''}.`,
      plain.guard?.ok === false || plain.errors.length > 0,
    );
    first?.resolve(plain);
    first = undefined;
  } catch (e) {
    if (signal.aborted) setStatus(`Stopped after ${elapsed()}.`);
    else setStatus(`Failed: ${message(e)}`, true);
    addLog(signal.aborted ? 'stopped' : `error: ${message(e)}`);
    first?.reject(e);
    first = undefined;
  } finally {
    clearInterval(ticker);
    device?.destroy();
    controller = undefined;
    runButton.disabled = false;
    stopButton.disabled = true;
    progressBar.hidden = true;
  }
}

const SVG = 'http://www.w3.org/2000/svg';

function svgElement<K extends keyof SVGElementTagNameMap>(name: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, String(v));
  if (text !== undefined) element.textContent = text;
  return element;
}

const percent = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(0)}%`);
const millis = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Per-layer bars: forward and backward GFLOP/s as a share of the matmul peak; a table holds the same numbers. */
function renderChart(report: BenchReport): void {
  const rows = report.layers?.rows ?? [];
  chart.replaceChildren();
  const body = chartTable.tBodies[0];
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement('tr');
    const cells = [row.layer, row.shape, millis(row.forward?.bestMs), percent(row.forwardOfPeak), millis(row.backward?.bestMs), percent(row.backwardOfPeak)];
    cells.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) cell.setAttribute('scope', 'row');
      cell.textContent = text;
      tr.append(cell);
    });
    body.append(tr);
  }
  if (!rows.length) {
    chart.textContent = 'No per-layer table in this run.';
    return;
  }
  const values = rows.flatMap((r) => [r.forwardOfPeak ?? 0, r.backwardOfPeak ?? 0]);
  const scale = Math.max(1, ...values);
  const label = 96;
  const width = 560;
  const barArea = width - label - 48;
  const rowHeight = 26;
  const top = 22;
  const height = top + rows.length * rowHeight + 8;
  const svg = svgElement('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc' });
  svg.append(svgElement('title', { id: 'chart-title' }, 'Conv layers: forward and backward GFLOP/s as a share of the matmul peak'));
  const summary = rows.map((r) => `${r.layer} forward ${percent(r.forwardOfPeak)}, backward ${percent(r.backwardOfPeak)}`).join('; ');
  svg.append(svgElement('desc', { id: 'chart-desc' }, `${summary}. The same numbers are in the table "Chart data as a table".`));
  svg.append(svgElement('rect', { x: label, y: 4, width: 12, height: 10, fill: '#4338ca' }));
  svg.append(svgElement('text', { x: label + 16, y: 13, 'font-size': 11 }, 'forward'));
  svg.append(svgElement('rect', { x: label + 80, y: 4, width: 12, height: 10, fill: '#c2410c' }));
  svg.append(svgElement('text', { x: label + 96, y: 13, 'font-size': 11 }, 'backward'));
  const peakX = label + barArea / scale;
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    svg.append(svgElement('text', { x: 0, y: y + 15, 'font-size': 11 }, r.source === 'deep' ? `${r.layer}*` : r.layer));
    const bars: Array<[number | null, string, number]> = [
      [r.forwardOfPeak, '#4338ca', 0],
      [r.backwardOfPeak, '#c2410c', 11],
    ];
    for (const [v, color, dy] of bars) {
      const w = v === null ? 0 : Math.max(1, (barArea * v) / scale);
      svg.append(svgElement('rect', { x: label, y: y + 2 + dy, width: w, height: 10, fill: color }));
      svg.append(svgElement('text', { x: label + w + 4, y: y + 11 + dy, 'font-size': 9 }, percent(v)));
    }
  });
  svg.append(svgElement('line', { x1: peakX, x2: peakX, y1: top - 4, y2: height - 4, stroke: '#555', 'stroke-dasharray': '3 3' }));
  svg.append(svgElement('text', { x: Math.min(peakX + 3, width - 40), y: top - 6, 'font-size': 9 }, '100%'));
  chart.append(svg);
}

function showResults(report: BenchReport): void {
  reportPre.textContent = renderText(report);
  renderChart(report);
  copyButton.dataset.markdown = current?.markdown ?? '';
  copyNote.textContent = '';
  results.hidden = false;
}

downloadButton.addEventListener('click', () => {
  if (!current) return;
  const url = URL.createObjectURL(new Blob([current.json], { type: 'application/json' }));
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = `style-transfer-bench-${current.report.date.replace(/[:.]/g, '-')}.json`;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
});

copyButton.addEventListener('click', () => {
  if (!current) return;
  const text = current.markdown;
  navigator.clipboard.writeText(text).then(
    () => (copyNote.textContent = 'Copied the report as Markdown.'),
    (e: unknown) => (copyNote.textContent = `Could not copy (${message(e)}); select the text report below instead.`),
  );
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (controller) return;
  void run();
});

stopButton.addEventListener('click', () => {
  if (!controller) return;
  setStatus('Stopping after the current measurement…');
  controller.abort(new DOMException('The benchmark was stopped.', 'AbortError'));
});

// The URL's parameters fill the field (autorun among them starts the run).
const initial = new URLSearchParams(location.search);
paramsInput.value = [...initial].map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join('&');
if (initial.has('autorun')) void run();
