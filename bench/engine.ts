/**
 * Measurements of the engine itself: setup and memory per size, wall time of loss+gradient evaluations,
 * per-dispatch GPU times (PassList.submitTimed) mapped onto VGG-19 layers, and optimiser iterations.
 */
import { PassList, type DispatchTag, type PassTiming } from '../src/gpu/passes.js';
import type { QueueWaiter } from '../src/gpu/queueWait.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { DEFAULT_LOSS, GatysLoss, lossDepth, type LossValues } from '../src/net/loss.js';
import type { LossPlan } from '../src/net/lossPlan.js';
import { FeatureMaps, Vgg19Net } from '../src/net/network.js';
import { blockTiling, type ConvAlgorithm, type ConvBlock } from '../src/net/tiling.js';
import { isWinogradLayer, winogradFlops, winogradTiles } from '../src/net/winograd.js';
import { convFlops, VGG19, type ConvLayer } from '../src/net/vgg19.js';
import type { WeightTensors } from '../src/net/weights.js';
import { AdamOptimizer } from '../src/optim/adam.js';
import { LbfgsOptimizer } from '../src/optim/lbfgs.js';
import type { GpuOptimizer } from '../src/optim/optimizer.js';
import { uniformArray } from '../src/util/random.js';
import type { BenchInputs } from './inputs.js';
import { median, medianPerIndex, minPerIndex, repeat, type RepeatPolicy } from './stats.js';

/** Wall time of `submit()` until the queue is idle; one `waiter` per series of similar submissions. */
async function wallMs(waiter: QueueWaiter, submit: () => void): Promise<number> {
  const started = performance.now();
  submit();
  await waiter.wait();
  return performance.now() - started;
}

export interface SizePlan<L extends LossPlan = GatysLoss> {
  loss: L;
  /** liveBytes right after target setup, before trimming: the high-water mark of the setup (style maps etc.). */
  setupPeakBytes: number;
  /** Bytes the engine holds while evaluating (network weights, plan, targets), free buffers trimmed. */
  heldBytes: number;
  dispose(): void;
}

/**
 * Plans the default loss at size x size with the bench inputs, targets set and x written. `create` makes the loss
 * (default: an untiled GatysLoss; the tiled table passes a TiledGatysLoss or memory.ts planRun's choice).
 */
export async function planSize(gpu: GpuRuntime, net: Vgg19Net, inputs: BenchInputs): Promise<SizePlan>;
export async function planSize<L extends LossPlan>(gpu: GpuRuntime, net: Vgg19Net, inputs: BenchInputs, create: (size: number) => L): Promise<SizePlan<L>>;
export async function planSize(
  gpu: GpuRuntime,
  net: Vgg19Net,
  inputs: BenchInputs,
  create: (size: number) => LossPlan = (n) => new GatysLoss(net, n, n, DEFAULT_LOSS),
): Promise<SizePlan<LossPlan>> {
  const n = inputs.size;
  gpu.buffers.trim();
  const loss = create(n);
  const content = gpu.upload(inputs.content, 'bench content');
  const style = gpu.upload(inputs.style, 'bench style');
  try {
    await loss.setContentTarget(content);
    await loss.setStyleTargets([{ x: style, width: n, height: n }]);
    gpu.device.queue.writeBuffer(loss.x, 0, inputs.x);
    await gpu.device.queue.onSubmittedWorkDone();
  } finally {
    gpu.buffers.release(content);
    gpu.buffers.release(style);
  }
  const setupPeakBytes = gpu.buffers.getStats().liveBytes;
  gpu.buffers.trim();
  const heldBytes = gpu.buffers.getStats().liveBytes;
  return { loss, setupPeakBytes, heldBytes, dispose: () => loss.dispose() };
}

export interface EvalResult {
  /** The first evaluation (includes any shader compilation deferred to first use, e.g. lavapipe's JIT). */
  firstMs: number;
  runs: number[];
  ms: number;
  losses: LossValues;
  grad: Float32Array;
}

/**
 * Every timed series of the bench starts with an untimed, compile-free run of the same work, so its waiter may
 * sleep from the first timed run on (QueueWaiter's default waits for two known runs).
 */
export const PRIMED = { knownBeforeSleep: 1 } as const;

/** An evaluation plan warmed up: its first evaluation's time, loss values and gradient, and a timed evaluation. */
export interface PreparedEvaluations {
  firstMs: number;
  losses: LossValues;
  grad: Float32Array;
  /** One evaluation, wall ms (submit + the wait). */
  timed: () => Promise<number>;
}

