/**
 * <style-transfer>: Gatys neural style transfer of one content and one style image on the page's WebGPU device,
 * with a live preview. The element is the API surface (attributes, properties, methods, events, parts); the work is
 * done by its controllers: WeightsController (download, cache) and RunController (GPU, images, the run).
 */
import { html, LitElement, nothing, type PropertyDeclarations, type PropertyValues } from 'lit';
import {
  formatOptionValue,
  OptionError,
  resolveOptions,
  type StylizeOptions,
  type LineSearchKind,
  type OptionName,
  type OptimizerName,
  type Padding,
  type PresetName,
  type StylizeOptionsInput,
  type WeightStorage,
} from '../net/options.js';
import { RunController } from './controllers/run-controller.js';
import { WeightsController } from './controllers/weights-controller.js';
import type { WeightsPrecision } from '../net/weightsFormat.js';
import type { ImageSource } from './image-source.js';
import { sizeLimits, type SizeLimits } from '../net/stylize.js';
import { currentPageRuntime, pageGpu } from './page-gpu.js';
import { PreviewRenderer } from './preview-renderer.js';
import { styleTransferStyles } from './style-transfer.styles.js';

/** "1 0.5 1" or "1,0.5,1" <-> [1, 0.5, 1]. */
const numberListConverter = {
  fromAttribute: (value: string | null): number[] | undefined =>
    value === null || !value.trim()
      ? undefined
      : value
          .split(/[\s,]+/)
          .filter(Boolean)
          .map(Number),
  toAttribute: (value: number[] | undefined): string | null => (value ? value.join(' ') : null),
};

/** A list of names, space- or comma-separated; blank means unset. */
const nameListConverter = {
  fromAttribute: (value: string | null): string[] | undefined => (value === null || !value.trim() ? undefined : value.split(/[\s,]+/).filter(Boolean)),
  toAttribute: (value: string[] | undefined): string | null => (value ? value.join(' ') : null),
};

/** A number attribute: blank means unset; anything else goes through Number() (so "abc" is NaN, refused at start). */
const numberConverter = {
  fromAttribute: (value: string | null): number | undefined => (value === null || !value.trim() ? undefined : Number(value)),
};

/** The options the element sets from its attributes: option (as OptionError names it) -> attribute. */
const OPTION_ATTRIBUTES = {
  preset: 'preset',
  size: 'size',
  iterations: 'iterations',
  optimizer: 'optimizer',
  contentWeight: 'content-weight',
  styleWeight: 'style-weight',
  tvWeight: 'tv-weight',
  styleLayerWeights: 'style-layer-weights',
  contentLayers: 'content-layers',
  styleLayers: 'style-layers',
  originalColors: 'original-colors',
  matchStyleColors: 'match-style-colors',
  padding: 'padding',
  weightStorage: 'weight-storage',
  memoryBudget: 'max-memory',
  lineSearch: 'line-search',
} as const satisfies Partial<Record<OptionName, string>>;

/**
 * GPU memory a run may take when `max-memory` is not set: a page cannot learn how much the device holds, and
 * shares it with everything else on it, so a conservative 1 GiB; larger pictures are evaluated in tiles.
 */
export const DEFAULT_MAX_MEMORY_MIB = 1024;

type ElementOption = keyof typeof OPTION_ATTRIBUTES;

/** Whether a value holds a NaN (a number attribute whose text is not a number). */
const hasNaN = (value: unknown): boolean => (Array.isArray(value) ? value.some(hasNaN) : Number.isNaN(value));

/** A number property set from script as a string ("32"), as an attribute would give it. */
function toNumber(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value.trim() ? Number(value) : undefined;
  return value as number;
}

/** Live GPU buffers of the page's engine; see `gpuStats()`. */
export interface GpuBufferStats {
  /** GPU buffers alive now. */
  live: number;
  /** Their total size in bytes. */
  liveBytes: number;
}

const MB = 1e6;

