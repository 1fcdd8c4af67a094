/**
 * The options of a style-transfer run, in one place for the engine, the CLI and the element: their types (one union
 * per concept), defaults, presets, and `resolveOptions`, the only place an option is validated. A bad option throws
 * an `OptionError` naming the option by its API key and holding the value given, so the CLI can name the flag and
 * the element the attribute without reading the message.
 *
 * Pure: no GPU, DOM or Node imports (the imports below are types and the network's layer table).
 */
import type { PoolingKind } from '../../shaders/pool.js';
import type { LossConfig } from './loss.js';
import type { Padding, WeightStorage } from './network.js';
import { featureChannels, featureIndex } from './vgg19.js';

export type { Padding, PoolingKind, WeightStorage };

/** Every member of a union `T`, in order: the object literal must name each member once (checked by tsc). */
function members<T extends string>(all: Record<T, true>): readonly T[] {
  return Object.keys(all) as T[];
}

export const OPTIMIZER_NAMES = ['lbfgs', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

export const LINE_SEARCH_KINDS = ['none', 'strong-wolfe'] as const;
export type LineSearchKind = (typeof LINE_SEARCH_KINDS)[number];

export const INIT_KINDS = ['content', 'noise', 'random'] as const;
export type InitKind = (typeof INIT_KINDS)[number];

export const PRESET_NAMES = ['neural-style', 'course'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const POOLING_KINDS: readonly PoolingKind[] = members<PoolingKind>({ max: true, avg: true });
export const WEIGHT_STORAGES: readonly WeightStorage[] = members<WeightStorage>({ f32: true, f16: true });
export const PADDINGS: readonly Padding[] = members<Padding>({ zero: true, reflect: true });

/** Everything a run takes: the loss configuration (content/style/TV weights and layers) plus the optimisation. */
export interface StylizeOptions extends LossConfig {
  iterations: number;
  /** Longer side of the output in pixels (the last scale when `scales` is set). */
  size: number;
  optimizer: OptimizerName;
  /** Step size: Adam's lr; L-BFGS's lr (torch default 1) when given explicitly. */
  learningRate: number;
  /** L-BFGS history (m). */
  historySize: number;
  /**
   * L-BFGS only: 'strong-wolfe' (the default with L-BFGS) searches each step length as torch's
   * line_search_fn='strong_wolfe' (a loss evaluation or more per iteration, each read back), so the loss never
   * rises; 'none' takes the step as is, exactly torch.optim.LBFGS without a line search (no readback, but its early
   * steps can blow the loss up by orders of magnitude before it recovers). Unset with Adam: 'none'.
   */
  lineSearch: LineSearchKind;
  init: InitKind;
  /** With init 'noise': x = (1 - r) content + r U(-20, 20). */
  noiseRatio: number;
  seed: number;
  /** Weights blending the target Grams of several style images (normalised to sum 1). */
  styleBlendWeights?: number[];
  /** Style images are scaled to styleScale x the content's longer side. */
  styleScale: number;
  /** Keep the content's colours: only the luminance of the result is taken. */
  originalColors: boolean;
  /**
   * Before the run, give each style image the content's colour statistics (mean and covariance of RGB, at their run
   * sizes): x' = A (x - mu_s) + mu_c, A = Sigma_c^(1/2) Sigma_s^(-1/2) (src/net/colorMatch.ts).
   */
  matchStyleColors: boolean;
  /** Border padding of every 3x3 conv: 'zero' (VGG's own) or 'reflect' (no frame of artifacts along the edges). */
  padding: Padding;
  pooling: PoolingKind;
  normalizeGradients: boolean;
  /** Conv weights in f32 or f16 storage buffers (f16: needs shader-f16; half the weight memory). */
  weightStorage: WeightStorage;
  /** Coarse-to-fine: longer sides to run in turn (each for `iterations`), result upsampled between them. */
  scales?: number[];
  /** Read progress every N iterations (0: only at the end). */
  printEvery: number;
  /** Refuse sizes whose GPU memory would exceed this many bytes (besides the adapter's own limits). */
  memoryBudget?: number;
}

/** What resolveOptions takes: any options (undefined means unset) and a preset. */
export type StylizeOptionsInput = Partial<StylizeOptions> & { preset?: PresetName };

/** The key of an option, as the API names it: what `OptionError.option` holds. */
export type OptionName = keyof StylizeOptionsInput;

/** The loss defaults (jcjohnson/neural-style's weights and layers). */
export const DEFAULT_LOSS: Readonly<Required<LossConfig>> = {
  contentWeight: 5,
  styleWeight: 100,
  tvWeight: 1e-3,
  contentLayers: ['relu4_2'],
  styleLayers: ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'],
  styleLayerWeights: [1, 1, 1, 1, 1],
  normalizeGradients: false,
};

export const STYLIZE_DEFAULTS: Readonly<StylizeOptions> = {
  iterations: 500,
  size: 512,
  optimizer: 'lbfgs',
  learningRate: 10,
  historySize: 100,
  lineSearch: 'strong-wolfe',
  contentWeight: DEFAULT_LOSS.contentWeight,
  styleWeight: DEFAULT_LOSS.styleWeight,
  tvWeight: DEFAULT_LOSS.tvWeight,
  contentLayers: [...DEFAULT_LOSS.contentLayers],
  styleLayers: [...DEFAULT_LOSS.styleLayers],
  init: 'content',
  noiseRatio: 0.6,
  seed: 0,
  styleScale: 1,
  originalColors: false,
  matchStyleColors: false,
  padding: 'zero',
  pooling: 'max',
  normalizeGradients: false,
  weightStorage: 'f32',
  printEvery: 10,
};

const COURSE_STYLE_LAYERS = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];

/**
 * Presets. 'neural-style': jcjohnson/neural-style's defaults. 'course': the deeplearning.ai assignment, whose
 * losses 1/(4 nH nW nC) sum (a_C - a_G)^2 and 1/(4 nC^2 (nH nW)^2) sum (Gu_S - Gu_G)^2 (Gu = F F^T unnormalised)
 * are rewritten in this engine's normalisation: content weight alpha / 4 on the mean, and per style layer
 * beta * 0.2 * C^2 / 4 on the mean of (G - G_s)^2 with G = F F^T / (C H W).
 */
export const PRESETS: Readonly<Record<PresetName, Readonly<Partial<StylizeOptions>>>> = {
  'neural-style': {
    iterations: 1000,
    size: 512,
    optimizer: 'lbfgs',
    learningRate: 10,
    contentWeight: 5,
    styleWeight: 100,
    tvWeight: 1e-3,
    contentLayers: ['relu4_2'],
    styleLayers: [...COURSE_STYLE_LAYERS],
    init: 'random',
    pooling: 'max',
  },
  course: {
    iterations: 200,
    optimizer: 'adam',
    learningRate: 2,
    contentWeight: 10 / 4,
    styleWeight: 40,
    tvWeight: 0,
    contentLayers: ['relu4_2'],
    styleLayers: [...COURSE_STYLE_LAYERS],
    styleLayerWeights: COURSE_STYLE_LAYERS.map((l) => (0.2 * featureChannels(featureIndex(l)) ** 2) / 4),
    init: 'noise',
    noiseRatio: 0.6,
  },
};

/** A value as an option message shows it: strings quoted, numbers as JavaScript prints them, lists in brackets. */
export function formatOptionValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatOptionValue).join(', ')}]`;
  return String(value);
}

/**
 * An option that cannot be used. `option` is its API key ('contentWeight', 'styleBlendWeights', 'preset'), `value`
 * what was given for it (a list option: the whole list). Most messages read "<option> <rule>, got <value>."; a
 * front end shows the same sentence under its own name for the option with `describe` (the CLI: `--content-weight`,
 * the element: `content-weight`). The rest (`rule` undefined) are sentences that name no option and read the same
 * everywhere.
 */
export class OptionError extends Error {
  override readonly name = 'OptionError';
  /** What the option must be, following its name: "must be a number >= 0"; undefined when the message stands alone. */
  readonly rule: string | undefined;

  constructor(
    readonly option: OptionName,
    readonly value: unknown,
    rule: string | { sentence: string },
  ) {
    super(typeof rule === 'string' ? `${option} ${rule}, got ${formatOptionValue(value)}.` : rule.sentence);
    this.rule = typeof rule === 'string' ? rule : undefined;
  }

  /** The message naming the option `name` and showing what was given as `given` (default: the value). */
  describe(name: string, given: string = formatOptionValue(this.value)): string {
    return this.rule === undefined ? this.message : `${name} ${this.rule}, got ${given}.`;
  }
}

/** "a", "a or b", "a, b or c". */
function either(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join('') : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
}

const isWhole = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;
const isNonNegative = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isPositive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;

/**
 * Checks the blend weights of `styleImages` style images: numbers >= 0, not all 0, one per image. resolveOptions
 * calls it when it is told how many style images there are; stylize() with the images it got.
 */
export function checkStyleBlendWeights(weights: unknown, styleImages?: number): void {
  if (weights === undefined) return;
  if (!Array.isArray(weights) || !weights.every(isNonNegative) || !weights.some((w) => w > 0)) {
    throw new OptionError('styleBlendWeights', weights, 'must be numbers >= 0, not all 0');
  }
  if (styleImages !== undefined && weights.length !== styleImages) {
    throw new OptionError('styleBlendWeights', weights, `must have one weight per style image (${styleImages})`);
  }
}

export interface ResolveContext {
  /** How many style images the run has, when known: styleBlendWeights must then hold one weight per image. */
  styleImages?: number;
}

/**
 * Defaults, then the preset, then the explicit options (undefined: unset); validated, every option here and
 * nowhere else. Throws an OptionError for the first bad option.
 */
export function resolveOptions(input: StylizeOptionsInput, context: ResolveContext = {}): StylizeOptions {
  const { preset, ...rest } = input;
  if (preset !== undefined && !(PRESET_NAMES as readonly unknown[]).includes(preset)) {
    throw new OptionError('preset', preset, `must be ${either(PRESET_NAMES)}`);
  }
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<StylizeOptions>;
  const merged: StylizeOptions = { ...STYLIZE_DEFAULTS, ...(preset ? PRESETS[preset] : {}), ...defined };
  // The line search is the L-BFGS default; another optimiser left to its defaults takes none (asked for, it is refused below).
  if (defined.lineSearch === undefined && merged.optimizer !== 'lbfgs') merged.lineSearch = 'none';
  // Lists are copied, so changing a result changes neither the defaults, the presets nor the caller's arrays.
  const options = Object.fromEntries(Object.entries(merged).map(([k, v]: [string, unknown]) => [k, Array.isArray(v) ? [...(v as unknown[])] : v])) as unknown as StylizeOptions;

  const check = (option: OptionName, valid: boolean, rule: string) => {
    if (!valid) throw new OptionError(option, options[option as keyof StylizeOptions], rule);
  };
  const whole = (option: OptionName, min: number) =>
    check(option, isWhole(options[option as keyof StylizeOptions], min), min === 0 ? 'must be a whole number >= 0' : `must be a whole number of at least ${min}`);
  const nonNegative = (option: OptionName) => check(option, isNonNegative(options[option as keyof StylizeOptions]), 'must be a number >= 0');
  const positive = (option: OptionName) => check(option, isPositive(options[option as keyof StylizeOptions]), 'must be a number > 0');
  const oneOf = (option: OptionName, choices: readonly string[]) =>
    check(option, choices.includes(options[option as keyof StylizeOptions] as string), `must be ${either(choices)}`);
  const boolean = (option: OptionName) => check(option, typeof options[option as keyof StylizeOptions] === 'boolean', 'must be true or false');

  whole('iterations', 0);
  whole('size', 1);
  oneOf('optimizer', OPTIMIZER_NAMES);
  positive('learningRate');
  whole('historySize', 1);
  oneOf('lineSearch', LINE_SEARCH_KINDS);
  if (options.lineSearch !== 'none' && options.optimizer !== 'lbfgs') {
    throw new OptionError('lineSearch', options.lineSearch, { sentence: 'A line search needs the lbfgs optimizer.' });
  }
  nonNegative('contentWeight');
  nonNegative('styleWeight');
  nonNegative('tvWeight');
  for (const option of ['contentLayers', 'styleLayers'] as const) {
    const layers = options[option];
    check(option, Array.isArray(layers) && layers.every((l) => typeof l === 'string'), 'must be a list of layer names');
    for (const layer of layers) {
      try {
        featureIndex(layer);
      } catch (e) {
        throw new OptionError(option, layers, { sentence: (e as Error).message });
      }
    }
  }
  if (options.styleLayerWeights !== undefined) {
    const weights = options.styleLayerWeights;
    check('styleLayerWeights', Array.isArray(weights) && weights.every(isNonNegative), 'must be numbers >= 0');
    if (weights.length !== options.styleLayers.length) {
      throw new OptionError('styleLayerWeights', weights, {
        sentence: `${weights.length} style layer weights given for ${options.styleLayers.length} style layers.`,
      });
    }
  }
  oneOf('init', INIT_KINDS);
  check('noiseRatio', typeof options.noiseRatio === 'number' && options.noiseRatio >= 0 && options.noiseRatio <= 1, 'must be between 0 and 1');
  whole('seed', 0);
  checkStyleBlendWeights(options.styleBlendWeights, context.styleImages);
  positive('styleScale');
  boolean('originalColors');
  boolean('matchStyleColors');
  oneOf('padding', PADDINGS);
  oneOf('pooling', POOLING_KINDS);
  boolean('normalizeGradients');
  oneOf('weightStorage', WEIGHT_STORAGES);
  if (options.scales !== undefined) {
    check('scales', Array.isArray(options.scales) && options.scales.every((s) => isWhole(s, 1)), 'must be whole numbers of at least 1');
  }
  whole('printEvery', 0);
  if (options.memoryBudget !== undefined) positive('memoryBudget');
  return options;
}

/** Output sizes per scale (longer side), in order. */
export function scaleSizes(options: Pick<StylizeOptions, 'scales' | 'size'>): number[] {
  return options.scales && options.scales.length ? options.scales : [options.size];
}
