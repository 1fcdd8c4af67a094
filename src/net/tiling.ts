/**
 * The algorithm choice for the conv kernels, kept apart from the kernels themselves: register-block sizes and
 * workgroup size per layer shape. `ConvTuning` can be replaced (benchmarks, autotuning) without touching shaders/.
 */
import { isLavapipe, type AdapterDescription } from '../gpu/device.js';

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
export const defaultConvTuning: ConvTuning = ({ width, height, outChannels }) => {
  const pixelsPerThread = Math.max(1, Math.min(8, width));
  const pixelBlocks = Math.ceil(width / pixelsPerThread) * (height ?? width);
  return {
    pixelsPerThread,
    channelGroupsPerThread: largestDivisor(Math.ceil(outChannels / 4), [4, 2, 1]),
    workgroupSize: 64,
    channelBlockPerWorkgroup: pixelBlocks >= 64,
  };
};

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
