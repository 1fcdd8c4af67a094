/**
 * Style transfer end to end, for the browser and Node alike:
 *
 *   images -> preprocess -> [per iteration: VGG forward -> losses -> backward -> optimiser step] -> deprocess
 *
 * One iteration is one queue submission (loss passes + optimiser step + a 16-byte copy of the loss values into a
 * GPU history buffer). The CPU never waits on a mapping inside the loop: at most two iterations are in flight
 * (it waits on onSubmittedWorkDone, which maps nothing), and progress is read asynchronously every `printEvery`
 * iterations from the history buffer. The options (types, defaults, presets, validation) are src/net/options.ts.
 */
import type { GpuRuntime } from '../gpu/runtime.js';
import { AdamOptimizer } from '../optim/adam.js';
import { LbfgsOptimizer } from '../optim/lbfgs.js';
import { LbfgsLineSearch, lineSearchBytes } from '../optim/lbfgsLineSearch.js';
import type { GpuOptimizer } from '../optim/optimizer.js';
import { resizeTo, sizeForLongerSide } from '../io/rgbaImage.js';
import { normalArray, uniformArray } from '../util/random.js';
import { lossDepth, setTargetImages, type RegionLossConfig, type StyleImage } from './loss.js';
import { matchStyleColors } from './colorMatch.js';
import { maskAtSize, StyleMaskError } from './styleMask.js';
import { createLossPlan, type LossPlan } from './lossPlan.js';
import { minimumSizeFor, Vgg19Net } from './network.js';
import { checkStyleBlendWeights, OptionError, scaleSizes, type StylizeOptions } from './options.js';
import { imageToX, xToImage, type Rgba8 } from './preprocess.js';
import { largestFittingSize, MemoryLimitError, noFitProblem, planRunWithHistory, memoryLimits, runDims, styleDims, type EvaluationPlan } from './memory.js';
import { convAlgorithmFor, wantsImageLayerKernels } from './tiling.js';
import type { WeightTensors } from './weights.js';
import { VGG_MEAN_BGR } from '../../shaders/common.js';

export interface IterationRecord {
  /** 1-based over the whole run (all scales). */
  iteration: number;
  content: number;
  style: number;
  tv: number;
  total: number;
  /**
   * The style loss per style image, in the order of the styles: with style regions (masks) the sum of that style's
   * terms ("style:relu1_1#k"), else one value, `style`. They add up to `style`.
   */
  styles: number[];
  /** Wall time of this iteration on the GPU queue. */
  ms: number;
  /** Loss evaluations the iteration took (1 without a line search). */
  evaluations: number;
}

/**
 * What a run is doing, in order (per scale): building the network's pipelines and buffers ('compiling'), computing
 * the content and style targets ('style-targets'), then the iterations ('optimizing').
 */
export type StylizePhase = 'compiling' | 'style-targets' | 'optimizing';

