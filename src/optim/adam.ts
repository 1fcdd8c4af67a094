/**
 * Adam with torch.optim.Adam semantics (no weight decay, no amsgrad, not maximising), entirely on the GPU:
 *
 *   t += 1; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *   x -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *
 * Buffers: m and v (n f32 each), a state buffer [t, 1 - b1^t, 1 - b2^t, lr / (1 - b1^t), sqrt(1 - b2^t), ...]
 * and one uniform. The step counter lives in the state buffer and a one-invocation kernel advances it, so a step
 * is two dispatches (adam_step, adam_update) in one compute pass and no CPU write. torch computes the bias
 * corrections in float64 on the CPU; here they are f32, kept by c_t = (1 - b) + b c_{t-1}, which stays accurate to
 * f32 rounding where 1 - pow(b, t) in f32 would lose digits (1 - b2^t is 1e-3 at t = 1).
 */
import { ADAM_PARAMS, ADAM_STATE_FLOATS, adamStep, adamUpdate } from '../../shaders/optim.js';
import { pooledBytes } from '../gpu/buffers.js';
import { createDispatch, encodeDispatch, releaseDispatch, type Dispatch } from '../gpu/passes.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import type { GpuOptimizer } from './optimizer.js';

export interface AdamOptions {
  learningRate: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
}

/** Bytes Adam holds for n floats: the moments m and v, the step state and its uniform (what the constructor makes). */
export function adamMemoryBytes(n: number): number {
  return 2 * pooledBytes(n * 4) + pooledBytes(ADAM_STATE_FLOATS * 4) + ADAM_PARAMS.byteSize;
}

export class AdamOptimizer implements GpuOptimizer {
  readonly name = 'adam' as const;
  /** First moment m, n f32. */
  readonly m: GPUBuffer;
  /** Second moment v, n f32. */
  readonly v: GPUBuffer;
  /** [t, c1, c2, lr / c1, sqrt(c2), 0, 0, 0] f32 (see shaders/optim.ts). */
  readonly state: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly dispatches: Dispatch[];
  private disposed = false;

  constructor(
    private readonly gpu: GpuRuntime,
    readonly x: GPUBuffer,
    readonly grad: GPUBuffer,
    readonly n: number,
    options: AdamOptions,
  ) {
    const beta1 = options.beta1 ?? 0.9;
    const beta2 = options.beta2 ?? 0.999;
    const eps = options.eps ?? 1e-8;
    const lr = options.learningRate;
    if (!(n > 0) || !Number.isInteger(n)) throw new Error(`Adam: vector length ${n} must be a positive integer`);
    if (!(lr > 0)) throw new Error(`Adam: learning rate ${lr} must be positive`);
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new Error(`Adam: betas (${beta1}, ${beta2}) must lie in [0, 1)`);
    if (!(eps >= 0)) throw new Error(`Adam: eps ${eps} must be >= 0`);
    if (x.size < n * 4 || grad.size < n * 4) throw new Error(`Adam: x or grad holds fewer than ${n} floats`);

    // 1 - beta in float64, then rounded: more accurate than 1 - f32(beta) on the GPU. One buffer for both kernels.
    const params = ADAM_PARAMS.pack({ count: n, beta1, beta2, oneMinusBeta1: 1 - beta1, oneMinusBeta2: 1 - beta2, lr, eps }, 'adam params');
    this.params = gpu.uniform(new Uint8Array(params), 'adam params');
    this.m = gpu.buffers.storage(n * 4, 'adam m');
    this.v = gpu.buffers.storage(n * 4, 'adam v');
    this.state = gpu.buffers.storage(ADAM_STATE_FLOATS * 4, 'adam state');
    this.clear();
    this.dispatches = [
      createDispatch(gpu, adamStep(), { params: this.params, state: this.state }, 1),
      createDispatch(gpu, adamUpdate(), { params: this.params, state: this.state, grad, m: this.m, v: this.v, x }, n, 12 * n),
    ];
  }

  get memoryBytes(): number {
    return this.m.size + this.v.size + this.state.size + this.params.size;
  }

  /** The step count lives on the GPU (`state[0]`), so `iteration` is not needed; steps must follow in order. */
  encodeStep(encoder: GPUCommandEncoder, _iteration: number): void {
    if (this.disposed) throw new Error('Adam: encodeStep after dispose');
    const pass = encoder.beginComputePass({ label: 'adam' });
    for (const d of this.dispatches) encodeDispatch(pass, d);
    pass.end();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.dispatches) releaseDispatch(this.gpu, d);
    for (const b of [this.m, this.v, this.state, this.params]) this.gpu.buffers.release(b);
  }

  /** Zeroes m, v and t (a submission of clearBuffer commands; ordered with the caller's submissions). */
  private clear(): void {
    const encoder = this.gpu.device.createCommandEncoder({ label: 'adam clear' });
    encoder.clearBuffer(this.m);
    encoder.clearBuffer(this.v);
    encoder.clearBuffer(this.state);
    this.gpu.device.queue.submit([encoder.finish()]);
  }
}
