/**
 * The Gatys loss and its gradient with respect to the image, as one recorded pass list:
 *
 *   x -> VGG forward -> loss partial sums (content, Gram + style, TV) -> totals -> backward -> grad
 *
 * - content = content_weight * mean((F_l(x) - F_l(c))^2)
 * - style   = sum_l style_weight * w_l * mean((G_l(x) - G_l(s))^2),  G = F F^T / (C H W); with style regions (masks,
 *             src/net/styleMask.ts) one term per style k and layer, b_k * style_weight * w_l * mean((G~_l,k(x) - G_l(s_k))^2)
 *             with the guided Gram G~ = (F*m)(F*m)^T / (C sum(m^2)) of the style's mask m
 * - tv      = tv_weight * sum of squared neighbour differences of x
 * x is the preprocessed image (planar BGR minus mean). Everything is planned once per image size: buffers,
 * uniforms (owned by the pass list) and bind groups are made in the constructor, and `evaluate` only submits.
 *
 * Backward walks the layers from the deepest loss down. Two ping-pong buffers carry the gradient; each kernel
 * that writes the gradient of a ReLU output last also applies that ReLU's mask, so no separate mask pass runs.
 */
import { conv1x1, convDispatchSize, convParams } from '../../shaders/conv.js';
import { scalePixels, scalePixelsParams } from '../../shaders/region.js';
import { gramPartial, gramPartialParams, gramReduce, gramReduceParams, gramSplits } from '../../shaders/gram.js';
import {
  CATEGORY_INDEX,
  contentGrad,
  l1Finalize,
  l1Partials,
  LOSS_HEADER,
  lossTotal,
  normalizedAccumulate,
  squaredDiffPartials,
  tvGrad,
  tvPartials,
  type LossCategory,
} from '../../shaders/loss.js';
import { pooledBytes } from '../gpu/buffers.js';
import { dotProductSums, FILL_INVOCATIONS, type Parallelism } from '../gpu/parallelism.js';
import { storedSums, type PartialSums } from '../../shaders/common.js';
import { PassList } from '../gpu/passes.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { FeatureMaps, featureMapsBytes, type FeatureShape, type Vgg19Net } from './network.js';
import { imageToX, type Rgba8 } from './preprocess.js';
import type { PreprocessedImage } from './colorMatch.js';
import { layerMasks, regionScaledMask, StyleMaskError, type MaskValues } from './styleMask.js';
import { checkStyleBlendWeights } from './options.js';
import type { ConvAlgorithm } from './tiling.js';
import { featureIndex, featureSizes, VGG19 } from './vgg19.js';

export interface LossConfig {
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  contentLayers: string[];
  styleLayers: string[];
  /** One weight per style layer (default 1 each). */
  styleLayerWeights?: number[];
  /**
   * neural-style's -normalize_gradients: each content/style term's feature gradient g becomes w g / (|g|_1 + 1e-8).
   * The loss values are unchanged.
   */
  normalizeGradients?: boolean;
}

/** A loss configuration with style regions (masks), which a run derives from the masks it is given (not an option). */
export interface RegionLossConfig extends LossConfig {
  /**
   * Style regions: one weight per style image (its blend weight as given, not normalised). Each style image then has
   * its own style terms over its mask's region (setStyleMasks), weighted by style_weight * w_l * this, and its own
   * plain Gram as the target. Unset: the style images' Grams are blended into one target per layer.
   */
  styleRegionWeights?: number[];
}

/** The loss defaults live with the other options (src/net/options.ts). */
export { DEFAULT_LOSS } from './options.js';

export interface LossValues {
  content: number;
  style: number;
  tv: number;
  total: number;
  /** Per-layer values, keyed like "content:relu4_2" and "style:relu1_1". */
  terms: Record<string, number>;
}

export interface Term {
  category: LossCategory;
  layer: number;
  /** Name used in LossValues.terms: "style:relu1_1", with style regions "style:relu1_1#k" for style image k. */
  key: string;
  weight: number;
  /** With style regions: the style image (and mask) this style term belongs to. */
  region?: number;
}

