/**
 * The Gatys loss and its gradient for an image too large to hold every activation at once, computed tile by tile
 * and exactly (the same values as GatysLoss up to float rounding, no seams):
 *
 * - The image is cut into cores of `core.width` x `core.height` pixels (multiples of 16, so every 2x2 pooling window
 *   of the four pools lies on the same grid as in the whole image); each tile evaluates the network on its core plus a halo of
 *   `tileHalo(config)` pixels (the receptive reach of the deepest loss layer, rounded up to 16), clipped at the
 *   image border, where the zero padding then is the real one. Every feature whose position lies in the core is
 *   then exact; the tile owns those positions (core / the layer's stride) and counts only them.
 * - Pass 1, tile after tile: forward, the owned features (others zeroed: shaders/tile.ts maskOutside) added into
 *   each style layer's Gram matrix of the whole image, and the content loss's partial sums over owned positions.
 *   Then D = G - G_target and the loss totals, as untiled.
 * - Pass 2, tile after tile: forward again and backward from the owned positions only (the loss gradient of a
 *   feature another tile owns is its business), through the ReLU masks and pool switches, which are exact in the
 *   halo; the tile's input gradient, halo included, is added into the image's gradient.
 * - TV is local to the image: computed on the whole image, as untiled.
 *
 * Everything is recorded once into one pass list, so an evaluation is still one submission and the optimisers run
 * unchanged. The tiles share one set of activations (FeatureMaps borrowing the largest tile's buffers).
 */
import { conv1x1, convDispatchSize, convParams } from '../../shaders/conv.js';
import { gramPartial, gramPartialParams, gramReduce, gramReduceParams, gramSplits } from '../../shaders/gram.js';
import { CATEGORY_INDEX, contentGrad, LOSS_HEADER, lossTotal, squaredDiffPartials, tvGrad, tvPartials } from '../../shaders/loss.js';
import { storedSums } from '../../shaders/common.js';
import { addPlanar, cropPlanar, extractOwned, maskOutside, placeOwned } from '../../shaders/tile.js';
import { pooledBytes } from '../gpu/buffers.js';
import { dotProductSums, FILL_INVOCATIONS, type Parallelism } from '../gpu/parallelism.js';
import { PassList } from '../gpu/passes.js';
import { accumulateGrams, blendWeights, lossDepth, gramScratchBytes, setTargetImages, termsOf, type LossConfig, type LossValues, type Term } from './loss.js';
import { FeatureMaps, featureMapsBytes, type FeatureShape, type Vgg19Net } from './network.js';
import type { Rgba8 } from './preprocess.js';
import type { ConvAlgorithm } from './tiling.js';
import { featureIndex, featureSizes, VGG19 } from './vgg19.js';

/** Tile origins and sizes are multiples of this: the pooling grid of relu5_1 (four 2x2 pools). */
export const TILE_ALIGNMENT = 16;
const PARTIALS_WORKGROUP = 64;

/**
 * Pixels, per side, of the image that a feature of the deepest loss layer depends on beyond its own position:
 * each 3x3 conv adds one step of the current stride, each 2x2 pool one step before doubling it.
 */
export function lossReach(config: LossConfig): number {
  let reach = 0;
  let stride = 1;
  for (let i = 0; i < lossDepth(config); i++) {
    reach += stride;
    if (VGG19[i].kind === 'pool') stride *= 2;
  }
  return reach;
}

/** The halo a tile needs around its core: the loss's reach rounded up to the pooling grid. */
export function tileHalo(config: LossConfig): number {
  return Math.ceil(lossReach(config) / TILE_ALIGNMENT) * TILE_ALIGNMENT;
}

export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface Tile {
  /** The pixels this tile owns. */
  core: Rect;
  /** Core plus halo, clipped to the image: what the tile evaluates. */
  window: Rect;
}

