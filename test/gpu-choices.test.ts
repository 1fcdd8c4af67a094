/**
 * The choices made for a GPU against those made for a CPU, both on this adapter whatever it is (each runtime gets
 * its parallelism explicitly, so this file does not depend on STYLE_TRANSFER_PARALLELISM and runs once): the same
 * loss and gradient up to f32 summation order.
 */
import { describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/runtime.js';
import { CPU_PARTIALS } from '../src/gpu/parallelism.js';
import type { RgbaImage } from '../src/io/rgbaImage.js';
import { DEFAULT_LOSS, GatysLoss, lossDepth } from '../src/net/loss.js';
import { Vgg19Net } from '../src/net/network.js';
import { imageToX } from '../src/net/preprocess.js';
import { CONV_ALGORITHMS, type ConvAlgorithm } from '../src/net/tiling.js';
import { randomArray, realWeights, relativeError, testGpu, weightsDir } from './helpers/env.js';

// The choices made for a GPU (src/gpu/parallelism.ts: more loss-sum invocations with per-workgroup sums, more Gram
// pixel splits; tiling.ts: smaller conv blocks on small layers) against the CPU ones.
describe.skipIf(!weightsDir)('GPU-sized reductions (128x96, real VGG-19)', () => {
  const noise = (seed: number): RgbaImage => ({
    width: 128,
    height: 96,
    data: Uint8ClampedArray.from(randomArray(128 * 96 * 4, seed, 0, 256), (v) => Math.floor(v)),
  });

  async function evaluate(gpu: GpuRuntime, convAlgorithm: ConvAlgorithm) {
    const config = { ...DEFAULT_LOSS };
    const net = new Vgg19Net(gpu, realWeights(), { depth: lossDepth(config), convAlgorithm });
    const loss = new GatysLoss(net, 128, 96, config);
    try {
      await loss.setTargetImages(noise(1), [noise(2)]);
      imageToX(gpu, noise(3), loss.x);
      loss.evaluate();
      return { sums: loss.partialSums, stored: loss.storedSums, values: await loss.readLosses(), grad: await gpu.readFloat32(loss.grad) };
    } finally {
      loss.dispose();
      net.dispose();
    }
  }

  it.each(CONV_ALGORITHMS)('match the CPU-sized ones, %s convs (terms rel < 1e-5, gradient rel L2 < 1e-5)', async (convAlgorithm) => {
    const context = (await testGpu()).context;
    const cpu = await evaluate(new GpuRuntime(context, { parallelism: 'cpu' }), convAlgorithm);
    const gpu = await evaluate(new GpuRuntime(context, { parallelism: 'gpu' }), convAlgorithm);
    expect(cpu.sums).toEqual({ invocations: CPU_PARTIALS, perWorkgroup: false });
    // The image's total variation is the longest sum: 3 x 128 x 96 floats, one invocation per 8 -> 2^13, 128 sums.
    expect(gpu.sums).toEqual({ invocations: 8192, perWorkgroup: true });
    expect(gpu.stored).toBe(128);
    for (const [key, value] of Object.entries(cpu.values.terms)) expect(Math.abs(gpu.values.terms[key] - value) / value, key).toBeLessThan(1e-5);
    expect(Math.abs(gpu.values.total - cpu.values.total) / cpu.values.total).toBeLessThan(1e-5);
    expect(relativeError(gpu.grad, cpu.grad)).toBeLessThan(1e-5);
  });
});
