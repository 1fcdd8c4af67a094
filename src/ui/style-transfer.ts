/**
 * <style-transfer>: Gatys neural style transfer of one content and one style image on the page's WebGPU device,
 * with a live preview. The element is the API surface (attributes, properties, methods, events, parts); the work is
 * done by its controllers: WeightsController (download, cache) and RunController (GPU, images, the run).
 */
import { html, LitElement, nothing, type PropertyDeclarations, type PropertyValues } from 'lit';
import { formatOptionValue, type OptionError, type OptionName, type OptimizerName, type PresetName, type StylizeOptionsInput, type WeightStorage } from '../net/options.js';
import { RunController } from './controllers/run-controller.js';
import { WeightsController } from './controllers/weights-controller.js';
import type { WeightsPrecision } from '../net/weightsFormat.js';
import type { ImageSource } from './image-source.js';
import { currentPageRuntime } from './page-gpu.js';
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
  originalColors: 'original-colors',
  weightStorage: 'weight-storage',
  memoryBudget: 'max-memory',
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
 * @attr preset - `neural-style` or `course`: a set of the options above; explicit attributes override it.
 * @attr original-colors - Keep the content image's colours (only the luminance is stylised).
 * @attr weight-storage - `f32` (default) or `f16`: the network's weights in f16 GPU buffers, half their memory (about 50 MiB less), arithmetic still f32; needs a GPU with shader-f16 (an error event otherwise).
 * @attr max-memory - GPU memory budget in MiB (default 1024): a size needing more is evaluated in tiles (exactly, a little slower), with a shorter L-BFGS history if need be.
 * @attr autostart - Start as soon as content-src, style-src and weights-src are set, and again when they change.
 * @attr controls - Show the built-in start/stop button and progress bar, like `<video controls>`.
 *
 * @event style-transfer-progress - After every iteration, in order. `detail`: `{ iteration, content, style, tv, total }` (finite losses).
 * @event style-transfer-complete - Once per `start()`, after the last progress event, also when stopped. `detail`: `{ iterations, ms, stopped }`.
 * @event style-transfer-error - When a run cannot start or fails (no WebGPU, an image or the weights that do not load, bad options). `detail`: `{ message }`; the message is also shown inside the element.
 *
 * @csspart base - The wrapper around everything.
 * @csspart canvas - The <canvas> showing the image (WebGPU context).
 * @csspart status - The overlay shown while the weights load and the run is prepared.
 * @csspart weights-progress - The <progress> of the weights download, inside `status`.
 * @csspart message - The error message overlay.
 * @csspart controls - The bar of built-in controls (with the `controls` attribute).
 * @csspart button - The start/stop button.
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
    preset: {},
    originalColors: { type: Boolean, attribute: 'original-colors' },
    weightStorage: { attribute: 'weight-storage' },
    maxMemory: { attribute: 'max-memory', converter: numberConverter },
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
  /** 'neural-style' or 'course'; explicit options override it. */
  declare preset: PresetName | null | undefined;
  /** Keep the content's colours. */
  declare originalColors: boolean;
  /** 'f32' or 'f16' (needs shader-f16); unset: 'f32'. */
  declare weightStorage: WeightStorage | null | undefined;
  /** GPU memory budget in MiB; unset: DEFAULT_MAX_MEMORY_MIB. */
  declare maxMemory: number | null | undefined;
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
    const options: { [K in ElementOption]: StylizeOptionsInput[K] } = {
      preset: this.preset || undefined,
      size: toNumber(this.size),
      iterations: toNumber(this.iterations),
      optimizer: this.optimizer || undefined,
      contentWeight: toNumber(this.contentWeight),
      styleWeight: toNumber(this.styleWeight),
      tvWeight: toNumber(this.tvWeight),
      styleLayerWeights: this.styleLayerWeights ?? undefined,
      originalColors: this.originalColors,
      weightStorage: this.weightStorage || undefined,
      memoryBudget: (toNumber(this.maxMemory) ?? DEFAULT_MAX_MEMORY_MIB) * 2 ** 20,
    };
    return this.run.start({
      content: this.contentSrc,
      style: this.styleSrc,
      weightsSrc: this.weightsSrc ?? '',
      weightsPrecision: this.weightsPrecision || undefined,
      options,
      describeOptionError: (error) => this.describeOptionError(error),
    });
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

  /** Stops the run: no iteration starts after the current one; the image so far stays (complete event, stopped). */
  stop(): void {
    this.run.stop();
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
    if (this.run.phase !== 'preparing') return '';
    const { loading, progress } = this.weights;
    if (loading) {
      if (!progress) return 'Loading the network weights…';
      if (progress.source === 'cache') return 'Reading the cached network weights…';
      return `Loading the network weights… ${(progress.loaded / MB).toFixed(0)} of ${(progress.total / MB).toFixed(0)} MB`;
    }
    return 'Preparing…';
  }

  protected override render() {
    const { phase, iteration, iterations, message, running } = this.run;
    const { loading, progress } = this.weights;
    const status = this.statusText();
    return html`
      <div part="base" class="base">
        <canvas part="canvas" width="1" height="1" role="img" aria-label="Style transfer result"></canvas>
        <div part="status" class="overlay status" role="status">
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
                <button part="button" type="button" @click=${this.toggle}>${running ? 'Stop' : 'Start'}</button>
                <progress part="progress" aria-label="Iterations done" max=${iterations || 1} value=${iteration}></progress>
                <span part="counter" class="counter">${iteration} / ${iterations}</span>
              </div>`
            : nothing
        }
      </div>
    `;
  }
}
