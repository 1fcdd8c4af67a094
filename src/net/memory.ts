/**
 * GPU memory a run needs, computed before anything is allocated, from the same shapes the plans use. A size
 * whose largest buffer exceeds the adapter's maxBufferSize / maxStorageBufferBindingSize, or whose total exceeds
 * the memory budget, is refused with the largest size (same aspect ratio) that fits.
 */
import { pooledBytes } from '../gpu/buffers.js';
import { dotProductSums, type Parallelism } from '../gpu/parallelism.js';
import { adamMemoryBytes } from '../optim/adam.js';
import { lbfgsMemoryBytes } from '../optim/lbfgs.js';
import { lineSearchBytes } from '../optim/lbfgsLineSearch.js';
import { sizeForLongerSide } from '../io/rgbaImage.js';
import { lossDepth, lossPlanBytes, styleTargetBytes, type LossConfig } from './loss.js';
import { featureMapsBytes, networkWeightBytes, type WeightStorage } from './network.js';
import { planTiles, TILE_ALIGNMENT, tileHalo, tiledLossBytes, tiledStyleTargetBytes, windowPixels, type TileCore } from './tiledLoss.js';
import type { OptimizerName } from './options.js';
import { convAlgorithmFor, type ConvAlgorithm } from './tiling.js';
import { featureSizes } from './vgg19.js';
import { winogradScratchBytes } from './winograd.js';

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

/**
 * The estimate adds up the byte counts each owner of GPU memory exports, the same counts its allocations are made
 * from (tests check each owner holds exactly its count): the network's weights (networkWeightBytes), one size's
 * plan (featureMapsBytes + lossPlanBytes), and the larger of the two phases that follow each other, the style
 * targets (the images' x, one style's styleTargetBytes; the pool is trimmed after them) and the optimiser
 * (adamMemoryBytes / lbfgsMemoryBytes + lineSearchBytes). What the estimate leaves out is small and short-lived:
 * uniform blocks, readback copies of the loss values, the RGBA upload of an image.
 */
/** What the optimiser holds for the image (adamMemoryBytes, or lbfgsMemoryBytes with the line search's share). */
function optimizerBytes(shape: RunShape): number {
  const n = 3 * shape.width * shape.height;
  if (shape.optimizer === 'adam') return adamMemoryBytes(n);
  return lbfgsMemoryBytes(n, shape.historySize, dotProductSums(n, shape.parallelism)) + (shape.lineSearch ? lineSearchBytes(n) : 0);
}

export function estimateMemory(shape: RunShape): MemoryPlan {
  const { width, height, config } = shape;
  const imageLayerKernels = shape.imageLayerKernels ?? true;
  const depth = lossDepth(config);
  const convAlgorithm = shape.convAlgorithm ?? convAlgorithmFor(shape.parallelism);
  const weights = networkWeightBytes({ depth, weightStorage: shape.weightStorage ?? 'f32', convAlgorithm, imageLayerKernels });
  const lossBytes = lossPlanBytes(width, height, config, shape.parallelism);
  const plan =
    featureMapsBytes(width, height, depth, { convAlgorithm, imageGradientColumns: imageLayerKernels }) +
    [
      lossBytes.x,
      lossBytes.grad,
      lossBytes.losses,
      lossBytes.partials,
      lossBytes.gramScratch,
      lossBytes.table,
      lossBytes.normalizeScratch,
      lossBytes.normalizePartials,
      lossBytes.normalizeNorms,
      ...lossBytes.styleRegions,
    ]
      .filter((b) => b > 0)
      .reduce((sum, b) => sum + pooledBytes(b), 0) +
    lossBytes.contentTargets.reduce((sum, b) => sum + pooledBytes(b), 0) +
    lossBytes.grams.reduce((sum, b) => sum + 3 * pooledBytes(b), 0) +
    2 * pooledBytes(lossBytes.gradient);
  // Style targets: the content's and the style's x, one style's Gram pass.
  const styleTargets =
    pooledBytes(lossBytes.x) +
    pooledBytes(3 * shape.style.width * shape.style.height * 4) +
    styleTargetBytes(shape.style.width, shape.style.height, config, shape.parallelism, convAlgorithm);
  const optimizer = optimizerBytes(shape);
  const maps = featureSizes(width, height, depth).map((s) => s.width * s.height * s.channels * 4);
  const styleMaps = featureSizes(shape.style.width, shape.style.height, depth).map((s) => s.width * s.height * s.channels * 4);
  return {
    totalBytes: weights.total + plan + Math.max(styleTargets, optimizer),
    // The Winograd scratch never exceeds the largest activation of its maps (winogradScratchBytes) but a tile.
    largestBufferBytes: Math.max(weights.largest, ...maps, ...styleMaps, lossBytes.x, winogradScratchBytes(width, height, depth, convAlgorithm)),
  };
}

/**
 * The memory of the same run evaluated in tiles with cores of `core` (src/net/tiledLoss.ts): the network, the
 * tiled plan (tiledLossBytes), and the larger of the style-target pass (the images' x, one style image's tiled
 * Gram pass) and the optimiser, which still holds full-size vectors.
 */