/** Deepest layer index (+1) the losses of `config` need. */
export function lossDepth(config: LossConfig): number {
  const layers = [...config.contentLayers, ...config.styleLayers].map(featureIndex);
  return layers.length ? Math.max(...layers) + 1 : 1;
}

export function termsOf(config: RegionLossConfig): Term[] {
  const layerWeights = config.styleLayerWeights ?? config.styleLayers.map(() => 1);
  if (layerWeights.length !== config.styleLayers.length) {
    throw new Error(`${layerWeights.length} style layer weights given for ${config.styleLayers.length} style layers.`);
  }
  const canonical = (name: string) => VGG19[featureIndex(name)].feature;
  const terms: Term[] = [
    ...config.contentLayers.map((l) => ({ category: 'content' as const, layer: featureIndex(l), key: `content:${canonical(l)}`, weight: config.contentWeight })),
    ...(config.styleRegionWeights ?? [undefined]).flatMap((blend, region) =>
      config.styleLayers.map((l, k) => ({
        category: 'style' as const,
        layer: featureIndex(l),
        key: `style:${canonical(l)}${blend === undefined ? '' : `#${region}`}`,
        weight: config.styleWeight * layerWeights[k] * (blend ?? 1),
        ...(blend === undefined ? {} : { region }),
      })),
    ),
    { category: 'tv' as const, layer: -1, key: 'tv', weight: config.tvWeight },
  ];
  const seen = new Set<string>();
  for (const t of terms) {
    if (seen.has(t.key)) throw new Error(`Layer ${t.key.split(':')[1]} is listed twice as a ${t.category} layer.`);
    seen.add(t.key);
  }
  return terms;
}

/** Workgroup size of the loss partial-sum kernels. */
const PARTIALS_WORKGROUP = 64;

/** Pixel splits of a Gram matrix, as many as fill an adapter of this parallelism (src/gpu/parallelism.ts). */
const gramSplitsOn = (parallelism: Parallelism, pixels: number, channels: number) => gramSplits(pixels, channels, FILL_INVOCATIONS[parallelism]);

/** Records Gram matrices of `layers` of `maps` into `grams` (one C x C f32 buffer each). */
export function encodeGrams(passes: PassList, maps: FeatureMaps, layers: number[], grams: GPUBuffer[], scratch: GPUBuffer): void {
  layers.forEach((layer, k) => encodeGram(passes, maps.shapes[layer], maps.buffers[layer], grams[k], scratch));
}

/** Records the Gram matrix of `features` (of `shape`) into `gram`. */
function encodeGram(passes: PassList, shape: FeatureShape, features: GPUBuffer, gram: GPUBuffer, scratch: GPUBuffer): void {
  const { width, height, channels } = shape;
  const pixels = width * height;
  const splits = gramSplitsOn(passes.gpu.parallelism, pixels, channels);
  const partial = gramPartialParams(pixels, channels, splits);
  const flops = pixels * channels * channels + 4 * pixels * channels; // upper triangle only
  passes.add(gramPartial(), { params: partial.values, features, partials: scratch }, partial.invocations, flops);
  const reduce = gramReduceParams(pixels, channels, splits);
  passes.add(gramReduce(), { params: reduce.values, partials: scratch, gram }, reduce.invocations);
}

/** Bytes of Gram split scratch the given layers of these feature shapes need. */
export function gramScratchBytes(shapes: readonly FeatureShape[], layers: readonly number[], parallelism: Parallelism): number {
  let bytes = 16;
  for (const layer of layers) {
    const { width, height, channels } = shapes[layer];
    bytes = Math.max(bytes, gramSplitsOn(parallelism, width * height, channels) * channels * channels * 4);
  }
  return bytes;
}

/**
 * The buffers a GatysLoss allocates besides its FeatureMaps, by role, in bytes as requested from the pool: the
 * constructor allocates exactly these, and memory.ts adds them up for its estimate.
 */
