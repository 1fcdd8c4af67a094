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
 * A QueueWaiter therefore sleeps (a plain timer: nothing to poll) through most of the time recent waits of the
 * same series took, and only then asks for onSubmittedWorkDone. Where waits do not compete with the shaders
 * (browsers, real GPUs) it awaits at once.
 */
/** Fraction of the expected time slept before polling: the rest covers run-to-run variation. */
const SLEEP_FRACTION = 0.85;
/** Waits remembered for the estimate. */
const RECENT = 3;

export interface QueueWaiterOptions {
  /**
   * Waits that must be known before the first sleep (default 2: the first wait of a series usually includes
   * shader compilation). 1 suits a series primed with a compile-free wait, as the benchmark's are.
   */
  knownBeforeSleep?: number;
}

export class QueueWaiter {
  /** How long the last few waits of this series took, from `wait()` to completion (ms), newest last. */
  private readonly recent: number[] = [];
  private readonly knownBeforeSleep: number;

  /**
   * @param sleepFirst sleep before polling (GpuContext.waitsCompeteWithShaders); false: await at once.
   * @param guard wraps each await, e.g. GpuRuntime.unlessLost so a lost device ends the wait.
   */
  constructor(
    private readonly queue: GPUQueue,
    readonly sleepFirst: boolean,
    private readonly guard: <T>(work: Promise<T>) => Promise<T> = (work) => work,
    options: QueueWaiterOptions = {},
  ) {
    this.knownBeforeSleep = Math.max(1, options.knownBeforeSleep ?? 2);
  }

  /** The sleep before the next poll (ms): 0 until enough waits are known, then a fraction of the shortest recent one. */
  get nextSleepMs(): number {
    if (!this.sleepFirst || this.recent.length < this.knownBeforeSleep) return 0;
    return Math.min(...this.recent) * SLEEP_FRACTION;
  }

  /**
   * Resolves once everything submitted so far has finished; rejects with GpuDeviceLostError on device loss.
   * Call it right after a submission, once per unit of similar work (an iteration, an evaluation), so the
   * expected time stays meaningful.
   */
  async wait(): Promise<void> {
    const start = performance.now();
    const sleep = this.nextSleepMs;
    if (sleep > 1) await this.guard(new Promise<void>((resolve) => setTimeout(resolve, sleep)));
    await this.guard(this.queue.onSubmittedWorkDone());
    // The shortest of the last RECENT waits: one slow wait (shader compilation in the first one, a paused process,
    // a busy machine) does not lengthen the sleeps, and after a sleep that overshot the measurement is the sleep
    // itself, so the next sleep is shorter and the estimate settles just under the real duration.
    this.recent.push(performance.now() - start);
    if (this.recent.length > RECENT) this.recent.shift();
  }
}
