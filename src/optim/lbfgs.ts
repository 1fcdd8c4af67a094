/**
 * L-BFGS following torch.optim.LBFGS(lr, history_size, line_search_fn=None) with one function evaluation per
 * iteration (its inner loop with max_iter = the number of iterations), every dot product and scalar on the GPU:
 *
 *   iteration 0:  d = -g; t = min(1, 1 / |g|_1) lr; H_diag = 1
 *   iteration k:  y = g - g_prev; s = t_prev d_prev; ys = y.s
 *                 if ys > 1e-10: push (y, s), ro = 1 / ys, H_diag = ys / y.y
 *                 q = -g; newest to oldest: al_i = ro_i s_i.q, q -= al_i y_i
 *                 r = H_diag q; oldest to newest: be_i = ro_i y_i.r, r += (al_i - be_i) s_i
 *                 d = r; t = lr
 *   then          x += t d; g_prev = g
 *
 * Buffers (LbfgsState): the ring of `historySize` = m pairs y_j, s_j (separate n-f32 buffers), d (n f32, also
 * q and r during the two loops), g_prev (n f32), one scalar buffer (partial sums, t, H_diag, and ro/al/al - be per
 * slot; layout in shaders/optim.ts), one 16-byte uniform per slot LBFGS_PARAMS {n, slot, lr} and one {n} for
 * scaled_add. Total (2m + 2) n 4 bytes + scalars + uniforms; with the caller's x and grad that is the (2m + 4) n 4
 * bound.
 *
 * Ring positions follow from the iteration number alone: iteration k >= 1 (counted from the first step encoded)
 * pushes into slot (k - 1) mod m and the history is the min(k, m) slots before it, so the CPU picks
 * precreated dispatches (every bind group is made in the constructor) without reading anything back.
 *
 * Dispatches per iteration, in one compute pass, with h = min(k, m) pairs:
 *   k = 0:  lbfgs_first (d = -g, g_prev = g, |g|_1 partials), scalar 'first', scaled_add (x += t d)   = 3
 *   k >= 1: lbfgs_push (y, s, g_prev, q = -g; ys, yy, s.q partials), scalar 'push',
 *           (h - 1) x [lbfgs_loop1, scalar 'alpha'], lbfgs_loop1_last, scalar 'beta',
 *           (h - 1) x [lbfgs_loop2, scalar 'beta'], lbfgs_loop2_last (which also does x += t d)      = 4h + 1
 *
 * Differences from torch:
 * - A pair with ys <= 1e-10 is not dropped: it still takes its ring slot, with ro = 0 (and H_diag unchanged),
 *   which makes al = 0 and be = 0 for it, so its contribution to both loops is exactly zero. The only observable
 *   difference is that it occupies a slot: the ring then holds fewer than m usable pairs until it is overwritten,
 *   i.e. the oldest real pair is evicted a little earlier than torch would evict it.
 * - No termination tests (tolerance_grad, tolerance_change on gtd, the step or the loss): each encoded step
 *   updates x; the caller chooses the number of iterations. (torch stops early only when the gradient or the
 *   progress has vanished, at which point the remaining updates here are tiny.)
 * - Arithmetic is f32 with dot products reduced in `partials` strided partial sums (torch: f32 with its own reduction
 *   order), and Python's float scalars (ro, al, be, H_diag) are f32 here.
 */
import {
  LBFGS_PARAMS,
  LBFGS_SCALARS,
  lbfgsFirst,
  lbfgsReduction,
  lbfgsLoop1,
  lbfgsLoop1Last,
  lbfgsLoop2,
  lbfgsLoop2Last,
  lbfgsProbe,
  lbfgsPush,
  lbfgsScalar,
  lbfgsScalarFloats,
  type LbfgsScalarOp,
  scaledAdd,
  SCALED_ADD_PARAMS,
  type LbfgsReduction,
} from '../../shaders/optim.js';
import { pooledBytes } from '../gpu/buffers.js';
import { createDispatch, encodeDispatch, releaseDispatch, type Dispatch } from '../gpu/passes.js';
import type { PartialSums } from '../../shaders/common.js';
import { dotProductSums } from '../gpu/parallelism.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import type { GpuOptimizer } from './optimizer.js';

