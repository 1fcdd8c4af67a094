/**
 * The benchmark's result object (what --json prints) and its rendering as plain-text tables.
 */
import type { AdapterDescription } from '../src/gpu/device.js';
import type { PerDispatchTiming } from '../src/gpu/passes.js';
import type { Parallelism } from '../src/gpu/parallelism.js';
import type { LossValues } from '../src/net/loss.js';
import type { ConvAlgorithm } from '../src/net/tiling.js';
import { convFlops } from '../src/net/vgg19.js';
import type { BenchOptions } from './args.js';
import type { BlockSweep, ConvLayerTiming, KernelFamily, OptimizerTiming } from './engine.js';
import type { MatmulPeak, MatmulResult } from './matmul.js';
import type { PeerMemory } from './peer.js';
import { array, boolean, literal, nullable, number, object, optional, record, string, tuple, union, type Equal, type Infer } from './schema.js';
import { MiB } from './stats.js';

/**
 * GFLOP/s and fraction of the matmul peak, both from the fastest repetition (as the peak is), of the arithmetic the
 * layer's kernels do (a Winograd layer's product: 16/36 of a direct conv's); effective: a direct 3x3 conv's FLOPs
 * over the same time, which compares the algorithms.
 */
export interface LayerRow extends ConvLayerTiming {
  forwardGflops: number | null;
  forwardOfPeak: number | null;
  forwardEffectiveGflops: number | null;
  backwardGflops: number | null;
  backwardOfPeak: number | null;
  backwardEffectiveGflops: number | null;
}

export interface LayersReport {
  size: number;
  /** Timed submissions the medians and fastest times come from. */
  reps: number;
  rows: LayerRow[];
  /** Whether the default loss's dispatches could be mapped onto its conv layers. */
  mapped: boolean;
  problem?: string;
  /** The whole loss+gradient plan at this size, per-dispatch GPU times summed by kernel family. */
  families: KernelFamily[];
  /** Sum of every dispatch's GPU time in the loss+gradient plan. */
  gpuMs: number;
  /** Conv rows of layers deeper than the default loss (timed in a separate plan): 0 when none were timed. */
  deepRows: number;
}

export interface OursSize {
  firstMs: number;
  ms: number;
  runs: number[];
  losses: LossValues;
  /** GPU bytes the engine holds during an evaluation (network weights + plan + targets). */
  heldBytes: number;
  /** High-water mark of the setup (target computation holds a second set of feature maps). */
  setupPeakBytes: number;
}

interface PeerSize {
  firstMs: number;
  ms: number;
  runs: number[];
  loss: number;
  /** |loss_tfjs - loss_ours| / |loss_ours| at the same x. */
  lossRelDiff: number;
  /** ||grad_tfjs - grad_ours|| / ||grad_ours||. */
  gradRelDiff: number;
  memory: PeerMemory;
  numTensorsAfter: number;
}

export interface SizeReport {
  size: number;
  skipped?: string;
  ours: OursSize | null;
  peer: PeerSize | null;
  peerError?: string;
  /** tfjs ms / ours ms (above 1: the engine is faster). */
  ratio: number | null;
  optimizers: OptimizerTiming[] | null;
}

/** f16 weight storage against f32 at one size, same inputs (the f32 side is that size's evaluation above). */
export interface F16Report {
  size: number;
  firstMs: number;
  ms: number;
  runs: number[];
  heldBytes: number;
  f32Ms: number;
  f32HeldBytes: number;
  /** |L_f16 - L_f32| / |L_f32| and ||g_f16 - g_f32|| / ||g_f32||. */
  lossRelDiff: number;
  gradRelDiff: number;
}

/**
 * One size of the tiled table (--tiled): the evaluation memory.ts planRun chose under the budget, on a buffer pool
 * of its own (so the peak is this size's: network weights, targets and their setup, the plan).
 */