export interface LossPlanBytes {
  x: number;
  grad: number;
  losses: number;
  partials: number;
  gramScratch: number;
  /** --normalize-gradients: gradient scratch, L1 partials, L1 norms (0 otherwise). */
  normalizeScratch: number;
  normalizePartials: number;
  normalizeNorms: number;
  /** One per content term. */
  contentTargets: number[];
  /** One per style term: its Gram, target and difference each take this. */
  grams: number[];
  table: number;
  /** Each of the two gradient ping-pong buffers. */
  gradient: number;
  /** Style regions: each region term's scaled mask (one f32 per position), then the masked-features scratch (empty without). */
  styleRegions: number[];
}

/** How the loss sums split (dotProductSums of the longest reduction of the plan) and what each stores. */
function lossPartialSums(terms: readonly Term[], shapes: readonly FeatureShape[], width: number, height: number, normalize: boolean, parallelism: Parallelism) {
  // The longest reduction: the first layers' gradients when normalised, else the content features or the TV.
  const bytes = (i: number) => shapes[i].width * shapes[i].height * shapes[i].channels * 4;
  const walked = terms.map((t) => (t.category === 'tv' ? 3 * width * height : t.category === 'style' ? shapes[t.layer].channels ** 2 / 4 : bytes(t.layer) / 16));
  if (normalize) walked.push(...terms.filter((t) => t.layer >= 0).map((t) => bytes(t.layer) / 16));
  const sums = dotProductSums(Math.max(...walked), parallelism);
  return { sums, stored: storedSums(sums, PARTIALS_WORKGROUP) };
}

/** The bytes of every buffer a GatysLoss for this size and configuration allocates, besides its FeatureMaps. */
export function lossPlanBytes(width: number, height: number, config: RegionLossConfig, parallelism: Parallelism): LossPlanBytes {
  const terms = termsOf(config);
  const shapes = featureSizes(width, height, lossDepth(config));
  const { stored } = lossPartialSums(terms, shapes, width, height, !!config.normalizeGradients, parallelism);
  const largest = Math.max(...shapes.map((s) => s.width * s.height * s.channels * 4));
  const normalize = !!config.normalizeGradients;
  const styleLayers = terms.filter((t) => t.category === 'style').map((t) => t.layer);
  return {
    x: 3 * width * height * 4,
    grad: 3 * width * height * 4,
    losses: (LOSS_HEADER + terms.length) * 4,
    partials: terms.length * stored * 4,
    gramScratch: gramScratchBytes(shapes, styleLayers, parallelism),
    normalizeScratch: normalize ? largest : 0,
    normalizePartials: normalize ? stored * 4 : 0,
    normalizeNorms: normalize ? terms.length * 4 : 0,
    contentTargets: terms.filter((t) => t.category === 'content').map((t) => shapes[t.layer].width * shapes[t.layer].height * shapes[t.layer].channels * 4),
    grams: styleLayers.map((l) => shapes[l].channels ** 2 * 4),
    table: terms.length * 4 * 4,
    gradient: largest,
    styleRegions: styleRegionBytes(terms, shapes),
  };
}

/** Bytes of the style regions' buffers: one scaled mask per region term, and one masked-features scratch. */
function styleRegionBytes(terms: readonly Term[], shapes: readonly FeatureShape[]): number[] {
  const regionTerms = terms.filter((t) => t.region !== undefined);
  if (regionTerms.length === 0) return [];
  const masks = regionTerms.map((t) => shapes[t.layer].width * shapes[t.layer].height * 4);
  return [...masks, Math.max(...regionTerms.map((t) => shapes[t.layer].width * shapes[t.layer].height * shapes[t.layer].channels * 4))];
}

/**
 * The buffers `setStyleTargets` holds while it computes one style image's Grams (besides the image's x): its
 * FeatureMaps, one Gram per style layer, the split scratch and a readback copy per Gram size (the pool keeps each
 * for reuse until it is trimmed). Freed afterwards.
 */