/** A tile core's sides in pixels, multiples of TILE_ALIGNMENT (the last column and row may be cut shorter). */
export interface TileCore {
  width: number;
  height: number;
}

/** A core given as one number is square. */
export function tileCore(core: number | TileCore): TileCore {
  return typeof core === 'number' ? { width: core, height: core } : core;
}

export interface TileGrid {
  core: TileCore;
  halo: number;
  columns: number;
  rows: number;
  /** Row-major. */
  tiles: Tile[];
  /** The largest window's size (every window fits in it). */
  maxWindow: { width: number; height: number };
}

/** Cores of `core` px (the last row and column shorter) and their windows over a width x height image. */
export function planTiles(width: number, height: number, coreSides: number | TileCore, halo: number): TileGrid {
  const core = tileCore(coreSides);
  for (const side of [core.width, core.height]) {
    if (!(side > 0) || side % TILE_ALIGNMENT !== 0) throw new Error(`a tile core side of ${side} px is not a positive multiple of ${TILE_ALIGNMENT}`);
  }
  if (halo % TILE_ALIGNMENT !== 0) throw new Error(`a tile halo of ${halo} px is not a multiple of ${TILE_ALIGNMENT}`);
  const columns = Math.ceil(width / core.width);
  const rows = Math.ceil(height / core.height);
  const tiles: Tile[] = [];
  let maxWidth = 0;
  let maxHeight = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const coreRect = { x0: c * core.width, y0: r * core.height, x1: Math.min(width, (c + 1) * core.width), y1: Math.min(height, (r + 1) * core.height) };
      const window = {
        x0: Math.max(0, coreRect.x0 - halo),
        y0: Math.max(0, coreRect.y0 - halo),
        x1: Math.min(width, coreRect.x1 + halo),
        y1: Math.min(height, coreRect.y1 + halo),
      };
      maxWidth = Math.max(maxWidth, window.x1 - window.x0);
      maxHeight = Math.max(maxHeight, window.y1 - window.y0);
      tiles.push({ core: coreRect, window });
    }
  }
  return { core, halo, columns, rows, tiles, maxWindow: { width: maxWidth, height: maxHeight } };
}

/** Pixels the tiles' windows cover together: what a tiled evaluation's work grows with (the image's area untiled). */
export function windowPixels(grid: TileGrid): number {
  return grid.tiles.reduce((sum, { window }) => sum + (window.x1 - window.x0) * (window.y1 - window.y0), 0);
}

/** 2^(pools up to and including layer i): how many image pixels one step of layer i's output spans. */
export function layerStride(layer: number): number {
  let stride = 1;
  for (let i = 0; i <= layer; i++) if (VGG19[i].kind === 'pool') stride *= 2;
  return stride;
}

/**
 * The positions of layer `layer` a tile owns, in its window's coordinates: its core divided by the layer's stride
 * (the image's last row and column floor as the layer's own size does), minus the window's origin.
 */
export function ownedRect(tile: Tile, layer: number, image: FeatureShape, windowShape: FeatureShape): Rect {
  const s = layerStride(layer);
  const ox = tile.window.x0 / s;
  const oy = tile.window.y0 / s;
  const clip = (v: number, limit: number) => Math.max(0, Math.min(limit, v));
  return {
    x0: clip(tile.core.x0 / s - ox, windowShape.width),
    y0: clip(tile.core.y0 / s - oy, windowShape.height),
    x1: clip(Math.min(image.width, Math.floor(tile.core.x1 / s)) - ox, windowShape.width),
    y1: clip(Math.min(image.height, Math.floor(tile.core.y1 / s)) - oy, windowShape.height),
  };
}

const windowSize = (w: Rect) => ({ width: w.x1 - w.x0, height: w.y1 - w.y0 });
/** Bytes of the features of an owned rectangle, compact. */
const ownedBytes = (r: Rect, shape: FeatureShape) => (r.x1 - r.x0) * (r.y1 - r.y0) * shape.channels * 4;
const shapeBytes = (s: FeatureShape) => s.width * s.height * s.channels * 4;

