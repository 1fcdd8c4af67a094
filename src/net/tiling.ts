/**
 * The algorithm choice for the conv kernels, kept apart from the kernels themselves: register-block sizes and
 * workgroup size per layer shape. `ConvTuning` can be replaced (benchmarks, autotuning) without touching shaders/.
 */
import { isLavapipe, type AdapterDescription } from '../gpu/device.js';
import type { Parallelism } from '../gpu/parallelism.js';
import { WINOGRAD_POSITIONS } from '../../shaders/winograd.js';

export interface ConvTiling {
  pixelsPerThread: number;
  channelGroupsPerThread: number;
  workgroupSize: number;
  /** See ConvKernelOptions.channelBlockPerWorkgroup. */
  channelBlockPerWorkgroup?: boolean;
  /** See ConvKernelOptions.reuseRowLoads (3x3 only). */
  reuseRowLoads?: boolean;
}

export type ConvTuning = (shape: { width: number; height?: number; outChannels: number; taps: 1 | 9 }) => ConvTiling;

/** Largest candidate that divides n. */
function largestDivisor(n: number, candidates: readonly number[]): number {
  for (const c of candidates) if (n % c === 0) return c;
  return 1;
}

/**
 * Default, from measurements on lavapipe (bench/ and docs/benchmarks.md): 8 pixels x 16 channels per invocation
 * was the best block on every VGG layer shape (about twice 4 x 8). Taking the channel block from the workgroup
 * (uniform weight loads) pays on wide layers; on narrow ones (fewer pixel blocks than a workgroup) the
 * channel-fastest order keeps the workgroups full.
 */
export const defaultConvTuning: ConvTuning = (shape) => blockTiling([8, 4], shape);

/** A register block: output pixels along a row x output channel groups (of 4) per invocation. */
export type ConvBlock = readonly [pixelsPerThread: number, channelGroupsPerThread: number];

/** The tiling of one register block on a layer shape (clamped to the row; workgroup order as the default's). */
export function blockTiling(block: ConvBlock, shape: { width: number; height?: number; outChannels: number }): ConvTiling {
  const pixelsPerThread = Math.max(1, Math.min(block[0], shape.width));
  const pixelBlocks = Math.ceil(shape.width / pixelsPerThread) * (shape.height ?? shape.width);
  return {
    pixelsPerThread,
    channelGroupsPerThread: largestDivisor(
      Math.ceil(shape.outChannels / 4),
      [4, 2, 1].filter((c) => c <= block[1]),
    ),
    workgroupSize: 64,
    channelBlockPerWorkgroup: pixelBlocks >= 64,
  };
}

/** Invocations a tiling runs on a layer shape. */
export function convInvocations(t: ConvTiling, shape: { width: number; height?: number; outChannels: number }): number {
  return Math.ceil(shape.width / t.pixelsPerThread) * (shape.height ?? shape.width) * Math.ceil(Math.ceil(shape.outChannels / 4) / t.channelGroupsPerThread);
}

/** Blocks from the most register reuse down, for `fillingConvTuning`. */
export const FILLING_BLOCKS: readonly ConvBlock[] = [
  [8, 4],
  [4, 4],
  [2, 4],
  [2, 2],
];

/**
 * For adapters that need many invocations in flight (a GPU: src/gpu/parallelism.ts): the first block of
 * FILLING_BLOCKS that gives a layer at least `invocations` invocations (else the smallest), so the deep layers trade
 * register reuse for occupancy. With 8 x 4 everywhere, conv5_1 at 512 px (32x32) runs 4096 invocations, a small
 * workgroup for half of an H200's multiprocessors.
 */
export function fillingConvTuning(invocations: number): ConvTuning {
  return (shape) => {
    for (const block of FILLING_BLOCKS) {
      const tiling = blockTiling(block, shape);
      if (convInvocations(tiling, shape) >= invocations) return tiling;
    }
    return blockTiling(FILLING_BLOCKS[FILLING_BLOCKS.length - 1], shape);
  };
}

/**
 * Invocations a GPU conv layer should run, measured on an H200 (Vulkan) at 512 px with every layer on one block
 * (npm run bench -- --conv-blocks default; docs/benchmarks.md): 8 x 4 was fastest down to 128x128 layers (32768
 * invocations and more), 4 x 4 at 64x64 (2.43 vs 2.63-2.75 ms per 512->512 layer, forward + backward) and 2 x 2 at
 * 32x32 (1.35 vs 2.53 ms); smaller blocks (2 x 1, 1 x 1) lost everywhere. 32768 picks exactly those blocks. Sweeps
 * at 256 and 128 px agreed: the rule's block was the fastest or within 0.07 ms of it on every layer but conv1_1.
 */
