/**
 * The benchmark itself, platform-neutral: what `npm run bench` (bench/index.ts: Dawn, weights from disk, --json)
 * and the browser bench page (demo/bench.ts: navigator.gpu, random or fetched weights) both run. It takes an open
 * GPU, the weights and the parsed options, reports progress through a callback, stops between measurements when
 * its AbortSignal fires, and returns the one BenchReport both entries print. No Node imports: the page's module
 * graph includes this file; TensorFlow.js (bench/peer.ts) is imported lazily, only when the peer is measured.
 *
 *   matmul peak -> per size: plan, evaluations, [per-layer GPU times, matmul probe], optimiser iterations, tfjs
 *   -> conv layers deeper than the loss -> [conv blocks] -> f16 -> [tiled comparison and table] -> matmul again
 *   -> the report
 */
import { adapterName, type GpuContext } from '../src/gpu/device.js';
import type { PerDispatchTiming } from '../src/gpu/passes.js';
import { QueueWaiter } from '../src/gpu/queueWait.js';
import { GpuRuntime } from '../src/gpu/runtime.js';
import { DEFAULT_LOSS, lossDepth } from '../src/net/loss.js';
import { minimumSizeFor, Vgg19Net } from '../src/net/network.js';
import { VGG19 } from '../src/net/vgg19.js';
import type { WeightTensors } from '../src/net/weights.js';
import type { BenchOptions } from './args.js';
import {
  byFamily,
  mapLossConvs,
  planSize,
  timeDeepConvs,
  timeDispatches,
  sweepConvBlocks,
  type BlockSweep,
  prepareEvaluations,
  PRIMED,
  timeEvaluations,
  timeOptimizers,
  type ConvLayerTiming,
  type SizePlan,
} from './engine.js';
import { makeInputs, relativeL2 } from './inputs.js';
import { MATMUL_VARIANTS, measureMatmul, measureMatmulPeak, withRecheck, type MatmulPeak } from './matmul.js';
import type { PeerEvaluation, TfjsPeer } from './peer.js';
import { GRAD_TOLERANCE, LOSS_TOLERANCE, withRates, type BenchReport, type F16Report, type LayersReport, type OursSize, type SizeReport } from './report.js';
import { alternate, median, type RepeatPolicy } from './stats.js';
import { measureTiled } from './tiled.js';