export interface StylizeRequest {
  gpu: GpuRuntime;
  weights: WeightTensors;
  content: Rgba8;
  styles: Rgba8[];
  /**
   * Style regions: one mask per style image, in content space (greyscale value / 255; colour: ITU-R 601 luma),
   * resized to each scale's run size like the content (src/net/styleMask.ts). Each style then has its own terms,
   * weighted by its blend weight as given.
   */
  styleMasks?: Rgba8[];
  options: StylizeOptions;
  signal?: AbortSignal;
  /** L-BFGS uses options.learningRate only when it was asked for; otherwise torch's natural step 1. */
  explicitLearningRate?: boolean;
  /** Called with the newest records every `printEvery` iterations (asynchronously, after the GPU got there). */
  onProgress?: (latest: IterationRecord, all: readonly IterationRecord[]) => void;
  /** Called after each iteration's submission with the x buffer (planar BGR), e.g. to draw a preview or save frames. */
  onIteration?: (state: { iteration: number; x: GPUBuffer; width: number; height: number }) => void | Promise<void>;
  /** The L-BFGS history was asked for: when it does not fit, the run is refused instead of keeping a shorter one. */
  explicitHistorySize?: boolean;
  /** Called once per scale, before it allocates, with how it will run (tiles, a shorter history) and its estimate. */
  onPlan?: (plan: ScalePlan) => void;
  /** Called as the run enters each phase (per scale). */
  onPhase?: (phase: StylizePhase) => void;
  /**
   * Start from this image instead of options.init (resized to the first scale): to continue a run from where it
   * stopped. The optimiser starts afresh (an L-BFGS history is not kept between runs).
   */
  initialImage?: Rgba8;
  /**
   * Iterations queued on the GPU at most (default 2, which keeps a GPU busy); 1 makes a stop take effect after the
   * current iteration on any adapter. A line search always runs one at a time.
   */
  maxInFlight?: number;
  /** Number of the first iteration minus one (records are numbered from firstIteration + 1; default 0). */
  firstIteration?: number;
}

/** How one scale of a run is evaluated, chosen from the memory it needs (src/net/memory.ts planRun). */
export interface ScalePlan {
  width: number;
  height: number;
  evaluation: EvaluationPlan;
  /** The L-BFGS history this scale keeps. */
  historySize: number;
  /** Set when the asked history did not fit and a shorter one is kept. */
  reducedHistoryFrom?: number;
  estimatedBytes: number;
}

export interface StylizeResult {
  image: Rgba8;
  /** Iterations actually run (fewer than asked when stopped). */
  iterations: number;
  ms: number;
  records: IterationRecord[];
  stopped: boolean;
  /** GPU bytes held by the optimiser state (the last scale). */
  optimizerBytes: number;
  /** Peak GPU bytes held by the engine during the run. */
  peakBytes: number;
  /** Each scale's plan, in order. */
  plans: ScalePlan[];
}

export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

function makeOptimizer(gpu: GpuRuntime, loss: LossPlan, options: StylizeOptions, explicitLr: boolean): GpuOptimizer {
  const n = 3 * loss.width * loss.height;
  if (options.optimizer === 'adam') return new AdamOptimizer(gpu, loss.x, loss.grad, n, { learningRate: options.learningRate });
  return new LbfgsOptimizer(gpu, loss.x, loss.grad, n, { learningRate: explicitLr ? options.learningRate : 1, historySize: options.historySize });
}

/** Initial x for the first scale. */
function initialX(gpu: GpuRuntime, loss: LossPlan, content: Rgba8, options: StylizeOptions): void {
  const n = 3 * loss.width * loss.height;
  if (options.init === 'random') {
    // neural-style: randn * 0.001 around the mean colour.
    const x = normalArray(n, options.seed, 0.001);
    gpu.device.queue.writeBuffer(loss.x, 0, x);
    return;
  }
  imageToX(gpu, content, loss.x);
  if (options.init === 'noise') {
    const plane = loss.width * loss.height;
    const x = new Float32Array(n);
    const noise = uniformArray(n, options.seed, -20, 20);
    const r = options.noiseRatio;
    for (let c = 0; c < 3; c++) {
      const mean = VGG_MEAN_BGR[c];
      for (let p = 0; p < plane; p++) {
        // The same preprocessing as the GPU kernel: channel c of BGR is byte (2 - c) of RGBA.
        const v = content.data[p * 4 + (2 - c)] - mean;
        x[c * plane + p] = (1 - r) * v + r * noise[c * plane + p];
      }
    }
    gpu.device.queue.writeBuffer(loss.x, 0, x);
  }
}