/** One row of the loss table: a term's share (tiles add content rows; style and TV rows are whole). */
interface Row {
  term: Term;
}

/**
 * How the loss sums of a tiled plan split: the longest reduction is the image's TV, a style term's Gram difference or
 * a content term over the largest window (dotProductSums of it), and what each row stores.
 */
function tiledLossSums(terms: readonly Term[], image: readonly FeatureShape[], window: readonly FeatureShape[], width: number, height: number, parallelism: Parallelism) {
  const walked = terms.map((t) => (t.category === 'tv' ? 3 * width * height : t.category === 'style' ? image[t.layer].channels ** 2 / 4 : shapeBytes(window[t.layer]) / 16));
  const sums = dotProductSums(Math.max(...walked), parallelism);
  return { sums, stored: storedSums(sums, PARTIALS_WORKGROUP) };
}

/** The tiles' FeatureMaps: one per distinct window size, all on the buffers of the largest. */
class TileMaps {
  readonly lender: FeatureMaps;
  private readonly bySize = new Map<string, FeatureMaps>();

  constructor(
    readonly net: Vgg19Net,
    grid: TileGrid,
    readonly depth: number,
  ) {
    this.lender = new FeatureMaps(net, grid.maxWindow.width, grid.maxWindow.height, depth);
  }

  of(tile: Tile): FeatureMaps {
    const { width, height } = windowSize(tile.window);
    if (width === this.lender.width && height === this.lender.height) return this.lender;
    const key = `${width}x${height}`;
    let maps = this.bySize.get(key);
    if (!maps) this.bySize.set(key, (maps = new FeatureMaps(this.net, width, height, this.depth, this.lender)));
    return maps;
  }

  dispose(): void {
    for (const maps of this.bySize.values()) maps.dispose();
    this.lender.dispose();
  }
}

/**
 * Bytes (as the pool allocates them) a TiledGatysLoss holds: the image's x, gradient, Grams, targets and
 * differences, the loss sums, and per tile its content targets (its owned features, compact); then what the tiles share: the largest window's
 * FeatureMaps, its x and gradient, the owned-feature copies, the Gram scratch and the gradient ping-pong.
 */
export function tiledLossBytes(
  width: number,
  height: number,
  config: LossConfig,
  core: number | TileCore,
  o: { parallelism: Parallelism; convAlgorithm: ConvAlgorithm; imageLayerKernels: boolean },
): number {
  const terms = termsOf(config);
  const depth = lossDepth(config);
  const shapes = featureSizes(width, height, depth);
  const grid = planTiles(width, height, core, tileHalo(config));
  const lender = featureSizes(grid.maxWindow.width, grid.maxWindow.height, depth);
  const content = terms.filter((t) => t.category === 'content');
  const style = terms.filter((t) => t.category === 'style');
  const rows = 1 + style.length + grid.tiles.length * content.length;
  const { stored } = tiledLossSums(terms, shapes, lender, width, height, o.parallelism);
  const lossLayers = [...new Set(terms.filter((t) => t.layer >= 0).map((t) => t.layer))];
  const windowPlane = 3 * grid.maxWindow.width * grid.maxWindow.height * 4;
  const perTile = grid.tiles.reduce((sum, tile) => {
    const window = featureSizes(tile.window.x1 - tile.window.x0, tile.window.y1 - tile.window.y0, depth);
    return sum + content.reduce((bytes, t) => bytes + pooledBytes(ownedBytes(ownedRect(tile, t.layer, shapes[t.layer], window[t.layer]), window[t.layer])), 0);
  }, 0);
  const contentWindows = content.reduce((sum, t) => sum + pooledBytes(shapeBytes(lender[t.layer])), 0);
  return (
    2 * pooledBytes(3 * width * height * 4) +
    2 * pooledBytes(windowPlane) +
    pooledBytes((LOSS_HEADER + rows) * 4) +
    pooledBytes(rows * stored * 4) +
    lossLayers.reduce((sum, l) => sum + pooledBytes(shapeBytes(lender[l])), 0) +
    pooledBytes(
      gramScratchBytes(
        lender,
        style.map((t) => t.layer),
        o.parallelism,
      ),
    ) +
    style.reduce((sum, t) => sum + 3 * pooledBytes(shapes[t.layer].channels ** 2 * 4), 0) +
    perTile +
    contentWindows +
    pooledBytes(rows * 16) +
    2 * pooledBytes(Math.max(...lender.map(shapeBytes))) +
    featureMapsBytes(grid.maxWindow.width, grid.maxWindow.height, depth, { convAlgorithm: o.convAlgorithm, imageGradientColumns: o.imageLayerKernels })
  );
}

