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

export type ConvTuning = (shape: { width: number; outChannels: number; taps: 1 | 9 }) => ConvTiling;

/** Largest candidate that divides n. */
function largestDivisor(n: number, candidates: readonly number[]): number {
  for (const c of candidates) if (n % c === 0) return c;
  return 1;
}

/** Default: 4 pixels x 8 channels per invocation where the shape allows. */
export const defaultConvTuning: ConvTuning = ({ width, outChannels }) => ({
  pixelsPerThread: Math.max(1, Math.min(4, width)),
  channelGroupsPerThread: largestDivisor(Math.ceil(outChannels / 4), [2, 1]),
  workgroupSize: 64,
});