/** Luminance of `result` with the chroma of `content` (YUV, BT.601), as neural-style's -original_colors. */
export function transferLuminance(result: Rgba8, content: Rgba8): Rgba8 {
  const out = new Uint8ClampedArray(result.data.length);
  for (let i = 0; i < out.length; i += 4) {
    const y = 0.299 * result.data[i] + 0.587 * result.data[i + 1] + 0.114 * result.data[i + 2];
    const r = content.data[i];
    const g = content.data[i + 1];
    const b = content.data[i + 2];
    const cy = 0.299 * r + 0.587 * g + 0.114 * b;
    const u = 0.492 * (b - cy);
    const v = 0.877 * (r - cy);
    out[i] = Math.round(Math.min(255, Math.max(0, y + v / 0.877)));
    out[i + 1] = Math.round(Math.min(255, Math.max(0, y - 0.395 * u - 0.581 * v)));
    out[i + 2] = Math.round(Math.min(255, Math.max(0, y + u / 0.492)));
    out[i + 3] = 255;
  }
  return { width: result.width, height: result.height, data: out };
}

/** Runs the optimisation; resolves with the image (also when stopped by the signal: the last image is kept). */
export async function stylize(request: StylizeRequest): Promise<StylizeResult> {
  const { gpu, options } = request;
  if (request.styles.length === 0) throw new Error('At least one style image is needed.');
  checkStyleBlendWeights(options.styleBlendWeights, request.styles.length);
  const config = lossConfigOf(options, request.styles.length, request.styleMasks);
  const depth = lossDepth(config);
  const minimum = minimumSizeFor(depth, options.padding);
  // Every scale is checked before anything is allocated.
  for (const size of scaleSizes(options)) {
    const dims = sizeForLongerSide(request.content.width, request.content.height, size);
    if (Math.min(dims.width, dims.height) < minimum) {
      throw new Error(
        `At ${dims.width}x${dims.height} the image is too small for the chosen layers: the shorter side must be at least ${minimum} px ` +
          `(use a larger size or shallower layers).`,
      );
    }
  }
  const plans = scaleSizes(options).map((size) => planScale(gpu, request.content, request.styles, size, config, options, minimum, request.explicitHistorySize ?? false));
  request.onPhase?.('compiling');
  const net = new Vgg19Net(gpu, request.weights, { depth, pooling: options.pooling, weightStorage: options.weightStorage, padding: options.padding });
  const records: IterationRecord[] = [];
  const started = performance.now();
  let current: Rgba8 | undefined = request.initialImage;
  let stopped = false;
  let optimizerBytes = 0;
  let iterationBase = request.firstIteration ?? 0;
  try {
    for (const [scale, size] of scaleSizes(options).entries()) {
      const plan = plans[scale];
      request.onPlan?.(plan);
      if (scale > 0) request.onPhase?.('compiling');
      const dims = sizeForLongerSide(request.content.width, request.content.height, size);
      const content = resizeTo(request.content, dims.width, dims.height);
      const styles: StyleImage[] = request.styles.map((s) => {
        const d = styleDims(s, size, options.styleScale, minimum);
        const resized = resizeTo(s, d.width, d.height);
        return options.matchStyleColors ? matchStyleColors(resized, content) : resized;
      });
      const masks = request.styleMasks?.map((m) => maskAtSize(m, dims.width, dims.height));
      const loss = createLossPlan(net, dims.width, dims.height, config, plan.evaluation);
      const scaleOptions = { ...options, historySize: plan.historySize };
      let optimizer: GpuOptimizer | undefined;
      try {
        request.onPhase?.('style-targets');
        await setTargetImages(loss, content, styles, options.styleBlendWeights, masks);
        // The target pass's buffers go back to the GPU before the optimiser allocates, so the peak is the larger of
        // the two phases, as estimateMemory counts it, not their sum.
        gpu.buffers.trim();
        if (current) imageToX(gpu, resizeTo(current, dims.width, dims.height), loss.x);
        else initialX(gpu, loss, content, options);
        optimizer = makeOptimizer(gpu, loss, scaleOptions, request.explicitLearningRate ?? false);
        optimizerBytes = optimizer.memoryBytes + (options.lineSearch === 'strong-wolfe' ? lineSearchBytes(3 * dims.width * dims.height) : 0);
        request.onPhase?.('optimizing');
        const run = await runIterations(gpu, loss, optimizer, options, iterationBase, records, request);
        iterationBase += run.iterations;
        stopped = run.stopped;
        current = await xToImage(gpu, loss.x, dims.width, dims.height);
        if (options.originalColors) current = transferLuminance(current, content);
      } finally {
        optimizer?.dispose();
        loss.dispose();
      }
      if (stopped) break;
    }
  } finally {
    net.dispose();
  }
  return {
    image: current!,
    iterations: iterationBase - (request.firstIteration ?? 0),
    ms: performance.now() - started,
    records,
    stopped,
    optimizerBytes,
    peakBytes: gpu.buffers.getStats().peakBytes,
    plans,
  };
}