/**
 * The first evaluation (its loss values and gradient are kept for the peer check), then one untimed evaluation
 * that teaches the waiter how long an evaluation takes (the first one also compiled). `readGradient` false: the
 * gradient is not read back (empty), so no image-sized readback buffer adds to the pool's peak.
 */
export async function prepareEvaluations(gpu: GpuRuntime, loss: LossPlan, readGradient = true): Promise<PreparedEvaluations> {
  const firstMs = await wallMs(gpu.queueWaiter(), () => loss.evaluate());
  const losses = await loss.readLosses();
  const grad = readGradient ? await gpu.readFloat32(loss.grad, 3 * loss.width * loss.height) : new Float32Array(0);
  const waiter = gpu.queueWaiter(PRIMED);
  await wallMs(waiter, () => loss.evaluate());
  return { firstMs, losses, grad, timed: () => wallMs(waiter, () => loss.evaluate()) };
}

/** Prepared, then timed evaluations as the policy allows (`readGradient`: as for prepareEvaluations). */
export async function timeEvaluations(gpu: GpuRuntime, loss: LossPlan, policy: RepeatPolicy, readGradient = true): Promise<EvalResult> {
  const prepared = await prepareEvaluations(gpu, loss, readGradient);
  const runs = await repeat(policy, prepared.timed);
  return { firstMs: prepared.firstMs, runs, ms: median(runs), losses: prepared.losses, grad: prepared.grad };
}

/** A dispatch's GPU time over the repetitions: `ms` the median, `bestMs` the fastest. */
export type DispatchTiming = PassTiming & { bestMs: number };

/**
 * Per-dispatch GPU times of `passes` over repetitions (after an untimed run when `warmUp`): the median and the
 * fastest. The fastest is what the per-layer table compares with the matmul peak, itself the fastest of its
 * dispatches: on a shared CPU another process only ever lengthens a dispatch, so like is compared with like.
 */
export async function timeDispatches(passes: PassList, policy: RepeatPolicy, warmUp: boolean): Promise<{ timings: DispatchTiming[]; reps: number }> {
  if (warmUp) await passes.submitPerDispatch();
  const series: PassTiming[][] = [];
  await repeat(policy, async () => {
    const started = performance.now();
    series.push(await passes.submitPerDispatch());
    return performance.now() - started;
  });
  const times = series.map((s) => s.map((t) => t.ms));
  const ms = medianPerIndex(times);
  const best = minPerIndex(times);
  return { timings: series[0].map((t, i) => ({ ...t, ms: ms[i], bestMs: best[i] })), reps: series.length };
}

/** One layer's dispatches in one direction, summed: median and fastest GPU ms over the repetitions. */
export interface LayerPassTiming {
  label: string;
  ms: number;
  bestMs: number;
  flops: number;
}

export interface ConvLayerTiming {
  layer: string;
  /** "HxW cin->cout" at the timed size. */
  shape: string;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  /** How the layer was computed (its dispatches' FLOPs are that algorithm's arithmetic). */
  algorithm: ConvAlgorithm;
  forward: LayerPassTiming | null;
  backward: LayerPassTiming | null;
  /** Where the row comes from: the default GatysLoss plan, or a separate plan for layers deeper than the loss. */
  source: 'loss' | 'deep';
}

function convRow(layer: ConvLayer, index: number, size: number, source: ConvLayerTiming['source'], algorithm: ConvAlgorithm): ConvLayerTiming {
  let w = size;
  for (let i = 0; i < index; i++) if (VGG19[i].kind === 'pool') w = Math.floor(w / 2);
  return {
    layer: layer.name,
    shape: `${w}x${w} ${layer.inChannels}->${layer.outChannels}`,
    height: w,
    width: w,
    inChannels: layer.inChannels,
    outChannels: layer.outChannels,
    algorithm: isWinogradLayer(index, algorithm) ? 'winograd' : 'direct',
    forward: null,
    backward: null,
    source,
  };
}

/** FLOPs the layer's dispatches declare: a direct conv's, or the Winograd product's (16/36 of them on even sizes). */
const expectedFlops = (row: ConvLayerTiming) =>
  row.algorithm === 'winograd' ? winogradFlops(row.inChannels, row.outChannels, winogradTiles(row.width, row.height)) : convFlops(row, row.width, row.height);
/** One layer's dispatches (or their timings) in one role (network.ts tags every conv dispatch with its layer). */
function ofLayer<T extends { tag?: DispatchTag }>(items: readonly T[], layer: string, role: DispatchTag['role']): T[] {
  return items.filter((t) => t.tag?.layer === layer && t.tag.role === role);
}