export interface LbfgsOptions {
  /** Default 1 (torch's default). */
  learningRate?: number;
  /** Pairs kept, m (default 100, torch's default). */
  historySize?: number;
  /** How the dot products make their partial sums (default: dotProductSums(n, the adapter's parallelism)). */
  sums?: PartialSums;
}

/** The GPU buffers of the L-BFGS state (all owned by the optimiser). */
export interface LbfgsState {
  /** y_j = g_k - g_{k-1} for ring slot j, n f32 each. */
  readonly y: readonly GPUBuffer[];
  /** s_j = t_{k-1} d_{k-1} for ring slot j, n f32 each. */
  readonly s: readonly GPUBuffer[];
  /** The search direction d, n f32; q and then r of the two-loop recursion during a step. */
  readonly direction: GPUBuffer;
  /** The previous gradient g_prev, n f32. */
  readonly prevGrad: GPUBuffer;
  /** f32: header (t, H_diag, ys, yy, |g|_1, g.d, max |d|), per-slot {ro, al, al - be}, partial sums; see LBFGS_SCALARS. */
  readonly scalars: GPUBuffer;
  /** One uniform per ring slot: LBFGS_PARAMS {n, slot, lr}. */
  readonly slotParams: readonly GPUBuffer[];
  /** scaled_add's uniform SCALED_ADD_PARAMS {n}. */
  readonly scaledAddParams: GPUBuffer;
}

/** Where the history sits after `step` steps since the start (`step` >= 1): pushed slot and ring extent. */
export function lbfgsRing(step: number, historySize: number): { newest: number; count: number } {
  const m = historySize;
  return { newest: (step - 1) % m, count: Math.min(step, m) };
}

/** Bytes an optimiser for n floats and history m holds: (2m + 2) n 4 + scalar buffer + m slot uniforms + scaled_add's. */
export function lbfgsMemoryBytes(n: number, historySize: number, sums: PartialSums): number {
  return (2 * historySize + 2) * pooledBytes(n * 4) + pooledBytes(lbfgsScalarFloats(historySize, sums) * 4) + historySize * LBFGS_PARAMS.byteSize + SCALED_ADD_PARAMS.byteSize;
}

interface SlotDispatches {
  push: Dispatch;
  pushScalar: Dispatch;
  loop1: Dispatch;
  alpha: Dispatch;
  loop1Last: Dispatch;
  beta: Dispatch;
  loop2: Dispatch;
  loop2Last: Dispatch;
}

export class LbfgsOptimizer implements GpuOptimizer {
  readonly name = 'lbfgs' as const;
  readonly state: LbfgsState;
  readonly historySize: number;
  readonly learningRate: number;
  readonly reduction: LbfgsReduction;
  private readonly first: Dispatch[];
  private readonly slots: SlotDispatches[];
  private readonly probe: Dispatch[];
  private readonly moveAlongDirection: Dispatch;
  private readonly owned: GPUBuffer[] = [];
  /** The caller's iteration number that counts as step 0 (set by the first step encoded). */
  private base: number | undefined;
  private nextIteration = 0;
  private disposed = false;