export function styleTargetBytes(width: number, height: number, config: LossConfig, parallelism: Parallelism, convAlgorithm: ConvAlgorithm): number {
  const layers = config.styleLayers.map(featureIndex);
  const depth = layers.length ? Math.max(...layers) + 1 : 1;
  const shapes = featureSizes(width, height, depth);
  const grams = layers.map((l) => pooledBytes(shapes[l].channels ** 2 * 4));
  return (
    featureMapsBytes(width, height, depth, { convAlgorithm, imageGradientColumns: false }) +
    grams.reduce((a, b) => a + b, 0) +
    pooledBytes(gramScratchBytes(shapes, layers, parallelism)) +
    [...new Set(grams)].reduce((a, b) => a + b, 0)
  );
}

/**
 * Loss + gradient for one image size. Targets (content features, style Grams) are set separately and can be
 * replaced without re-planning.
 */
export class GatysLoss {
  readonly maps: FeatureMaps;
  /** The optimised image x, planar [3][H][W] f32. */
  readonly x: GPUBuffer;
  /** d(total)/dx, same layout as x. */
  readonly grad: GPUBuffer;
  /** [content, style, tv, total, term values...] f32. */
  readonly losses: GPUBuffer;
  readonly terms: Term[];
  /** How every loss sum (and L1 norm) makes its partial sums: dotProductSums of the longest reduction. */
  readonly partialSums: PartialSums;
  /** Partial sums stored per term (and per L1 norm). */
  readonly storedSums: number;
  readonly styleLayerIndices: number[];
  /** The recorded evaluation: forward, losses, backward. */
  readonly passes: PassList;
  readonly contentTargets: GPUBuffer[] = [];
  readonly styleTargets: GPUBuffer[] = [];
  /** Style regions: per style term (in order), its scaled mask (undefined for an unmasked term). */
  private readonly regionMasks: Array<GPUBuffer | undefined> = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly gramScratch: GPUBuffer;
  /** --normalize-gradients: per-term gradient scratch, L1 partial sums and norms (one per term). */
  private readonly normalizeScratch?: GPUBuffer;
  private readonly normalizePartials?: GPUBuffer;
  private readonly normalizeNorms?: GPUBuffer;

