/**
 * Gradient check of the whole engine (Vgg19Net + GatysLoss from src/net) on a truncated VGG-19 with synthetic
 * random weights, against the float64 reference network of test/reference/cpu.ts:
 *
 * - the reference's analytic gradient is checked by central differences of the float64 reference loss at 30
 *   random coordinates (f32 GPU losses are too noisy for fine finite differences);
 * - the GPU losses (every term) and the whole GPU gradient are compared with the reference (rel L2 < 1e-4);
 * - coarse finite differences of the GPU's own f32 total loss along random unit directions (step 1 in x units) agree with
 *   the GPU gradient to a few percent;
 * - the same with average pooling, and a deeper configuration (loss on a pool feature, 2x1 maps after pool2,
 *   non-default register tiling);
 * - reflect padding (--padding reflect) through both first-layer variants and the row-reuse conv loop: the forward
 *   mirrors the border, the backward adds the padding ring's gradient into the mirrored pixels;
 * - style regions (masks): three style images with a soft, a hard-edged and an empty mask, each its own terms.
 *
 * Image 9x7 (odd both ways); the style image is 8x10 (a different size). Term weights are chosen so that every
 * term contributes a gradient of the same norm, so an error in any one of them would show in the total.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatysLoss, type LossConfig, type RegionLossConfig } from '../src/net/loss.js';
import { Vgg19Net } from '../src/net/network.js';
import type { ConvTuning } from '../src/net/tiling.js';
import { featureIndex, VGG19 } from '../src/net/vgg19.js';
import type { TensorRecord, WeightTensors } from '../src/net/weights.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { randomArray, relativeError, testGpu } from './helpers/env.js';
import { gatysReference, referenceTargets, type RefLayer, type RefLossConfig, type RefPadding, type RefPooling, type RefTargets } from './reference/cpu.js';

const WIDTH = 9;
const HEIGHT = 7;
const STYLE_WIDTH = 8;
const STYLE_HEIGHT = 10;

/** Seeded N(0, std^2) samples (Box-Muller over two uniform streams). */
function gaussian(n: number, seed: number, std: number): Float32Array {
  const u1 = randomArray(n, seed, 0, 1);
  const u2 = randomArray(n, seed + 7919, 0, 1);
  return Float32Array.from(u1, (u, i) => std * Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * u2[i]));
}

/**
 * Random HWIO weights for the first `depth` VGG-19 layers, as a WeightTensors the engine loads, and the same
 * values (exactly, as float64) as reference layers.
 */
function syntheticWeights(depth: number, seed: number): { weights: WeightTensors; layers: RefLayer[] } {
  const tensors: TensorRecord[] = [];
  const chunks: Float32Array[] = [];
  const layers: RefLayer[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], data: Float32Array) => {
    tensors.push({ name, shape, byteOffset: offset, byteLength: data.byteLength });
    chunks.push(data);
    offset += data.byteLength;
  };
  for (let i = 0; i < depth; i++) {
    const layer = VGG19[i];
    if (layer.kind === 'pool') {
      layers.push({ kind: 'pool' });
      continue;
    }
    const { inChannels: cin, outChannels: cout } = layer;
    const kernel = gaussian(9 * cin * cout, seed + 100 * i, Math.sqrt(2 / (9 * cin)));
    const bias = randomArray(cout, seed + 100 * i + 1, -1, 1);
    add(`${layer.name}/kernel`, [3, 3, cin, cout], kernel);
    add(`${layer.name}/bias`, [cout], bias);
    layers.push({ kind: 'conv', cin, cout, kernel: Float64Array.from(kernel), bias: Float64Array.from(bias) });
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    data.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at);
    at += c.byteLength;
  }
  return { weights: { tensors, data: data.buffer }, layers };
}

/** Image-like planar x [3][H][W]: preprocessed values roughly in -120..130. */
function randomImage(width: number, height: number, seed: number): Float32Array {
  return randomArray(3 * width * height, seed, -110, 120);
}

