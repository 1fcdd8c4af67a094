/**
 * The tiled evaluation table (--tiled, --tiled-budget) and the untiled-against-tiled comparison (--tiled-compare):
 * what exact tiled evaluation (src/net/tiledLoss.ts) costs in time and what it saves in memory.
 *
 * - Per size: the evaluation memory.ts planRun chooses for an N x N run of the default loss under the budget and the
 *   adapter's limits, created as stylize creates it (lossPlan.ts createLossPlan), targets from the bench inputs,
 *   evaluations timed as the others (median after a warm-up). Each size runs on a GpuRuntime of its own (same
 *   device, its own buffer pool, network weights uploaded again), so the pool's peakBytes is that size's peak.
 * - The comparison: at one size that fits the adapter untiled (the budget does not apply), a GatysLoss and a
 *   TiledGatysLoss forced into the grid planRun would choose first were the size just too large to fit whole
 *   (memory.ts tileCores: the least work, at N x N two halves), on the same network, evaluated alternately; loss totals and gradients compared. A mismatch is reported (and listed among the errors), never
 *   thrown.
 *
 * No Node imports: the bench page's module graph includes this file.
 */
import type { GpuContext } from '../src/gpu/device.js';
import { GpuRuntime } from '../src/gpu/runtime.js';
import { DEFAULT_LOSS, GatysLoss, lossDepth } from '../src/net/loss.js';
import { createLossPlan } from '../src/net/lossPlan.js';
import { leastWorkTiledPlan, memoryLimits, planRun, type RunShape } from '../src/net/memory.js';
import { minimumSizeFor, Vgg19Net } from '../src/net/network.js';
import { TiledGatysLoss } from '../src/net/tiledLoss.js';
import { wantsImageLayerKernels } from '../src/net/tiling.js';
import type { WeightTensors } from '../src/net/weights.js';
import type { BenchOptions } from './args.js';
import { planSize, prepareEvaluations, timeEvaluations, type SizePlan } from './engine.js';
import { makeInputs, relativeL2 } from './inputs.js';
import { TILED_GRAD_TOLERANCE, TILED_LOSS_TOLERANCE, type TiledComparison, type TiledReport, type TiledRow } from './report.js';
import { alternate, median, MiB, type RepeatPolicy } from './stats.js';