/** 75 s -> "1:15", 3725 s -> "1:02:05". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const [h, m, sec] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

/** What the status overlay says in each phase before the iterations show on the canvas. */
const PHASE_TEXT = {
  compiling: 'Preparing the GPU programs…',
  'style-targets': 'Measuring the style and content targets…',
} as const;

/**
 * Neural style transfer (Gatys et al.) on the GPU through WebGPU: repaints the content image in the style of the
 * style image, showing the image as it evolves.
 *
 * @summary Neural style transfer with WebGPU, live preview included.
 * @tagname style-transfer
 *
 * @attr content-src - URL of the content image (the `contentSrc` property also takes a Blob, ImageBitmap or HTMLImageElement).
 * @attr style-src - URL of the style image (the `styleSrc` property also takes a Blob, ImageBitmap or HTMLImageElement).
 * @attr weights-src - URL of the directory written by `npm run weights` (vgg19_conv_hwio_{f16,int8,f32}.safetensors); only the layers a run needs are fetched (HTTP Range requests) and kept in Cache Storage per layer.
 * @attr weights-precision - `f16` (default, 26 MB for the default layers), `int8` (13 MB; loss within about 1 % of f32) or `f32` (52 MB): which file under weights-src is read; a missing file gives an error event.
 * @attr size - Longer side of the result in pixels (default 512).
 * @attr iterations - Optimisation steps (default 500).
 * @attr optimizer - `lbfgs` (default) or `adam`.
 * @attr content-weight - Weight of the content loss (default 5).
 * @attr style-weight - Weight of the style loss (default 100).
 * @attr tv-weight - Weight of the total-variation (smoothness) loss (default 0.001).
 * @attr style-layer-weights - One weight per style layer, space- or comma-separated (default: 1 each, or the preset's).
 * @attr content-layers - The layers whose features the result keeps from the content image, space- or comma-separated (default `relu4_2`).
 * @attr style-layers - The layers whose Gram matrices carry the style, space- or comma-separated (default `relu1_1 relu2_1 relu3_1 relu4_1 relu5_1`); shallower layers give finer, smaller-scale texture and a faster run.
 * @attr preset - `neural-style` or `course`: a set of the options above; explicit attributes override it.
 * @attr original-colors - Keep the content image's colours (only the luminance is stylised).
 * @attr match-style-colors - Give the style image(s) the content's colour mean and covariance before the run (the result takes the content's palette).
 * @attr padding - `zero` (default) or `reflect`: how every convolution pads the border; `reflect` avoids a frame of artifacts along the edges.
 * @attr style-mask-src - URL of the style's region mask (single style): a greyscale image in the content's frame, white where the style applies; for several styles use the `styleMasks` property.
 * @attr weight-storage - `f32` (default) or `f16`: the network's weights in f16 GPU buffers, half their memory (about 50 MiB less), arithmetic still f32; needs a GPU with shader-f16 (an error event otherwise).
 * @attr max-memory - GPU memory budget in MiB (default 1024): a size needing more is evaluated in tiles (exactly, a little slower), with a shorter L-BFGS history if need be.
 * @attr line-search - L-BFGS step length: `strong-wolfe` (default: the loss never rises) or `none` (exactly torch.optim.LBFGS without a line search; its first steps can blow the loss and the picture up before they recover).
 * @attr autostart - Start as soon as content-src, style-src and weights-src are set, and again when they change.
 * @attr controls - Show the built-in start/stop button and progress bar, like `<video controls>`.
 *
 * @event style-transfer-phase - From `start()` on, each time the run enters a phase, in order: `loading-weights`, `compiling`, `style-targets`, `optimizing`, and `stopping` after `stop()`. `detail`: `{ phase, elapsedMs }`.
 * @event style-transfer-progress - After every iteration, in order. `detail`: `{ iteration, content, style, styles, tv, total, elapsedMs, etaMs }` (finite losses; `styles`: the style loss per style image, summing to `style`; milliseconds since start() and the estimated time left).
 * @event style-transfer-complete - Once per `start()` or `continue()`, after the last progress event, also when stopped. `detail`: `{ iterations, ms, stopped, tiles }` (the iterations of this call; tiles: [columns, rows] of the last scale's tiled evaluation, [1, 1] when whole).
 * @event style-transfer-error - When a run cannot start or fails (no WebGPU, an image or the weights that do not load, bad options). `detail`: `{ message }`; the message is also shown inside the element.
 *
 * @csspart base - The wrapper around everything.
 * @csspart canvas - The <canvas> showing the image (WebGPU context).
 * @csspart status - The overlay shown while the weights load and the run is prepared.
 * @csspart weights-progress - The <progress> of the weights download, inside `status`.
 * @csspart message - The error message overlay.
 * @csspart controls - The bar of built-in controls (with the `controls` attribute).
 * @csspart button - The start/stop button (it reads "Stopping…" while the current iteration finishes).
 * @csspart continue-button - The "Continue" button, shown when a run ended with an image to go on from.
 * @csspart time - The elapsed and estimated remaining time.
 * @csspart progress - The <progress> of the iterations.
 * @csspart counter - The "iteration / iterations" text.
 *
 * @cssproperty --style-transfer-background - Canvas background before the first image (default #222).
 * @cssproperty --style-transfer-accent - Button and progress colour (default #4338ca).
 * @cssproperty --style-transfer-accent-text - Button text colour (default #fff).
 * @cssproperty --style-transfer-radius - Corner radius of the canvas, overlays and button (default 6px).
 * @cssproperty --style-transfer-image-rendering - `image-rendering` of the canvas (default auto; `pixelated` suits tiny sizes).
 * @cssproperty --style-transfer-error-background - Background of the error message (default #8b0000).
 * @cssproperty --style-transfer-error-color - Text colour of the error message (default #fff).
 * @cssproperty --style-transfer-font - Font of the element's text (default inherit).
 * @cssproperty --style-transfer-color - Text colour of the element (default inherit).
 */