/** Style regions of the masked cases: three style images, a soft mask, a hard-edged one and an empty one. */
const REGION_WEIGHTS = [1, 0.5, 2];
function regionMasks(): Float64Array[] {
  const soft = new Float64Array(WIDTH * HEIGHT);
  const hard = new Float64Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      soft[y * WIDTH + x] = (x + 0.5 * y) / (WIDTH + 0.5 * HEIGHT);
      hard[y * WIDTH + x] = x + y >= 7 ? 1 : 0;
    }
  }
  return [soft, hard, new Float64Array(WIDTH * HEIGHT)];
}

interface Setup {
  layers: RefLayer[];
  pooling: RefPooling;
  config: RegionLossConfig;
  refConfig: RefLossConfig;
  targets: RefTargets;
  x: Float32Array;
  content: Float32Array;
  style: Float32Array;
  /** With style regions: every style image (the first is `style`) and its mask. */
  regions?: { styles: Float32Array[]; masks: Float64Array[] };
}

function refConfigOf(config: LossConfig, padding: RefPadding = 'zero', masks?: Float64Array[]): RefLossConfig {
  return {
    padding,
    styleRegions: masks && { weights: REGION_WEIGHTS, masks },
    contentWeight: config.contentWeight,
    styleWeight: config.styleWeight,
    tvWeight: config.tvWeight,
    contentLayers: config.contentLayers.map(featureIndex),
    styleLayers: config.styleLayers.map(featureIndex),
    styleLayerWeights: config.styleLayerWeights,
  };
}

const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));

/**
 * Builds the reference side for `contentLayers` / `styleLayers`, with weights that give every term's gradient
 * unit norm (measured on the reference with unit weights).
 */
function setup(contentLayers: string[], styleLayers: string[], pooling: RefPooling, seed: number, padding: RefPadding = 'zero', regions = false): Setup {
  const depth = Math.max(...[...contentLayers, ...styleLayers].map(featureIndex)) + 1;
  const { layers } = syntheticWeights(depth, seed);
  const x = randomImage(WIDTH, HEIGHT, seed + 1);
  const content = randomImage(WIDTH, HEIGHT, seed + 2);
  const style = randomImage(STYLE_WIDTH, STYLE_HEIGHT, seed + 3);
  const styles = regions ? [style, randomImage(STYLE_WIDTH, STYLE_HEIGHT, seed + 4), randomImage(STYLE_WIDTH, STYLE_HEIGHT, seed + 5)] : [style];
  const masks = regions ? regionMasks() : undefined;
  const unit: LossConfig = { contentWeight: 1, styleWeight: 1, tvWeight: 1, contentLayers, styleLayers, styleLayerWeights: styleLayers.map(() => 1) };
  const targets = referenceTargets(
    layers,
    pooling,
    refConfigOf(unit, padding, masks),
    { x: content, width: WIDTH, height: HEIGHT },
    styles.map((x) => ({ x, width: STYLE_WIDTH, height: STYLE_HEIGHT })),
  );
  const gradNorm = (c: LossConfig) => norm(gatysReference(layers, pooling, refConfigOf(c, padding, masks), targets, x, WIDTH, HEIGHT).grad!);
  const zero = { contentWeight: 0, styleWeight: 0, tvWeight: 0 };
  const config: RegionLossConfig = {
    styleRegionWeights: regions ? REGION_WEIGHTS : undefined,
    contentWeight: 1 / gradNorm({ ...unit, ...zero, contentWeight: 1 }),
    styleWeight: 1,
    tvWeight: 1 / gradNorm({ ...unit, ...zero, tvWeight: 1 }),
    contentLayers,
    styleLayers,
    styleLayerWeights: styleLayers.map((_, k) => 1 / gradNorm({ ...unit, ...zero, styleWeight: 1, styleLayerWeights: styleLayers.map((_, j) => (j === k ? 1 : 0)) })),
  };
  return { layers, pooling, config, refConfig: refConfigOf(config, padding, masks), targets, x, content, style, regions: masks && { styles, masks } };
}