export interface TiledRow {
  size: number;
  budgetMiB: number;
  /** Columns x rows of the grid ([1, 1] untiled); null when the size was not measured. */
  tiles: readonly [number, number] | null;
  /** Tile core [width, height] in px; null untiled (or not measured). */
  core: readonly [number, number] | null;
  /** Median wall ms of the timed evaluations, after a warm-up. */
  msPerEvaluation: number | null;
  firstMs: number | null;
  runs: number[];
  /** The buffer pool's peakBytes over planning, targets and evaluations, MiB. */
  peakMiB: number | null;
  /** planRun's memory estimate (memory.ts), MiB. */
  estimateMiB: number | null;
  /** Why the size was not measured (does not fit, below the minimum, failed). */
  skipped?: string;
}

/** --tiled-compare: an untiled evaluation against forced tiles at one size, alternating in the same run. */
export interface TiledComparison {
  size: number;
  /** Forced tile core [width, height] in px and the grid [columns, rows] it gives. */
  core: readonly [number, number];
  tiles: readonly [number, number];
  untiledMs: number;
  tiledMs: number;
  untiledRuns: number[];
  tiledRuns: number[];
  /** tiled ms / untiled ms (the goal: at most 2). */
  ratio: number;
  /** |L_tiled - L_untiled| / |L_untiled| (totals) and ||g_tiled - g_untiled|| / ||g_untiled||. */
  lossRelDiff: number;
  gradRelDiff: number;
  /** Both within TILED_LOSS_TOLERANCE and TILED_GRAD_TOLERANCE. */
  agree: boolean;
}

export interface TiledReport {
  budgetMiB: number;
  rows: TiledRow[];
  /** The comparison, why it was not made, or null when it was not asked for. */
  compare: TiledComparison | { size: number; skipped: string } | null;
}

export interface BenchReport {
  benchmark: 'style-transfer';
  date: string;
  /** Node's version where `npm run bench` ran it; null on the browser bench page. */
  node: string | null;
  /** The browser's user agent where the bench page ran it; null in Node. */
  browser: string | null;
  /** How the per-layer and matmul times were taken: timestamp queries, or submit-and-wait where the adapter has none. */
  timing: PerDispatchTiming;
  /**
   * sleepBeforeWaits: timed waits (both sides) slept before polling (BenchOptions.wait on a CPU adapter);
   * parallelism: what the split reductions were sized for (the adapter's, or --parallelism / $STYLE_TRANSFER_PARALLELISM,
   * which options.parallelism then holds).
   */
  adapter: { name: string; timestamps: boolean; info: AdapterDescription; sleepBeforeWaits: boolean; parallelism: Parallelism; convAlgorithm: ConvAlgorithm };
  options: BenchOptions;
  matmul: MatmulPeak | null;
  layers: LayersReport | null;
  /** --conv-blocks: the loss plan timed once per register block. */
  sweep: BlockSweep | null;
  sizes: SizeReport[];
  /** f16 weight storage, or why it was not measured. */
  f16: F16Report | { skipped: string };
  peer: { library: string; version: string; backend: string } | null;
  /** The correctness guard: the loss of tfjs and of the engine agree at the smallest size. */
  guard: { size: number; lossRelDiff: number; gradRelDiff: number; ok: boolean } | null;
  /** --tiled / --tiled-compare: tiled evaluation's cost and memory (absent when neither was given). */
  tiled?: TiledReport;
  notes: string[];
  errors: string[];
  wallSeconds: number;
}

/** Loss agreement needed for the guard to pass (f32 on both sides, different summation orders). */
export const LOSS_TOLERANCE = 1e-3;
export const GRAD_TOLERANCE = 1e-2;
/**
 * Agreement of tiled and untiled evaluations (--tiled-compare): tiles are exact up to f32 summation order; 10x the
 * tolerances of test/tiled-loss.test.ts, whose sizes are smaller (fewer terms summed).
 */
export const TILED_LOSS_TOLERANCE = 1e-4;
export const TILED_GRAD_TOLERANCE = 1e-3;