function summed(part: readonly DispatchTiming[]): LayerPassTiming | null {
  const total = (pick: (t: DispatchTiming) => number) => part.reduce((s, t) => s + pick(t), 0);
  return part.length ? { label: part.map((t) => t.label).join('+'), ms: total((t) => t.ms), bestMs: total((t) => t.bestMs), flops: total((t) => t.flops) } : null;
}

/** The loss plan's conv layers, forward and backward, from the dispatches' layer tags (several dispatches summed). */
export function mapLossConvs(timings: DispatchTiming[], size: number, algorithm: ConvAlgorithm): { rows: ConvLayerTiming[]; mapped: boolean; problem?: string } {
  const depth = lossDepth(DEFAULT_LOSS);
  const convs = VGG19.slice(0, depth)
    .map((layer, index) => ({ layer, index }))
    .filter((e): e is { layer: ConvLayer; index: number } => e.layer.kind === 'conv');
  const rows = convs.map(({ layer, index }) => convRow(layer, index, size, 'loss', algorithm));
  for (const row of rows) {
    const forward = summed(ofLayer(timings, row.layer, 'forward'));
    const backward = summed(ofLayer(timings, row.layer, 'backward'));
    const want = expectedFlops(row);
    if (!forward || !backward) return { rows, mapped: false, problem: `${row.layer}: no ${forward ? 'backward' : 'forward'} dispatch tagged` };
    if (forward.flops !== want || backward.flops !== want) {
      return { rows, mapped: false, problem: `${row.layer}: dispatch FLOPs ${forward.flops}/${backward.flops}, expected ${want}` };
    }
    row.forward = forward;
    row.backward = backward;
  }
  return { rows, mapped: true };
}

export interface KernelFamily {
  family: string;
  dispatches: number;
  ms: number;
  flops: number;
}

/**
 * Kernel family of a dispatch: a direct conv layer's dispatches by their tag ('conv3x3 forward' / 'conv3x3
 * backward', whatever kernels the layer uses, e.g. the image layer's 1x1 + gather); a Winograd layer's as its
 * product (per role) and its transforms; others by program label without the tile/workgroup suffix.
 */
export function kernelFamily(label: string, tag?: PassTiming['tag']): string {
  if (tag && label.startsWith('winograd_')) return 'winograd transforms';
  if (tag && label.includes('_wino')) return `winograd product ${tag.role}`;
  if (tag) return `conv3x3 ${tag.role}`;
  if (label.startsWith('conv1x1')) return 'conv1x1 (style gradient)';
  return label.replace(/_wg\d+.*$/, '').replace(/_(acc|mask)(_|$).*$/, '');
}

/** Sums dispatch times by kernel family, largest first. */
export function byFamily(timings: PassTiming[]): KernelFamily[] {
  const families = new Map<string, KernelFamily>();
  for (const t of timings) {
    const family = kernelFamily(t.label, t.tag);
    const f = families.get(family) ?? { family, dispatches: 0, ms: 0, flops: 0 };
    f.dispatches++;
    f.ms += t.ms;
    f.flops += t.flops;
    families.set(family, f);
  }
  return [...families.values()].sort((a, b) => b.ms - a.ms);
}

/**
 * Conv layers deeper than the default loss (conv5_2 .. conv5_4): a full-depth network and feature maps of their
 * own; a full forward pass fills the activations once, then only those layers' forward dispatches and their
 * backward steps (FeatureMaps.encodeBackwardStep, ReLU mask of the conv below applied) are timed.
 */