export class StyleTransferElement extends LitElement {
  static override styles = styleTransferStyles;

  static override properties: PropertyDeclarations = {
    contentSrc: { attribute: 'content-src' },
    styleSrc: { attribute: 'style-src' },
    weightsSrc: { attribute: 'weights-src' },
    weightsPrecision: { attribute: 'weights-precision' },
    size: { converter: numberConverter },
    iterations: { converter: numberConverter },
    optimizer: {},
    contentWeight: { attribute: 'content-weight', converter: numberConverter },
    styleWeight: { attribute: 'style-weight', converter: numberConverter },
    tvWeight: { attribute: 'tv-weight', converter: numberConverter },
    styleLayerWeights: { attribute: 'style-layer-weights', converter: numberListConverter },
    contentLayers: { attribute: 'content-layers', converter: nameListConverter },
    styleLayers: { attribute: 'style-layers', converter: nameListConverter },
    preset: {},
    originalColors: { type: Boolean, attribute: 'original-colors' },
    matchStyleColors: { type: Boolean, attribute: 'match-style-colors' },
    padding: {},
    styleMaskSrc: { attribute: 'style-mask-src' },
    styles: { attribute: false },
    styleMasks: { attribute: false },
    weightStorage: { attribute: 'weight-storage' },
    maxMemory: { attribute: 'max-memory', converter: numberConverter },
    lineSearch: { attribute: 'line-search' },
    autostart: { type: Boolean },
    controls: { type: Boolean, reflect: true },
  };

