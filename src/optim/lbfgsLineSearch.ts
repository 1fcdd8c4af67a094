/**
 * L-BFGS iterations with the strong-Wolfe line search (torch.optim.LBFGS(line_search_fn='strong_wolfe')): the
 * direction, the first step length and every vector operation stay on the GPU (LbfgsOptimizer); each trial point
 * x0 + t d is evaluated by the loss passes, and only its loss, g.d and the step length are read back (64 bytes) so
 * that src/optim/strongWolfe.ts can choose the next t on the CPU, as torch does.
 *
 * One iteration k, starting with x = x_k and the loss passes' gradient and losses at x_k:
 *   submission 1: losses -> history[k]; origin = x; step (d, t0, x = origin + t0 d); probe g_k.d, max|d|;
 *                 loss passes at x (the first trial); probe g(t0).d; header and losses -> readback
 *   more trials:  t written to the scalar header; x = origin + t d; loss passes; probe; readback
 *   the end:      t of the chosen point in the header (the next push makes s = t d) and, when the chosen point is
 *                 not the last one evaluated, x moved there and the loss passes run again, so x, the gradient and
 *                 the losses again belong together.
 * When d is not a descent direction (g.d > -1e-9, torch's tolerance_change) x goes back to x_k: torch's LBFGS stops
 * there, and so does the run (`converged`).
 *
 * Extra memory: the origin (n f32) and a 64-byte readback, within the (2m + 4) n 4 L-BFGS bound.
 */
import { LBFGS_SCALARS } from '../../shaders/optim.js';
import type { QueueWaiter } from '../gpu/queueWait.js';
import { pooledBytes } from '../gpu/buffers.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import type { LbfgsOptimizer } from './lbfgs.js';
import { strongWolfe, type StrongWolfeOptions } from './strongWolfe.js';

/** What the line search evaluates: the loss passes (x -> losses and gradient) and their 4-float loss record. */
export interface LineSearchObjective {
  encode(encoder: GPUCommandEncoder): void;
  /** [content, style, tv, total] f32, written by the passes. */
  readonly losses: GPUBuffer;
}

/** Readback layout (f32): scalar header copy at 0 (8 floats), losses at 8 (4 floats), f0's losses at 12. */
const HEADER = 0;
const LOSSES = 8;
const START_LOSSES = 12;
const READBACK_FLOATS = 16;
/** torch's tolerance_change: below this |g.d| the direction is not a descent direction. */
const TOLERANCE_CHANGE = 1e-9;

export interface LineSearchIteration {
  /** Loss evaluations this iteration took. */
  evaluations: number;
  /** The step length taken (0 when d was not a descent direction). */
  t: number;
  /** g.d >= -1e-9: no further progress is possible (torch's LBFGS stops). */
  converged: boolean;
}

/** GPU bytes (as the pool allocates them) a line search over n variables holds: the origin and the readback buffer. */
export function lineSearchBytes(n: number): number {
  return pooledBytes(n * 4) + pooledBytes(READBACK_FLOATS * 4);
}

export class LbfgsLineSearch {
  private readonly origin: GPUBuffer;
  private readonly readback: GPUBuffer;
  /**
   * Waits for the trials (each one loss evaluation): on a CPU adapter they sleep through most of an evaluation
   * instead of letting Dawn's Node binding poll a core away from the shaders (src/gpu/queueWait.ts).
   */
  private readonly trialWaiter: QueueWaiter;
  /** Whether x's gradient and losses are current (false until the first evaluation). */
  private evaluated = false;

  constructor(
    private readonly gpu: GpuRuntime,
    private readonly optimizer: LbfgsOptimizer,
    private readonly objective: LineSearchObjective,
    private readonly options: StrongWolfeOptions = {},
  ) {
    this.origin = gpu.buffers.storage(optimizer.n * 4, 'line search origin');
    this.readback = gpu.buffers.storage(READBACK_FLOATS * 4, 'line search readback');
    this.trialWaiter = gpu.queueWaiter();
  }

