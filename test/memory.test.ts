/**
 * Memory limits: the estimate made before allocating matches what a run really holds, and sizes that would
 * exceed the adapter's buffer limits or the budget are refused up front, naming the largest size that fits.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/runtime.js';
import { readImageFile } from '../src/io/image.js';
import type { RgbaImage } from '../src/io/rgbaImage.js';
import { randomVggWeights } from '../bench/inputs.js';
import { pooledBytes } from '../src/gpu/buffers.js';
import { DEFAULT_LOSS, GatysLoss, lossDepth, lossPlanBytes, styleTargetBytes, type LossConfig } from '../src/net/loss.js';
import { featureMapsBytes, networkWeightBytes, Vgg19Net } from '../src/net/network.js';
import { VGG19 } from '../src/net/vgg19.js';
import {
  estimateMemory,
  estimateTiledMemory,
  largestFittingSize,
  memoryProblem,
  MIN_CHOSEN_HISTORY,
  planRun,
  noFitProblem,
  planRunWithHistory,
  tileCores,
} from '../src/net/memory.js';
import { resolveOptions } from '../src/net/options.js';
import { lossConfigOf, planScale, stylize } from '../src/net/stylize.js';
import { randomArray, realWeights, repoRoot, testGpu, weightsDir } from './helpers/env.js';

const golden = join(repoRoot, 'test/fixtures/golden');

describe('memory planning', () => {
  const shape = { config: { ...DEFAULT_LOSS }, optimizer: 'lbfgs' as const, historySize: 100, parallelism: 'cpu' as const };

  it('grows with the image and the history', () => {
    const at = (w: number, h: number, m = 100) => estimateMemory({ ...shape, historySize: m, width: w, height: h, style: { width: w, height: h } });
    const fixed = at(16, 16).totalBytes; // mostly weights
    expect(at(256, 192).totalBytes - fixed).toBeGreaterThan(3.5 * (at(128, 96).totalBytes - fixed));
    // The L-BFGS history comes after the style-target pass, so the peak takes the larger of the two.
    const extra = at(128, 96, 200).totalBytes - at(128, 96, 100).totalBytes;
    expect(extra - 2 * 100 * 3 * 128 * 96 * 4).toBeGreaterThanOrEqual(0); // 100 more (y, s) pairs ...
    expect(extra - 2 * 100 * 3 * 128 * 96 * 4).toBeLessThan(100 * 64); // ... and their per-slot scalars
    expect(at(128, 96, 10).totalBytes).toBeLessThan(at(128, 96, 100).totalBytes);
    // relu1_1 (64 channels at full size) is the largest buffer.
    expect(at(512, 384).largestBufferBytes).toBe(64 * 512 * 384 * 4);
  });

  it.each([
    ['direct', 2 * 9],
    ['winograd', 16],
  ] as const)(
    "f16 weight storage halves every weight buffer but the first layer's (%s convs: %i weights per channel pair); generic first-layer kernels need no tap columns",
    (convAlgorithm, perPair) => {
      const dims = { width: 64, height: 48, style: { width: 64, height: 48 }, convAlgorithm };
      const f32 = estimateMemory({ ...shape, ...dims }).totalBytes;
      const f16 = estimateMemory({ ...shape, ...dims, weightStorage: 'f16' }).totalBytes;
      // conv1_2 .. conv5_1 (the default loss's depth): two 9-tap layouts each, or one 16-position Winograd array;
      // 2 bytes saved per weight.
      let saved = 0;
      for (const layer of VGG19.slice(0, lossDepth(DEFAULT_LOSS))) if (layer.kind === 'conv' && layer.inChannels > 3) saved += perPair * layer.inChannels * layer.outChannels * 2;
      expect(f32 - f16).toBe(saved);
      const generic = estimateMemory({ ...shape, ...dims, imageLayerKernels: false }).totalBytes;
      // No HW x 28 tap columns; conv1_1's backward weights are its flipped kernel (9 x 4 x 64) instead of 64 x 28.
      expect(f32 - generic).toBe(64 * 48 * 28 * 4 + 64 * 28 * 4 - 9 * 4 * 64 * 4);
    },
  );

  it('Winograd: 16 instead of 18 weights per channel pair, plus V and M of at most the largest activation each', () => {
    const dims = { width: 128, height: 128, style: { width: 128, height: 128 } };
    const direct = estimateMemory({ ...shape, ...dims, optimizer: 'adam', convAlgorithm: 'direct' }).totalBytes;
    const winograd = estimateMemory({ ...shape, ...dims, optimizer: 'adam', convAlgorithm: 'winograd' }).totalBytes;
    let pairs = 0;
    for (const layer of VGG19.slice(0, lossDepth(DEFAULT_LOSS))) if (layer.kind === 'conv' && layer.inChannels > 3) pairs += layer.inChannels * layer.outChannels;
    // conv1_2 needs 4 times the relu1_1 activation (16 positions x 64 channels per 2x2 tile): capped, in bands.
    const scratch = 2 * 128 * 128 * 64 * 4;
    // Adam's state is smaller than the style-target pass, which holds a second scratch pair.
    expect(winograd - direct).toBe(2 * scratch - 2 * 4 * pairs);
    // The largest buffer: a 512 -> 512 layer's transformed weights (16 MiB), above relu1_1 (4 MiB) and the scratch.
    expect(estimateMemory({ ...shape, ...dims, convAlgorithm: 'winograd' }).largestBufferBytes).toBe(16 * 512 * 512 * 4);
  });

  it('finds the largest size under a per-buffer limit: untiled while relu1_1 fits one binding, then tiled up to a full-size image plane', () => {
    const limits = { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 128 * 2 ** 20 };
    const images = { content: { width: 400, height: 300 }, styles: [{ width: 400, height: 300 }], styleScale: 1 };
    const best = largestFittingSize({ ...shape, ...images }, limits, 8000);
    const at = (w: number) => ({ ...shape, width: w, height: Math.round((w * 3) / 4), style: { width: w, height: Math.round((w * 3) / 4) } });
    // Untiled (normalised gradients are never tiled), 64 channels * W * H * 4 bytes of relu1_1 must fit 128 MiB.
    const untiled = largestFittingSize({ ...shape, ...images, config: { ...shape.config, normalizeGradients: true } }, limits, 8000);
    expect(64 * untiled * Math.round((untiled * 3) / 4) * 4).toBeLessThanOrEqual(128 * 2 ** 20);
    expect(memoryProblem(estimateMemory(at(untiled + 4)), limits)).toMatch(/per buffer/);
    // Tiled, the image plane (3 x W x H f32, also the optimiser's vectors) is what cannot be split.
    expect(best).toBeGreaterThan(3 * untiled);
    expect(3 * best * Math.round((best * 3) / 4) * 4).toBeLessThanOrEqual(128 * 2 ** 20);
    expect(planRun(at(best), limits)?.evaluation.tiled).toBe(true);
    expect(planRun(at(best + 8), limits)).toBeUndefined();
    expect(planRun(at(untiled), limits)?.evaluation).toEqual({ tiled: false });
    // Just too large to fit whole: two halves (rectangular cores), not four quarters.
    const halves = planRun(at(untiled + 16), limits)?.evaluation;
    expect(halves?.tiled && halves.columns * halves.rows).toBe(2);
  });

  it('tiles within a budget: the least-work grid whose estimate fits, a shorter L-BFGS history only when nothing else fits', () => {
    const limits = { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 128 * 2 ** 20, budgetBytes: 1024 * 2 ** 20 };
    const run = { ...shape, optimizer: 'adam' as const, width: 2048, height: 1362, style: { width: 2048, height: 1362 } };
    const plan = planRun(run, limits)!;
    expect(plan.evaluation.tiled).toBe(true);
    expect(plan.memory.totalBytes).toBeLessThanOrEqual(limits.budgetBytes);
    if (!plan.evaluation.tiled) return;
    const grid = [plan.evaluation.columns, plan.evaluation.rows];
    expect(grid[0] * grid[1]).toBeGreaterThan(1);
    expect(estimateTiledMemory(run, plan.evaluation.core).totalBytes).toBe(plan.memory.totalBytes);
    // Every grid of less work (earlier in tileCores' order) does not fit.
    const cores = tileCores(run, limits);
    const planned = plan.evaluation.core;
    const chosen = cores.findIndex((c) => c.width === planned.width && c.height === planned.height);
    expect(chosen).toBeGreaterThanOrEqual(0);
    for (const core of cores.slice(0, chosen)) expect(estimateTiledMemory(run, core).totalBytes).toBeGreaterThan(limits.budgetBytes);
    // L-BFGS m = 100 at 2048 px is 2.2 GB of history: only a shorter one fits 1 GiB.
    expect(planRun({ ...run, optimizer: 'lbfgs', historySize: 100 }, limits)).toBeUndefined();
    const lbfgs = { ...run, optimizer: 'lbfgs' as const, historySize: 100 };
    const shorter = planRunWithHistory(lbfgs, limits)!;
    expect(shorter.reducedFrom).toBe(100);
    // The largest core that keeps at least MIN_CHOSEN_HISTORY pairs, and the longest history that fits with it.
    expect(shorter.plan.historySize).toBeGreaterThanOrEqual(MIN_CHOSEN_HISTORY);
    expect(shorter.plan.historySize).toBeLessThan(100);
    expect(shorter.plan.evaluation.tiled).toBe(true);
    if (!shorter.plan.evaluation.tiled) return;
    const core = shorter.plan.evaluation.core;
    expect(estimateTiledMemory({ ...lbfgs, historySize: shorter.plan.historySize + 1 }, core).totalBytes).toBeGreaterThan(limits.budgetBytes);
    // Where nothing fits, the message quotes the tiles that need the least memory and the optimiser's share.
    const tight = { ...limits, budgetBytes: 300 * 2 ** 20 };
    expect(planRunWithHistory(lbfgs, tight)).toBeUndefined();
    expect(noFitProblem(lbfgs, tight)).toMatch(
      /^even in \d+ x \d+ tiles \(the least memory\) it needs \d+ MiB of GPU memory, more than the budget of 300 MiB; the optimiser's state alone is \d+ MiB at full size$/,
    );
    const lbfgsCores = tileCores(lbfgs, limits);
    const at = lbfgsCores.findIndex((c) => c.width === core.width && c.height === core.height);
    for (const less of lbfgsCores.slice(0, at)) {
      expect(estimateTiledMemory({ ...lbfgs, historySize: MIN_CHOSEN_HISTORY }, less).totalBytes).toBeGreaterThan(limits.budgetBytes);
    }
  });
});

describe('each owner holds exactly the bytes it exports (memory.ts adds these up)', () => {
  const weights = randomVggWeights();
  // A fresh runtime per case: its pool's live bytes (less uniform blocks) are exactly what the owners hold.
  const freshGpu = async () => {
    const shared = await testGpu();
    return new GpuRuntime(shared.context, { parallelism: shared.parallelism });
  };
  const dataBytes = (gpu: GpuRuntime) => {
    const stats = gpu.buffers.getStats();
    return stats.liveBytes - stats.uniformBytes;
  };

  it.for([
    ['direct', 'f32', true],
    ['direct', 'f32', false],
    ['winograd', 'f32', true],
    ['winograd', 'f16', true],
    ['direct', 'f16', false],
  ] as const)('network weights: %s convs, %s storage, image-layer kernels %s', async ([convAlgorithm, weightStorage, imageLayerKernels], ctx) => {
    const gpu = await freshGpu();
    if (weightStorage === 'f16' && !gpu.context.f16) ctx.skip();
    for (const depth of [lossDepth(DEFAULT_LOSS), VGG19.length]) {
      const net = new Vgg19Net(gpu, weights, { depth, convAlgorithm, weightStorage, imageLayerKernels });
      const counted = networkWeightBytes({ depth, convAlgorithm, weightStorage, imageLayerKernels });
      expect(net.heldBytes).toBe(counted.total);
      expect(dataBytes(gpu)).toBe(counted.total);
      net.dispose();
      gpu.buffers.trim();
    }
    gpu.buffers.destroy();
  });

  const configs: Array<[string, number, number, LossConfig]> = [
    ['default loss', 32, 24, { ...DEFAULT_LOSS }],
    ['odd sides, normalised gradients', 37, 23, { ...DEFAULT_LOSS, normalizeGradients: true }],
    ['two content layers, shallow style', 40, 34, { ...DEFAULT_LOSS, contentLayers: ['relu2_2', 'relu4_2'], styleLayers: ['relu1_1', 'relu2_1'], styleLayerWeights: [1, 2] }],
  ];
  it.each(configs)('the plan of one size and its style-target pass: %s (%i x %i)', async (_, width, height, config) => {
    const gpu = await freshGpu();
    for (const convAlgorithm of ['direct', 'winograd'] as const) {
      const depth = lossDepth(config);
      const net = new Vgg19Net(gpu, weights, { depth, convAlgorithm });
      const netBytes = dataBytes(gpu);
      const loss = new GatysLoss(net, width, height, config);
      const counted = lossPlanBytes(width, height, config, gpu.parallelism);
      const own = [
        counted.x,
        counted.grad,
        counted.losses,
        counted.partials,
        counted.gramScratch,
        counted.table,
        counted.normalizeScratch,
        counted.normalizePartials,
        counted.normalizeNorms,
      ]
        .filter((b) => b > 0)
        .concat(counted.contentTargets, ...counted.grams.map((g) => [g, g, g]), [counted.gradient, counted.gradient])
        .reduce((sum, b) => sum + pooledBytes(b), 0);
      expect(loss.ownBytes).toBe(own);
      const maps = featureMapsBytes(width, height, depth, { convAlgorithm, imageGradientColumns: net.imageLayerKernels });
      expect(loss.maps.heldBytes).toBe(maps);
      expect(dataBytes(gpu) - netBytes).toBe(own + maps);
      // One style image at another size: x uploaded first, then the transient pass (kept in the pool until trimmed).
      const style = { width: height + 3, height: width };
      const x = gpu.upload(randomArray(3 * style.width * style.height, 5, -100, 100), 'style x');
      const before = dataBytes(gpu);
      await loss.setStyleTargets([{ x, ...style }]);
      expect(dataBytes(gpu) - before).toBe(styleTargetBytes(style.width, style.height, config, gpu.parallelism, convAlgorithm));
      gpu.buffers.release(x);
      loss.dispose();
      net.dispose();
      gpu.buffers.trim();
      expect(gpu.buffers.getStats().liveBytes).toBe(0);
    }
    gpu.buffers.destroy();
  });
});

describe.skipIf(!weightsDir)('memory limits in a run (real weights)', () => {
  let content: RgbaImage;
  let style: RgbaImage;
  beforeAll(async () => {
    content = await readImageFile(join(golden, 'content.png'));
    style = await readImageFile(join(golden, 'style.png'));
  });

  it.each(['adam', 'lbfgs'] as const)('the estimate is the peak a %s run holds but for its uniform blocks', async (optimizer) => {
    const shared = await testGpu();
    const gpu = new GpuRuntime(shared.context, { parallelism: shared.parallelism }); // fresh pool: its peak is this run's alone
    const options = resolveOptions({ size: 32, iterations: 2, optimizer, historySize: 5, printEvery: 0 });
    const result = await stylize({ gpu, weights: realWeights(), content, styles: [style], options });
    // Two iterations fill two of the five history slots: the run keeps two (historyUsed), said nowhere (nothing is lost).
    expect(result.plans[0].historySize).toBe(2);
    expect(result.plans[0].reducedHistoryFrom).toBeUndefined();
    const estimate = estimateMemory({
      width: 32,
      height: 24,
      style: { width: 24, height: 32 },
      config: { ...DEFAULT_LOSS },
      optimizer,
      historySize: 2,
      parallelism: gpu.parallelism,
    });
    // Left out: one 16-32 byte uniform block per recorded dispatch (a few hundred) and short-lived uploads.
    expect(result.peakBytes - estimate.totalBytes).toBeGreaterThanOrEqual(0);
    expect(result.peakBytes - estimate.totalBytes).toBeLessThan(16 * 1024);
    gpu.buffers.destroy();
  });

  it('the f16-weight estimate is the peak an f16 run holds but for its uniform blocks', async (ctx) => {
    const shared = await testGpu();
    if (!shared.context.f16) ctx.skip();
    const gpu = new GpuRuntime(shared.context, { parallelism: shared.parallelism });
    const options = resolveOptions({ size: 32, iterations: 2, optimizer: 'adam', printEvery: 0, weightStorage: 'f16' });
    const result = await stylize({ gpu, weights: realWeights(), content, styles: [style], options });
    const estimate = estimateMemory({
      width: 32,
      height: 24,
      style: { width: 24, height: 32 },
      config: { ...DEFAULT_LOSS },
      optimizer: 'adam',
      historySize: 100,
      weightStorage: 'f16',
      parallelism: gpu.parallelism,
    });
    expect(result.peakBytes - estimate.totalBytes).toBeGreaterThanOrEqual(0);
    expect(result.peakBytes - estimate.totalBytes).toBeLessThan(16 * 1024);
    gpu.buffers.destroy();
  });

  it('a tiled run: the estimate is the peak but for its uniform blocks (no image upload or readback left in the pool)', async () => {
    const shared = await testGpu();
    const gpu = new GpuRuntime(shared.context, { parallelism: shared.parallelism });
    const options = resolveOptions({ size: 160, iterations: 1, optimizer: 'adam', printEvery: 0, contentLayers: ['relu2_1'], styleLayers: ['relu1_1', 'relu2_1'] });
    const config = lossConfigOf(options, 1);
    const untiled = planScale(gpu, content, [style], 160, config, options).estimatedBytes;
    // A budget one byte short of the untiled estimate: the run is planned in tiles.
    const result = await stylize({ gpu, weights: realWeights(), content, styles: [style], options: { ...options, memoryBudget: untiled - 1 } });
    expect(result.plans[0].evaluation.tiled).toBe(true);
    // Each image's RGBA upload and the result's readback (77 KB each here) are destroyed after use, not pooled.
    expect(result.peakBytes - result.plans[0].estimatedBytes).toBeGreaterThanOrEqual(0);
    expect(result.peakBytes - result.plans[0].estimatedBytes).toBeLessThan(64 * 1024);
    gpu.buffers.destroy();
  });

  it('refuses a size beyond the adapter limit before allocating, naming the largest that fits', async () => {
    const gpu = await testGpu();
    const before = gpu.buffers.getStats();
    const options = resolveOptions({ size: 20000, iterations: 1 });
    await expect(stylize({ gpu, weights: realWeights(), content, styles: [style], options })).rejects.toThrow(
      /does not fit: the image's own buffers \(3 x 20000 x \d+ floats: the image, its gradient, each optimiser vector\) take \d+ MiB each, over this GPU's limit of \d+ MiB per buffer, and tiles cannot split them\. The largest size that fits on this GPU is \d+ px/,
    );
    expect(gpu.buffers.getStats().created).toBe(before.created);
  });

  it('refuses a size over the memory budget', async () => {
    const gpu = await testGpu();
    const budget = estimateMemory({
      width: 24,
      height: 18,
      style: { width: 18, height: 24 },
      config: { ...DEFAULT_LOSS },
      optimizer: 'adam',
      historySize: 100,
      parallelism: gpu.parallelism,
    }).totalBytes;
    const options = resolveOptions({ size: 32, iterations: 1, optimizer: 'adam', memoryBudget: budget });
    const error = await stylize({ gpu, weights: realWeights(), content, styles: [style], options }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(String(error)).toMatch(/more than the budget/);
    const fits = Number(/largest size that fits on this GPU is (\d+) px/.exec(String(error))?.[1]);
    expect(fits).toBeGreaterThanOrEqual(24);
    expect(fits).toBeLessThan(32);
  });
});

describe('style image sizes', () => {
  it('keep the shorter side at least the network minimum, keeping the aspect', async () => {
    const { styleDims } = await import('../src/net/memory.js');
    expect(styleDims({ width: 640, height: 480 }, 32, 1, 16)).toEqual({ width: 32, height: 24 });
    // A wide style at a small size would lose relu5_1: raised so the shorter side is 16.
    expect(styleDims({ width: 400, height: 100 }, 32, 1, 16)).toEqual({ width: 64, height: 16 });
    expect(styleDims({ width: 100, height: 400 }, 16, 0.5, 16)).toEqual({ width: 16, height: 64 });
  });
});