export const GPU_CONV_INVOCATIONS = 32768;

/** The conv tiling for an adapter's parallelism: the lavapipe-measured default, or the filling rule on a GPU. */
export function convTuningFor(parallelism: Parallelism): ConvTuning {
  return parallelism === 'gpu' ? fillingConvTuning(GPU_CONV_INVOCATIONS) : defaultConvTuning;
}

/**
 * How a 3x3 layer (other than the 3-channel image layer) is computed: 'direct', the register-blocked kernel of
 * shaders/conv.ts, or 'winograd', F(2x2, 3x3) (shaders/winograd.ts: input transform, 16 GEMMs, output transform),
 * 2.25x fewer multiply-adds for two extra passes over V and M.
 */
export type ConvAlgorithm = 'direct' | 'winograd';

export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = ['direct', 'winograd'];

/**
 * Winograd on a CPU adapter: measured on lavapipe at 128 px, its 16 GEMMs took half the time of the direct conv on
 * every layer shape (e.g. 32x32 256->256: 69-72 ms against 139 ms), and the transforms are cheap passes. On a GPU
 * the direct kernel stays: it is what the H200 measurements were made with, and Winograd has not been timed there.
 */
export function convAlgorithmFor(parallelism: Parallelism, padding: 'zero' | 'reflect' = 'zero'): ConvAlgorithm {
  // Reflect padding's input gradient adds the padding ring's share from the plain 3x3 taps (shaders/conv.ts
  // reflectPadAdjoint), which a Winograd layer does not keep: it runs every layer directly.
  if (padding === 'reflect') return 'direct';
  return parallelism === 'cpu' ? 'winograd' : 'direct';
}

/**
 * The tiling of a Winograd product (shaders/conv.ts winogradBatch) over a band of `tiles` tiles: the register block
 * the tuning gives a 16-row, `tiles`-wide 1x1 conv, with the channel block per workgroup only where a row has a
 * pixel block for every lane. The product takes its row (position) from the workgroup either way; with fewer pixel
 * blocks than lanes, a per-workgroup channel block would leave lanes idle (measured on lavapipe with 16 tiles of
 * 512 -> 512: 40-48 ms against 23-27 ms with the lanes over pixel and channel blocks).
 */
export function winogradProductTiling(tuning: ConvTuning, tiles: number, outChannels: number): ConvTiling {
  const tiling = tuning({ width: tiles, height: WINOGRAD_POSITIONS, outChannels, taps: 1 });
  return { ...tiling, channelBlockPerWorkgroup: Math.ceil(tiles / tiling.pixelsPerThread) >= tiling.workgroupSize };
}

/**
 * Whether the first layer (3 image channels) gets kernels of its own on this adapter (shaders/conv.ts: the forward
 * conv with lanes over output channels, the input gradient as a 1x1 conv to 28 tap columns plus a gather). They are
 * built for Mesa lavapipe, where a load with the same address in every lane is one broadcast. Elsewhere the generic
 * kernels stay: on a GPU a workgroup of a few lanes wastes most of a wave, and Chromium's SwiftShader took minutes
 * to compile the dedicated pair (its first evaluation in the browser suite never ended within 3 minutes), against
 * seconds for the generic ones.
 */
export function wantsImageLayerKernels(adapter: AdapterDescription): boolean {
  return isLavapipe(adapter);
}

/**
 * Tiling of the first layer's own kernels. Measured on lavapipe at 128x128 (CPU time per dispatch, best of 3, two
 * sessions): forward 42 ms with the register-blocked kernel; lanes over channels with 4 channel groups per lane and
 * 16 pixels per workgroup 13.5-14.2 ms, 2 groups x 32 pixels 14.7 ms, 2 x 16 15-19 ms, 1 x 16 44 ms, 2 x 8 30 ms
 * (weights in a private array instead of values: 21-115 ms); input gradient 59 ms direct, 25 ms as 1x1 (8 pixels
 * x 28 columns per invocation) + gather (4 pixels: 41-43 ms).
 */
export const imageLayerTuning = {
  forward: { channelGroupsPerLane: 4, pixelsPerWorkgroup: 16 },
  /** The default block for the 1x1 conv, with all 7 column groups per invocation. */
  gradient: (width: number, height: number): ConvTiling => ({
    ...defaultConvTuning({ width, height, outChannels: 28, taps: 1 }),
    channelGroupsPerThread: 7,
  }),
} as const;