export function withRates(row: ConvLayerTiming, peakGflops: number | null): LayerRow {
  const rate = (t: ConvLayerTiming['forward']) => (t && t.bestMs > 0 ? t.flops / (t.bestMs * 1e6) : null);
  const fraction = (g: number | null) => (g !== null && peakGflops ? g / peakGflops : null);
  const effective = (t: ConvLayerTiming['forward']) => (t && t.bestMs > 0 ? convFlops(row, row.width, row.height) / (t.bestMs * 1e6) : null);
  const forwardGflops = rate(row.forward);
  const backwardGflops = rate(row.backward);
  return {
    ...row,
    forwardGflops,
    forwardOfPeak: fraction(forwardGflops),
    forwardEffectiveGflops: effective(row.forward),
    backwardGflops,
    backwardOfPeak: fraction(backwardGflops),
    backwardEffectiveGflops: effective(row.backward),
  };
}

// ---- the runtime check of BenchReport ----

const passTiming = nullable(object({ label: string, ms: number, bestMs: number, flops: number }));
const matmulResult = object({
  variant: string,
  tile: object({ rows: number, cols: number, workgroupSize: number }),
  m: number,
  n: number,
  k: number,
  ms: number,
  medianMs: number,
  runs: number,
  gflops: number,
  maxError: number,
});
const parallelism = literal('cpu', 'gpu');
const convAlgorithm = literal('direct', 'winograd');

/** BenchReport as a structural check: the compile-time assertion below fails the build when the two drift apart. */
export const BENCH_REPORT_SCHEMA = object({
  benchmark: literal('style-transfer'),
  date: string,
  node: nullable(string),
  browser: nullable(string),
  timing: literal('timestamp-query', 'submit-and-wait'),
  adapter: object({
    name: string,
    timestamps: boolean,
    info: object({ vendor: string, architecture: string, device: string, description: string, features: array(string), limits: record(number) }),
    sleepBeforeWaits: boolean,
    parallelism,
    convAlgorithm,
  }),
  options: object({
    json: boolean,
    out: optional(string),
    sizes: array(number),
    layerSize: number,
    layers: boolean,
    peer: boolean,
    optim: boolean,
    f16: boolean,
    reps: number,
    layerReps: number,
    budgetSeconds: number,
    lbfgsHistory: number,
    matmulSizes: union(array(number), literal('auto')),
    weights: optional(string),
    randomWeights: boolean,
    wait: literal('sleep', 'poll'),
    parallelism: optional(parallelism),
    convBlocks: array(tuple(number, number)),
    convAlgorithm: optional(convAlgorithm),
    tiledSizes: array(number),
    tiledBudgetMiB: number,
    tiledCompare: nullable(number),
  }),
  matmul: nullable(object({ sizes: array(number), variants: array(matmulResult), best: matmulResult, recheck: optional(array(matmulResult)), peakGflops: number })),
  layers: nullable(
    object({
      size: number,
      reps: number,
      rows: array(
        object({
          layer: string,
          shape: string,
          height: number,
          width: number,
          inChannels: number,
          outChannels: number,
          algorithm: convAlgorithm,
          forward: passTiming,
          backward: passTiming,
          source: literal('loss', 'deep'),
          forwardGflops: nullable(number),
          forwardOfPeak: nullable(number),
          forwardEffectiveGflops: nullable(number),
          backwardGflops: nullable(number),
          backwardOfPeak: nullable(number),
          backwardEffectiveGflops: nullable(number),
        }),
      ),
      mapped: boolean,
      problem: optional(string),
      families: array(object({ family: string, dispatches: number, ms: number, flops: number })),
      gpuMs: number,
      deepRows: number,
    }),
  ),
  sweep: nullable(
    object({
      size: number,
      blocks: array(string),
      rows: array(object({ layer: string, shape: string, forward: array(nullable(number)), backward: array(nullable(number)) })),
      planMs: array(nullable(number)),
      errors: array(string),
    }),
  ),
  sizes: array(
    object({
      size: number,
      skipped: optional(string),
      ours: nullable(
        object({
          firstMs: number,
          ms: number,
          runs: array(number),
          losses: object({ content: number, style: number, tv: number, total: number, terms: record(number) }),
          heldBytes: number,
          setupPeakBytes: number,
        }),
      ),
      peer: nullable(
        object({
          firstMs: number,
          ms: number,
          runs: array(number),
          loss: number,
          lossRelDiff: number,
          gradRelDiff: number,
          memory: object({ peakTensorBytes: nullable(number), numBytesInGPU: nullable(number), numBytesAllocatedInGPU: nullable(number) }),
          numTensorsAfter: number,
        }),
      ),
      peerError: optional(string),
      ratio: nullable(number),
      optimizers: nullable(
        array(object({ name: string, iterationMs: number, iterationRuns: array(number), stepMs: number, stepRuns: array(number), bytes: number, note: string })),
      ),
    }),
  ),
  f16: union(
    object({
      size: number,
      firstMs: number,
      ms: number,
      runs: array(number),
      heldBytes: number,
      f32Ms: number,
      f32HeldBytes: number,
      lossRelDiff: number,
      gradRelDiff: number,
    }),
    object({ skipped: string }),
  ),
  peer: nullable(object({ library: string, version: string, backend: string })),
  guard: nullable(object({ size: number, lossRelDiff: number, gradRelDiff: number, ok: boolean })),
  tiled: optional(
    object({
      budgetMiB: number,
      rows: array(
        object({
          size: number,
          budgetMiB: number,
          tiles: nullable(tuple(number, number)),
          core: nullable(tuple(number, number)),
          msPerEvaluation: nullable(number),
          firstMs: nullable(number),
          runs: array(number),
          peakMiB: nullable(number),
          estimateMiB: nullable(number),
          skipped: optional(string),
        }),
      ),
      compare: nullable(
        union(
          object({
            size: number,
            core: tuple(number, number),
            tiles: tuple(number, number),
            untiledMs: number,
            tiledMs: number,
            untiledRuns: array(number),
            tiledRuns: array(number),
            ratio: number,
            lossRelDiff: number,
            gradRelDiff: number,
            agree: boolean,
          }),
          object({ size: number, skipped: string }),
        ),
      ),
    }),
  ),
  notes: array(string),
  errors: array(string),
  wallSeconds: number,
});