  /** The content image: a URL, or a Blob/File, ImageBitmap or HTMLImageElement. */
  declare contentSrc: ImageSource | null | undefined;
  /** The style image: a URL, or a Blob/File, ImageBitmap or HTMLImageElement. */
  declare styleSrc: ImageSource | null | undefined;
  /** URL of the directory holding the vgg19_conv_hwio_<precision>.safetensors files written by `npm run weights`. */
  declare weightsSrc: string | null | undefined;
  /** Which weights file to read: 'f16' (default), 'int8' or 'f32'. */
  declare weightsPrecision: WeightsPrecision | null | undefined;
  /** Longer side of the result in pixels; unset: the preset's or 512. */
  declare size: number | null | undefined;
  /** Optimisation steps; unset: the preset's or 500. */
  declare iterations: number | null | undefined;
  /** 'lbfgs' or 'adam'; unset: the preset's or 'lbfgs'. */
  declare optimizer: OptimizerName | null | undefined;
  declare contentWeight: number | null | undefined;
  declare styleWeight: number | null | undefined;
  declare tvWeight: number | null | undefined;
  /** One weight per style layer (of the preset's layers, relu1_1 ... relu5_1 by default). */
  declare styleLayerWeights: number[] | null | undefined;
  /** Content layers (VGG-19 ReLU names, e.g. relu4_2); unset: the preset's or relu4_2. */
  declare contentLayers: string[] | null | undefined;
  /** Style layers (VGG-19 ReLU names); unset: the preset's or relu1_1 ... relu5_1. */
  declare styleLayers: string[] | null | undefined;
  /** 'neural-style' or 'course'; explicit options override it. */
  declare preset: PresetName | null | undefined;
  /** Keep the content's colours. */
  declare originalColors: boolean;
  /** Colour-match the style image(s) to the content before the run. */
  declare matchStyleColors: boolean;
  /** 'zero' or 'reflect'; unset: 'zero'. */
  declare padding: Padding | null | undefined;
  /** The style's region mask (single style): a URL, or a Blob/File, ImageBitmap, <img> or canvas. */
  declare styleMaskSrc: ImageSource | null | undefined;
  /**
   * Several style images (URLs, Blobs, ImageBitmaps, <img> or canvases), used instead of `styleSrc` when set;
   * property only.
   */
  declare styles: ImageSource[] | null | undefined;
  /**
   * Style regions: one mask per style image (of `styles`, or the single `styleSrc`), in the content's frame:
   * greyscale, white where that style applies, black where it does not (colour: its luma). Each style is then its own
   * term, weighted 1. Property only; `style-mask-src` is the single-style attribute.
   */
  declare styleMasks: ImageSource[] | null | undefined;
  /** 'f32' or 'f16' (needs shader-f16); unset: 'f32'. */
  declare weightStorage: WeightStorage | null | undefined;
  /** GPU memory budget in MiB; unset: DEFAULT_MAX_MEMORY_MIB. */
  declare maxMemory: number | null | undefined;
  /** L-BFGS step length: 'strong-wolfe' (default) or 'none' (torch.optim.LBFGS exactly). */
  declare lineSearch: LineSearchKind | null | undefined;
  /** Start when the sources are set, and again when they change. */
  declare autostart: boolean;
  /** Show the built-in start/stop button and progress bar. */
  declare controls: boolean;

  private readonly weights = new WeightsController(this);
  private readonly run = new RunController(this, this.weights, () => this.previewRenderer());
  private preview: PreviewRenderer | undefined;

  constructor() {
    super();
    this.originalColors = false;
    this.matchStyleColors = false;
    this.autostart = false;
    this.controls = false;
  }

  /** Whether a run is in progress (from start() until its complete or error event). */
  get running(): boolean {
    return this.run.running;
  }

  /**
   * Starts a run with the current attributes and properties; does nothing while one is in progress. The promise
   * resolves when the run ends and never rejects: the outcome is the complete or the error event.
   */
  start(): Promise<void> {
    return this.run.start({
      content: this.contentSrc,
      style: this.styleSrc,
      styles: this.styles,
      styleMasks: this.styleMasks?.length ? this.styleMasks : this.styleMaskSrc ? [this.styleMaskSrc] : undefined,
      weightsSrc: this.weightsSrc ?? '',
      weightsPrecision: this.weightsPrecision || undefined,
      options: this.optionsInput(),
      describeOptionError: (error) => this.describeOptionError(error),
    });
  }