  /** One iteration; `record(encoder)` copies the losses at x_k wherever the caller keeps its history. */
  async iterate(iteration: number, record: (encoder: GPUCommandEncoder) => void): Promise<LineSearchIteration> {
    const { device } = this.gpu;
    const { optimizer, objective } = this;
    const encoder = device.createCommandEncoder({ label: `line search iteration ${iteration}` });
    if (!this.evaluated) objective.encode(encoder);
    this.evaluated = true;
    record(encoder);
    encoder.copyBufferToBuffer(objective.losses, 0, this.readback, START_LOSSES * 4, 16);
    encoder.copyBufferToBuffer(optimizer.x, 0, this.origin, 0, optimizer.n * 4);
    optimizer.encodeStep(encoder, iteration);
    optimizer.encodeProbe(encoder);
    encoder.copyBufferToBuffer(optimizer.state.scalars, LBFGS_SCALARS.t * 4, this.readback, HEADER * 4, 32);
    device.queue.submit([encoder.finish()]);
    const start = await this.read();
    const t0 = start[HEADER];
    const gtd0 = start[HEADER + LBFGS_SCALARS.gtd - LBFGS_SCALARS.t];
    const dNorm = start[HEADER + LBFGS_SCALARS.dMax - LBFGS_SCALARS.t];
    const f0 = start[START_LOSSES + 3];
    if (!(gtd0 <= -TOLERANCE_CHANGE)) {
      await this.moveAndEvaluate(0, true, false);
      return { evaluations: 1, t: 0, converged: true };
    }
    // The step already put x at origin + t0 d: the first trial only needs the loss passes.
    let first = true;
    const result = await strongWolfe(
      async (t) => {
        const values = await this.moveAndEvaluate(t, !first);
        first = false;
        return values;
      },
      { f0, gtd0, t0, dNorm },
      this.options,
    );
    // The header's t is the last trial's (written by its move, or by the step for t0): right when that trial is the
    // chosen one; otherwise the move back to the chosen point writes it.
    let evaluations = result.evaluations;
    if (!result.isLastEvaluated) {
      await this.moveAndEvaluate(result.t, true, false);
      evaluations++;
    }
    return { evaluations, t: result.t, converged: false };
  }

  dispose(): void {
    this.gpu.buffers.release(this.origin);
    this.gpu.buffers.release(this.readback);
  }

  /** x = origin + t d (when `move`), loss passes, probe; returns phi(t) and phi'(t) unless `readBack` is false. */
  private async moveAndEvaluate(t: number, move = true, readBack = true): Promise<{ f: number; gtd: number }> {
    const { device } = this.gpu;
    const { optimizer, objective } = this;
    if (move) optimizer.setStepLength(t);
    const encoder = device.createCommandEncoder({ label: 'line search trial' });
    if (move) optimizer.encodeMoveFrom(encoder, this.origin);
    objective.encode(encoder);
    if (!readBack) {
      device.queue.submit([encoder.finish()]);
      await this.trialWaiter.wait();
      return { f: NaN, gtd: NaN };
    }
    optimizer.encodeProbe(encoder);
    encoder.copyBufferToBuffer(optimizer.state.scalars, LBFGS_SCALARS.t * 4, this.readback, HEADER * 4, 32);
    encoder.copyBufferToBuffer(objective.losses, 0, this.readback, LOSSES * 4, 16);
    device.queue.submit([encoder.finish()]);
    await this.trialWaiter.wait();
    const values = await this.read();
    return { f: values[LOSSES + 3], gtd: values[HEADER + LBFGS_SCALARS.gtd - LBFGS_SCALARS.t] };
  }

  private read(): Promise<Float32Array> {
    return this.gpu.readFloat32(this.readback, READBACK_FLOATS);
  }
}