export interface TiledBench {
  context: GpuContext;
  /** The bench's runtime: the comparison runs on it (the table's sizes each get a fresh one on the same device). */
  gpu: GpuRuntime;
  weights: WeightTensors;
  options: BenchOptions;
  policy: RepeatPolicy;
  errors: string[];
  log: (message: string) => void;
  /** Throws once the run is aborted. */
  checkpoint: () => void;
  /** In a catch: rethrows an abort (no measurement error). */
  rethrowAbort: (e: unknown) => void;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * The run planned for the table: N x N content and style, the default loss, as the engine's network is built here.
 * Adam's state (two image-sized vectors) is smaller than the style-target phase the estimate sets it against, so
 * the estimate is that of the network, the plan and its targets: what the table's peak measures.
 */
function runShape(gpu: GpuRuntime, size: number, options: BenchOptions): RunShape {
  return {
    width: size,
    height: size,
    style: { width: size, height: size },
    config: DEFAULT_LOSS,
    optimizer: 'adam',
    historySize: options.lbfgsHistory,
    imageLayerKernels: wantsImageLayerKernels(gpu.context.adapterInfo),
    parallelism: gpu.parallelism,
    convAlgorithm: options.convAlgorithm,
  };
}

async function tableRow(bench: TiledBench, size: number): Promise<TiledRow> {
  const { context, weights, options } = bench;
  const budgetMiB = options.tiledBudgetMiB;
  const row: TiledRow = { size, budgetMiB, tiles: null, core: null, msPerEvaluation: null, firstMs: null, runs: [], peakMiB: null, estimateMiB: null };
  const minimum = minimumSizeFor(lossDepth(DEFAULT_LOSS));
  if (size < minimum) return { ...row, skipped: `below the ${minimum} px the loss layers need` };
  // A runtime of its own: the pool's peakBytes (it never goes down) is then this size's.
  const gpu = new GpuRuntime(context, { parallelism: options.parallelism });
  const planned = planRun(runShape(gpu, size, options), memoryLimits(gpu.device, budgetMiB === undefined ? undefined : budgetMiB * MiB));
  if (!planned) return { ...row, skipped: `does not fit ${budgetMiB} MiB or the adapter's buffer limits, even in tiles` };
  const { evaluation } = planned;
  row.tiles = evaluation.tiled ? [evaluation.columns, evaluation.rows] : [1, 1];
  row.core = evaluation.tiled ? [evaluation.core.width, evaluation.core.height] : null;
  row.estimateMiB = planned.memory.totalBytes / MiB;
  bench.log(
    `${size} px tiled table: ${evaluation.tiled ? `${evaluation.columns}x${evaluation.rows} tiles, core ${evaluation.core.width}x${evaluation.core.height} px` : 'untiled'}`,
  );
  const net = new Vgg19Net(gpu, weights, { depth: lossDepth(DEFAULT_LOSS), convAlgorithm: options.convAlgorithm });
  let plan: SizePlan<ReturnType<typeof createLossPlan>> | undefined;
  try {
    plan = await planSize(gpu, net, makeInputs(size), (n) => createLossPlan(net, n, n, DEFAULT_LOSS, evaluation));
    bench.checkpoint();
    // No gradient readback: its image-sized staging buffer is no part of a run's memory.
    const ev = await timeEvaluations(gpu, plan.loss, bench.policy, false);
    row.msPerEvaluation = ev.ms;
    row.firstMs = ev.firstMs;
    row.runs = ev.runs;
    row.peakMiB = gpu.buffers.getStats().peakBytes / MiB;
    bench.log(`${size} px tiled table: ${ev.ms.toFixed(0)} ms per evaluation, peak ${row.peakMiB.toFixed(0)} MiB`);
    return row;
  } catch (e) {
    bench.rethrowAbort(e);
    bench.errors.push(`tiled table at ${size} px: ${message(e)}`);
    return { ...row, skipped: `failed: ${message(e)}` };
  } finally {
    plan?.dispose();
    net.dispose();
    // Not gpu.destroy(): that would destroy the shared device.
    gpu.buffers.destroy();
  }
}

async function comparison(bench: TiledBench, size: number): Promise<TiledComparison | { size: number; skipped: string }> {
  const { gpu, weights, options, policy } = bench;
  const minimum = minimumSizeFor(lossDepth(DEFAULT_LOSS));
  if (size < minimum) return { size, skipped: `below the ${minimum} px the loss layers need` };
  // The adapter's limits only: the comparison is about time (and holds both plans at once), not the budget.
  const shape = runShape(gpu, size, options);
  const limits = memoryLimits(gpu.device, undefined);
  const planned = planRun(shape, limits);
  if (!planned || planned.evaluation.tiled) return { size, skipped: "does not fit the adapter's buffer limits untiled (--tiled-compare N: a size that does)" };
  // The forced grid: the one planRun takes once a size does not fit whole (the least work; no budget).
  const forced = leastWorkTiledPlan(shape, limits)?.evaluation;
  if (!forced?.tiled) return { size, skipped: 'no tile grid of at least two tiles fits (the image is too small to cut)' };
  const { core } = forced;
  bench.log(`${size} px: untiled against forced tiles (core ${core.width}x${core.height} px)`);
  const net = new Vgg19Net(gpu, weights, { depth: lossDepth(DEFAULT_LOSS), convAlgorithm: options.convAlgorithm });
  const inputs = makeInputs(size);
  let untiled: SizePlan | undefined;
  let tiled: SizePlan<TiledGatysLoss> | undefined;
  try {
    untiled = await planSize(gpu, net, inputs, (n) => new GatysLoss(net, n, n, DEFAULT_LOSS));
    tiled = await planSize(gpu, net, inputs, (n) => new TiledGatysLoss(net, n, n, DEFAULT_LOSS, { core }));
    const tiles = [tiled.loss.grid.columns, tiled.loss.grid.rows] as const;
    bench.checkpoint();
    const a = await prepareEvaluations(gpu, untiled.loss);
    const b = await prepareEvaluations(gpu, tiled.loss);
    bench.checkpoint();
    // Alternating, so both meet the same machine (twice the budget: two sides).
    const runs = await alternate({ reps: policy.reps, budgetMs: 2 * policy.budgetMs }, a.timed, b.timed);
    const untiledMs = median(runs.a);
    const tiledMs = median(runs.b);
    const lossRelDiff = Math.abs(b.losses.total - a.losses.total) / Math.abs(a.losses.total);
    const gradRelDiff = relativeL2(b.grad, a.grad);
    const agree = lossRelDiff <= TILED_LOSS_TOLERANCE && gradRelDiff <= TILED_GRAD_TOLERANCE;
    if (!agree) {
      bench.errors.push(
        `tiled against untiled at ${size} px: loss differs by ${lossRelDiff.toExponential(1)} (tolerance ${TILED_LOSS_TOLERANCE}), gradient by ${gradRelDiff.toExponential(1)} (tolerance ${TILED_GRAD_TOLERANCE})`,
      );
    }
    bench.log(`${size} px: untiled ${untiledMs.toFixed(0)} ms, ${tiles[0]}x${tiles[1]} tiles ${tiledMs.toFixed(0)} ms per evaluation`);
    return {
      size,
      core: [core.width, core.height],
      tiles,
      untiledMs,
      tiledMs,
      untiledRuns: runs.a,
      tiledRuns: runs.b,
      ratio: tiledMs / untiledMs,
      lossRelDiff,
      gradRelDiff,
      agree,
    };
  } catch (e) {
    bench.rethrowAbort(e);
    bench.errors.push(`tiled comparison at ${size} px: ${message(e)}`);
    return { size, skipped: `failed: ${message(e)}` };
  } finally {
    tiled?.dispose();
    untiled?.dispose();
    net.dispose();
    gpu.buffers.trim();
  }
}

/** The tiled table and the comparison, or undefined when neither --tiled nor --tiled-compare was given. */
export async function measureTiled(bench: TiledBench): Promise<TiledReport | undefined> {
  const { options } = bench;
  if (options.tiledSizes.length === 0 && options.tiledCompare === null) return undefined;
  const report: TiledReport = { budgetMiB: options.tiledBudgetMiB, rows: [], compare: null };
  if (options.tiledCompare !== null) {
    bench.checkpoint();
    report.compare = await comparison(bench, options.tiledCompare);
  }
  for (const size of options.tiledSizes) {
    bench.checkpoint();
    report.rows.push(await tableRow(bench, size));
  }
  return report;
}