interface GpuEngine {
  loss: GatysLoss;
  /** Sets x, evaluates, reads losses and gradient. */
  evaluate(x: Float32Array): Promise<{ losses: Awaited<ReturnType<GatysLoss['readLosses']>>; grad: Float32Array }>;
  dispose(): void;
}

async function gpuEngine(gpu: GpuRuntime, s: Setup, depth: number, seed: number, tuning?: ConvTuning, imageLayerKernels?: boolean): Promise<GpuEngine> {
  const { weights } = syntheticWeights(depth, seed);
  const net = new Vgg19Net(gpu, weights, { depth, pooling: s.pooling, tuning, padding: s.refConfig.padding, imageLayerKernels });
  const loss = new GatysLoss(net, WIDTH, HEIGHT, s.config);
  const xc = gpu.upload(s.content, 'content x');
  const xs = gpu.upload(s.style, 'style x');
  await loss.setContentTarget(xc);
  if (s.regions) {
    loss.setStyleMasks(s.regions.masks.map((values) => ({ width: WIDTH, height: HEIGHT, values })));
    const xStyles = s.regions.styles.map((x) => gpu.upload(x, 'style x'));
    await loss.setStyleTargets(xStyles.map((x) => ({ x, width: STYLE_WIDTH, height: STYLE_HEIGHT })));
    for (const x of xStyles) gpu.buffers.release(x);
  } else {
    await loss.setStyleTargets([{ x: xs, width: STYLE_WIDTH, height: STYLE_HEIGHT }]);
  }
  gpu.buffers.release(xc);
  gpu.buffers.release(xs);
  return {
    loss,
    async evaluate(x) {
      gpu.device.queue.writeBuffer(loss.x, 0, new Float32Array(x));
      loss.evaluate();
      const losses = await loss.readLosses();
      const grad = await gpu.readFloat32(loss.grad, 3 * WIDTH * HEIGHT);
      return { losses, grad };
    },
    dispose() {
      loss.dispose();
      net.dispose();
    },
  };
}

/** Engine term key ("style:relu1_1") -> reference term key ("style:0"). */
function refKey(key: string): string {
  if (key === 'tv') return key;
  const [category, name] = key.split(':');
  const [layer, region] = name.split('#');
  return `${category}:${featureIndex(layer)}${region === undefined ? '' : `#${region}`}`;
}

/** Picks `count` distinct seeded coordinates in [0, n). */
function coordinates(n: number, count: number, seed: number): number[] {
  const u = randomArray(4 * count, seed, 0, 1);
  const picked = new Set<number>();
  for (const v of u) {
    if (picked.size === count) break;
    picked.add(Math.floor(v * n));
  }
  return [...picked];
}

const report: string[] = [];

/** Central differences of the float64 reference loss at `coords`; returns the worst error relative to max|grad|. */
function referenceFiniteDifferences(s: Setup, grad: Float64Array, coords: number[], h: number): number {
  const x = Float64Array.from(s.x);
  const scale = Math.max(...Array.from(grad, Math.abs));
  let worst = 0;
  for (const i of coords) {
    const saved = x[i];
    x[i] = saved + h;
    const plus = gatysReference(s.layers, s.pooling, s.refConfig, s.targets, x, WIDTH, HEIGHT, false).total;
    x[i] = saved - h;
    const minus = gatysReference(s.layers, s.pooling, s.refConfig, s.targets, x, WIDTH, HEIGHT, false).total;
    x[i] = saved;
    const fd = (plus - minus) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - grad[i]) / scale);
  }
  return worst;
}