  /**
   * The sizes (longer side in px) images of these dimensions can run at with the current settings on this page's
   * GPU: `minimum`, the smallest the network's deepest layer needs, and `maximum`, the largest that fits the
   * device and `max-memory` (0: none). Opens the GPU (rejects with its error when WebGPU is missing) and rejects
   * with an Error naming the attribute when a setting is invalid.
   */
  async sizeLimits(content: { width: number; height: number }, style: { width: number; height: number } = content): Promise<SizeLimits> {
    let options: StylizeOptions;
    try {
      options = resolveOptions({ ...this.optionsInput(), size: undefined });
    } catch (e) {
      if (e instanceof OptionError) throw new Error(this.describeOptionError(e), { cause: e });
      throw e;
    }
    const gpu = await pageGpu();
    return sizeLimits(gpu.runtime, content, [style], options);
  }

  private optionsInput(): StylizeOptionsInput {
    const options: { [K in ElementOption]: StylizeOptionsInput[K] } = {
      preset: this.preset || undefined,
      size: toNumber(this.size),
      iterations: toNumber(this.iterations),
      optimizer: this.optimizer || undefined,
      contentWeight: toNumber(this.contentWeight),
      styleWeight: toNumber(this.styleWeight),
      tvWeight: toNumber(this.tvWeight),
      styleLayerWeights: this.styleLayerWeights ?? undefined,
      contentLayers: this.contentLayers ?? undefined,
      styleLayers: this.styleLayers ?? undefined,
      originalColors: this.originalColors,
      matchStyleColors: this.matchStyleColors,
      padding: this.padding || undefined,
      weightStorage: this.weightStorage || undefined,
      memoryBudget: (toNumber(this.maxMemory) ?? DEFAULT_MAX_MEMORY_MIB) * 2 ** 20,
      lineSearch: this.lineSearch || undefined,
    };
    return options;
  }

  /**
   * The GPU buffers the page's engine holds now (all <style-transfer> elements of a page share one device and its
   * buffer pool), for tests and debugging. During a run: the weights, feature maps and optimiser state; between
   * runs only each element's 16-byte preview uniform, since every run gives its buffers back when it ends, also
   * when stopped or failed. Zero before the first run.
   */
  gpuStats(): GpuBufferStats {
    const stats = currentPageRuntime()?.buffers.getStats();
    return { live: stats?.live ?? 0, liveBytes: stats?.liveBytes ?? 0 };
  }

  /**
   * Stops the run: no iteration starts after the current one (the phase is `stopping` until it ends); the image so
   * far stays (complete event, stopped).
   */
  stop(): void {
    this.run.stop();
  }

  /**
   * Goes on from the current result with the settings of the run that made it: the iterations a stop left undone,
   * or as many again as that run had. Iteration numbers continue from the last; the L-BFGS history starts afresh.
   * Does nothing while a run is in progress or before a run ended with an image. Resolves like start().
   */
  continue(): Promise<void> {
    return this.run.continue();
  }

  /** Whether continue() has a result to go on from. */
  get canContinue(): boolean {
    return this.run.canContinue;
  }

  /** The current image (during a run: the latest iteration), encoded as `type` (default PNG). */
  async toBlob(type = 'image/png', quality?: number): Promise<Blob> {
    return this.previewRenderer().toBlob(type, quality);
  }

  protected override updated(changed: PropertyValues<this>): void {
    const sourcesChanged = changed.has('contentSrc') || changed.has('styleSrc') || changed.has('weightsSrc') || changed.has('autostart');
    if (this.autostart && sourcesChanged && this.contentSrc && this.styleSrc && this.weightsSrc) void this.restart();
  }

  // With autostart, new sources replace the running run: its completion (stopped) comes first.
  private async restart(): Promise<void> {
    this.run.stop();
    await this.run.settled;
    await this.start();
  }