/** Fails to compile when BenchReport and its schema differ (a field added, removed, made optional or retyped). */
const schemaMatchesType: Equal<Infer<typeof BENCH_REPORT_SCHEMA>, BenchReport> = true;
void schemaMatchesType;

/**
 * What is wrong with `value` as a BenchReport (the JSON of `npm run bench --json` or of the bench page's "Download
 * JSON"): one line per problem, with its path; empty when it is one.
 */
export function checkBenchReport(value: unknown): string[] {
  const problems: string[] = [];
  BENCH_REPORT_SCHEMA.check(value, 'report', problems);
  return problems;
}

// ---- text rendering ----

type Cell = string | number | null | undefined;

function fmt(v: Cell, digits = 1): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '-';
  if (typeof v === 'string') return v;
  return v.toFixed(digits);
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(0)}%`);
const mib = (v: number | null | undefined) => (v === null || v === undefined ? '-' : (v / MiB).toFixed(1));
const sci = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toExponential(1));

/** Left-aligns the first column, right-aligns the others. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => fmt(c)))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(cells[0]), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

/** A table in Markdown (GitHub's pipe tables), same cells as `table`. */
export function markdownTable(headers: string[], rows: Cell[][]): string {
  const cell = (c: Cell) => fmt(c).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\*/g, '\\*');
  const line = (r: Cell[]) => `| ${headers.map((_, c) => cell(r[c])).join(' | ')} |`;
  return [line(headers), `|${headers.map((_, c) => (c === 0 ? ' :--- ' : ' ---: ')).join('|')}|`, ...rows.map(line)].join('\n');
}

/** The report as plain-text tables: what `npm run bench` prints and the bench page shows. */
export function renderText(r: BenchReport): string {
  return render(r, table).join('\n');
}

/**
 * The same tables in Markdown, for pasting into an issue (the bench page's "Copy as Markdown"): a heading, each
 * line of text its own paragraph, the tables as pipe tables.
 */
export function renderMarkdown(r: BenchReport): string {
  const blocks = render(r, markdownTable).filter((b) => b.trim() !== '');
  return ['### style-transfer benchmark', ...blocks].join('\n\n');
}

function render(r: BenchReport, table: (headers: string[], rows: Cell[][]) => string): string[] {
  const out: string[] = [];
  out.push(`style-transfer benchmark  ${r.date}  ${r.node !== null ? `node ${r.node}` : `browser ${r.browser ?? 'unknown'}`}`);
  out.push(
    `adapter: ${r.adapter.name}  (timestamp queries: ${r.adapter.timestamps ? 'yes' : 'no'}; parallelism ${r.adapter.parallelism} (${r.options?.parallelism ? 'from --parallelism or $STYLE_TRANSFER_PARALLELISM' : "the adapter's"}): ` +
      `split work sized for a ${r.adapter.parallelism.toUpperCase()}; ` +
      `3x3 layers past the first: ${r.adapter.convAlgorithm === 'winograd' ? 'Winograd F(2x2,3x3)' : 'direct'})`,
  );
  out.push(
    r.adapter.sleepBeforeWaits
      ? "waits: CPU adapter under Dawn for Node: every timed wait, ours and tfjs's, sleeps through most of the expected time before polling (--wait poll to compare)"
      : 'waits: awaited at once (onSubmittedWorkDone)',
  );
  if (r.peer)
    out.push(
      `peer: ${r.peer.library} ${r.peer.version}, ${r.peer.backend} backend, ${r.node !== null ? 'same Dawn instance and adapter' : "the page's navigator.gpu, same adapter"}`,
    );
  if (r.matmul) {
    const M = r.matmul;
    const firstBest = Math.max(...M.variants.filter((v) => v.maxError < 1e-3).map((v) => v.gflops));
    const again = M.recheck?.length ? Math.max(...M.recheck.filter((v) => v.maxError < 1e-3).map((v) => v.gflops)) : null;
    out.push(
      `matmul peak: ${M.peakGflops.toFixed(1)} GFLOP/s (${M.best.variant} at ${M.best.m}^3; best ${firstBest.toFixed(1)} at the start` +
        (again !== null ? `, ${again.toFixed(1)} later in the run)` : ')'),
    );
    for (const size of M.sizes) {
      const cell = (v: MatmulResult) => {
        const later = (M.recheck ?? []).filter((w) => w.m === v.m && w.variant === v.variant && w.maxError < 1e-3);
        const g = Math.max(v.gflops, ...later.map((w) => w.gflops));
        return `${v.variant.replace(/^matmul_/, '').replace(/_wg\d+$/, '')} ${g.toFixed(1)}${v.maxError < 1e-3 ? '' : ' (wrong)'}`;
      };
      out.push(
        `  ${size}^3, GFLOP/s (fastest timed dispatch of all measurements): ` +
          M.variants
            .filter((v) => v.m === size)
            .map(cell)
            .join(', '),
      );
    }
  }
  out.push('');

  if (r.layers) {
    const L = r.layers;
    out.push(
      `Conv layers at ${L.size}x${L.size}: GPU time per dispatch (${r.timing === 'timestamp-query' ? 'timestamp queries' : 'submit-and-wait: no timestamp queries here, wall time of each dispatch alone'}, ${L.reps} runs): fastest, median; GFLOP/s and % of the matmul peak from the fastest, as the peak is`,
    );
    if (L.rows.some((row) => row.algorithm === 'winograd')) {
      out.push("  GFLOP/s: the arithmetic done (Winograd: the 16 GEMMs, 16/36 of a direct conv's); eff: a direct conv's FLOPs over the same time");
    }
    if (!L.mapped) out.push(`  (the loss plan's dispatches could not be mapped onto layers: ${L.problem})`);
    const rows = L.rows.map((row) => [
      row.source === 'deep' ? `${row.layer}*` : row.layer,
      row.shape,
      row.algorithm,
      ms(row.forward?.bestMs),
      ms(row.forward?.ms),
      fmt(row.forwardGflops),
      pct(row.forwardOfPeak),
      fmt(row.forwardEffectiveGflops),
      ms(row.backward?.bestMs),
      ms(row.backward?.ms),
      fmt(row.backwardGflops),
      pct(row.backwardOfPeak),
      fmt(row.backwardEffectiveGflops),
    ]);
    const loss = L.rows.filter((row) => row.source === 'loss');
    const sum = (pick: (row: LayerRow) => LayerRow['forward']) => {
      const parts = loss.map(pick).filter((t): t is NonNullable<LayerRow['forward']> => t !== null);
      const total = (f: (p: (typeof parts)[number]) => number) => parts.reduce((s, p) => s + f(p), 0);
      const best = total((p) => p.bestMs);
      const direct = loss.filter((row) => pick(row) !== null).reduce((s, row) => s + convFlops(row, row.width, row.height), 0);
      return { bestMs: best, ms: total((p) => p.ms), gflops: best > 0 ? total((p) => p.flops) / (best * 1e6) : null, effective: best > 0 ? direct / (best * 1e6) : null };
    };
    const fwd = sum((row) => row.forward);
    const bwd = sum((row) => row.backward);
    const peak = r.matmul?.peakGflops;
    const ofPeak = (g: number | null) => pct(peak && g ? g / peak : null);
    rows.push([
      'loss layers',
      '',
      '',
      ms(fwd.bestMs),
      ms(fwd.ms),
      fmt(fwd.gflops),
      ofPeak(fwd.gflops),
      fmt(fwd.effective),
      ms(bwd.bestMs),
      ms(bwd.ms),
      fmt(bwd.gflops),
      ofPeak(bwd.gflops),
      fmt(bwd.effective),
    ]);
    out.push(table(['layer', 'shape', 'algorithm', 'fwd ms', 'median', 'GFLOP/s', '% peak', 'eff', 'bwd ms', 'median', 'GFLOP/s', '% peak', 'eff'], rows));
    if (L.deepRows > 0) out.push('* deeper than the default loss (relu5_1): timed in a separate full-depth plan, not in the loss total');
    out.push('');
    out.push(`Loss+gradient plan at ${L.size}x${L.size} by kernel family (sum of per-dispatch GPU times: ${ms(L.gpuMs)} ms)`);
    out.push(
      table(
        ['kernel', 'dispatches', 'ms', 'share', 'GFLOP/s'],
        L.families.map((f) => [f.family, String(f.dispatches), ms(f.ms), pct(L.gpuMs > 0 ? f.ms / L.gpuMs : null), f.flops > 0 && f.ms > 0 ? fmt(f.flops / (f.ms * 1e6)) : '-']),
      ),
    );
    out.push('');
  }

  if (r.sweep?.rows.length) {
    const S = r.sweep;
    out.push(`Conv register blocks at ${S.size}x${S.size} (--conv-blocks): fastest GPU ms, forward + backward, every layer with the same block`);
    const total = (row: BlockSweep['rows'][number], k: number) => (row.forward[k] !== null && row.backward[k] !== null ? row.forward[k] + row.backward[k] : null);
    const rows = S.rows.map((row) => {
      const sums = S.blocks.map((_, k) => total(row, k));
      const valid = sums.filter((v): v is number => v !== null);
      const best = valid.length ? sums.indexOf(Math.min(...valid)) : -1;
      return [row.layer, row.shape, ...sums.map((v) => ms(v)), best >= 0 ? S.blocks[best] : '-'];
    });
    const bestOfEach = S.rows.reduce((sum, row) => sum + Math.min(...S.blocks.map((_, k) => total(row, k) ?? Infinity)), 0);
    const column = (k: number) => S.rows.map((row) => total(row, k));
    const columnSum = (k: number) => (column(k).every((v) => v !== null) ? column(k).reduce((sum, v) => sum! + v!, 0) : null);
    rows.push(['conv layers', '', ...S.blocks.map((_, k) => ms(columnSum(k))), ms(bestOfEach)]);
    rows.push(['whole plan', '', ...S.planMs.map((v) => ms(v)), '']);
    out.push(table(['layer', 'shape', ...S.blocks, 'best'], rows));
    out.push('');
  }

  if (r.sizes.length) {
    const optNames = [...new Set(r.sizes.flatMap((s) => (s.optimizers ?? []).map((o) => o.name)))];
    out.push('Loss + gradient evaluation (wall time: submit + onSubmittedWorkDone, median after warm-up) and memory');
    out.push(
      table(
        ['size', 'ours ms', 'tfjs ms', 'tfjs/ours', 'loss diff', 'grad diff', 'ours MiB', 'tfjs MiB', ...optNames.map((n) => `${n} iter ms`), 'runs'],
        r.sizes.map((s) => {
          if (s.skipped) return [`${s.size}`, `skipped: ${s.skipped}`];
          const opt = (name: string) => s.optimizers?.find((o) => o.name === name)?.iterationMs;
          return [
            `${s.size}`,
            ms(s.ours?.ms),
            s.peer ? ms(s.peer.ms) : s.peerError ? 'error' : '-',
            s.ratio !== null ? `${s.ratio.toFixed(2)}x` : '-',
            sci(s.peer?.lossRelDiff),
            sci(s.peer?.gradRelDiff),
            mib(s.ours?.heldBytes),
            mib(s.peer?.memory.peakTensorBytes),
            ...optNames.map((n) => ms(opt(n))),
            `${s.ours?.runs.length ?? 0}/${s.peer?.runs.length ?? 0}`,
          ];
        }),
      ),
    );
    out.push('ours MiB: live engine buffers during an evaluation; tfjs MiB: peak tf.memory().numBytes over one valueAndGrad (tf.profile).');
    out.push('runs: timed evaluations behind the medians (ours/tfjs).');
    out.push('');

    const memRows = r.sizes
      .filter((s) => s.ours)
      .map((s) => [
        `${s.size}`,
        mib(s.ours!.heldBytes),
        mib(s.ours!.setupPeakBytes),
        ...optNames.map((n) => mib(s.optimizers?.find((o) => o.name === n)?.bytes)),
        mib(s.peer?.memory.peakTensorBytes),
        mib(s.peer?.memory.numBytesInGPU),
        mib(s.peer?.memory.numBytesAllocatedInGPU),
      ]);
    if (memRows.length) {
      out.push('GPU memory (MiB)');
      out.push(table(['size', 'ours eval', 'ours setup peak', ...optNames.map((n) => `+${n}`), 'tfjs peak tensors', 'tfjs in GPU', 'tfjs allocated'], memRows));
      out.push('');
    }

    const optRows = r.sizes.flatMap((s) =>
      (s.optimizers ?? []).map((o) => [`${s.size}`, o.name, ms(o.iterationMs), ms(o.stepMs), `${o.iterationRuns.length}/${o.stepRuns.length}`]),
    );
    if (optRows.length) {
      out.push('Optimiser iteration (loss passes + step in one submission, as stylize runs it) and the step alone (wall ms, median)');
      out.push(table(['size', 'optimiser', 'iteration ms', 'step ms', 'runs'], optRows));
      const notes = [...new Set(r.sizes.flatMap((s) => (s.optimizers ?? []).map((o) => `${o.name}: ${o.note}`)))];
      for (const n of notes) out.push(`  ${n}`);
      out.push('');
    }

    const firstRows = r.sizes
      .filter((s) => s.ours)
      .map((s) => [`${s.size}`, ms(s.ours!.firstMs), ms(s.peer?.firstMs), fmt(s.ours!.losses.total, 0), s.peer ? fmt(s.peer.loss, 0) : '-']);
    out.push('First evaluation (includes shader compilation done at first use: lavapipe JIT-compiles at first dispatch) and the loss values');
    out.push(table(['size', 'ours first ms', 'tfjs first ms', 'ours loss', 'tfjs loss'], firstRows));
    out.push('');
  }

  if ('skipped' in r.f16) {
    out.push(`f16 weight storage: not measured (${r.f16.skipped})`);
    out.push('');
  } else {
    const h = r.f16;
    out.push(`f16 weight storage at ${h.size}x${h.size} (conv weights stored as f16, widened at each load; arithmetic and activations f32)`);
    out.push(
      table(
        ['weights', 'ms', 'MiB', 'loss diff', 'grad diff', 'runs'],
        [
          ['f32', ms(h.f32Ms), mib(h.f32HeldBytes), '-', '-', ''],
          ['f16', ms(h.ms), mib(h.heldBytes), sci(h.lossRelDiff), sci(h.gradRelDiff), `${h.runs.length}`],
        ],
      ),
    );
    out.push('MiB: live engine buffers during an evaluation; diffs relative to the f32 evaluation at the same x.');
    out.push('');
  }

  if (r.tiled) {
    const T = r.tiled;
    if (T.rows.length) {
      out.push(`Tiled evaluation (--tiled): the evaluation memory.ts planRun chooses under a ${T.budgetMiB} MiB budget (wall ms, median after warm-up)`);
      out.push(
        table(
          ['size', 'budget MiB', 'tiles', 'core', 'ms/eval', 'peak MiB', 'estimate MiB', 'runs'],
          T.rows.map((row) =>
            row.skipped && !row.runs.length
              ? [
                  `${row.size}`,
                  `${row.budgetMiB}`,
                  row.tiles ? `${row.tiles[0]}x${row.tiles[1]}` : '-',
                  row.core === null ? '-' : `${row.core[0]}x${row.core[1]}`,
                  `skipped: ${row.skipped}`,
                ]
              : [
                  `${row.size}`,
                  `${row.budgetMiB}`,
                  row.tiles ? `${row.tiles[0]}x${row.tiles[1]}` : '-',
                  row.core === null ? 'untiled' : `${row.core[0]}x${row.core[1]}`,
                  ms(row.msPerEvaluation),
                  fmt(row.peakMiB),
                  fmt(row.estimateMiB),
                  `${row.runs.length}`,
                ],
          ),
        ),
      );
      out.push("peak MiB: the buffer pool's high-water mark for that size alone (network, targets and their setup, plan); estimate: planRun's.");
    }
    const C = T.compare;
    if (C && 'skipped' in C) out.push(`tiled against untiled at ${C.size}x${C.size}: not measured (${C.skipped})`);
    else if (C) {
      out.push(
        `tiled against untiled at ${C.size}x${C.size} (alternating): untiled ${ms(C.untiledMs)} ms, ${C.tiles[0]}x${C.tiles[1]} tiles of core ${C.core[0]}x${C.core[1]} px ${ms(C.tiledMs)} ms per evaluation: ` +
          `${C.ratio.toFixed(2)}x (goal: at most 2x); loss differs by ${sci(C.lossRelDiff)}, gradient by ${sci(C.gradRelDiff)}: ${C.agree ? 'agree' : 'MISMATCH'} (runs ${C.untiledRuns.length}/${C.tiledRuns.length})`,
      );
    }
    out.push('');
  }

  if (r.guard) {
    out.push(
      `correctness guard at ${r.guard.size}x${r.guard.size}: loss differs by ${sci(r.guard.lossRelDiff)} (tolerance ${LOSS_TOLERANCE}), gradient by ${sci(r.guard.gradRelDiff)} (tolerance ${GRAD_TOLERANCE}): ${r.guard.ok ? 'ok' : 'MISMATCH'}`,
    );
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  for (const e of r.errors) out.push(`error: ${e}`);
  out.push(`total wall time ${r.wallSeconds.toFixed(0)} s`);
  return out;
}
