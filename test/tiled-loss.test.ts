/**
 * Tiled evaluation (src/net/tiledLoss.ts) against the untiled GatysLoss on the same image: every loss term within
 * 1e-5 relative and the gradient within 1e-4 relative L2, on odd sides and sides no multiple of 16, with grids of
 * several tiles and windows cut by the halo; plus the tile planning itself (no GPU).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { randomVggWeights } from '../bench/inputs.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { resizeTo, type RgbaImage } from '../src/io/rgbaImage.js';
import { DEFAULT_LOSS, GatysLoss, lossDepth, type LossConfig, type LossValues } from '../src/net/loss.js';
import { Vgg19Net, type Padding } from '../src/net/network.js';
import { featureSizes } from '../src/net/vgg19.js';
import { layerStride, lossReach, ownedRect, planTiles, tileCore, tileHalo, TiledGatysLoss, tiledLossBytes, type TileCore } from '../src/net/tiledLoss.js';
import type { WeightTensors } from '../src/net/weights.js';
import { randomArray, realWeights, relativeError, testGpu, weightsDir } from './helpers/env.js';

/** A smooth random picture (a few blobs of colour), so deep features are not all zero. */
function picture(width: number, height: number, seed: number): RgbaImage {
  const small = { width: 6, height: 4, data: new Uint8ClampedArray(Array.from(randomArray(6 * 4 * 4, seed, 0, 255), (v, i) => (i % 4 === 3 ? 255 : v))) };
  return resizeTo(small, width, height);
}

describe('tile planning', () => {
  it('the halo is the reach of the deepest loss layer rounded up to the pooling grid', () => {
    expect(lossReach({ ...DEFAULT_LOSS, contentLayers: [], styleLayers: ['relu1_1'] })).toBe(1);
    expect(lossReach({ ...DEFAULT_LOSS, contentLayers: [], styleLayers: ['relu2_1'] })).toBe(5);
    expect(lossReach({ ...DEFAULT_LOSS, contentLayers: [], styleLayers: ['relu3_1'] })).toBe(13);
    expect(lossReach({ ...DEFAULT_LOSS, contentLayers: ['relu4_2'], styleLayers: [] })).toBe(45);
    expect(lossReach(DEFAULT_LOSS)).toBe(85);
    expect(tileHalo(DEFAULT_LOSS)).toBe(96);
  });

  it('cores cover the image once, windows add the halo inside the image, origins on the 16 px grid', () => {
    const grid = planTiles(200, 130, 96, 96);
    expect([grid.columns, grid.rows]).toEqual([3, 2]);
    let covered = 0;
    for (const { core, window } of grid.tiles) {
      covered += (core.x1 - core.x0) * (core.y1 - core.y0);
      for (const v of [core.x0, core.y0, window.x0, window.y0]) expect(v % 16).toBe(0);
      expect(window.x0).toBe(Math.max(0, core.x0 - 96));
      expect(window.x1).toBe(Math.min(200, core.x1 + 96));
    }
    expect(covered).toBe(200 * 130);
    expect(grid.maxWindow).toEqual({ width: 200, height: 130 });
    expect(() => planTiles(100, 100, 40, 96)).toThrow(/multiple of 16/);
  });

  it('each feature position of a layer is owned by exactly one tile, floored at odd image sides', () => {
    const [width, height] = [75, 53];
    const grid = planTiles(width, height, 32, 16);
    const depth = lossDepth(DEFAULT_LOSS);
    const image = featureSizes(width, height, depth);
    for (let layer = 0; layer < depth; layer++) {
      const owners = new Uint8Array(image[layer].width * image[layer].height);
      for (const tile of grid.tiles) {
        const window = featureSizes(tile.window.x1 - tile.window.x0, tile.window.y1 - tile.window.y0, depth)[layer];
        const r = ownedRect(tile, layer, image[layer], window);
        const stride = layerStride(layer);
        const [ox, oy] = [tile.window.x0 / stride, tile.window.y0 / stride];
        for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) owners[(y + oy) * image[layer].width + x + ox]++;
      }
      expect([...owners].every((n) => n === 1)).toBe(true);
    }
  });
});