/**
 * Coarse central difference of the GPU's f32 total loss along a seeded random unit direction d, tilted towards the
 * gradient (d = normalise(r/|r| + g/|g|)) so that the slope g.d is not a near-cancelling sum; the step is in units
 * of x (whose values are ~100). Returns |fd - g.d| / |g.d|.
 */
async function gpuDirectionalCheck(engine: GpuEngine, x: Float32Array, grad: Float32Array, seed: number, step: number): Promise<number> {
  const r = randomArray(x.length, seed, -1, 1);
  const rn = norm(r);
  const gn = norm(grad);
  const mixed = Float64Array.from(r, (v, i) => v / rn + grad[i] / gn);
  const mn = norm(mixed);
  const d = mixed.map((v) => v / mn);
  const plus = await engine.evaluate(x.map((v, i) => v + step * d[i]));
  const minus = await engine.evaluate(x.map((v, i) => v - step * d[i]));
  const fd = (plus.losses.total - minus.losses.total) / (2 * step);
  let slope = 0;
  for (let i = 0; i < x.length; i++) slope += grad[i] * d[i];
  return Math.abs(fd - slope) / Math.abs(slope);
}

let gpu: GpuRuntime;

beforeAll(async () => {
  gpu = await testGpu();
});

afterAll(() => {
  console.log(`gradient check:\n  ${report.join('\n  ')}`);
});

const cases = [
  {
    name: 'max pooling, content relu2_1, style relu1_1 + relu2_1',
    contentLayers: ['relu2_1'],
    styleLayers: ['relu1_1', 'relu2_1'],
    pooling: 'max' as RefPooling,
    fdCoordinates: 30,
    tuning: undefined as ConvTuning | undefined,
    padding: 'zero' as RefPadding,
    imageLayerKernels: undefined as boolean | undefined,
  },
  {
    name: 'avg pooling, content relu2_1, style relu1_1 + relu2_1',
    contentLayers: ['relu2_1'],
    styleLayers: ['relu1_1', 'relu2_1'],
    pooling: 'avg' as RefPooling,
    fdCoordinates: 12,
    tuning: undefined,
    padding: 'zero' as RefPadding,
    imageLayerKernels: undefined,
  },
  {
    name: 'max pooling, deeper: content relu3_1 (2x1), style relu1_2 + pool1 + relu2_2, tiling p3 c1 wg32',
    contentLayers: ['relu3_1'],
    styleLayers: ['relu1_2', 'pool1', 'relu2_2'],
    pooling: 'max' as RefPooling,
    fdCoordinates: 8,
    tuning: (() => ({ pixelsPerThread: 3, channelGroupsPerThread: 1, workgroupSize: 32 })) as ConvTuning,
    padding: 'zero' as RefPadding,
    imageLayerKernels: undefined,
  },
  {
    name: 'reflect padding, max pooling, content relu2_1, style relu1_1 + relu2_1, first-layer kernels of its own',
    contentLayers: ['relu2_1'],
    styleLayers: ['relu1_1', 'relu2_1'],
    pooling: 'max' as RefPooling,
    fdCoordinates: 30,
    tuning: undefined,
    padding: 'reflect' as RefPadding,
    imageLayerKernels: true,
  },
  {
    name: 'reflect padding, avg pooling, content relu2_2, style relu1_2 + pool1, generic first layer, row-reuse loop p3 c1',
    contentLayers: ['relu2_2'],
    styleLayers: ['relu1_2', 'pool1'],
    pooling: 'avg' as RefPooling,
    fdCoordinates: 12,
    tuning: (() => ({ pixelsPerThread: 3, channelGroupsPerThread: 1, workgroupSize: 32, reuseRowLoads: true })) as ConvTuning,
    padding: 'reflect' as RefPadding,
    imageLayerKernels: false,
  },
  {
    name: 'style regions (soft, hard-edged and empty masks), max pooling, content relu2_1, style relu1_1 + relu2_1',
    contentLayers: ['relu2_1'],
    styleLayers: ['relu1_1', 'relu2_1'],
    pooling: 'max' as RefPooling,
    fdCoordinates: 30,
    tuning: undefined,
    padding: 'zero' as RefPadding,
    imageLayerKernels: undefined,
    regions: true,
  },
  {
    name: 'style regions with reflect padding, avg pooling, content relu2_2, style relu1_2 + pool1 + relu2_1',
    contentLayers: ['relu2_2'],
    styleLayers: ['relu1_2', 'pool1', 'relu2_1'],
    pooling: 'avg' as RefPooling,
    fdCoordinates: 12,
    tuning: undefined,
    padding: 'reflect' as RefPadding,
    imageLayerKernels: undefined,
    regions: true,
  },
];