  constructor(
    readonly net: Vgg19Net,
    readonly width: number,
    readonly height: number,
    config: RegionLossConfig,
  ) {
    const gpu = net.gpu;
    this.terms = termsOf(config);
    const depth = lossDepth(config);
    if (depth > net.depth) throw new Error(`the loss needs ${depth} layers, the network has ${net.depth}`);
    this.maps = new FeatureMaps(net, width, height, depth);
    const bytes = lossPlanBytes(width, height, config, gpu.parallelism);
    this.x = this.own(gpu.buffers.storage(bytes.x, 'x'));
    this.grad = this.own(gpu.buffers.storage(bytes.grad, 'grad x'));
    this.losses = this.own(gpu.buffers.storage(bytes.losses, 'losses'));
    const split = lossPartialSums(this.terms, this.maps.shapes, width, height, !!config.normalizeGradients, gpu.parallelism);
    const sums = (this.partialSums = split.sums);
    const P = sums.invocations;
    const S = (this.storedSums = split.stored);
    const partials = this.own(gpu.buffers.storage(bytes.partials, 'loss partials'));
    this.styleLayerIndices = this.terms.filter((t) => t.category === 'style').map((t) => t.layer);
    this.gramScratch = this.own(gpu.buffers.storage(bytes.gramScratch, 'gram scratch'));

    const passes = (this.passes = new PassList(gpu));
    const shapes = this.maps.shapes;
    if (config.normalizeGradients) {
      this.normalizeScratch = this.own(gpu.buffers.storage(bytes.normalizeScratch, 'normalised gradient scratch'));
      this.normalizePartials = this.own(gpu.buffers.storage(bytes.normalizePartials, 'L1 partials'));
      this.normalizeNorms = this.own(gpu.buffers.storage(bytes.normalizeNorms, 'L1 norms'));
    }
    this.maps.encodeForward(passes, this.x);
    // Style regions: the masked features F m' (forward) and F m'^2 (backward) pass through one scratch buffer.
    const regionBytes = bytes.styleRegions;
    const regionScratch = regionBytes.length ? this.own(gpu.buffers.storage(regionBytes[regionBytes.length - 1], 'masked features')) : undefined;
    let regionCount = 0;
    for (const term of this.terms.filter((t) => t.category === 'style')) {
      this.regionMasks.push(term.region === undefined ? undefined : this.own(gpu.buffers.storage(regionBytes[regionCount++], `region mask ${term.key}`)));
    }
    /** The features a style term's Gram (squared: false) or gradient (squared: true) reads: F, or F scaled by its mask. */
    const styleFeatures = (t: number, squared: boolean): GPUBuffer => {
      const term = this.terms[t];
      const features = this.maps.buffers[term.layer];
      const mask = this.regionMasks[this.terms.filter((u) => u.category === 'style').indexOf(term)];
      if (!mask) return features;
      const s = shapes[term.layer];
      const params = scalePixelsParams(s.width * s.height, s.channels);
      passes.add(scalePixels(squared), { params: params.values, input: features, mask, output: regionScratch! }, params.invocations);
      return regionScratch!;
    };

    // Loss values: partial sums per term, then the totals.
    const styleState = new Map<number, { gram: GPUBuffer; diff: GPUBuffer }>();
    for (const [t, term] of this.terms.entries()) {
      const offset = t * S;
      if (term.category === 'content') {
        const target = this.own(gpu.buffers.storage(bytes.contentTargets[this.contentTargets.length], `content target ${term.key}`));
        this.contentTargets.push(target);
        const count = this.maps.bytes(term.layer) / 16;
        passes.add(squaredDiffPartials(false, sums, PARTIALS_WORKGROUP), { params: { count, offset }, a: this.maps.buffers[term.layer], b: target, partials }, P);
      } else if (term.category === 'style') {
        const c = shapes[term.layer].channels;
        const gramBytes = bytes.grams[this.styleTargets.length];
        const gram = this.own(gpu.buffers.storage(gramBytes, `gram ${term.key}`));
        const target = this.own(gpu.buffers.storage(gramBytes, `style target ${term.key}`));
        const diff = this.own(gpu.buffers.storage(gramBytes, `gram difference ${term.key}`));
        this.styleTargets.push(target);
        styleState.set(t, { gram, diff });
        encodeGram(passes, shapes[term.layer], styleFeatures(t, false), gram, this.gramScratch);
        passes.add(squaredDiffPartials(true, sums, PARTIALS_WORKGROUP), { params: { count: (c * c) / 4, offset }, a: gram, b: target, partials, difference: diff }, P);
      } else {
        passes.add(tvPartials(sums, PARTIALS_WORKGROUP), { params: { width, height, offset }, x: this.x, partials }, P);
      }
    }
    const table = new Float32Array(this.terms.length * 4);
    this.terms.forEach((term, t) => {
      const s = term.layer >= 0 ? shapes[term.layer] : undefined;
      const scale =
        term.category === 'content' ? term.weight / (s!.width * s!.height * s!.channels) : term.category === 'style' ? term.weight / (s!.channels * s!.channels) : term.weight;
      table.set([scale, CATEGORY_INDEX[term.category], t * S, 0], t * 4);
    });
    passes.add(lossTotal(S), { params: { terms: this.terms.length }, table: this.own(gpu.upload(table, 'loss table')), partials, losses: this.losses }, 1);

    // Backward, from the deepest loss layer to the image.
    const ping = [this.own(gpu.buffers.storage(bytes.gradient, 'grad ping')), this.own(gpu.buffers.storage(bytes.gradient, 'grad pong'))];
    let current = 0;
    const isConv = (i: number) => i >= 0 && VGG19[i].kind === 'conv';
    const termsAt = (i: number) => this.terms.map((term, t) => ({ term, t })).filter(({ term }) => term.layer === i);
    for (let i = depth - 1; i >= 0; i--) {
      const here = termsAt(i);
      here.forEach(({ term, t }, k) => {
        const accumulate = !(i === depth - 1 && k === 0);
        const mask = k === here.length - 1 && isConv(i);
        const s = shapes[i];
        const count = this.maps.bytes(i) / 16;
        // With normalisation the term's gradient goes to a scratch buffer first, then in scaled by w / |g|_1.
        const normalize = this.normalizeScratch !== undefined;
        const out = this.normalizeScratch ?? ping[current];
        const direct = { accumulate: normalize ? false : accumulate, mask: normalize ? false : mask };
        if (term.category === 'content') {
          const scale = (2 * term.weight) / (s.width * s.height * s.channels);
          const target = this.contentTargets[this.terms.filter((u) => u.category === 'content').indexOf(term)];
          const features = this.maps.buffers[i];
          const bindings = { params: { count, scale }, features, targetFeatures: target, maskActivation: direct.mask ? features : undefined, grad: out };
          passes.add(contentGrad(direct.accumulate, direct.mask), bindings, count);
        } else {
          // dL/dF = 4 w / (C^2 N) * F D, N = C H W: a 1x1 conv of the features with D = G - G_target.
          const n = s.channels * s.width * s.height;
          const scale = (4 * term.weight) / (s.channels * s.channels * n);
          const tiling = net.tuning({ width: s.width, height: s.height, outChannels: s.channels, taps: 1 });
          const params = convParams(s.width, s.height, s.channels / 4, s.channels / 4, tiling.pixelsPerThread, tiling.channelGroupsPerThread, scale);
          const diff = styleState.get(t)!.diff;
          const features = this.maps.buffers[i];
          const input = styleFeatures(t, true);
          const bindings = { params: params.values, input, weights: diff, maskActivation: direct.mask ? features : undefined, output: out };
          passes.add(conv1x1({ ...tiling, ...direct }), bindings, convDispatchSize(tiling, s.width, s.height, s.channels / 4), 2 * s.width * s.height * s.channels * s.channels);
        }
        if (normalize) {
          passes.add(l1Partials(sums, PARTIALS_WORKGROUP), { params: { count }, g: out, partials: this.normalizePartials! }, P);
          passes.add(l1Finalize(S), { params: { slot: t }, partials: this.normalizePartials!, norms: this.normalizeNorms! }, 1);
          const features = mask ? this.maps.buffers[i] : undefined;
          passes.add(
            normalizedAccumulate(accumulate, mask),
            { params: { count, slot: t, weight: term.weight }, g: out, norms: this.normalizeNorms!, features, grad: ping[current] },
            count,
          );
        }
      });
      const maskBelow = isConv(i - 1) && termsAt(i - 1).length === 0;
      const target = i === 0 ? this.grad : ping[1 - current];
      this.maps.encodeBackwardStep(passes, i, ping[current], target, { maskBelow, accumulate: false });
      current = 1 - current;
    }
    passes.add(tvGrad(true), { params: { width, height, scale: config.tvWeight }, x: this.x, grad: this.grad }, 3 * width * height);
  }