  constructor(
    private readonly gpu: GpuRuntime,
    readonly x: GPUBuffer,
    readonly grad: GPUBuffer,
    readonly n: number,
    options: LbfgsOptions = {},
  ) {
    const lr = options.learningRate ?? 1;
    const m = options.historySize ?? 100;
    if (!(n > 0) || !Number.isInteger(n)) throw new Error(`L-BFGS: vector length ${n} must be a positive integer`);
    if (!(lr > 0)) throw new Error(`L-BFGS: learning rate ${lr} must be positive`);
    if (!(m >= 1) || !Number.isInteger(m)) throw new Error(`L-BFGS: history size ${m} must be a positive integer`);
    if (x.size < n * 4 || grad.size < n * 4) throw new Error(`L-BFGS: x or grad holds fewer than ${n} floats`);
    const sums = options.sums ?? dotProductSums(n, gpu.parallelism);
    if (!(sums.invocations >= 1) || !Number.isInteger(sums.invocations)) throw new Error(`L-BFGS: ${sums.invocations} partial-sum invocations must be a positive integer`);
    this.learningRate = lr;
    this.historySize = m;
    const reduction = (this.reduction = lbfgsReduction(m, sums));

    const own = (b: GPUBuffer) => (this.owned.push(b), b);
    const vector = (label: string) => own(gpu.buffers.storage(n * 4, label));
    const y = Array.from({ length: m }, (_, j) => vector(`lbfgs y${j}`));
    const s = Array.from({ length: m }, (_, j) => vector(`lbfgs s${j}`));
    const direction = vector('lbfgs d');
    const prevGrad = vector('lbfgs g_prev');
    const scalars = own(gpu.buffers.storage(lbfgsScalarFloats(m, sums) * 4, 'lbfgs scalars'));
    // Uniforms shared by several precreated dispatches: made once here, not per dispatch.
    const slotParams = Array.from({ length: m }, (_, j) => own(gpu.uniform(new Uint8Array(LBFGS_PARAMS.pack({ count: n, slot: j, lr })), `lbfgs slot ${j}`)));
    const scaledAddParams = own(gpu.uniform(new Uint8Array(SCALED_ADD_PARAMS.pack({ count: n })), 'lbfgs scaled_add'));
    this.state = { y, s, direction, prevGrad, scalars, slotParams, scaledAddParams };
    this.clearScalars();

    const d = direction;
    const scalar = (op: LbfgsScalarOp) => lbfgsScalar(op, reduction);
    const [push, loop1, loop1Last, loop2, loop2Last] = [lbfgsPush(reduction), lbfgsLoop1(reduction), lbfgsLoop1Last(reduction), lbfgsLoop2(reduction), lbfgsLoop2Last()];
    const P = sums.invocations;
    const S = reduction.stored;
    const dot = 2 * n;
    const params = slotParams[0];
    const moveByT = () => createDispatch(gpu, scaledAdd(LBFGS_SCALARS.t), { params: scaledAddParams, src: d, dst: x, scalars }, n, 2 * n);
    this.first = [
      createDispatch(gpu, lbfgsFirst(reduction), { params, g: grad, gPrev: prevGrad, d, scalars }, P, n),
      createDispatch(gpu, scalar('first'), { params, scalars }, 1, S),
      moveByT(),
    ];
    this.probe = [createDispatch(gpu, lbfgsProbe(reduction), { params, g: grad, d, scalars }, P, 2 * n), createDispatch(gpu, scalar('probe'), { params, scalars }, 1, 2 * S)];
    this.moveAlongDirection = moveByT();
    this.slots = Array.from({ length: m }, (_, j) => {
      const older = (j - 1 + m) % m;
      const newer = (j + 1) % m;
      const u = slotParams[j];
      return {
        push: createDispatch(gpu, push, { params: u, g: grad, gPrev: prevGrad, d, y: y[j], s: s[j], scalars }, P, 2 * n + 3 * dot),
        pushScalar: createDispatch(gpu, scalar('push'), { params: u, scalars }, 1, 3 * S),
        loop1: createDispatch(gpu, loop1, { params: u, y: y[j], sNext: s[older], d, scalars }, P, 2 * n + dot),
        alpha: createDispatch(gpu, scalar('alpha'), { params: u, scalars }, 1, S),
        loop1Last: createDispatch(gpu, loop1Last, { params: u, y: y[j], d, scalars }, P, 3 * n + dot),
        beta: createDispatch(gpu, scalar('beta'), { params: u, scalars }, 1, S),
        loop2: createDispatch(gpu, loop2, { params: u, s: s[j], yNext: y[newer], d, scalars }, P, 2 * n + dot),
        loop2Last: createDispatch(gpu, loop2Last, { params: u, s: s[j], d, x, scalars }, n, 4 * n),
      };
    });
  }