/**
 * Bytes TiledGatysLoss.setStyleTargets holds for one style image of this size (freed afterwards): its windows'
 * FeatureMaps, x and owned-feature copy, the Gram scratch, one Gram per style layer and a readback copy per Gram
 * size.
 */
export function tiledStyleTargetBytes(
  width: number,
  height: number,
  config: LossConfig,
  core: number | TileCore,
  o: { parallelism: Parallelism; convAlgorithm: ConvAlgorithm },
): number {
  const layers = config.styleLayers.map(featureIndex);
  const depth = layers.length ? Math.max(...layers) + 1 : 1;
  const grid = planTiles(width, height, core, tileHalo({ ...config, contentLayers: [] }));
  const lender = featureSizes(grid.maxWindow.width, grid.maxWindow.height, depth);
  const shapes = featureSizes(width, height, depth);
  const grams = layers.map((l) => pooledBytes(shapes[l].channels ** 2 * 4));
  return (
    featureMapsBytes(grid.maxWindow.width, grid.maxWindow.height, depth, { convAlgorithm: o.convAlgorithm, imageGradientColumns: false }) +
    pooledBytes(3 * grid.maxWindow.width * grid.maxWindow.height * 4) +
    pooledBytes(Math.max(16, ...layers.map((l) => shapeBytes(lender[l])))) +
    pooledBytes(gramScratchBytes(lender, layers, o.parallelism)) +
    grams.reduce((a, b) => a + b, 0) +
    [...new Set(grams)].reduce((a, b) => a + b, 0)
  );
}

export interface TiledLossOptions {
  /** Core sides in pixels, multiples of 16 (one number: square). */
  core: number | TileCore;
}