  /** Records the forward pass of `x` and copies the features at the content layers into the content targets. */
  async setContentTarget(xContent: GPUBuffer): Promise<void> {
    const gpu = this.net.gpu;
    const passes = new PassList(gpu);
    try {
      this.maps.encodeForward(passes, xContent);
      const contentLayers = this.terms.filter((t) => t.category === 'content').map((t) => t.layer);
      passes.submit((encoder) => {
        contentLayers.forEach((layer, k) => encoder.copyBufferToBuffer(this.maps.buffers[layer], 0, this.contentTargets[k], 0, this.maps.bytes(layer)));
      });
      await gpu.unlessLost(gpu.device.queue.onSubmittedWorkDone());
    } finally {
      passes.dispose();
    }
  }

  /**
   * Style targets from one or more style images (planar x buffers with their sizes), blended with `blend`
   * weights (normalised to sum 1): G_target = sum_k b_k G_l(s_k).
   */
  async setStyleTargets(styles: Array<{ x: GPUBuffer; width: number; height: number }>, blend?: number[]): Promise<void> {
    const gpu = this.net.gpu;
    const styleTerms = this.terms.filter((t) => t.category === 'style');
    const regions = styleTerms.some((t) => t.region !== undefined);
    if (regions && styles.length !== Math.max(...styleTerms.map((t) => t.region! + 1))) {
      throw new StyleMaskError(`${styles.length} style images given for a plan with ${Math.max(...styleTerms.map((t) => t.region! + 1))} style regions.`);
    }
    const weights = regions ? styles.map(() => 1) : blendWeights(blend, styles.length);
    const layers = [...new Set(this.styleLayerIndices)];
    const accumulated = styleTerms.map((_, k) => new Float32Array(this.styleTargets[k].size / 4));
    for (const [s, style] of styles.entries()) {
      const maps = new FeatureMaps(this.net, style.width, style.height, layers.length ? Math.max(...layers) + 1 : 1);
      const grams = layers.map((l) => gpu.buffers.storage(maps.shapes[l].channels ** 2 * 4, 'style gram'));
      const scratch = gpu.buffers.storage(gramScratchBytes(maps.shapes, layers, gpu.parallelism), 'style gram scratch');
      const passes = new PassList(gpu);
      try {
        maps.encodeForward(passes, style.x);
        encodeGrams(passes, maps, layers, grams, scratch);
        passes.submit();
        // Blended: every term gets this style's share; with regions only the style's own terms, its plain Gram.
        const targets = styleTerms.map((t, k) => ({ t, k })).filter(({ t }) => t.region === undefined || t.region === s);
        await accumulateGrams(
          gpu,
          targets.map(({ t }) => grams[layers.indexOf(t.layer)]),
          weights[s],
          targets.map(({ k }) => accumulated[k]),
        );
      } finally {
        passes.dispose();
        for (const g of grams) gpu.buffers.release(g);
        gpu.buffers.release(scratch);
        maps.dispose();
      }
    }
    accumulated.forEach((values, k) => gpu.device.queue.writeBuffer(this.styleTargets[k], 0, values));
  }

