/**
 * Reactive controller for one style-transfer run on the page's GPU: options -> GPU -> images and weights -> stylize
 * with a live preview -> final image, sending the element's events. Every start() ends in exactly one
 * `style-transfer-complete` (also when stopped) or one `style-transfer-error`; a failure never clears the canvas.
 * From start() on, each phase the run enters is a `style-transfer-phase` event and the controller's `phase`; progress
 * carries the time since start() and an estimate of the time left. Iterations are queued one at a time, so stop()
 * takes effect after the current iteration on any adapter. continue() runs again from the last result.
 * When stylize ends (done, stopped or failed) the engine's idle pooled buffers are destroyed, so between runs the
 * page holds no GPU memory but each element's 16-byte preview uniform.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { GpuDeviceLostError } from '../../gpu/runtime.js';
import { OptionError, resolveOptions, scaleSizes, type StylizeOptions, type StylizeOptionsInput } from '../../net/options.js';
import { lossDepth } from '../../net/loss.js';
import { stylize, type IterationRecord } from '../../net/stylize.js';
import { VGG19 } from '../../net/vgg19.js';
import { convLayersForDepth } from '../../net/weightsFormat.js';
import type { Rgba8 } from '../../net/preprocess.js';
import { COMPLETE_EVENT, emit, ERROR_EVENT, PHASE_EVENT, PROGRESS_EVENT, type StyleTransferPhase } from '../events.js';
import { loadRgbaImage, type ImageSource } from '../image-source.js';
import { pageGpu } from '../page-gpu.js';
import type { PreviewRenderer } from '../preview-renderer.js';
import type { WeightsController } from './weights-controller.js';

/** The controller's state: idle, a phase of a run in progress (see StyleTransferPhase), or how the last run ended. */
export type RunPhase = 'idle' | StyleTransferPhase | 'done' | 'stopped' | 'error';

/** Mean milliseconds per iteration of the latest records (up to 10; the run's first left out once others exist). */
export function iterationMs(records: readonly IterationRecord[]): number | undefined {
  const recent = (records.length > 1 ? records.slice(1) : records).slice(-10);
  return recent.length ? recent.reduce((sum, r) => sum + r.ms, 0) / recent.length : undefined;
}

export interface RunInput {
  content: ImageSource | null | undefined;
  style: ImageSource | null | undefined;
  /** Several style images, used instead of `style` when set (non-empty). */
  styles?: readonly ImageSource[] | null;
  /** Style regions: one mask per style image, in content space (src/net/styleMask.ts). */
  styleMasks?: readonly ImageSource[] | null;
  weightsSrc: string;
  /** weights-precision: f16 (default), int8 or f32. */
  weightsPrecision?: string;
  options: StylizeOptionsInput;
  /** The message of resolveOptions' OptionError in the element's terms (the attribute's name and text). */
  describeOptionError?: (error: OptionError) => string;
}

class Aborted extends Error {}

/** What continue() needs of the last run: its input, the options it resolved to, and where it got. */
interface LastRun {
  input: RunInput;
  options: StylizeOptions;
  image: Rgba8;
  /** Iterations done over all its runs (start() and every continue()). */
  done: number;
  /** Iterations asked for by start(). */
  planned: number;
}