/**
 * The loss configuration of a run: the options, and with style masks (one per style image) a style region per
 * style, weighted by its blend weight as given (default 1 each).
 */
export function lossConfigOf(options: StylizeOptions, styleImages: number, styleMasks?: readonly unknown[]): RegionLossConfig {
  if (!styleMasks) return options;
  if (styleMasks.length !== styleImages) {
    throw new StyleMaskError(`${styleMasks.length} style masks given for ${styleImages} style images: give one mask per style image, in the same order.`);
  }
  return { ...options, styleRegionWeights: options.styleBlendWeights ?? Array.from({ length: styleImages }, () => 1) };
}

/**
 * The L-BFGS history a scale can use: one pair is kept per iteration and each scale starts afresh, so a history
 * longer than the iterations never fills. The slots beyond them would hold nothing yet take a full-size vector each
 * (memory a tiled run spends on larger tiles instead); the computation is the same.
 */
export function historyUsed(options: Pick<StylizeOptions, 'historySize' | 'iterations'>): number {
  return Math.max(1, Math.min(options.historySize, options.iterations));
}

/**
 * How one scale runs, chosen before any allocation: untiled when it fits the adapter's limits and the budget, else
 * tiled, else (L-BFGS, history not explicit) with a shorter history. Throws MemoryLimitError naming the largest
 * size that fits, or an OptionError naming the largest history that fits when the history was explicit.
 */
export function planScale(
  gpu: GpuRuntime,
  content: { width: number; height: number },
  styles: ReadonlyArray<{ width: number; height: number }>,
  size: number,
  config: RegionLossConfig,
  options: StylizeOptions,
  minimum = 1,
  explicitHistorySize = false,
): ScalePlan {
  const limits = memoryLimits(gpu.device, options.memoryBudget);
  const dims = runDims(content, styles, size, options.styleScale, minimum);
  const shape = {
    config,
    optimizer: options.optimizer,
    historySize: historyUsed(options),
    lineSearch: options.lineSearch !== 'none',
    weightStorage: options.weightStorage,
    imageLayerKernels: wantsImageLayerKernels(gpu.context.adapterInfo),
    parallelism: gpu.parallelism,
    convAlgorithm: convAlgorithmFor(gpu.parallelism, options.padding),
  };
  const found = planRunWithHistory({ ...shape, ...dims }, limits);
  if (found && found.reducedFrom !== undefined && explicitHistorySize) {
    throw new OptionError('historySize', options.historySize, `must be at most ${found.plan.historySize} for a ${dims.width}x${dims.height} run to fit this GPU's memory`);
  }
  if (found) {
    const { plan } = found;
    return {
      width: dims.width,
      height: dims.height,
      evaluation: plan.evaluation,
      historySize: plan.historySize,
      reducedHistoryFrom: found.reducedFrom === undefined ? undefined : options.historySize,
      estimatedBytes: plan.memory.totalBytes,
    };
  }
  const problem = noFitProblem({ ...shape, ...dims }, limits);
  const fits = largestFittingSize({ ...shape, content, styles, styleScale: options.styleScale, minimum }, limits, size);
  throw new MemoryLimitError(
    `A ${dims.width}x${dims.height} run does not fit: ${problem}. ` +
      (fits > 0 ? `The largest size that fits on this GPU is ${fits} px (longer side).` : 'No size fits with these settings.'),
  );
}