  /**
   * Style regions: each region's mask at this plan's size (one per style image, in order), pooled per layer and
   * scaled for the guided Gram (src/net/styleMask.ts).
   */
  setStyleMasks(masks: readonly MaskValues[]): void {
    const styleTerms = this.terms.filter((t) => t.category === 'style');
    const regions = new Set(styleTerms.map((t) => t.region));
    if (regions.has(undefined)) throw new StyleMaskError('This plan has no style regions: give it style masks only with styleRegionWeights.');
    if (masks.length !== regions.size) throw new StyleMaskError(`${masks.length} style masks given for ${regions.size} style images; give one per style image.`);
    const perLayer = masks.map((m) => {
      if (m.width !== this.width || m.height !== this.height) throw new StyleMaskError(`a style mask is ${m.width}x${m.height}, the content ${this.width}x${this.height}`);
      return layerMasks(m, this.maps.depth);
    });
    styleTerms.forEach((t, k) => this.net.gpu.device.queue.writeBuffer(this.regionMasks[k]!, 0, regionScaledMask(perLayer[t.region!][t.layer])));
  }

  /**
   * Sets both targets from images (content at this plan's size; styles at their own sizes, blended with `blend`;
   * with style regions, their masks). The uploaded copies are released afterwards.
   */
  setTargetImages(content: Rgba8, styles: StyleImage[], blend?: number[], masks?: readonly MaskValues[]): Promise<void> {
    return setTargetImages(this, content, styles, blend, masks);
  }