/** What one benchmark run needs. The caller owns the device (and destroys it afterwards if it wants). */
export interface BenchRun {
  /**
   * The WebGPU entry point the device came from (Dawn's GPU object in Node, navigator.gpu in a browser): tfjs opens
   * its own device from it. Needed only for the peer.
   */
  gpu?: GPU;
  context: GpuContext;
  weights: WeightTensors;
  options: BenchOptions;
  /** Where it runs: Node's version (process.version) or the browser's user agent; the other one null. */
  runtime: { node: string | null; browser: string | null };
  /** Progress messages, in order (the CLI writes them to stderr, the page into its live region). */
  progress?: (message: string) => void;
  /** Checked between measurements: once aborted, the run stops with the signal's reason (an AbortError). */
  signal?: AbortSignal;
  /** performance.now() when the run began, for wallSeconds (default: now). */
  started?: number;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Where the adapter has them, per-dispatch times come from timestamp queries; otherwise from submit-and-wait. */
export const TIMING_NOTE: Record<PerDispatchTiming, string> = {
  'timestamp-query': 'per-dispatch GPU times from timestamp queries',
  'submit-and-wait':
    'the adapter (or browser) offers no timestamp queries: per-dispatch times are wall times of each dispatch submitted alone and waited for (submit-and-wait), which include submission and wait overhead, so short dispatches read long and the % of the matmul peak is a lower bound',
};

function watchErrors(device: GPUDevice, errors: string[], who: string): void {
  const onError = (event: Event) => {
    if (errors.length < 20) errors.push(`${who} GPU error: ${(event as GPUUncapturedErrorEvent).error?.message ?? event.type}`);
  };
  if (typeof device.addEventListener === 'function') device.addEventListener('uncapturederror', onError);
  else device.onuncapturederror = onError;
}

/** Why `size` cannot run here, or undefined when it can. */
function sizeProblem(size: number, context: GpuContext): string | undefined {
  const minimum = minimumSizeFor(lossDepth(DEFAULT_LOSS));
  if (size < minimum) return `below the ${minimum} px the loss layers need`;
  const largest = size * size * 64 * 4; // conv1_x activations, the largest buffer of the plan
  const limit = context.device.limits.maxStorageBufferBindingSize;
  if (largest > limit) return `needs ${largest} B storage bindings, the adapter allows ${limit}`;
  return undefined;
}

type F32Baseline = OursSize & { grad: Float32Array };

/**
 * f16 weight storage at the per-layer size, after the f32 network is gone (so the held bytes are this network's):
 * evaluations timed as the f32 ones, loss and gradient compared with the f32 evaluation at the same x.
 */
async function measureF16(
  gpu: GpuRuntime,
  weights: WeightTensors,
  options: BenchOptions,
  adapterHasF16: boolean,
  f32: F32Baseline | undefined,
  policy: RepeatPolicy,
  errors: string[],
  log: (msg: string) => void,
  signal: AbortSignal | undefined,
): Promise<F16Report | { skipped: string }> {
  if (!options.f16) return { skipped: '--no-f16' };
  if (!adapterHasF16) return { skipped: 'the adapter has no shader-f16' };
  if (!f32) return { skipped: `no f32 evaluation at the per-layer size ${options.layerSize} (add it to --sizes)` };
  const size = options.layerSize;
  log(`${size} px: f16 weight storage`);
  const net16 = new Vgg19Net(gpu, weights, { depth: lossDepth(DEFAULT_LOSS), weightStorage: 'f16', convAlgorithm: options.convAlgorithm });
  let plan: SizePlan | undefined;
  try {
    plan = await planSize(gpu, net16, makeInputs(size));
    const ev = await timeEvaluations(gpu, plan.loss, policy);
    log(`${size} px: f16 weights ${ev.ms.toFixed(0)} ms per evaluation`);
    return {
      size,
      firstMs: ev.firstMs,
      ms: ev.ms,
      runs: ev.runs,
      heldBytes: plan.heldBytes,
      f32Ms: f32.ms,
      f32HeldBytes: f32.heldBytes,
      lossRelDiff: Math.abs(ev.losses.total - f32.losses.total) / Math.abs(f32.losses.total),
      gradRelDiff: relativeL2(ev.grad, f32.grad),
    };
  } catch (e) {
    if (signal?.aborted) throw e;
    errors.push(`f16 weight storage: ${message(e)}`);
    return { skipped: `failed: ${message(e)}` };
  } finally {
    plan?.dispose();
    net16.dispose();
    gpu.buffers.trim();
  }
}

export async function runBench(run: BenchRun): Promise<BenchReport> {
  const { gpu: webgpu, context, weights, options, signal } = run;
  const started = run.started ?? performance.now();
  const log = (msg: string) => run.progress?.(msg);
  /** Between measurements: stop here once aborted. */
  const checkpoint = () => signal?.throwIfAborted();
  /** In a catch that records errors: an abort is no measurement error, it ends the run. */
  const rethrowAbort = (e: unknown) => {
    if (signal?.aborted) throw e;
  };
  const errors: string[] = [];
  const notes: string[] = [];
  const policy: RepeatPolicy = { reps: options.reps, budgetMs: options.budgetSeconds * 1000 };
  // More runs for the per-layer table: its fastest times meet the matmul peak, and on a shared CPU only an
  // undisturbed run shows what a kernel does.
  const layerPolicy: RepeatPolicy = { reps: options.layerReps, budgetMs: 2 * options.budgetSeconds * 1000 };
  if (options.randomWeights) notes.push('random weights (--random-weights): times as with the real ones, loss values not');
  const name = adapterName(context.adapterInfo);
  log(`adapter: ${name}`);
  const timing: PerDispatchTiming = context.timestamps ? 'timestamp-query' : 'submit-and-wait';
  if (timing === 'submit-and-wait') notes.push(TIMING_NOTE[timing]);
  checkpoint();
  watchErrors(context.device, errors, 'engine');
  if (options.wait === 'poll') context.waitsCompeteWithShaders = false;
  const gpu = new GpuRuntime(context, { parallelism: options.parallelism });

  log(`matmul peak (${MATMUL_VARIANTS.length} variants, sizes ${options.matmulSizes === 'auto' ? 'auto' : options.matmulSizes.join(',')})`);
  let matmul: MatmulPeak = await measureMatmulPeak(gpu, options.matmulSizes, policy);
  gpu.buffers.trim();
  log(`matmul peak ${matmul.best.gflops.toFixed(1)} GFLOP/s (${matmul.best.variant} at ${matmul.best.m}^3)`);
  // The best variant again, right after the per-layer timing: close in time to what is compared with it.
  const probePeak = async () => {
    try {
      matmul = withRecheck(matmul, await measureMatmul(gpu, matmul.best.m, policy, [matmul.best.tile]));
      gpu.buffers.trim();
    } catch (e) {
      rethrowAbort(e);
      errors.push(`matmul probe: ${message(e)}`);
    }
  };

  let peer: TfjsPeer | undefined;
  if (options.peer) {
    try {
      log('loading TensorFlow.js (the peer)');
      // Lazily: tfjs is loaded only when the peer is measured (never in the element's bundle).
      const { TfjsPeer } = await import('./peer.js');
      checkpoint();
      if (!webgpu) throw new Error('no WebGPU entry point was given for TensorFlow.js');
      peer = await TfjsPeer.open(webgpu, weights, DEFAULT_LOSS);
      watchErrors((peer.tf.backend() as unknown as { device: GPUDevice }).device, errors, 'tfjs');
      log(`tfjs ${peer.version} on webgpu`);
    } catch (e) {
      rethrowAbort(e);
      errors.push(`tfjs peer unavailable: ${message(e)}`);
    }
  }

  const net = new Vgg19Net(gpu, weights, { depth: lossDepth(DEFAULT_LOSS), convAlgorithm: options.convAlgorithm });
  const sizes: SizeReport[] = [];
  /** The f32 evaluation at the per-layer size (and its gradient), which the f16 measurement is set against. */
  let f32AtLayerSize: F32Baseline | undefined;
  let layers: LayersReport | null = null;
  try {
    const layerPhase = async (plan: SizePlan, size: number, evaluated: boolean): Promise<void> => {
      checkpoint();
      log(`${size} px: per-dispatch GPU times (${timing})`);
      const { timings, reps } = await timeDispatches(plan.loss.passes, layerPolicy, !evaluated);
      const mapped = mapLossConvs(timings, size, net.convAlgorithm);
      layers = {
        size,
        reps,
        rows: mapped.rows.map((row) => withRates(row, null)),
        mapped: mapped.mapped,
        problem: mapped.problem,
        families: byFamily(timings),
        gpuMs: timings.reduce((s, t) => s + t.ms, 0),
        deepRows: 0,
      };
    };

    for (const size of options.sizes) {
      checkpoint();
      const problem = sizeProblem(size, context);
      if (problem) {
        sizes.push({ size, skipped: problem, ours: null, peer: null, ratio: null, optimizers: null });
        log(`${size} px skipped: ${problem}`);
        continue;
      }
      const inputs = makeInputs(size);
      const report: SizeReport = { size, ours: null, peer: null, ratio: null, optimizers: null };
      sizes.push(report);
      let plan: SizePlan | undefined;
      try {
        log(`${size} px: planning, targets`);
        plan = await planSize(gpu, net, inputs);
        checkpoint();
        log(`${size} px: evaluations`);
        const ours = await prepareEvaluations(gpu, plan.loss);
        if (options.layers && size === options.layerSize) {
          await layerPhase(plan, size, true);
          await probePeak();
        }
        if (options.optim) {
          checkpoint();
          log(`${size} px: optimisers (Adam, L-BFGS m=${options.lbfgsHistory})`);
          report.optimizers = await timeOptimizers(gpu, plan.loss, policy, options.lbfgsHistory, Math.max(options.reps, 5));
        }
        let peerReady: { first: PeerEvaluation; timed: () => Promise<number> } | undefined;
        try {
          if (peer) {
            try {
              checkpoint();
              log(`${size} px: tfjs first evaluation`);
              await peer.prepare(inputs);
              const first = await peer.firstEvaluation();
              // As for the engine: one untimed evaluation teaches the waiter the duration.
              const waiter = new QueueWaiter(peer.queue, context.waitsCompeteWithShaders, undefined, PRIMED);
              await peer.timedEvaluation(waiter);
              peerReady = { first, timed: () => peer.timedEvaluation(waiter) };
            } catch (e) {
              rethrowAbort(e);
              report.peerError = message(e);
              errors.push(`tfjs at ${size} px: ${message(e)}`);
            }
          }
          checkpoint();
          // The timed evaluations: ours and tfjs's alternate, so both meet the same machine (twice the budget: two sides).
          log(`${size} px: timed evaluations${peerReady ? ', ours and tfjs alternating' : ''}`);
          const runs = await alternate({ reps: policy.reps, budgetMs: 2 * policy.budgetMs }, ours.timed, peerReady?.timed);
          report.ours = { firstMs: ours.firstMs, ms: median(runs.a), runs: runs.a, losses: ours.losses, heldBytes: plan.heldBytes, setupPeakBytes: plan.setupPeakBytes };
          if (size === options.layerSize) f32AtLayerSize = { ...report.ours, grad: ours.grad };
          log(`${size} px: ours ${report.ours.ms.toFixed(0)} ms per evaluation (first ${ours.firstMs.toFixed(0)} ms)`);
          if (peerReady) {
            const { first } = peerReady;
            report.peer = {
              firstMs: first.firstMs,
              ms: median(runs.b),
              runs: runs.b,
              loss: first.loss,
              lossRelDiff: Math.abs(first.loss - ours.losses.total) / Math.abs(ours.losses.total),
              gradRelDiff: relativeL2(first.grad, ours.grad),
              memory: first.memory,
              numTensorsAfter: 0,
            };
            report.ratio = report.peer.ms / report.ours.ms;
            log(
              `${size} px: tfjs ${report.peer.ms.toFixed(0)} ms per evaluation (first ${first.firstMs.toFixed(0)} ms), loss differs by ${report.peer.lossRelDiff.toExponential(1)}`,
            );
          }
        } finally {
          if (peer) {
            peer.release();
            if (report.peer) report.peer.numTensorsAfter = peer.numTensors;
          }
        }
      } catch (e) {
        rethrowAbort(e);
        errors.push(`${size} px: ${message(e)}`);
        log(`${size} px failed: ${message(e)}`);
      } finally {
        plan?.dispose();
        gpu.buffers.trim();
      }
    }

    if (options.layers) {
      checkpoint();
      try {
        if (!layers && !sizeProblem(options.layerSize, context)) {
          const plan = await planSize(gpu, net, makeInputs(options.layerSize));
          try {
            await layerPhase(plan, options.layerSize, false);
            await probePeak();
          } finally {
            plan.dispose();
            gpu.buffers.trim();
          }
        }
        const current = layers as LayersReport | null;
        if (current && options.layerSize >= minimumSizeFor(VGG19.length)) {
          log(`${options.layerSize} px: conv layers deeper than the loss`);
          const deep: ConvLayerTiming[] = await timeDeepConvs(gpu, weights, makeInputs(options.layerSize), layerPolicy, options.convAlgorithm);
          current.rows.push(...deep.map((row) => withRates(row, null)));
          current.deepRows = deep.length;
          gpu.buffers.trim();
          await probePeak();
        }
      } catch (e) {
        rethrowAbort(e);
        errors.push(`per-layer timing: ${message(e)}`);
      }
    }
  } finally {
    net.dispose();
    peer?.dispose();
    gpu.buffers.trim();
  }
  let sweep: BlockSweep | null = null;
  checkpoint();
  if (options.convBlocks.length && !sizeProblem(options.layerSize, context)) {
    log(`${options.layerSize} px: conv register blocks ${options.convBlocks.map((b) => b.join('x')).join(', ')}`);
    sweep = await sweepConvBlocks(gpu, weights, makeInputs(options.layerSize), layerPolicy, options.convBlocks, options.convAlgorithm);
    errors.push(...sweep.errors.map((e) => `conv block sweep: ${e}`));
  }
  checkpoint();
  const f16 = await measureF16(gpu, weights, options, context.f16, f32AtLayerSize, policy, errors, log, signal);
  // --tiled / --tiled-compare (off by default): tiled evaluation's cost and peak memory.
  const tiled = await measureTiled({ context, gpu, weights, options, policy, errors, log, checkpoint, rethrowAbort });

  // Every variant again at the end.
  checkpoint();
  try {
    log('matmul peak again');
    matmul = withRecheck(matmul, (await measureMatmulPeak(gpu, matmul.sizes, policy)).variants);
    gpu.buffers.trim();
  } catch (e) {
    rethrowAbort(e);
    errors.push(`matmul recheck: ${message(e)}`);
  }
  const finalLayers = layers as LayersReport | null;
  if (finalLayers) finalLayers.rows = finalLayers.rows.map((row) => withRates(row, matmul.peakGflops));

  const checked = sizes.filter((s) => s.peer);
  const smallest = checked.length ? checked.reduce((a, b) => (b.size < a.size ? b : a)) : undefined;
  const guard = smallest?.peer
    ? {
        size: smallest.size,
        lossRelDiff: smallest.peer.lossRelDiff,
        gradRelDiff: smallest.peer.gradRelDiff,
        ok: smallest.peer.lossRelDiff <= LOSS_TOLERANCE && smallest.peer.gradRelDiff <= GRAD_TOLERANCE,
      }
    : null;
  if (policy.reps > 1 && sizes.some((s) => (s.ours && s.ours.runs.length < policy.reps) || (s.peer && s.peer.runs.length < policy.reps))) {
    notes.push(`some measurements took fewer than --reps ${policy.reps} runs to stay within --budget ${options.budgetSeconds} s (see "runs")`);
  }
  return {
    benchmark: 'style-transfer',
    date: new Date().toISOString(),
    node: run.runtime.node,
    browser: run.runtime.browser,
    timing,
    adapter: {
      name,
      timestamps: context.timestamps,
      info: context.adapterInfo,
      sleepBeforeWaits: context.waitsCompeteWithShaders,
      parallelism: gpu.parallelism,
      convAlgorithm: net.convAlgorithm,
    },
    options,
    matmul,
    layers,
    sweep,
    sizes,
    f16,
    peer: peer ? { library: '@tensorflow/tfjs-core + @tensorflow/tfjs-backend-webgpu', version: peer.version, backend: 'webgpu' } : null,
    guard,
    ...(tiled ? { tiled } : {}),
    notes,
    errors,
    wallSeconds: (performance.now() - started) / 1000,
  };
}