  get memoryBytes(): number {
    return this.owned.reduce((sum, b) => sum + b.size, 0);
  }

  /**
   * `iteration` must follow the previous call's by one; the first call may pass any number and starts the history
   * (iteration 0 of torch's loop).
   */
  encodeStep(encoder: GPUCommandEncoder, iteration: number): void {
    if (this.disposed) throw new Error('L-BFGS: encodeStep after dispose');
    if (this.base === undefined) this.base = iteration;
    else if (iteration !== this.nextIteration) {
      throw new Error(`L-BFGS: step ${iteration} encoded after step ${this.nextIteration - 1}; steps must be consecutive`);
    }
    this.nextIteration = iteration + 1;
    const step = iteration - this.base;
    const pass = encoder.beginComputePass({ label: 'lbfgs' });
    if (step === 0) {
      for (const d of this.first) encodeDispatch(pass, d);
    } else {
      const m = this.historySize;
      const { newest, count } = lbfgsRing(step, m);
      const slot = (k: number) => this.slots[(newest - k + m) % m]; // k = 0: newest, k = count - 1: oldest
      encodeDispatch(pass, slot(0).push);
      encodeDispatch(pass, slot(0).pushScalar);
      for (let k = 0; k < count - 1; k++) {
        encodeDispatch(pass, slot(k).loop1);
        encodeDispatch(pass, slot(k + 1).alpha);
      }
      encodeDispatch(pass, slot(count - 1).loop1Last);
      encodeDispatch(pass, slot(count - 1).beta);
      for (let k = count - 1; k > 0; k--) {
        encodeDispatch(pass, slot(k).loop2);
        encodeDispatch(pass, slot(k - 1).beta);
      }
      encodeDispatch(pass, slot(0).loop2Last);
    }
    pass.end();
  }

  /**
   * Line search support (src/optim/lbfgsLineSearch.ts). Records g.d and max |d| of the current gradient and
   * direction into the scalar header (LBFGS_SCALARS.gtd, dMax).
   */
  encodeProbe(encoder: GPUCommandEncoder): void {
    const pass = encoder.beginComputePass({ label: 'lbfgs probe' });
    for (const d of this.probe) encodeDispatch(pass, d);
    pass.end();
  }

  /** Line search support: x = origin + t d with the t of the scalar header (see setStepLength). */
  encodeMoveFrom(encoder: GPUCommandEncoder, origin: GPUBuffer): void {
    encoder.copyBufferToBuffer(origin, 0, this.x, 0, this.n * 4);
    const pass = encoder.beginComputePass({ label: 'lbfgs move' });
    encodeDispatch(pass, this.moveAlongDirection);
    pass.end();
  }

  /** Line search support: the step length t the next push takes as s = t d (and encodeMoveFrom moves by). */
  setStepLength(t: number): void {
    this.gpu.device.queue.writeBuffer(this.state.scalars, LBFGS_SCALARS.t * 4, new Float32Array([t]));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const dispatches: Dispatch[] = [
      ...this.first,
      ...this.probe,
      this.moveAlongDirection,
      ...this.slots.flatMap((slot) => Object.values(slot as unknown as Record<string, Dispatch>)),
    ];
    for (const d of dispatches) releaseDispatch(this.gpu, d);
    for (const b of this.owned) this.gpu.buffers.release(b);
    this.owned.length = 0;
  }

  private clearScalars(): void {
    const initial = new Float32Array(lbfgsScalarFloats(this.historySize, this.reduction.sums));
    initial[LBFGS_SCALARS.hDiag] = 1;
    this.gpu.device.queue.writeBuffer(this.state.scalars, 0, initial);
  }
}