export class TiledGatysLoss {
  readonly x: GPUBuffer;
  readonly grad: GPUBuffer;
  readonly losses: GPUBuffer;
  readonly passes: PassList;
  readonly grid: TileGrid;
  readonly terms: Term[];
  private readonly rows: Row[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly maps: TileMaps;
  /** The image's feature shapes (the loss's scales and the ownership of positions use them). */
  private readonly shapes: FeatureShape[];
  private readonly styleLayers: number[];
  private readonly styleTargets: GPUBuffer[] = [];
  /** Per tile, per content term: the content's features at the positions the tile owns, compact (placeOwned). */
  private readonly contentTargets: GPUBuffer[][] = [];
  private readonly depth: number;
  /** The tile's window of x (planar), where each tile's forward pass starts. */
  private readonly tileX: GPUBuffer;

  constructor(
    readonly net: Vgg19Net,
    readonly width: number,
    readonly height: number,
    readonly config: LossConfig,
    options: TiledLossOptions,
  ) {
    if (config.normalizeGradients) throw new Error('Tiled evaluation does not support normalized gradients (their L1 norms span the whole image).');
    const gpu = net.gpu;
    this.terms = termsOf(config);
    this.depth = lossDepth(config);
    if (this.depth > net.depth) throw new Error(`the loss needs ${this.depth} layers, the network has ${net.depth}`);
    this.shapes = featureSizes(width, height, this.depth);
    this.grid = planTiles(width, height, options.core, tileHalo(config));
    this.maps = new TileMaps(net, this.grid, this.depth);
    const lender = this.maps.lender;
    const own = (bytes: number, label: string) => this.own(gpu.buffers.storage(bytes, label));
    this.x = own(3 * width * height * 4, 'x');
    this.grad = own(3 * width * height * 4, 'grad x');
    const tileX = own(3 * lender.width * lender.height * 4, 'tile x');
    const tileGrad = own(3 * lender.width * lender.height * 4, 'tile grad x');

    const contentTerms = this.terms.filter((t) => t.category === 'content');
    const styleTerms = this.terms.filter((t) => t.category === 'style');
    this.styleLayers = styleTerms.map((t) => t.layer);
    // Rows of the loss table: TV, the style terms, then each tile's share of each content term.
    const tvTerm = this.terms.find((t) => t.category === 'tv')!;
    this.rows.push({ term: tvTerm }, ...styleTerms.map((term) => ({ term })));
    for (let k = 0; k < this.grid.tiles.length; k++) this.rows.push(...contentTerms.map((term) => ({ term })));
    this.losses = own((LOSS_HEADER + this.rows.length) * 4, 'losses');
    const { sums, stored: S } = tiledLossSums(this.terms, this.shapes, lender.shapes, width, height, gpu.parallelism);
    const P = sums.invocations;
    const partials = own(this.rows.length * S * 4, 'loss partials');
    const lossLayers = [...new Set(this.terms.filter((t) => t.layer >= 0).map((t) => t.layer))];
    const masked = new Map(lossLayers.map((l) => [l, own(lender.bytes(l), `owned ${VGG19[l].feature}`)]));
    const gramScratch = own(gramScratchBytes(lender.shapes, this.styleLayers, gpu.parallelism), 'gram scratch');
    const grams = styleTerms.map((t) => own(this.shapes[t.layer].channels ** 2 * 4, `gram ${t.key}`));
    const diffs = styleTerms.map((t) => own(this.shapes[t.layer].channels ** 2 * 4, `gram difference ${t.key}`));
    for (const t of styleTerms) this.styleTargets.push(own(this.shapes[t.layer].channels ** 2 * 4, `style target ${t.key}`));
    // Content targets: compact per tile (together one image's worth of features), placed into the window per use.
    for (let k = 0; k < this.grid.tiles.length; k++) {
      const tile = this.grid.tiles[k];
      const tileMaps = this.maps.of(tile);
      this.contentTargets.push(
        contentTerms.map((t) =>
          own(ownedBytes(ownedRect(tile, t.layer, this.shapes[t.layer], tileMaps.shapes[t.layer]), tileMaps.shapes[t.layer]), `content target ${t.key} tile ${k}`),
        ),
      );
    }
    const contentWindow = contentTerms.map((t) => own(lender.bytes(t.layer), `content target window ${t.key}`));
    const placeTarget = (tile: Tile, k: number, maps: FeatureMaps, c: number) => {
      const layer = contentTerms[c].layer;
      const params = this.ownedParams(tile, maps, layer);
      passes.add(placeOwned(), { params, input: this.contentTargets[k][c], output: contentWindow[c] }, params.total);
    };
    const largest = Math.max(...lender.shapes.map(shapeBytes));
    const ping = [own(largest, 'grad ping'), own(largest, 'grad pong')];

    const passes = (this.passes = new PassList(gpu));
    // TV on the whole image: its partial sums, and the gradient's first writer.
    passes.add(tvPartials(sums, PARTIALS_WORKGROUP), { params: { width, height, offset: 0 }, x: this.x, partials }, P);
    passes.add(tvGrad(false), { params: { width, height, scale: config.tvWeight }, x: this.x, grad: this.grad }, 3 * width * height);

    // Pass 1: Grams and content sums over owned positions.
    this.grid.tiles.forEach((tile, k) => {
      const maps = recordWindow(passes, this.maps, tile, tileX, this.x, this);
      for (const layer of lossLayers) this.recordMask(passes, tile, maps, layer, masked.get(layer)!);
      styleTerms.forEach((term, s) => recordTileGram(passes, maps.shapes[term.layer], this.shapes[term.layer], masked.get(term.layer)!, gramScratch, grams[s], k > 0));
      contentTerms.forEach((term, c) => {
        const row = 1 + styleTerms.length + k * contentTerms.length + c;
        const count = maps.bytes(term.layer) / 16;
        placeTarget(tile, k, maps, c);
        passes.add(squaredDiffPartials(false, sums, PARTIALS_WORKGROUP), { params: { count, offset: row * S }, a: masked.get(term.layer)!, b: contentWindow[c], partials }, P);
      });
    });
    styleTerms.forEach((term, s) => {
      const c = this.shapes[term.layer].channels;
      passes.add(
        squaredDiffPartials(true, sums, PARTIALS_WORKGROUP),
        { params: { count: (c * c) / 4, offset: (1 + s) * S }, a: grams[s], b: this.styleTargets[s], partials, difference: diffs[s] },
        P,
      );
    });
    const table = new Float32Array(this.rows.length * 4);
    this.rows.forEach(({ term }, r) => {
      const s = term.layer >= 0 ? this.shapes[term.layer] : undefined;
      const scale =
        term.category === 'content' ? term.weight / (s!.width * s!.height * s!.channels) : term.category === 'style' ? term.weight / (s!.channels * s!.channels) : term.weight;
      table.set([scale, CATEGORY_INDEX[term.category], r * S, 0], r * 4);
    });
    passes.add(lossTotal(S), { params: { terms: this.rows.length }, table: this.own(gpu.upload(table, 'loss table')), partials, losses: this.losses }, 1);

    // Pass 2: per tile, forward and backward from the owned positions, the input gradient added into the image's.
    const isConv = (i: number) => i >= 0 && VGG19[i].kind === 'conv';
    const termsAt = (i: number) => this.terms.filter((term) => term.layer === i);
    this.grid.tiles.forEach((tile, k) => {
      const maps = recordWindow(passes, this.maps, tile, tileX, this.x, this);
      for (const layer of lossLayers) this.recordMask(passes, tile, maps, layer, masked.get(layer)!);
      let current = 0;
      for (let i = this.depth - 1; i >= 0; i--) {
        const here = termsAt(i);
        here.forEach((term, h) => {
          const accumulate = !(i === this.depth - 1 && h === 0);
          const mask = h === here.length - 1 && isConv(i);
          const local = maps.shapes[i];
          const image = this.shapes[i];
          const count = maps.bytes(i) / 16;
          const out = ping[current];
          if (term.category === 'content') {
            const scale = (2 * term.weight) / (image.width * image.height * image.channels);
            placeTarget(tile, k, maps, contentTerms.indexOf(term));
            const target = contentWindow[contentTerms.indexOf(term)];
            const bindings = { params: { count, scale }, features: masked.get(i)!, targetFeatures: target, maskActivation: mask ? maps.buffers[i] : undefined, grad: out };
            passes.add(contentGrad(accumulate, mask), bindings, count);
          } else {
            const n = image.channels * image.width * image.height;
            const scale = (4 * term.weight) / (image.channels * image.channels * n);
            const tiling = net.tuning({ width: local.width, height: local.height, outChannels: local.channels, taps: 1 });
            const params = convParams(local.width, local.height, local.channels / 4, local.channels / 4, tiling.pixelsPerThread, tiling.channelGroupsPerThread, scale);
            const bindings = {
              params: params.values,
              input: masked.get(i)!,
              weights: diffs[styleTerms.indexOf(term)],
              maskActivation: mask ? maps.buffers[i] : undefined,
              output: out,
            };
            const flops = 2 * local.width * local.height * local.channels * local.channels;
            passes.add(conv1x1({ ...tiling, accumulate, mask }), bindings, convDispatchSize(tiling, local.width, local.height, local.channels / 4), flops);
          }
        });
        const maskBelow = isConv(i - 1) && termsAt(i - 1).length === 0;
        const target = i === 0 ? tileGrad : ping[1 - current];
        maps.encodeBackwardStep(passes, i, ping[current], target, { maskBelow, accumulate: false });
        current = 1 - current;
      }
      passes.add(
        addPlanar(),
        { params: windowParams(tile.window, width, height), tile: tileGrad, imageGrad: this.grad },
        3 * (tile.window.x1 - tile.window.x0) * (tile.window.y1 - tile.window.y0),
      );
    });
    this.tileX = tileX;
  }

  private recordMask(passes: PassList, tile: Tile, maps: FeatureMaps, layer: number, output: GPUBuffer, image: FeatureShape[] = this.shapes): void {
    const params = this.ownedParams(tile, maps, layer, image);
    passes.add(maskOutside(), { params, input: maps.buffers[layer], output }, params.total);
  }

  /** The owned rectangle of `layer` in the tile's window, with the window's width and vec4 count (`total`). */
  private ownedParams(tile: Tile, maps: FeatureMaps, layer: number, image: FeatureShape[] = this.shapes) {
    const shape = maps.shapes[layer];
    const c4 = shape.channels / 4;
    return { ...ownedRect(tile, layer, image[layer], shape), width: shape.width, c4, total: shape.width * shape.height * c4 };
  }

  /** Content targets: per tile, the content image's owned features at each content layer. */
  async setContentTarget(xContent: GPUBuffer): Promise<void> {
    const gpu = this.net.gpu;
    const contentTerms = this.terms.filter((t) => t.category === 'content');
    const passes = new PassList(gpu);
    try {
      this.grid.tiles.forEach((tile, k) => {
        const maps = recordWindow(passes, this.maps, tile, this.tileX, xContent, this);
        contentTerms.forEach((term, c) => {
          const params = this.ownedParams(tile, maps, term.layer);
          const compact = (params.x1 - params.x0) * (params.y1 - params.y0) * params.c4;
          passes.add(extractOwned(), { params: { ...params, total: compact }, input: maps.buffers[term.layer], output: this.contentTargets[k][c] }, compact);
        });
      });
      passes.submit();
      await gpu.unlessLost(gpu.device.queue.onSubmittedWorkDone());
    } finally {
      passes.dispose();
    }
  }

  /**
   * Style targets, blended as GatysLoss does; each style image's Grams are computed tile by tile over its own grid
   * (the same core; one tile when it fits), so a style image as large as the content needs no more memory.
   */
  async setStyleTargets(styles: Array<{ x: GPUBuffer; width: number; height: number }>, blend?: number[]): Promise<void> {
    const gpu = this.net.gpu;
    const weights = blendWeights(blend, styles.length);
    const layers = this.styleLayers;
    const depth = layers.length ? Math.max(...layers) + 1 : 1;
    const accumulated = layers.map((l) => new Float32Array(this.shapes[l].channels ** 2));
    for (const [s, style] of styles.entries()) {
      const shapes = featureSizes(style.width, style.height, depth);
      const grid = planTiles(style.width, style.height, this.grid.core, tileHalo({ ...this.config, contentLayers: [] }));
      const tileMaps = new TileMaps(this.net, grid, depth);
      const lender = tileMaps.lender;
      const tileX = gpu.buffers.storage(3 * lender.width * lender.height * 4, 'style tile x');
      const masked = gpu.buffers.storage(Math.max(16, ...layers.map((l) => lender.bytes(l))), 'style owned features');
      const scratch = gpu.buffers.storage(gramScratchBytes(lender.shapes, layers, gpu.parallelism), 'style gram scratch');
      const grams = layers.map((l) => gpu.buffers.storage(shapes[l].channels ** 2 * 4, 'style gram'));
      const passes = new PassList(gpu);
      try {
        grid.tiles.forEach((tile, k) => {
          const maps = recordWindow(passes, tileMaps, tile, tileX, style.x, style);
          layers.forEach((layer, g) => {
            this.recordMask(passes, tile, maps, layer, masked, shapes);
            recordTileGram(passes, maps.shapes[layer], shapes[layer], masked, scratch, grams[g], k > 0);
          });
        });
        passes.submit();
        await accumulateGrams(gpu, grams, weights[s], accumulated);
      } finally {
        passes.dispose();
        for (const b of [...grams, scratch, masked, tileX]) gpu.buffers.release(b);
        tileMaps.dispose();
      }
    }
    accumulated.forEach((values, g) => gpu.device.queue.writeBuffer(this.styleTargets[g], 0, values));
  }

  /** As GatysLoss.setTargetImages: content at this plan's size, styles at their own. */
  setTargetImages(content: Rgba8, styles: Rgba8[], blend?: number[]): Promise<void> {
    return setTargetImages(this, content, styles, blend);
  }

  /** Bytes of every buffer this plan holds (what tiledLossBytes counts). */
  get heldBytes(): number {
    return this.owned.reduce((sum, b) => sum + b.size, 0) + this.maps.lender.heldBytes;
  }

  evaluate(): void {
    this.passes.submit();
  }

  async readLosses(): Promise<LossValues> {
    return this.decodeLosses(await this.net.gpu.readFloat32(this.losses));
  }

  /** The totals, and per term the sum of its rows (the tiles' shares of a content term). */
  decodeLosses(values: Float32Array): LossValues {
    const terms: Record<string, number> = {};
    this.rows.forEach(({ term }, r) => (terms[term.key] = (terms[term.key] ?? 0) + values[LOSS_HEADER + r]));
    return { content: values[0], style: values[1], tv: values[2], total: values[3], terms };
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

/** Crops the tile's window of `source` (an image of `image`'s size) into `tileX` and records its forward pass. */
function recordWindow(passes: PassList, maps: TileMaps, tile: Tile, tileX: GPUBuffer, source: GPUBuffer, image: { width: number; height: number }): FeatureMaps {
  const { width, height } = windowSize(tile.window);
  passes.add(cropPlanar(), { params: windowParams(tile.window, image.width, image.height), source, tile: tileX }, 3 * width * height);
  const windowMaps = maps.of(tile);
  windowMaps.encodeForward(passes, tileX);
  return windowMaps;
}

/**
 * Adds a tile's owned features' share into the image's Gram (`features`: the window's features, others zeroed;
 * normalised by the whole image's pixels). The first tile writes, the others add.
 */
function recordTileGram(passes: PassList, window: FeatureShape, image: FeatureShape, features: GPUBuffer, scratch: GPUBuffer, gram: GPUBuffer, accumulate: boolean): void {
  const pixels = window.width * window.height;
  const partial = gramPartialParams(pixels, window.channels, gramSplits(pixels, window.channels, FILL_INVOCATIONS[passes.gpu.parallelism]));
  const reduce = gramReduceParams(image.width * image.height, window.channels, partial.values.splits);
  passes.add(gramPartial(), { params: partial.values, features, partials: scratch }, partial.invocations);
  passes.add(gramReduce(64, accumulate), { params: reduce.values, partials: scratch, gram }, reduce.invocations);
}

function windowParams(window: Rect, imageWidth: number, imageHeight: number) {
  return { x0: window.x0, y0: window.y0, width: window.x1 - window.x0, height: window.y1 - window.y0, imageWidth, imageHeight };
}