/** The sizes (longer side, px) a run of these images can take on this GPU. */
export interface SizeLimits {
  /** The smallest whose shorter side the deepest loss layer still sees (16 px for relu5_1 on a square image). */
  minimum: number;
  /** The largest that fits the device's limits and the budget (tiled if need be); 0 when none does. */
  maximum: number;
}

/** Sizes `content` and `styles` can run at with `options` on `gpu`, from the same estimates planScale uses. */
export function sizeLimits(
  gpu: GpuRuntime,
  content: { width: number; height: number },
  styles: ReadonlyArray<{ width: number; height: number }>,
  options: StylizeOptions,
  upTo = 8192,
): SizeLimits {
  const depth = lossDepth(options);
  const shortest = minimumSizeFor(depth, options.padding);
  let minimum = shortest;
  for (; minimum < upTo; minimum++) {
    const dims = sizeForLongerSide(content.width, content.height, minimum);
    if (Math.min(dims.width, dims.height) >= shortest) break;
  }
  const shape = {
    config: options,
    optimizer: options.optimizer,
    historySize: historyUsed(options),
    lineSearch: options.lineSearch !== 'none',
    weightStorage: options.weightStorage,
    imageLayerKernels: wantsImageLayerKernels(gpu.context.adapterInfo),
    parallelism: gpu.parallelism,
  };
  const maximum = largestFittingSize({ ...shape, content, styles, styleScale: options.styleScale, minimum: shortest }, memoryLimits(gpu.device, options.memoryBudget), upTo);
  return { minimum, maximum: maximum >= minimum ? maximum : 0 };
}

/** The style loss per style image from a loss plan's decoded terms (one value, the total, without regions). */
function styleLossPerStyle(loss: LossPlan, values: Float32Array): number[] {
  const decoded = loss.decodeLosses(values);
  const perStyle: number[] = [];
  for (const term of loss.terms) {
    if (term.category !== 'style') continue;
    const k = term.region ?? 0;
    perStyle[k] = (perStyle[k] ?? 0) + (decoded.terms[term.key] ?? 0);
  }
  return loss.terms.some((t) => t.region !== undefined) ? Array.from(perStyle, (v) => v ?? 0) : [decoded.style];
}