  /** Records nothing new: submits the planned evaluation (loss values land in `losses`, gradient in `grad`). */
  evaluate(): void {
    this.passes.submit();
  }

  /** Reads the loss values (waits for the GPU). */
  async readLosses(): Promise<LossValues> {
    return this.decodeLosses(await this.net.gpu.readFloat32(this.losses));
  }

  decodeLosses(values: Float32Array): LossValues {
    const terms: Record<string, number> = {};
    this.terms.forEach((t, k) => (terms[t.key] = values[LOSS_HEADER + k]));
    return { content: values[0], style: values[1], tv: values[2], total: values[3], terms };
  }

  /** Bytes of the buffers this plan holds besides its FeatureMaps (as lossPlanBytes counts them). */
  get ownBytes(): number {
    return this.owned.reduce((sum, b) => sum + b.size, 0);
  }

  dispose(): void {
    this.passes.dispose();
    for (const b of this.owned) this.net.gpu.buffers.release(b);
    this.owned.length = 0;
    this.maps.dispose();
  }

  private own(buffer: GPUBuffer): GPUBuffer {
    this.owned.push(buffer);
    return buffer;
  }
}

/** What setTargetImages needs of a plan (GatysLoss, TiledGatysLoss). */
export interface TargetSetter {
  readonly net: Vgg19Net;
  readonly width: number;
  readonly height: number;
  setContentTarget(xContent: GPUBuffer): Promise<void>;
  setStyleTargets(styles: Array<{ x: GPUBuffer; width: number; height: number }>, blend?: number[]): Promise<void>;
  setStyleMasks?(masks: readonly MaskValues[]): void;
}

/** A style image: RGBA pixels, or already the network's input (colour-matched: src/net/colorMatch.ts). */
export type StyleImage = Rgba8 | PreprocessedImage;

/**
 * Uploads the content (at the plan's size) and the styles (at their own sizes) and sets the plan's targets; with
 * style regions, the masks (one per style, at the plan's size).
 */
export async function setTargetImages(plan: TargetSetter, content: Rgba8, styles: StyleImage[], blend?: number[], masks?: readonly MaskValues[]): Promise<void> {
  const gpu = plan.net.gpu;
  if (content.width !== plan.width || content.height !== plan.height) {
    throw new Error(`the content image is ${content.width}x${content.height}, the plan ${plan.width}x${plan.height}`);
  }
  const uploaded: GPUBuffer[] = [];
  try {
    const xContent = imageToX(gpu, content);
    uploaded.push(xContent);
    await plan.setContentTarget(xContent);
    if (masks) {
      if (!plan.setStyleMasks) throw new StyleMaskError('Style masks need a whole (untiled) evaluation.');
      plan.setStyleMasks(masks);
    }
    const xStyles = styles.map((s) => {
      const x = 'x' in s ? gpu.upload(s.x, 'style x') : imageToX(gpu, s);
      uploaded.push(x);
      return { x, width: s.width, height: s.height };
    });
    await plan.setStyleTargets(xStyles, blend);
  } finally {
    for (const b of uploaded) gpu.buffers.release(b);
  }
}

/** The style blend weights, checked and normalised to sum 1 (equal weights when none are given). */
export function blendWeights(blend: number[] | undefined, styles: number): number[] {
  checkStyleBlendWeights(blend, styles);
  const weights = blend ?? Array.from({ length: styles }, () => 1);
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / sum);
}

/** Reads one style image's Grams and adds them, times its blend weight, into the blended targets. */
export async function accumulateGrams(gpu: GpuRuntime, grams: readonly GPUBuffer[], weight: number, accumulated: Float32Array[]): Promise<void> {
  for (const [k, gram] of grams.entries()) {
    const values = await gpu.readFloat32(gram);
    for (let e = 0; e < values.length; e++) accumulated[k][e] += weight * values[e];
  }
}