export function estimateTiledMemory(shape: RunShape, core: number | TileCore): MemoryPlan {
  const { width, height, config } = shape;
  const imageLayerKernels = shape.imageLayerKernels ?? true;
  const depth = lossDepth(config);
  const convAlgorithm = shape.convAlgorithm ?? convAlgorithmFor(shape.parallelism);
  const o = { parallelism: shape.parallelism, convAlgorithm, imageLayerKernels };
  const weights = networkWeightBytes({ depth, weightStorage: shape.weightStorage ?? 'f32', convAlgorithm, imageLayerKernels });
  const plan = tiledLossBytes(width, height, config, core, o);
  const plane = pooledBytes(3 * width * height * 4);
  const stylePlane = pooledBytes(3 * shape.style.width * shape.style.height * 4);
  const styleTargets = plane + stylePlane + tiledStyleTargetBytes(shape.style.width, shape.style.height, config, core, o);
  const optimizer = optimizerBytes(shape);
  const window = planTiles(width, height, core, tileHalo(config)).maxWindow;
  const styleWindow = planTiles(shape.style.width, shape.style.height, core, tileHalo(config)).maxWindow;
  const activations = [...featureSizes(window.width, window.height, depth), ...featureSizes(styleWindow.width, styleWindow.height, depth)].map(
    (f) => f.width * f.height * f.channels * 4,
  );
  return {
    totalBytes: weights.total + plan + Math.max(styleTargets, optimizer),
    largestBufferBytes: Math.max(weights.largest, plane, stylePlane, ...activations, winogradScratchBytes(window.width, window.height, depth, convAlgorithm)),
  };
}

/** How a run is evaluated: whole, or in tiles with cores of `core` (a `columns` x `rows` grid). */
export type EvaluationPlan = { tiled: false } | { tiled: true; core: TileCore; columns: number; rows: number };

export interface PlannedRun {
  evaluation: EvaluationPlan;
  /** The L-BFGS history the run keeps (smaller than asked when the asked one did not fit and was not explicit). */
  historySize: number;
  memory: MemoryPlan;
}

/** A run that does not fit the adapter or the budget in any way; `message` says why and what would. */
export class MemoryLimitError extends Error {
  override name = 'MemoryLimitError';
}

/**
 * Chooses how to run `shape` within `limits` with its L-BFGS history as asked: untiled when it fits (the fastest),
 * else the tile grid that fits with the least work (tileCores' order). Undefined when nothing fits.
 */
export function planRun(shape: RunShape, limits: MemoryLimits): PlannedRun | undefined {
  return untiledPlan(shape, limits) ?? leastWorkTiledPlan(shape, limits);
}

/** The first tile grid in tileCores' order (the least work) that fits `limits`; undefined when none does. */
export function leastWorkTiledPlan(shape: RunShape, limits: MemoryLimits): PlannedRun | undefined {
  for (const core of tileCores(shape, limits)) {
    const plan = tiledPlan(shape, limits, core);
    if (plan) return plan;
  }
  return undefined;
}

/** The tile grid whose estimate needs the least memory, fitting or not; undefined when no grid of two tiles exists. */
export function leastMemoryTiles(shape: RunShape, limits: MemoryLimits): { core: TileCore; memory: MemoryPlan } | undefined {
  return tileCores(shape, limits)
    .map((core) => ({ core, memory: estimateTiledMemory(shape, core) }))
    .reduce<{ core: TileCore; memory: MemoryPlan } | undefined>((best, c) => (!best || c.memory.totalBytes < best.memory.totalBytes ? c : best), undefined);
}

/** The smallest core side planRun tries (unless the image's side is shorter): below it the halo's share of a tile makes tiling slow for little gain. */
export const MIN_TILE_CORE = 64;
/** A history kept shorter for memory is never shorter than this when a larger tile would need it shorter still. */
export const MIN_CHOSEN_HISTORY = 5;

/**
 * The tile cores worth trying, least work first: one per grid of at least two tiles (columns x rows, each core
 * side the image's side over its count rounded up to the pooling grid, at least MIN_TILE_CORE), ordered by the
 * pixels their windows cover (windowPixels), fewer tiles first where equal. Rectangular cores matter: a picture
 * that just misses fitting whole splits into two halves, not four quarters (the halo is paid along one cut).
 */
export function tileCores(shape: RunShape, limits: MemoryLimits): TileCore[] {
  // Tiles cannot help what is full size in any case (the image, its gradient, the optimiser's vectors).
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  if (shape.config.normalizeGradients || pooledBytes(3 * shape.width * shape.height * 4) > perBuffer) return [];
  const halo = tileHalo(shape.config);
  const sides = (length: number) => {
    const found: number[] = [];
    for (let n = 1; ; n++) {
      const side = Math.ceil(length / n / TILE_ALIGNMENT) * TILE_ALIGNMENT;
      if (n > 1 && side < MIN_TILE_CORE) break;
      if (found[found.length - 1] !== side) found.push(side);
      if (side === TILE_ALIGNMENT) break;
    }
    return found;
  };
  const candidates: Array<{ core: TileCore; tiles: number; pixels: number }> = [];
  for (const width of sides(shape.width)) {
    for (const height of sides(shape.height)) {
      const grid = planTiles(shape.width, shape.height, { width, height }, halo);
      if (grid.tiles.length < 2) continue;
      candidates.push({ core: { width, height }, tiles: grid.tiles.length, pixels: windowPixels(grid) });
    }
  }
  candidates.sort((a, b) => a.pixels - b.pixels || a.tiles - b.tiles);
  return candidates.map((c) => c.core);
}

