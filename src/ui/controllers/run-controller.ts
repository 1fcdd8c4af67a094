/**
 * Reactive controller for one style-transfer run on the page's GPU: options -> GPU -> images and weights -> stylize
 * with a live preview -> final image, sending the element's events. Every start() ends in exactly one
 * `style-transfer-complete` (also when stopped) or one `style-transfer-error`; a failure never clears the canvas.
 * When stylize ends (done, stopped or failed) the engine's idle pooled buffers are destroyed, so between runs the
 * page holds no GPU memory but each element's 16-byte preview uniform.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { GpuDeviceLostError } from '../../gpu/runtime.js';
import { OptionError, resolveOptions, scaleSizes, type StylizeOptions, type StylizeOptionsInput } from '../../net/options.js';
import { lossDepth } from '../../net/loss.js';
import { stylize } from '../../net/stylize.js';
import { VGG19 } from '../../net/vgg19.js';
import { convLayersForDepth } from '../../net/weightsFormat.js';
import { COMPLETE_EVENT, emit, ERROR_EVENT, PROGRESS_EVENT } from '../events.js';
import { loadRgbaImage, type ImageSource } from '../image-source.js';
import { pageGpu } from '../page-gpu.js';
import type { PreviewRenderer } from '../preview-renderer.js';
import type { WeightsController } from './weights-controller.js';

export type RunPhase = 'idle' | 'preparing' | 'running' | 'done' | 'stopped' | 'error';

export interface RunInput {
  content: ImageSource | null | undefined;
  style: ImageSource | null | undefined;
  weightsSrc: string;
  /** weights-precision: f16 (default), int8 or f32. */
  weightsPrecision?: string;
  options: StylizeOptionsInput;
  /** The message of resolveOptions' OptionError in the element's terms (the attribute's name and text). */
  describeOptionError?: (error: OptionError) => string;
}

class Aborted extends Error {}

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

  /** Starts a run unless one is going; resolves when it ends (never rejects: failures become the error event). */
  start(input: RunInput): Promise<void> {
    if (!this.active) {
      const abort = new AbortController();
      this.abort = abort;
      this.active = this.execute(input, abort.signal).finally(() => {
        this.active = undefined;
        this.abort = undefined;
        this.host.requestUpdate();
      });
    }
    return this.active;
  }

  /** Stops the run: no iteration is submitted after the current one. */
  stop(): void {
    this.abort?.abort();
  }

  private setState(changes: Partial<Pick<RunController, 'phase' | 'iteration' | 'iterations' | 'message'>>): void {
    Object.assign(this, changes);
    this.host.requestUpdate();
  }

  private async execute(input: RunInput, signal: AbortSignal): Promise<void> {
    this.setState({ phase: 'preparing', message: '', iteration: 0, iterations: 0 });
    try {
      // Every iteration's losses are read (asynchronously: the loop does not wait), so progress is per iteration.
      let options: StylizeOptions;
      try {
        options = resolveOptions({ ...input.options, printEvery: 1 }, { styleImages: 1 });
      } catch (e) {
        if (e instanceof OptionError && input.describeOptionError) throw new Error(input.describeOptionError(e), { cause: e });
        throw e;
      }
      const sizes = scaleSizes(options);
      this.setState({ iterations: options.iterations * sizes.length });
      if (!input.content) throw new Error('No content image: set content-src (or the contentSrc property).');
      if (!input.style) throw new Error('No style image: set style-src (or the styleSrc property).');
      const gpu = await untilAborted(pageGpu(), signal);
      gpu.takeError(); // errors of earlier work are not this run's
      // Decoded images keep up to twice the largest size needed; the exact area-averaged resize happens in stylize.
      const maxSide = 2 * Math.max(...sizes) * Math.max(1, options.styleScale);
      const [content, style, weights] = await untilAborted(
        Promise.all([
          loadRgbaImage(input.content, 'content image', maxSide, gpu.runtime, signal),
          loadRgbaImage(input.style, 'style image', maxSide, gpu.runtime, signal),
          this.weights.load(input.weightsSrc, { precision: input.weightsPrecision, layers: convLayersForDepth(lossDepth(options), VGG19) }),
        ]),
        signal,
      );
      const preview = this.preview();
      preview.attach(gpu.runtime);
      this.setState({ phase: 'running' });

      let sent = 0;
      const result = await stylize({
        gpu: gpu.runtime,
        weights,
        content,
        styles: [style],
        options,
        signal,
        explicitLearningRate: input.options.learningRate !== undefined,
        onProgress: (_latest, records) => {
          for (; sent < records.length; sent++) {
            const { iteration, content, style, tv, total } = records[sent];
            // A non-finite loss ends the run with an error (NonFiniteLossError), never with a progress event.
            if (![content, style, tv, total].every(Number.isFinite)) break;
            this.setState({ iteration });
            emit(this.host, PROGRESS_EVENT, { iteration, content, style, tv, total });
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
      this.setState({ phase: result.stopped ? 'stopped' : 'done', iteration: result.iterations });
      emit(this.host, COMPLETE_EVENT, { iterations: result.iterations, ms: result.ms, stopped: result.stopped });
    } catch (e) {
      if (e instanceof Aborted) {
        this.setState({ phase: 'stopped' });
        emit(this.host, COMPLETE_EVENT, { iterations: 0, ms: 0, stopped: true });
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
