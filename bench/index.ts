/**
 * `npm run bench`: the engine's performance on this machine's WebGPU adapter (Node + Dawn), with TensorFlow.js
 * (WebGPU backend, same adapter) as the peer. See docs/benchmarks.md for what each number means.
 *
 *   matmul peak -> per size: plan, evaluations, [per-layer GPU times, matmul probe], optimiser iterations, tfjs
 *   -> conv layers deeper than the loss -> matmul again -> tables on stdout (or one JSON object with --json)
 *
 * Progress goes to stderr. Exit status: 0, 1 on an error, 2 on a usage error, 3 when the correctness guard fails.
 */
import { writeFileSync } from 'node:fs';
import { adapterName, openGpu, type GpuContext } from '../src/gpu/device.js';
import { QueueWaiter } from '../src/gpu/queueWait.js';
import { GpuRuntime } from '../src/gpu/runtime.js';
import { loadWeights } from '../src/cli/common.js';
import { DEFAULT_LOSS, lossDepth } from '../src/net/loss.js';
import { minimumSizeFor, Vgg19Net } from '../src/net/network.js';
import { VGG19 } from '../src/net/vgg19.js';
import type { WeightTensors } from '../src/net/weights.js';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs, type BenchOptions } from './args.js';
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
import { makeInputs, randomVggWeights, relativeL2 } from './inputs.js';
import { MATMUL_VARIANTS, measureMatmul, measureMatmulPeak, withRecheck, type MatmulPeak } from './matmul.js';
import { TfjsPeer, type PeerEvaluation } from './peer.js';
import { GRAD_TOLERANCE, LOSS_TOLERANCE, renderText, withRates, type BenchReport, type F16Report, type LayersReport, type OursSize, type SizeReport } from './report.js';
import { alternate, median, type RepeatPolicy } from './stats.js';