export async function timeDeepConvs(gpu: GpuRuntime, weights: WeightTensors, inputs: BenchInputs, policy: RepeatPolicy, convAlgorithm?: ConvAlgorithm): Promise<ConvLayerTiming[]> {
  const first = lossDepth(DEFAULT_LOSS);
  const deep = VGG19.map((layer, index) => ({ layer, index })).filter((e): e is { layer: ConvLayer; index: number } => e.index >= first && e.layer.kind === 'conv');
  if (deep.length === 0) return [];
  const n = inputs.size;
  const net = new Vgg19Net(gpu, weights, { convAlgorithm });
  const maps = new FeatureMaps(net, n, n);
  const owned: GPUBuffer[] = [];
  // Both lists' uniforms go back at the end (releasing a dispatch twice, as the shared forward ones are, is a no-op).
  const forward = new PassList(gpu);
  const timed = new PassList(gpu);
  try {
    const x = gpu.upload(inputs.x, 'bench x');
    owned.push(x);
    maps.encodeForward(forward, x);
    forward.submit();
    await gpu.device.queue.onSubmittedWorkDone();
    const ranges: Array<{ row: ConvLayerTiming; forward: [number, number]; backward: [number, number] }> = [];
    for (const { layer, index } of deep) {
      const row = convRow(layer, index, n, 'deep', net.convAlgorithm);
      const f0 = timed.dispatches.length;
      timed.dispatches.push(...ofLayer(forward.dispatches, layer.name, 'forward'));
      const f1 = timed.dispatches.length;
      const gradOut = gpu.upload(uniformArray(maps.bytes(index) / 4, index, -1, 1), 'bench grad out');
      const gradIn = gpu.buffers.storage(maps.bytes(index - 1), 'bench grad in');
      owned.push(gradOut, gradIn);
      maps.encodeBackwardStep(timed, index, gradOut, gradIn, { maskBelow: VGG19[index - 1].kind === 'conv', accumulate: false });
      ranges.push({ row, forward: [f0, f1], backward: [f1, timed.dispatches.length] });
    }
    const { timings } = await timeDispatches(timed, policy, true);
    return ranges.map(({ row, forward: f, backward: b }) => ({ ...row, forward: summed(timings.slice(f[0], f[1])), backward: summed(timings.slice(b[0], b[1])) }));
  } finally {
    for (const b of owned) gpu.buffers.release(b);
    forward.dispose();
    timed.dispose();
    maps.dispose();
    net.dispose();
  }
}

/** Per-layer conv GPU times of the loss plan with one register block for every layer, for each block tried. */
export interface BlockSweep {
  size: number;
  /** "8x4": pixels x channel groups per invocation. */
  blocks: string[];
  /** Fastest GPU ms per block (same order as `blocks`), forward and backward; null where the plan failed. */
  rows: Array<{ layer: string; shape: string; forward: Array<number | null>; backward: Array<number | null> }>;
  /** Sum of every dispatch of the plan (fastest per dispatch) per block. */
  planMs: Array<number | null>;
  errors: string[];
}

/**
 * The default loss plan at the per-layer size once per register block (every conv layer and the style-gradient
 * 1x1 convs use that block, clamped to the layer: see tiling.ts blockTiling), the layers' fastest times per block.
 * What a per-adapter tiling rule (or an autotune) would choose from.
 */