function untiledPlan(shape: RunShape, limits: MemoryLimits): PlannedRun | undefined {
  const memory = estimateMemory(shape);
  return memoryProblem(memory, limits) ? undefined : { evaluation: { tiled: false }, historySize: shape.historySize, memory };
}

/** `shape` in tiles of `core` if that fits `limits`. */
export function tiledPlan(shape: RunShape, limits: MemoryLimits, core: TileCore): PlannedRun | undefined {
  const memory = estimateTiledMemory(shape, core);
  if (memoryProblem(memory, limits)) return undefined;
  const grid = planTiles(shape.width, shape.height, core, tileHalo(shape.config));
  return { evaluation: { tiled: true, core, columns: grid.columns, rows: grid.rows }, historySize: shape.historySize, memory };
}

/** The longest L-BFGS history (<= shape's) with which `plan(history)` fits, by bisection; 0 when none does. */
function longestHistory(shape: RunShape, fits: (historySize: number) => boolean): number {
  let lo = 0;
  let hi = shape.historySize;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * planRun, and for L-BFGS whose history does not fit as asked, a shorter one, balanced against the tiles: the
 * least-work grid (untiled first) with which a history of at least min(asked, MIN_CHOSEN_HISTORY) fits, keeping the
 * longest history that fits with it; failing that, the longest history that fits at all.
 */
export function planRunWithHistory(shape: RunShape, limits: MemoryLimits): { plan: PlannedRun; reducedFrom?: number } | undefined {
  const plan = planRun(shape, limits);
  if (plan) return { plan };
  if (shape.optimizer !== 'lbfgs' || shape.historySize <= 1) return undefined;
  const withHistory = (m: number) => ({ ...shape, historySize: m });
  const candidates: Array<(s: RunShape) => PlannedRun | undefined> = [
    (s) => untiledPlan(s, limits),
    ...tileCores(shape, limits).map((core) => (s: RunShape) => tiledPlan(s, limits, core)),
  ];
  const floor = Math.min(shape.historySize, MIN_CHOSEN_HISTORY);
  let best: PlannedRun | undefined;
  for (const candidate of candidates) {
    const m = longestHistory(shape, (h) => candidate(withHistory(h)) !== undefined);
    if (m === 0) continue;
    const found = candidate(withHistory(m))!;
    if (m >= floor) return { plan: found, reducedFrom: shape.historySize };
    if (!best || m > best.historySize) best = found;
  }
  return best ? { plan: best, reducedFrom: shape.historySize } : undefined;
}

/**
 * Why `shape` fits in no way (planRunWithHistory found nothing): what blocks it even in tiles. Tiles cannot split
 * the image-sized buffers (the image, its gradient, the optimiser's vectors); otherwise the tile grid that needs
 * the least memory is quoted, with the optimiser's full-size share.
 */
export function noFitProblem(shape: RunShape, limits: MemoryLimits): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const plane = pooledBytes(3 * shape.width * shape.height * 4);
  if (plane > perBuffer) {
    return `the image's own buffers (3 x ${shape.width} x ${shape.height} floats: the image, its gradient, each optimiser vector) take ${mib(plane)} each, over this GPU's limit of ${mib(perBuffer)} per buffer, and tiles cannot split them`;
  }
  const untiled = memoryProblem(estimateMemory(shape), limits) ?? 'it exceeds the limits';
  if (shape.config.normalizeGradients) return `${untiled} (normalised gradients are never tiled: their norms span the whole image)`;
  const smallest = leastMemoryTiles(shape, limits);
  if (!smallest) return untiled;
  const grid = planTiles(shape.width, shape.height, smallest.core, tileHalo(shape.config));
  const problem = memoryProblem(smallest.memory, limits) ?? 'it exceeds the limits';
  return `even in ${grid.columns} x ${grid.rows} tiles (the least memory) ${problem}; the optimiser's state alone is ${mib(optimizerBytes(shape))} at full size`;
}

/** A device's buffer limits with a run's budget (bytes; undefined: none beyond the device's own limits). */
export function memoryLimits(device: GPUDevice, budgetBytes: number | undefined): MemoryLimits {
  const { maxBufferSize, maxStorageBufferBindingSize } = device.limits;
  return { maxBufferSize, maxStorageBufferBindingSize, budgetBytes };
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

/** Largest longer side (<= `upTo`) whose run fits for these images, tiled if need be; 0 when none does. */
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
  const fits = (size: number) => planRun({ ...shape, ...runDims(shape.content, shape.styles, size, shape.styleScale, shape.minimum) }, limits) !== undefined;
  let lo = 0;
  let hi = upTo;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
