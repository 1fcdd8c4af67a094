/**
 * Waiting for the GPU queue without starving a CPU adapter.
 *
 * Dawn's Node binding (the `webgpu` package) delivers its promises by polling the instance with back-to-back
 * setImmediate ticks for as long as any of them is pending, so an `await queue.onSubmittedWorkDone()` keeps one
 * CPU core busy for the whole wait. On a real GPU that costs nothing the GPU needs; on a CPU adapter (Mesa
 * lavapipe) the shaders run on those same cores, and on two cores the poller took about a third of the CPU time
 * from them (a 128x128 64->64 conv: 250-290 ms of wall time per dispatch while awaited, about 210 ms when the wait
 * started after the work was nearly done).
 *
 * A QueueWaiter therefore sleeps (a plain timer: nothing to poll) through most of the time the previous wait of
 * the same series took, and only then asks for onSubmittedWorkDone. Where waits do not compete with the shaders
 * (browsers, real GPUs) it awaits at once.
 */
/** Fraction of the expected time slept before polling: the rest covers run-to-run variation. */
const SLEEP_FRACTION = 0.85;

export class QueueWaiter {
  /** How long the last wait of this series took, from `wait()` to completion (ms). */
  private expectedMs = 0;

  /**
   * @param sleepFirst sleep before polling (GpuContext.waitsCompeteWithShaders); false: await at once.
   * @param guard wraps each await, e.g. GpuRuntime.unlessLost so a lost device ends the wait.
   */
  constructor(
    private readonly queue: GPUQueue,
    readonly sleepFirst: boolean,
    private readonly guard: <T>(work: Promise<T>) => Promise<T> = (work) => work,
  ) {}

  /**
   * Resolves once everything submitted so far has finished; rejects with GpuDeviceLostError on device loss.
   * Call it right after a submission, once per unit of similar work (an iteration, an evaluation), so the
   * expected time stays meaningful.
   */
  async wait(): Promise<void> {
    const start = performance.now();
    if (this.sleepFirst && this.expectedMs > 1) {
      const ms = this.expectedMs * SLEEP_FRACTION;
      await this.guard(new Promise<void>((resolve) => setTimeout(resolve, ms)));
    }
    await this.guard(this.queue.onSubmittedWorkDone());
    // After an over-long sleep this is the sleep itself, so the next sleep is shorter: the estimate settles just
    // under the real duration instead of drifting upwards.
    this.expectedMs = performance.now() - start;
  }
}