/** Settles like `promise`, or rejects with Aborted as soon as `signal` fires (the work itself goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class RunController implements ReactiveController {
  phase: RunPhase = 'idle';
  /** Iterations finished (as reported by progress). */
  iteration = 0;
  /** Iterations the current run will do (all scales). */
  iterations = 0;
  /** The error shown in the element when phase is 'error'. */
  message = '';
  /** performance.now() when the current (or last) start() or continue() was called. */
  startedAt = 0;
  /** Milliseconds from start() to the latest progress; estimated milliseconds left (undefined before an iteration). */
  elapsedMs = 0;
  etaMs: number | undefined;
  /** Whether the run in progress has reported an iteration yet. */
  progressed = false;
  private last: LastRun | undefined;

  private abort: AbortController | undefined;
  private active: Promise<void> | undefined;

  constructor(
    private readonly host: ReactiveControllerHost & HTMLElement,
    private readonly weights: WeightsController,
    private readonly preview: () => PreviewRenderer,
  ) {
    host.addController(this);
  }

  get running(): boolean {
    return this.active !== undefined;
  }

  /** Resolves when no run is in progress. */
  get settled(): Promise<void> {
    return this.active ?? Promise.resolve();
  }

  hostConnected(): void {}

  hostDisconnected(): void {
    this.stop();
  }

  /** Whether continue() has a result to go on from (a run that ended done or stopped). */
  get canContinue(): boolean {
    return !this.active && this.last !== undefined;
  }

  /** Starts a run unless one is going; resolves when it ends (never rejects: failures become the error event). */
  start(input: RunInput): Promise<void> {
    return this.launch(input, undefined);
  }

  /**
   * Runs again from the last result with the same settings: the iterations a stop left undone, or as many again as
   * the run had when it finished. Iteration numbers go on from the last. Does nothing while a run is going or
   * before any run ended with an image (the promise then resolves at once).
   */
  continue(): Promise<void> {
    if (this.active || !this.last) return this.active ?? Promise.resolve();
    return this.launch(this.last.input, this.last);
  }

  private launch(input: RunInput, resume: LastRun | undefined): Promise<void> {
    if (!this.active) {
      const abort = new AbortController();
      this.abort = abort;
      this.startedAt = performance.now();
      // The elapsed time on screen moves between iterations too (and during the phases before the first).
      const ticker = setInterval(() => this.host.requestUpdate(), 1000);
      this.active = this.execute(input, abort.signal, resume).finally(() => {
        clearInterval(ticker);
        this.active = undefined;
        this.abort = undefined;
        this.host.requestUpdate();
      });
    }
    return this.active;
  }

  /** Stops the run: no iteration is submitted after the current one; the phase is 'stopping' until it ends. */
  stop(): void {
    if (!this.abort || this.abort.signal.aborted) return;
    this.abort.abort();
    this.enter('stopping');
  }

  private setState(changes: Partial<Pick<RunController, 'phase' | 'iteration' | 'iterations' | 'message' | 'elapsedMs' | 'etaMs' | 'progressed'>>): void {
    Object.assign(this, changes);
    this.host.requestUpdate();
  }

  /** Enters a phase of the run in progress and says so (a stop in progress is not undone by a later phase). */
  private enter(phase: StyleTransferPhase): void {
    if (this.phase === 'stopping' || this.phase === phase) return;
    this.setState({ phase });
    emit(this.host, PHASE_EVENT, { phase, elapsedMs: performance.now() - this.startedAt });
  }

  private async execute(input: RunInput, signal: AbortSignal, resume: LastRun | undefined): Promise<void> {
    // A fresh start replaces what continue() would go on from, also when it fails.
    if (!resume) this.last = undefined;
    this.setState({ phase: 'idle', message: '', iteration: resume?.done ?? 0, iterations: 0, elapsedMs: 0, etaMs: undefined, progressed: false });
    this.enter('loading-weights');
    try {
      // Every iteration's losses are read (asynchronously: the loop does not wait), so progress is per iteration.
      let options: StylizeOptions;
      try {
        options = resume
          ? { ...resume.options, iterations: resume.done < resume.planned ? resume.planned - resume.done : resume.planned, scales: undefined }
          : resolveOptions({ ...input.options, printEvery: 1 }, { styleImages: input.styles?.length || 1 });
      } catch (e) {
        if (e instanceof OptionError && input.describeOptionError) throw new Error(input.describeOptionError(e), { cause: e });
        throw e;
      }
      const sizes = scaleSizes(options);
      const first = resume?.done ?? 0;
      this.setState({ iterations: first + options.iterations * sizes.length });
      if (!input.content) throw new Error('No content image: set content-src (or the contentSrc property).');
      const styleSources = input.styles?.length ? input.styles : input.style ? [input.style] : [];
      if (styleSources.length === 0) throw new Error('No style image: set style-src (or the styleSrc property).');
      const gpu = await untilAborted(pageGpu(), signal);
      gpu.takeError(); // errors of earlier work are not this run's
      // Decoded images keep up to twice the largest size needed; the exact area-averaged resize happens in stylize.
      const maxSide = 2 * Math.max(...sizes) * Math.max(1, options.styleScale);
      const [content, styles, styleMasks, weights] = await untilAborted(
        Promise.all([
          loadRgbaImage(input.content, 'content image', maxSide, gpu.runtime, signal),
          Promise.all(styleSources.map((s, k) => loadRgbaImage(s, styleSources.length > 1 ? `style image ${k + 1}` : 'style image', maxSide, gpu.runtime, signal))),
          input.styleMasks?.length
            ? Promise.all(input.styleMasks.map((m, k) => loadRgbaImage(m, input.styleMasks!.length > 1 ? `style mask ${k + 1}` : 'style mask', maxSide, gpu.runtime, signal)))
            : undefined,
          this.weights.load(input.weightsSrc, { precision: input.weightsPrecision, layers: convLayersForDepth(lossDepth(options), VGG19) }),
        ]),
        signal,
      );
      const preview = this.preview();
      preview.attach(gpu.runtime);

      let sent = 0;
      const result = await stylize({
        gpu: gpu.runtime,
        weights,
        content,
        styles,
        styleMasks,
        options,
        signal,
        explicitLearningRate: input.options.learningRate !== undefined,
        initialImage: resume?.image,
        firstIteration: first,
        maxInFlight: 1,
        onPhase: (phase) => this.enter(phase),
        onProgress: (_latest, records) => {
          for (; sent < records.length; sent++) {
            const { iteration, content, style, styles, tv, total } = records[sent];
            // A non-finite loss ends the run with an error (NonFiniteLossError), never with a progress event.
            if (![content, style, tv, total].every(Number.isFinite)) break;
            const elapsedMs = performance.now() - this.startedAt;
            const etaMs = (this.iterations - iteration) * (iterationMs(records.slice(0, sent + 1)) ?? 0);
            this.setState({ iteration, elapsedMs, etaMs, progressed: true });
            emit(this.host, PROGRESS_EVENT, { iteration, content, style, styles, tv, total, elapsedMs, etaMs });
          }
        },
        onIteration: ({ x, width, height }) => preview.drawX(x, width, height),
      }).finally(() => {
        // stylize released every buffer it acquired to the pool; give their memory back (pooled buffers in use by
        // another element's run are not in the free list, so a concurrent run is unaffected).
        gpu.runtime.buffers.trim();
      });
      const gpuError = gpu.takeError();
      if (gpuError) throw new Error(`A GPU error spoiled the run: ${gpuError}`);
      preview.drawImage(result.image);
      this.last = { input, options: resume?.options ?? options, image: result.image, done: first + result.iterations, planned: resume?.planned ?? options.iterations };
      this.setState({
        phase: result.stopped ? 'stopped' : 'done',
        iteration: first + result.iterations,
        elapsedMs: performance.now() - this.startedAt,
        etaMs: result.stopped ? undefined : 0,
      });
      const evaluation = result.plans.at(-1)?.evaluation;
      const tiles: [number, number] = evaluation?.tiled ? [evaluation.columns, evaluation.rows] : [1, 1];
      emit(this.host, COMPLETE_EVENT, { iterations: result.iterations, ms: result.ms, stopped: result.stopped, tiles });
    } catch (e) {
      if (e instanceof Aborted) {
        this.setState({ phase: 'stopped' });
        emit(this.host, COMPLETE_EVENT, { iterations: 0, ms: 0, stopped: true, tiles: [1, 1] });
        return;
      }
      let message = e instanceof Error && e.message ? e.message : `Style transfer failed: ${String(e)}`;
      // The page's next run opens a new device (page-gpu.ts forgets a lost one).
      if (e instanceof GpuDeviceLostError) message += ' Start again to retry.';
      this.setState({ phase: 'error', message });
      emit(this.host, ERROR_EVENT, { message });
    }
  }
}