export async function sweepConvBlocks(
  gpu: GpuRuntime,
  weights: WeightTensors,
  inputs: BenchInputs,
  policy: RepeatPolicy,
  blocks: readonly ConvBlock[],
  convAlgorithm?: ConvAlgorithm,
): Promise<BlockSweep> {
  const size = inputs.size;
  const sweep: BlockSweep = { size, blocks: blocks.map((b) => `${b[0]}x${b[1]}`), rows: [], planMs: [], errors: [] };
  for (const [k, block] of blocks.entries()) {
    const net = new Vgg19Net(gpu, weights, { depth: lossDepth(DEFAULT_LOSS), tuning: (shape) => blockTiling(block, shape), convAlgorithm });
    let plan: SizePlan | undefined;
    try {
      plan = await planSize(gpu, net, inputs);
      const { timings } = await timeDispatches(plan.loss.passes, policy, true);
      const mapped = mapLossConvs(timings, size, net.convAlgorithm);
      if (!mapped.mapped) throw new Error(mapped.problem);
      if (sweep.rows.length === 0) sweep.rows = mapped.rows.map((r) => ({ layer: r.layer, shape: r.shape, forward: blocks.map(() => null), backward: blocks.map(() => null) }));
      mapped.rows.forEach((r, i) => {
        sweep.rows[i].forward[k] = r.forward?.bestMs ?? null;
        sweep.rows[i].backward[k] = r.backward?.bestMs ?? null;
      });
      sweep.planMs[k] = timings.reduce((sum, t) => sum + t.bestMs, 0);
    } catch (e) {
      sweep.planMs[k] = null;
      sweep.errors.push(`${sweep.blocks[k]}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      plan?.dispose();
      net.dispose();
      gpu.buffers.trim();
    }
  }
  return sweep;
}

export interface OptimizerTiming {
  name: string;
  /** Loss passes + optimiser step in one submission, as stylize's runIterations records an iteration. */
  iterationMs: number;
  iterationRuns: number[];
  /** The optimiser step alone (one submission, no loss passes). */
  stepMs: number;
  stepRuns: number[];
  /** GPU bytes the optimiser holds (GpuOptimizer.memoryBytes). */
  bytes: number;
  /** What was measured, in words. */
  note: string;
}

/** Times Adam and L-BFGS (history m, ring filled first) iterations on `loss`; x is restored afterwards. */
export async function timeOptimizers(gpu: GpuRuntime, loss: GatysLoss, policy: RepeatPolicy, lbfgsHistory: number, stepReps: number): Promise<OptimizerTiming[]> {
  const { device } = gpu;
  const n = 3 * loss.width * loss.height;
  const saved = gpu.buffers.storage(n * 4, 'bench saved x');
  const history = gpu.buffers.storage(16, 'bench loss history');
  const copyX = (from: GPUBuffer, to: GPUBuffer) => {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(from, 0, to, 0, n * 4);
    device.queue.submit([encoder.finish()]);
  };
  copyX(loss.x, saved);
  const results: OptimizerTiming[] = [];
  let optimizer: GpuOptimizer | undefined;
  try {
    let iteration = 0;
    // One waiter per series of similar submissions: its sleep is learnt from the previous one.
    let iterationWaiter = gpu.queueWaiter(PRIMED);
    let stepWaiter = gpu.queueWaiter(PRIMED);
    const fullIteration = () =>
      wallMs(iterationWaiter, () => {
        const encoder = device.createCommandEncoder({ label: `bench iteration ${iteration}` });
        loss.passes.encode(encoder);
        encoder.copyBufferToBuffer(loss.losses, 0, history, 0, 16);
        optimizer!.encodeStep(encoder, iteration++);
        device.queue.submit([encoder.finish()]);
      });
    const stepOnly = (count = 1, waiter = stepWaiter) =>
      wallMs(waiter, () => {
        const encoder = device.createCommandEncoder({ label: 'bench step' });
        for (let k = 0; k < count; k++) optimizer!.encodeStep(encoder, iteration++);
        device.queue.submit([encoder.finish()]);
      });
    const stepPolicy = { reps: stepReps, budgetMs: policy.budgetMs };

    // Adam: one step alone first (compiles its pipelines; the loss plan is warm already), then timed iterations
    // and steps, each series after an untimed run of its own (PRIMED).
    optimizer = new AdamOptimizer(gpu, loss.x, loss.grad, n, { learningRate: 10 });
    await stepOnly(1, gpu.queueWaiter());
    await fullIteration();
    const adamRuns = await repeat(policy, fullIteration);
    await stepOnly();
    const adamSteps = await repeat(stepPolicy, () => stepOnly());
    results.push({
      name: 'adam',
      iterationMs: median(adamRuns),
      iterationRuns: adamRuns,
      stepMs: median(adamSteps),
      stepRuns: adamSteps,
      bytes: optimizer.memoryBytes,
      note: 'after one untimed step',
    });
    optimizer.dispose();
    copyX(saved, loss.x);

    // L-BFGS: step 0 and then m more steps without loss passes, so the ring holds m pairs (a step's cost depends
    // only on how many pairs it walks, not on their values; with the gradient unchanged the pairs have y = 0 and
    // ro = 0), x restored, then timed iterations that each walk all m pairs (4m + 1 dispatches after the loss).
    iteration = 0;
    optimizer = new LbfgsOptimizer(gpu, loss.x, loss.grad, n, { learningRate: 1, historySize: lbfgsHistory });
    iterationWaiter = gpu.queueWaiter(PRIMED);
    stepWaiter = gpu.queueWaiter(PRIMED);
    const fillWaiter = gpu.queueWaiter();
    await stepOnly(1, fillWaiter);
    for (let filled = 0; filled < lbfgsHistory; filled += 10) await stepOnly(Math.min(10, lbfgsHistory - filled), fillWaiter);
    copyX(saved, loss.x);
    await fullIteration();
    const lbfgsRuns = await repeat(policy, fullIteration);
    await stepOnly();
    const lbfgsSteps = await repeat(stepPolicy, () => stepOnly());
    results.push({
      name: `lbfgs m=${lbfgsHistory}`,
      iterationMs: median(lbfgsRuns),
      iterationRuns: lbfgsRuns,
      stepMs: median(lbfgsSteps),
      stepRuns: lbfgsSteps,
      bytes: optimizer.memoryBytes,
      note: `ring full: ${lbfgsHistory} pairs (filled by ${lbfgsHistory + 1} untimed steps without loss passes), ${4 * lbfgsHistory + 1} step dispatches`,
    });
  } finally {
    optimizer?.dispose();
    copyX(saved, loss.x);
    await device.queue.onSubmittedWorkDone();
    gpu.buffers.release(saved);
    gpu.buffers.release(history);
  }
  return results;
}