  /**
   * The engine's sentence naming the attribute instead of the option ("style-weight must be a number >= 0, ..."),
   * and the attribute's text where the value cannot show it (a number attribute that is not a number).
   */
  private describeOptionError(error: OptionError): string {
    const attribute = (OPTION_ATTRIBUTES as Partial<Record<OptionName, string>>)[error.option];
    if (attribute === undefined) return error.message;
    const raw = this.getAttribute(attribute);
    // max-memory is MiB on the element and bytes in the engine: quote what was written.
    const quoteRaw = raw !== null && (hasNaN(error.value) || error.option === 'memoryBudget');
    return error.describe(attribute, quoteRaw ? formatOptionValue(raw) : undefined);
  }

  private previewRenderer(): PreviewRenderer {
    if (!this.preview) {
      const canvas = this.renderRoot.querySelector('canvas');
      if (!canvas) throw new Error('The element has not rendered its canvas yet.');
      this.preview = new PreviewRenderer(canvas);
    }
    return this.preview;
  }

  private toggle(): void {
    if (this.run.running) this.stop();
    else void this.start();
  }

  private statusText(): string {
    const { phase } = this.run;
    if (phase === 'compiling' || phase === 'style-targets') return PHASE_TEXT[phase];
    if (phase === 'stopping' && !this.run.progressed) return 'Stopping…';
    if (phase === 'optimizing' && !this.run.progressed) return 'Running the first iteration…';
    if (phase !== 'loading-weights') return '';
    const { loading, progress } = this.weights;
    if (loading) {
      if (!progress) return 'Loading the network weights…';
      if (progress.source === 'cache') return 'Reading the cached network weights…';
      return `Loading the network weights… ${(progress.loaded / MB).toFixed(0)} of ${(progress.total / MB).toFixed(0)} MB`;
    }
    return 'Opening the GPU and the images…';
  }

  /** "0:41 elapsed, about 3:10 left" during a run; the total when it ended. */
  private timeText(): string {
    const { phase, elapsedMs, etaMs, running, iteration } = this.run;
    if (!running) return iteration > 0 && elapsedMs > 0 ? `${formatDuration(elapsedMs)} in all` : '';
    if (phase === 'stopping') return 'stopping after this iteration…';
    const elapsed = `${formatDuration(performance.now() - this.run.startedAt)} elapsed`;
    return etaMs === undefined ? elapsed : `${elapsed}, about ${formatDuration(etaMs)} left`;
  }

  private continueRun(): void {
    void this.continue();
  }

  protected override render() {
    const { phase, iteration, iterations, message, running } = this.run;
    const { loading, progress } = this.weights;
    const status = this.statusText();
    return html`
      <div part="base" class="base">
        <canvas part="canvas" width="1" height="1" role="img" aria-label="Style transfer result"></canvas>
        <div part="status" class="overlay status ${status ? '' : 'idle'}" role="status">
          ${
            status
              ? html`${status}${
                  loading
                    ? html`<progress part="weights-progress" aria-label="Network weights loaded" max=${progress?.total || 1} value=${progress?.loaded ?? 0}></progress>`
                    : nothing
                }`
              : nothing
          }
        </div>
        ${phase === 'error' ? html`<div part="message" class="overlay message" role="alert">${message}</div>` : nothing}
        ${
          this.controls
            ? html`<div part="controls" class="controls">
                <button part="button" type="button" @click=${this.toggle} ?disabled=${phase === 'stopping'}>
                  ${phase === 'stopping' ? 'Stopping…' : running ? 'Stop' : 'Start'}
                </button>
                ${this.run.canContinue ? html`<button part="continue-button" type="button" @click=${this.continueRun}>Continue</button>` : nothing}
                <progress part="progress" aria-label="Iterations done" max=${iterations || 1} value=${iteration}></progress>
                <span part="counter" class="counter">${iteration} / ${iterations}</span>
                <span part="time" class="time">${this.timeText()}</span>
              </div>`
            : nothing
        }
      </div>
    `;
  }
}