async function runIterations(
  gpu: GpuRuntime,
  loss: LossPlan,
  optimizer: GpuOptimizer,
  options: StylizeOptions,
  base: number,
  records: IterationRecord[],
  request: StylizeRequest,
): Promise<{ iterations: number; stopped: boolean }> {
  const { device } = gpu;
  const total = options.iterations;
  // Each iteration's whole loss buffer (totals, then every term): the per-style losses come from the terms.
  const recordFields = loss.losses.size / 4;
  const history = gpu.buffers.storage(Math.max(1, total) * recordFields * 4, 'loss history');
  const doneAt: number[] = [];
  const evaluations: number[] = [];
  const inFlight: Array<Promise<void>> = [];
  const waiter = gpu.queueWaiter();
  const lineSearch =
    options.lineSearch === 'strong-wolfe' && optimizer instanceof LbfgsOptimizer
      ? new LbfgsLineSearch(gpu, optimizer, { encode: (encoder) => loss.passes.encode(encoder), losses: loss.losses })
      : undefined;
  let readUpTo = 0;
  let pendingRead: Promise<void> | undefined;
  let failure: Error | undefined;
  let startedAt = performance.now();

  // Reads history entries [readUpTo, upTo) without blocking the loop; the promise settles when the GPU got there.
  const readProgress = (upTo: number): Promise<void> => {
    const from = readUpTo;
    readUpTo = upTo;
    return gpu.readFloat32(history, (upTo - from) * recordFields, from * recordFields).then((values) => {
      for (let k = 0; k < upTo - from; k++) {
        const i = from + k;
        const fields = values.subarray(k * recordFields, (k + 1) * recordFields);
        const [content, style, tv, sum] = fields;
        const ms = (doneAt[i] ?? performance.now()) - (i > 0 ? (doneAt[i - 1] ?? startedAt) : startedAt);
        const record = { iteration: base + i + 1, content, style, tv, total: sum, styles: styleLossPerStyle(loss, fields), ms, evaluations: evaluations[i] ?? 1 };
        records.push(record);
        if (!Number.isFinite(sum) && !failure) {
          failure = new NonFiniteLossError(`The loss became ${sum} at iteration ${record.iteration}; stopping (lower the learning rate or check the weights).`);
        }
      }
      if (records.length) request.onProgress?.(records[records.length - 1], records);
    });
  };

  let iteration = 0;
  let stopped = false;
  try {
    startedAt = performance.now();
    for (; iteration < total; iteration++) {
      // At most two iterations queued (by default): enough to keep the GPU busy, little enough to stop soon.
      while (inFlight.length >= Math.max(1, request.maxInFlight ?? 2)) await gpu.unlessLost(inFlight.shift()!);
      // Checked after the wait, so a stop that came while waiting starts nothing more.
      if (request.signal?.aborted || failure) {
        stopped = true;
        break;
      }
      if (gpu.lostInfo) throw gpu.lostError();
      const i = iteration;
      const recordLosses = (encoder: GPUCommandEncoder) => encoder.copyBufferToBuffer(loss.losses, 0, history, i * recordFields * 4, recordFields * 4);
      let converged = false;
      if (lineSearch) {
        // Several evaluations, each read back (src/optim/lbfgsLineSearch.ts); the iteration is over when it resolves.
        const result = await lineSearch.iterate(i, recordLosses);
        converged = result.converged;
        evaluations[i] = result.evaluations;
        doneAt[i] = performance.now();
      } else {
        const encoder = device.createCommandEncoder({ label: `iteration ${i}` });
        loss.passes.encode(encoder);
        recordLosses(encoder);
        optimizer.encodeStep(encoder, i);
        device.queue.submit([encoder.finish()]);
        if (waiter.sleepFirst) {
          // CPU adapter under Dawn's Node binding: one iteration in flight, waited for without polling through most
          // of it, so the shader threads keep both cores (src/gpu/queueWait.ts). The GPU idles only while the next
          // iteration is encoded, which is pre-recorded and takes a millisecond or two.
          await waiter.wait();
          doneAt[i] = performance.now();
        } else {
          inFlight.push(device.queue.onSubmittedWorkDone().then(() => void (doneAt[i] = performance.now())));
        }
      }
      await request.onIteration?.({ iteration: base + i + 1, x: loss.x, width: loss.width, height: loss.height });
      if (converged) {
        // torch's LBFGS stops here too: no descent direction is left.
        iteration++;
        break;
      }
      const done = iteration + 1;
      if (options.printEvery > 0 && done % options.printEvery === 0 && !pendingRead) {
        // A failed read (device lost) is kept as the run's failure, checked before the next iteration.
        pendingRead = readProgress(done)
          .catch((error: Error) => void (failure ??= error))
          .finally(() => (pendingRead = undefined));
      }
    }
    await gpu.unlessLost(Promise.all(inFlight));
    if (pendingRead) await pendingRead;
    if (readUpTo < iteration) await readProgress(iteration);
    if (failure) throw failure;
    return { iterations: iteration, stopped };
  } finally {
    lineSearch?.dispose();
    gpu.buffers.release(history);
  }
}