describe.each(cases)('Gatys loss gradient on a truncated VGG-19 with random weights: $name', (c) => {
  const seed = 1000 + cases.indexOf(c) * 50;
  let s: Setup;
  let engine: GpuEngine;
  let refResult: ReturnType<typeof gatysReference>;
  let gpuResult: Awaited<ReturnType<GpuEngine['evaluate']>>;

  beforeAll(async () => {
    s = setup(c.contentLayers, c.styleLayers, c.pooling, seed, c.padding, 'regions' in c && c.regions);
    const depth = Math.max(...[...c.contentLayers, ...c.styleLayers].map(featureIndex)) + 1;
    engine = await gpuEngine(gpu, s, depth, seed, c.tuning, c.imageLayerKernels);
    refResult = gatysReference(s.layers, s.pooling, s.refConfig, s.targets, s.x, WIDTH, HEIGHT);
    gpuResult = await engine.evaluate(s.x);
  });

  afterAll(() => engine?.dispose());

  it('the float64 reference gradient matches central differences of the float64 reference loss', () => {
    const coords = coordinates(3 * WIDTH * HEIGHT, c.fdCoordinates, seed + 9);
    const worst = referenceFiniteDifferences(s, refResult.grad!, coords, 1e-4);
    report.push(`${c.name}: reference FD at ${coords.length} coords, max |fd - g| / max|g| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
  });

  it('GPU loss terms match the reference (rel < 1e-5 each)', () => {
    const { losses } = gpuResult;
    const worst: string[] = [];
    for (const key of ['content', 'style', 'tv', 'total'] as const) {
      const err = Math.abs(losses[key] - refResult[key]) / Math.abs(refResult[key]);
      worst.push(`${key} ${err.toExponential(1)}`);
      expect(err, key).toBeLessThan(1e-5);
    }
    for (const [key, value] of Object.entries(losses.terms)) {
      const expected = refResult.terms[refKey(key)];
      const err = Math.abs(value - expected) / Math.abs(expected);
      worst.push(`${key} ${err.toExponential(1)}`);
      expect(err, key).toBeLessThan(1e-5);
    }
    expect(Object.keys(losses.terms).length).toBe(c.contentLayers.length + c.styleLayers.length * (s.regions?.masks.length ?? 1) + 1);
    report.push(`${c.name}: loss rel errors ${worst.join(', ')}`);
  });

  it('the whole GPU gradient matches the reference analytic gradient (rel L2 < 1e-4)', () => {
    const err = relativeError(gpuResult.grad, refResult.grad!);
    report.push(`${c.name}: GPU gradient rel L2 ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it('coarse finite differences of the GPU f32 loss along random directions agree with the GPU gradient (< 3%)', async () => {
    const errs: number[] = [];
    for (const k of [0, 1, 2]) errs.push(await gpuDirectionalCheck(engine, s.x, gpuResult.grad, seed + 17 + k, 1));
    report.push(`${c.name}: GPU directional FD rel errors ${errs.map((e) => e.toExponential(2)).join(', ')}`);
    for (const e of errs) expect(e).toBeLessThan(0.03);
  });
});
