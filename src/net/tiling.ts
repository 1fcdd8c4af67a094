/**
 * The algorithm choice for the conv kernels, kept apart from the kernels themselves: register-block sizes and
 * workgroup size per layer shape. `ConvTuning` can be replaced (benchmarks, autotuning) without touching shaders/.
 */

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
