/**
 * GPU memory a run needs, computed before anything is allocated, from the same shapes the plans use. A size
 * whose largest buffer exceeds the adapter's maxBufferSize / maxStorageBufferBindingSize, or whose total exceeds
 * the memory budget, is refused with the largest size (same aspect ratio) that fits.
 */
import { gramSplits } from '../../shaders/gram.js';
import { dotProductSums, FILL_INVOCATIONS, type Parallelism } from '../gpu/parallelism.js';
import { lbfgsMemoryBytes } from '../optim/lbfgs.js';
import { lineSearchBytes } from '../optim/lbfgsLineSearch.js';
import { lossDepth, type LossConfig } from './loss.js';
import type { WeightStorage } from './network.js';
import type { OptimizerName } from './options.js';
import { featureIndex, featureSizes, VGG19 } from './vgg19.js';
import { pad4 } from './weights.js';
import { sizeForLongerSide } from '../io/rgbaImage.js';
import { IMAGE_GRADIENT_COLUMNS } from '../../shaders/conv.js';
import { convAlgorithmFor, type ConvAlgorithm } from './tiling.js';
import { isWinogradLayer, winogradScratchBytes } from './winograd.js';
import { WINOGRAD_POSITIONS } from '../../shaders/winograd.js';

export interface MemoryPlan {
  /** Bytes held at the peak (network weights, one size's plan, the style-target pass, optimiser state). */
  totalBytes: number;
  /** The largest single buffer (checked against the adapter's per-buffer and per-binding limits). */
  largestBufferBytes: number;
}

export interface MemoryLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** Optional cap on the total (bytes). */
  budgetBytes?: number;
}

export interface RunShape {
  width: number;
  height: number;
  /** Size of the largest style image after scaling. */
  style: { width: number; height: number };
  config: LossConfig;
  optimizer: OptimizerName;
  historySize: number;
  /** L-BFGS with the strong-Wolfe line search: one more vector (the line's origin) and a small readback. */
  lineSearch?: boolean;
  /** Conv weight storage (Vgg19Options.weightStorage); default f32. */
  weightStorage?: WeightStorage;
  /**
   * Whether the first layer uses its own kernels (the image gradient then needs HW x 28 floats of tap columns);
   * default true, the larger estimate.
   */
  imageLayerKernels?: boolean;
  /** The adapter's parallelism (GpuRuntime.parallelism): it sizes the Gram split scratch and L-BFGS partial sums. */
  parallelism: Parallelism;
  /** The 3x3 layers' algorithm (Vgg19Options.convAlgorithm); default: the parallelism's, as Vgg19Net's. */
  convAlgorithm?: ConvAlgorithm;
}

const round16 = (n: number) => Math.max(16, Math.ceil(n / 16) * 16);

function featureBytes(width: number, height: number, depth: number): { sum: number; max: number; each: number[] } {
  const each = featureSizes(width, height, depth).map((s) => round16(s.width * s.height * s.channels * 4));
  return { sum: each.reduce((a, b) => a + b, 0), max: Math.max(...each), each };
}

