/**
 * The optimiser interface: an update of a GPU vector x (n f32) from a gradient another pass list has already written
 * into `grad`, recorded into the caller's command encoder so loss, gradient and update go out in one submission.
 * Optimiser state (moments, history, step counters, dot products) lives in GPU buffers: a step makes no buffer or
 * bind group, writes nothing from the CPU and reads nothing back.
 */

import type { OptimizerName } from '../net/options.js';

export type { OptimizerName };

export interface GpuOptimizer {
  readonly name: OptimizerName;
  /**
   * Appends to `encoder` the update of x from the gradient already in `grad` (recorded passes: no buffer or
   * bind-group creation per call). `iteration` counts from 0.
   */
  encodeStep(encoder: GPUCommandEncoder, iteration: number): void;
  /** Bytes of GPU memory the optimiser holds (its own buffers, not x or grad). */
  readonly memoryBytes: number;
  dispose(): void;
}