const started = performance.now();
const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Dawn for Node, kept as a GPU object so the tfjs peer can be handed the very same instance. Dawn quantizes
 * timestamp query results by default (to 65.536 us steps here), which would swamp short dispatches: the bench turns
 * that off (src/gpu/nodeDevice.ts keeps Dawn's defaults).
 */
async function openDawn(): Promise<{ gpu: GPU; context: GpuContext }> {
  const mod = await import('webgpu');
  Object.assign(globalThis, mod.globals);
  const gpu = (dawnInstance = mod.create(['disable-dawn-features=timestamp_quantization']));
  return { gpu, context: await openGpu(gpu, { pollingWaits: true }) };
}

/** Held for the whole process: once the GPU object is garbage-collected, Dawn's instance goes and devices crash. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- written only to keep Dawn's instance reachable
let dawnInstance: GPU | undefined;

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
    errors.push(`f16 weight storage: ${message(e)}`);
    return { skipped: `failed: ${message(e)}` };
  } finally {
    plan?.dispose();
    net16.dispose();
    gpu.buffers.trim();
  }
}

async function run(options: BenchOptions): Promise<BenchReport> {
  const errors: string[] = [];
  const notes: string[] = [];
  const policy: RepeatPolicy = { reps: options.reps, budgetMs: options.budgetSeconds * 1000 };
  // More runs for the per-layer table: its fastest times meet the matmul peak, and on a shared CPU only an
  // undisturbed run shows what a kernel does.
  const layerPolicy: RepeatPolicy = { reps: options.layerReps, budgetMs: 2 * options.budgetSeconds * 1000 };
  const weights: WeightTensors = options.randomWeights ? randomVggWeights() : await loadWeights(options.weights);
  if (options.randomWeights) notes.push('random weights (--random-weights): times as with the real ones, loss values not');
  const { gpu: dawn, context } = await openDawn();
  const name = adapterName(context.adapterInfo);
  log(`adapter: ${name}`);
  if (!context.timestamps) throw new Error('the adapter has no timestamp queries; per-dispatch GPU times are not available');
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
      errors.push(`matmul probe: ${message(e)}`);
    }
  };

  let peer: TfjsPeer | undefined;
  if (options.peer) {
    try {
      peer = await TfjsPeer.open(dawn, weights, DEFAULT_LOSS);
      watchErrors((peer.tf.backend() as unknown as { device: GPUDevice }).device, errors, 'tfjs');
      log(`tfjs ${peer.version} on webgpu`);
    } catch (e) {
      errors.push(`tfjs peer unavailable: ${message(e)}`);
    }
  }

  const net = new Vgg19Net(gpu, weights, { depth: lossDepth(DEFAULT_LOSS), convAlgorithm: options.convAlgorithm });
  const sizes: SizeReport[] = [];
  /** The f32 evaluation at the per-layer size (and its gradient), which the f16 measurement is set against. */
  let f32AtLayerSize: F32Baseline | undefined;
  let layers: LayersReport | null = null;

  const layerPhase = async (plan: SizePlan, size: number, evaluated: boolean): Promise<void> => {
    log(`${size} px: per-dispatch GPU times`);
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
      log(`${size} px: evaluations`);
      const ours = await prepareEvaluations(gpu, plan.loss);
      if (options.layers && size === options.layerSize) {
        await layerPhase(plan, size, true);
        await probePeak();
      }
      if (options.optim) {
        log(`${size} px: optimisers (Adam, L-BFGS m=${options.lbfgsHistory})`);
        report.optimizers = await timeOptimizers(gpu, plan.loss, policy, options.lbfgsHistory, Math.max(options.reps, 5));
      }
      let peerReady: { first: PeerEvaluation; timed: () => Promise<number> } | undefined;
      try {
        if (peer) {
          try {
            log(`${size} px: tfjs first evaluation`);
            await peer.prepare(inputs);
            const first = await peer.firstEvaluation();
            // As for the engine: one untimed evaluation teaches the waiter the duration.
            const waiter = new QueueWaiter(peer.queue, context.waitsCompeteWithShaders, undefined, PRIMED);
            await peer.timedEvaluation(waiter);
            peerReady = { first, timed: () => peer.timedEvaluation(waiter) };
          } catch (e) {
            report.peerError = message(e);
            errors.push(`tfjs at ${size} px: ${message(e)}`);
          }
        }
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
      errors.push(`${size} px: ${message(e)}`);
      log(`${size} px failed: ${message(e)}`);
    } finally {
      plan?.dispose();
      gpu.buffers.trim();
    }
  }

  if (options.layers) {
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
      errors.push(`per-layer timing: ${message(e)}`);
    }
  }
  net.dispose();
  gpu.buffers.trim();
  let sweep: BlockSweep | null = null;
  if (options.convBlocks.length && !sizeProblem(options.layerSize, context)) {
    log(`${options.layerSize} px: conv register blocks ${options.convBlocks.map((b) => b.join('x')).join(', ')}`);
    sweep = await sweepConvBlocks(gpu, weights, makeInputs(options.layerSize), layerPolicy, options.convBlocks, options.convAlgorithm);
    errors.push(...sweep.errors.map((e) => `conv block sweep: ${e}`));
  }
  const f16 = await measureF16(gpu, weights, options, context.f16, f32AtLayerSize, policy, errors);

  // Every variant again at the end.
  try {
    log('matmul peak again');
    matmul = withRecheck(matmul, (await measureMatmulPeak(gpu, matmul.sizes, policy)).variants);
    gpu.buffers.trim();
  } catch (e) {
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
  const loadavg = (await import('node:os')).loadavg()[0];
  notes.push(`1-minute load average at the end: ${loadavg.toFixed(1)} on ${(await import('node:os')).availableParallelism()} CPUs`);
  return {
    benchmark: 'style-transfer',
    date: new Date().toISOString(),
    node: process.version,
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
    notes,
    errors,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

async function main(): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof BenchUsageError) {
      process.stderr.write(`bench: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (options === 'help') {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  const report = await run(options);
  const json = JSON.stringify(report, null, 2);
  if (options.out) writeFileSync(options.out, `${json}\n`);
  const text = options.json ? `${json}\n` : `${renderText(report)}\n`;
  await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  if (report.guard && !report.guard.ok) return 3;
  return report.errors.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${message(e)}\n`);
    process.exit(1);
  },
);