export function estimateMemory(shape: RunShape): MemoryPlan {
  const { width, height, config } = shape;
  const imageLayerKernels = shape.imageLayerKernels ?? true;
  const depth = lossDepth(config);
  const algorithm = shape.convAlgorithm ?? convAlgorithmFor(shape.parallelism);
  let weights = 0;
  let largestWeight = 0;
  for (let i = 0; i < depth; i++) {
    const layer = VGG19[i];
    if (layer.kind !== 'conv') continue;
    // f16 storage halves every layer's weights but the first (Vgg19Net keeps its 3-channel kernels f32).
    const bytesPerWeight = shape.weightStorage === 'f16' && layer.inChannels > 3 ? 2 : 4;
    const bias = round16(layer.outChannels * 4);
    if (isWinogradLayer(i, algorithm)) {
      // One transformed array (16 positions) serves both directions.
      const transformed = round16(WINOGRAD_POSITIONS * layer.inChannels * layer.outChannels * bytesPerWeight);
      weights += transformed + bias;
      largestWeight = Math.max(largestWeight, transformed);
      continue;
    }
    const kernel = round16(9 * pad4(layer.inChannels) * layer.outChannels * bytesPerWeight);
    const gradientWeights = layer.inChannels === 3 && imageLayerKernels ? round16(layer.outChannels * IMAGE_GRADIENT_COLUMNS * 4) : kernel;
    weights += kernel + gradientWeights + bias;
    largestWeight = Math.max(largestWeight, kernel);
  }
  const maps = featureBytes(width, height, depth);
  const plane = round16(3 * width * height * 4);
  const styleLayers = config.styleLayers.map(featureIndex);
  const contentLayers = config.contentLayers.map(featureIndex);
  const sizes = featureSizes(width, height, depth);
  const gramScratch = (w: number, h: number) =>
    Math.max(16, ...styleLayers.map((l) => {
      const s = featureSizes(w, h, l + 1)[l];
      return gramSplits(s.width * s.height, s.channels, FILL_INVOCATIONS[shape.parallelism]) * s.channels * s.channels * 4;
    }));
  // Winograd V and M of one set of feature maps (network.ts FeatureMaps).
  const winogradScratch = (w: number, h: number, d: number) => {
    const bytes = winogradScratchBytes(w, h, d, algorithm);
    return bytes > 0 ? 2 * round16(bytes) : 0;
  };
  // Activations, x and its gradient, two gradient ping-pong buffers, Gram scratch, the image-gradient columns.
  let plan =
    maps.sum +
    2 * plane +
    2 * maps.max +
    gramScratch(width, height) +
    (imageLayerKernels ? round16(width * height * IMAGE_GRADIENT_COLUMNS * 4) : 0) +
    winogradScratch(width, height, depth);
  if (config.normalizeGradients) plan += maps.max;
  for (const l of contentLayers) plan += maps.each[l];
  for (const l of styleLayers) plan += 3 * round16(sizes[l].channels ** 2 * 4);
  // Style targets are computed while the plan exists: one more set of activations at the style size.
  const styleDims = shape.style;
  const styleDepth = styleLayers.length ? Math.max(...styleLayers) + 1 : 1;
  const styleMaps = featureBytes(styleDims.width, styleDims.height, styleDepth);
  const styleTransient = styleMaps.sum + gramScratch(styleDims.width, styleDims.height) + plane + winogradScratch(styleDims.width, styleDims.height, styleDepth);
  const n = 3 * width * height;
  const optimizer =
    shape.optimizer === 'adam' ? 2 * round16(n * 4) + 64 : lbfgsMemoryBytes(n, shape.historySize, dotProductSums(n, shape.parallelism)) + (shape.lineSearch ? round16(lineSearchBytes(n)) : 0);
  return {
    totalBytes: weights + plan + Math.max(styleTransient, optimizer),
    // The Winograd scratch never exceeds the largest activation of its maps (winogradScratchBytes) but a tile.
    largestBufferBytes: Math.max(largestWeight, maps.max, styleMaps.max, plane, winogradScratchBytes(width, height, depth, algorithm)),
  };
}

/** Why `plan` does not fit `limits`, or undefined when it does. */
export function memoryProblem(plan: MemoryPlan, limits: MemoryLimits): string | undefined {
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  if (plan.largestBufferBytes > perBuffer) return `a ${mib(plan.largestBufferBytes)} buffer exceeds this GPU's limit of ${mib(perBuffer)} per buffer`;
  if (limits.budgetBytes !== undefined && plan.totalBytes > limits.budgetBytes) {
    return `it needs ${mib(plan.totalBytes)} of GPU memory, more than the budget of ${mib(limits.budgetBytes)}`;
  }
  return undefined;
}

/**
 * A style image's size at a scale: longer side styleScale x size, but never so small that the deepest style
 * layer would vanish (the shorter side is raised to `minimum`, keeping the aspect ratio).
 */
export function styleDims(style: { width: number; height: number }, size: number, styleScale: number, minimum: number): { width: number; height: number } {
  const dims = sizeForLongerSide(style.width, style.height, Math.max(1, Math.round(size * styleScale)));
  const shorter = Math.min(dims.width, dims.height);
  if (shorter >= minimum) return dims;
  const k = minimum / shorter;
  return { width: Math.max(minimum, Math.round(dims.width * k)), height: Math.max(minimum, Math.round(dims.height * k)) };
}

/** Content and style sizes for a run at `size` (longer side); styles at styleScale x size, their own aspect. */
export function runDims(
  content: { width: number; height: number },
  styles: ReadonlyArray<{ width: number; height: number }>,
  size: number,
  styleScale: number,
  minimum = 1,
): { width: number; height: number; style: { width: number; height: number } } {
  const scaled = styles.map((s) => styleDims(s, size, styleScale, minimum));
  const style = scaled.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a), { width: 1, height: 1 });
  return { ...sizeForLongerSide(content.width, content.height, size), style };
}

/** Largest longer side (<= `upTo`) whose run fits for these images; 0 when none does. */
export function largestFittingSize(
  shape: Omit<RunShape, 'width' | 'height' | 'style'> & {
    content: { width: number; height: number };
    styles: ReadonlyArray<{ width: number; height: number }>;
    styleScale: number;
    minimum?: number;
  },
  limits: MemoryLimits,
  upTo: number,
): number {
  const fits = (size: number) =>
    memoryProblem(estimateMemory({ ...shape, ...runDims(shape.content, shape.styles, size, shape.styleScale, shape.minimum) }), limits) === undefined;
  let lo = 0;
  let hi = upTo;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