describe('tiled evaluation equals the untiled one', () => {
  let gpu: GpuRuntime;
  let weights: WeightTensors;
  beforeAll(async () => {
    gpu = await testGpu();
    weights = weightsDir ? realWeights() : randomVggWeights();
  });

  async function evaluate(loss: GatysLoss | TiledGatysLoss, x: Float32Array<ArrayBuffer>): Promise<{ values: LossValues; grad: Float32Array }> {
    gpu.device.queue.writeBuffer(loss.x, 0, x);
    loss.evaluate();
    const values = await loss.readLosses();
    return { values, grad: await gpu.readFloat32(loss.grad) };
  }

  const shallow: LossConfig = { ...DEFAULT_LOSS, contentLayers: ['relu2_2'], styleLayers: ['relu1_1', 'relu2_1', 'relu3_1'], styleLayerWeights: [1, 0.5, 2] };
  const cases: Array<[string, number, number, LossConfig, number | TileCore, Padding?]> = [
    ['shallow loss, 5 x 3 tiles of 16 px', 75, 45, shallow, 16],
    // Rectangular cores (memory.ts tileCores plans them): the two sides' ownership and pooling cut apart.
    ['shallow loss, 2 x 3 tiles of 48 x 16 px', 75, 45, shallow, { width: 48, height: 16 }],
    ['shallow loss, 3 x 2 tiles of 32 px', 75, 45, shallow, 32],
    ['shallow loss, one tile larger than the image', 37, 29, shallow, 64],
    // Windows cut by the halo on both sides of a row (tile 0 ends at 160 px, tile 2 starts at 32 px).
    ['default loss (halo 96), 3 x 1 tiles of 64 px', 176, 61, { ...DEFAULT_LOSS }, 64],
    // Reflect padding: mirrored at the image's borders (window edges there), harmless at window edges inside the
    // image, which the owned positions never reach (the halo covers their receptive field).
    ['reflect padding, shallow loss, 5 x 3 tiles of 16 px', 75, 45, shallow, 16, 'reflect'],
    ['reflect padding, shallow loss, 3 x 2 tiles of 32 px', 75, 45, shallow, 32, 'reflect'],
  ];

  it.each(cases)('%s (%i x %i)', async (_, width, height, config, core, padding = 'zero') => {
    const net = new Vgg19Net(gpu, weights, { depth: lossDepth(config), padding });
    const content = picture(width, height, 1);
    const style = picture(Math.round(width * 0.8), height + 7, 2);
    const x = new Float32Array(randomArray(3 * width * height, 3, -60, 60));
    const untiled = new GatysLoss(net, width, height, config);
    const tiled = new TiledGatysLoss(net, width, height, config, { core });
    try {
      await untiled.setTargetImages(content, [style]);
      await tiled.setTargetImages(content, [style]);
      // It holds what the memory estimate counts for it (once the first evaluation has made its lazy scratch).
      const sides = tileCore(core);
      expect(tiled.grid.tiles.length).toBeGreaterThan(sides.width >= width && sides.height >= height ? 0 : 1);
      const a = await evaluate(untiled, x);
      const b = await evaluate(tiled, x);
      for (const key of ['content', 'style', 'tv', 'total'] as const) {
        expect(Math.abs(b.values[key] - a.values[key]) / Math.abs(a.values[key]), key).toBeLessThan(1e-5);
      }
      for (const [key, value] of Object.entries(a.values.terms)) expect(Math.abs(b.values.terms[key] - value) / Math.abs(value), key).toBeLessThan(1e-5);
      expect(a.values.style).toBeGreaterThan(0);
      expect(relativeError(b.grad, a.grad)).toBeLessThan(1e-4);
      const counted = tiledLossBytes(width, height, config, core, { parallelism: gpu.parallelism, convAlgorithm: net.convAlgorithm, imageLayerKernels: net.imageLayerKernels });
      expect(tiled.heldBytes).toBe(counted);
    } finally {
      untiled.dispose();
      tiled.dispose();
      net.dispose();
    }
  });
});
