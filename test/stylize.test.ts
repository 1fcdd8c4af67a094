/**
 * The stylize API end to end with the real weights on tiny images and shallow layers (fast on lavapipe): each
 * option moves the result the expected way, progress never maps buffers per iteration, stopping works.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readImageFile } from '../src/io/image.js';
import type { RgbaImage } from '../src/io/rgbaImage.js';
import { PRESETS, resolveOptions, type StylizeOptions } from '../src/net/options.js';
import { stylize, transferLuminance } from '../src/net/stylize.js';
import { GpuRuntime } from '../src/gpu/runtime.js';
import { dotProductSums } from '../src/gpu/parallelism.js';
import { lbfgsMemoryBytes } from '../src/optim/lbfgs.js';
import { lineSearchBytes } from '../src/optim/lbfgsLineSearch.js';
import { realWeights, repoRoot, testGpu, weightsDir } from './helpers/env.js';

const golden = join(repoRoot, 'test/fixtures/golden');

/** Shallow, quick configuration: the losses stop at relu2_1 (4 layers), images 32x24. */
const quick: Partial<StylizeOptions> = {
  size: 32,
  iterations: 8,
  optimizer: 'adam',
  learningRate: 5,
  contentLayers: ['relu2_1'],
  styleLayers: ['relu1_1', 'relu2_1'],
  printEvery: 4,
};

/** Mean |U| + |V| difference between two images (BT.601 chroma). */
function chromaDistance(a: RgbaImage, b: RgbaImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const uv = (d: Uint8ClampedArray) => {
      const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      return [d[i + 2] - y, d[i] - y];
    };
    const [ua, va] = uv(a.data);
    const [ub, vb] = uv(b.data);
    sum += Math.abs(ua - ub) + Math.abs(va - vb);
  }
  return sum / (a.data.length / 4);
}

/**
 * `a` and `b` are finite and differ by more than `minRelative` of the larger: `expect(a).not.toBe(b)` alone passes
 * when either is NaN or when they differ in the last bit.
 */
function expectDistinct(a: number, b: number, minRelative: number, what: string): void {
  const message = `${what}: ${a} vs ${b}`;
  expect(Number.isFinite(a) && Number.isFinite(b), message).toBe(true);
  expect(Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)), message).toBeGreaterThan(minRelative);
}

describe('resolveOptions', () => {
  it('applies defaults, then the preset, then explicit options', () => {
    const o = resolveOptions({ preset: 'course', iterations: 7 });
    expect(o.optimizer).toBe('adam');
    expect(o.learningRate).toBe(2);
    expect(o.iterations).toBe(7);
    expect(o.init).toBe('noise');
    // course: beta 40, 0.2 per layer on the unnormalised Gram: 40 * 0.2 * C^2 / 4 on our mean-of-(G - Gs)^2.
    expect(o.styleWeight * o.styleLayerWeights![0]).toBeCloseTo((40 * 0.2 * 64 ** 2) / 4);
    expect(o.contentWeight).toBe(2.5);
    expect(resolveOptions({ preset: 'neural-style' }).init).toBe(PRESETS['neural-style'].init);
  });
  it.each([
    [{ iterations: -1 }, /iterations/],
    [{ size: 0 }, /size/],
    [{ learningRate: 0 }, /learningRate/],
    [{ styleWeight: Number.NaN }, /styleWeight/],
    [{ styleLayers: ['relu9_9'] }, /Unknown layer/],
    [{ optimizer: 'adam', lineSearch: 'strong-wolfe' }, /line search needs the lbfgs/],
    [{ lineSearch: 'armijo' as never }, /lineSearch must be none or strong-wolfe/],
    [{ weightStorage: 'f8' as never }, /weightStorage must be f32 or f16/],
    [{ styleLayerWeights: [1] }, /style layer weights/],
    [{ noiseRatio: 2 }, /noiseRatio/],
  ] as Array<[Partial<StylizeOptions>, RegExp]>)('rejects %j', (options, message) => {
    expect(() => resolveOptions(options)).toThrow(message);
  });
});

describe.skipIf(!weightsDir)('stylize (real VGG-19, 32x24)', () => {
  let gpu: GpuRuntime;
  let content: RgbaImage;
  let style: RgbaImage;
  let image: RgbaImage;
  const run = (options: Partial<StylizeOptions>, extra: { styles?: RgbaImage[]; signal?: AbortSignal } = {}) =>
    stylize({ gpu, weights: realWeights(), content, styles: extra.styles ?? [style], options: resolveOptions({ ...quick, ...options }), signal: extra.signal });

  beforeAll(async () => {
    gpu = await testGpu();
    content = await readImageFile(join(golden, 'content.png'));
    style = await readImageFile(join(golden, 'style.png'));
    image = await readImageFile(join(golden, 'image.png'));
  });

  it('lowers the loss with Adam and with L-BFGS and reports every iteration', async () => {
    for (const optimizer of ['adam', 'lbfgs'] as const) {
      const result = await run({ optimizer, learningRate: optimizer === 'adam' ? 5 : 1 });
      expect(result.records.map((r) => r.iteration)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      for (const r of result.records) expect(Number.isFinite(r.total) && r.ms >= 0).toBe(true);
      expect(result.records[7].total).toBeLessThan(0.7 * result.records[0].total);
      expect([result.image.width, result.image.height]).toEqual([32, 24]);
    }
  });

  it('records the style loss per style: one value without masks, one per style with masks, adding up to the style loss', async () => {
    const plain = await run({ iterations: 2 });
    for (const r of plain.records) expect(r.styles).toEqual([r.style]);
    // Left half for the first style, the rest for the second (the content's frame; resized to the run size).
    const half = (left: boolean): RgbaImage => {
      const data = new Uint8ClampedArray(content.width * content.height * 4);
      for (let y = 0; y < content.height; y++)
        for (let x = 0; x < content.width; x++) data.fill(x < content.width / 2 === left ? 255 : 0, (y * content.width + x) * 4, (y * content.width + x) * 4 + 4);
      return { width: content.width, height: content.height, data };
    };
    const masked = await stylize({
      gpu,
      weights: realWeights(),
      content,
      styles: [style, image],
      styleMasks: [half(true), half(false)],
      options: resolveOptions({ ...quick, iterations: 2 }),
    });
    for (const r of masked.records) {
      expect(r.styles).toHaveLength(2);
      expect(r.styles.every((v) => v > 0)).toBe(true);
      expect(Math.abs(r.styles[0] + r.styles[1] - r.style) / r.style).toBeLessThan(1e-5);
    }
    console.log(`per-style losses with two masks: ${masked.records.map((r) => `${r.styles.map((v) => v.toExponential(4)).join(' + ')} = ${r.style.toExponential(4)}`).join('; ')}`);
  });

  it('default L-BFGS at 24 px (every default layer): the loss never exceeds its first value by more than 10x', async () => {
    const cat = await readImageFile(join(repoRoot, 'samples/chelsea.png'));
    const starryNight = await readImageFile(join(repoRoot, 'samples/starry_night.jpg'));
    const runDefault = (options: Partial<StylizeOptions>) =>
      stylize({ gpu, weights: realWeights(), content: cat, styles: [starryNight], options: resolveOptions({ size: 24, iterations: 6, printEvery: 1, ...options }) });
    const worst = (records: { total: number }[]) => Math.max(...records.map((r) => r.total)) / records[0].total;
    const safe = await runDefault({});
    expect(resolveOptions({}).lineSearch).toBe('strong-wolfe');
    expect(safe.records).toHaveLength(6);
    expect(worst(safe.records), safe.records.map((r) => r.total).join(', ')).toBeLessThanOrEqual(10);
    expect(safe.records[5].total).toBeLessThan(safe.records[0].total);
    // Every iteration took at least one evaluation, the first one several (its first trial step is 1 / |g|_1).
    expect(safe.records.every((r) => r.evaluations >= 1)).toBe(true);
    expect(safe.records[0].evaluations).toBeGreaterThan(1);
    // torch.optim.LBFGS without a line search stays available (its blow-up shows at 128 px: docs/benchmarks.md).
    const exact = await runDefault({ lineSearch: 'none' });
    expect(exact.records.map((r) => r.evaluations)).toEqual([1, 1, 1, 1, 1, 1]);
    console.log(
      `24 px, 6 iterations: line search ${safe.records.map((r) => r.total.toExponential(3)).join(', ')} (evaluations ${safe.records.map((r) => r.evaluations).join(', ')}); none ${exact.records.map((r) => r.total.toExponential(3)).join(', ')}`,
    );
  });

  it('continues from an image: initialImage replaces init, firstIteration numbers the records on', async () => {
    const first = await run({ iterations: 3 });
    const resumed = await stylize({
      gpu,
      weights: realWeights(),
      content,
      styles: [style],
      options: resolveOptions({ ...quick, iterations: 2 }),
      initialImage: first.image,
      firstIteration: 3,
    });
    expect(resumed.records.map((r) => r.iteration)).toEqual([4, 5]);
    expect(resumed.iterations).toBe(2);
    // It starts where the first run ended (the image, 8-bit), not from the content again.
    const fresh = await run({ iterations: 1 });
    expect(resumed.records[0].total).toBeLessThan(fresh.records[0].total);
    expect(Math.abs(resumed.records[0].total - first.records[2].total) / first.records[2].total).toBeLessThan(0.2);
  });

  it('reports its phases in order: compiling, style-targets, optimizing (per scale)', async () => {
    const phases: string[] = [];
    await stylize({
      gpu,
      weights: realWeights(),
      content,
      styles: [style],
      options: resolveOptions({ ...quick, scales: [16, 32], iterations: 1 }),
      onPhase: (p) => phases.push(p),
    });
    expect(phases).toEqual(['compiling', 'style-targets', 'optimizing', 'compiling', 'style-targets', 'optimizing']);
  });

  it('gives the same image whether iterations are awaited one by one (CPU adapter) or two are queued', async () => {
    // On lavapipe testGpu() waits one iteration at a time (QueueWaiter); a runtime on the same device (and with the
    // same parallelism) that says its waits do not compete with the shaders takes the queued path that browsers and
    // real GPUs use, and the other way round on a GPU.
    const queued = new GpuRuntime({ ...gpu.context, waitsCompeteWithShaders: !gpu.context.waitsCompeteWithShaders }, { parallelism: gpu.parallelism });
    const options = resolveOptions({ ...quick, iterations: 5 });
    const a = await stylize({ gpu, weights: realWeights(), content, styles: [style], options });
    const b = await stylize({ gpu: queued, weights: realWeights(), content, styles: [style], options });
    expect(b.records.map((r) => r.total)).toEqual(a.records.map((r) => r.total));
    expect(Buffer.from(b.image.data).equals(Buffer.from(a.image.data))).toBe(true);
    queued.buffers.destroy();
  });

  it('L-BFGS with the strong-Wolfe line search lowers the loss at every iteration', async () => {
    const result = await run({ optimizer: 'lbfgs', learningRate: 1, iterations: 6, lineSearch: 'strong-wolfe' });
    expect(result.records.map((r) => r.iteration)).toEqual([1, 2, 3, 4, 5, 6]);
    // Each record is the loss at the iterate before its step; the sufficient-decrease condition makes it fall.
    for (let k = 1; k < result.records.length; k++) expect(result.records[k].total).toBeLessThan(result.records[k - 1].total);
    expect(result.records[5].total).toBeLessThan(0.7 * result.records[0].total);
    // The search's origin vector and readback count with the optimiser's state; six iterations fill six of the
    // default history's slots, and the run keeps no more (historyUsed).
    const n = 3 * 32 * 24;
    expect(result.plans[0].historySize).toBe(6);
    expect(result.optimizerBytes).toBe(lbfgsMemoryBytes(n, 6, dotProductSums(n, gpu.parallelism)) + lineSearchBytes(n));
  });

  it('f16 weight storage: the run lowers the loss and starts from the f32 loss within 1e-3', async (ctx) => {
    if (!gpu.context.f16) ctx.skip();
    const f32 = await run({ optimizer: 'adam', learningRate: 5, iterations: 4 });
    const f16 = await run({ optimizer: 'adam', learningRate: 5, iterations: 4, weightStorage: 'f16' });
    expect(Math.abs(f16.records[0].total - f32.records[0].total) / f32.records[0].total).toBeLessThan(1e-3);
    // ... and is not the f32 run (f16 rounding of the weights shows at about 1e-5).
    expectDistinct(f16.records[0].total, f32.records[0].total, 1e-6, 'f16 vs f32 total');
    expect(f16.records[3].total).toBeLessThan(0.9 * f16.records[0].total);
  });

  it('f16 weight storage on an adapter without shader-f16: one clear error, nothing allocated', async () => {
    const without = new GpuRuntime({ ...gpu.context, f16: false }, { parallelism: gpu.parallelism });
    const error = await stylize({ gpu: without, weights: realWeights(), content, styles: [style], options: resolveOptions({ ...quick, weightStorage: 'f16' }) }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(String(error)).toMatch(/f16 weight storage needs the GPU feature shader-f16, which this adapter does not offer; use f32\./);
    expect(without.buffers.getStats().created).toBe(0);
    without.buffers.destroy();
  });

  it('reads progress without mapping a buffer every iteration', async () => {
    const before = gpu.mappings;
    await run({ iterations: 12, printEvery: 6 });
    // Progress twice, the final image once, style targets (2 layers) once each: nothing per iteration.
    expect(gpu.mappings - before).toBeLessThanOrEqual(2 + 1 + 2);
  });

  it('keeps the L-BFGS memory within (2m + 4) * 3HW * 4 bytes plus the network', async () => {
    const n = 3 * 32 * 24;
    // Without the line search: the optimiser's state alone, (2m + 2) n 4 and its scalars.
    // m = 2 < the 3 iterations: the history is kept as asked (a longer one would be cut to the iterations).
    const plain = await run({ optimizer: 'lbfgs', learningRate: 1, iterations: 3, historySize: 2, lineSearch: 'none' });
    expect(plain.optimizerBytes).toBe(lbfgsMemoryBytes(n, 2, dotProductSums(n, gpu.parallelism)));
    expect(plain.optimizerBytes).toBeLessThanOrEqual((2 * 2 + 2) * n * 4 + 64 * 1024);
    // The default line search adds its origin vector and readback, still within (2m + 4) n 4.
    const searched = await run({ optimizer: 'lbfgs', learningRate: 1, iterations: 3, historySize: 2 });
    expect(searched.optimizerBytes).toBe(lbfgsMemoryBytes(n, 2, dotProductSums(n, gpu.parallelism)) + lineSearchBytes(n));
    expect(searched.optimizerBytes).toBeLessThanOrEqual((2 * 2 + 4) * n * 4 + 64 * 1024);
  });

  it('a higher style weight gives a lower (unweighted) style loss', async () => {
    const low = await run({ styleWeight: 10 });
    const high = await run({ styleWeight: 1000 });
    const unweighted = (r: typeof low, w: number) => r.records[r.records.length - 1].style / w;
    expect(unweighted(high, 1000)).toBeLessThan(unweighted(low, 10));
  });

  it('a higher TV weight gives a smoother image', async () => {
    const low = await run({ tvWeight: 0 });
    const high = await run({ tvWeight: 5 });
    const tvOf = (img: RgbaImage) => {
      let s = 0;
      for (let i = 4; i < img.data.length; i++) s += Math.abs(img.data[i] - img.data[i - 4]);
      return s;
    };
    expect(tvOf(high.image)).toBeLessThan(tvOf(low.image));
  });

  it('original colours keep the content chroma', async () => {
    const plain = await run({ originalColors: false, styleWeight: 1000 });
    const kept = await run({ originalColors: true, styleWeight: 1000 });
    expect(chromaDistance(kept.image, content)).toBeLessThan(2);
    expect(chromaDistance(plain.image, content)).toBeGreaterThan(chromaDistance(kept.image, content) + 1);
    // Luminance of an image onto its own chroma gives the image back (up to YUV rounding).
    const same = transferLuminance(content, content);
    expect(Math.max(...Array.from(same.data, (v, k) => (k % 4 === 3 ? 0 : Math.abs(v - content.data[k]))))).toBeLessThanOrEqual(1);
  });

  it('init: content starts with zero content loss, noise does not; the seed makes noise reproducible', async () => {
    const fromContent = await run({ init: 'content', iterations: 1 });
    const noisyA = await run({ init: 'noise', seed: 1, iterations: 1 });
    const noisyB = await run({ init: 'noise', seed: 1, iterations: 1 });
    const noisyC = await run({ init: 'noise', seed: 2, iterations: 1 });
    expect(fromContent.records[0].content).toBe(0);
    expect(noisyA.records[0].content).toBeGreaterThan(0);
    expect(Number.isFinite(noisyA.records[0].total)).toBe(true);
    expect(noisyB.records[0].total).toBe(noisyA.records[0].total);
    expectDistinct(noisyC.records[0].total, noisyA.records[0].total, 1e-3, 'seed 2 vs seed 1');
    const random = await run({ init: 'random', iterations: 1 });
    expect(random.records[0].content).toBeGreaterThan(noisyA.records[0].content);
  });

  it('average pooling changes the losses', async () => {
    const cfg = { contentLayers: ['relu3_1'], iterations: 1 };
    const max = await run({ ...cfg, pooling: 'max' });
    const avg = await run({ ...cfg, pooling: 'avg' });
    expectDistinct(avg.records[0].style, max.records[0].style, 1e-3, 'avg vs max pooling style loss');
  });

  it('style blend weights [1, 0] equal the first style alone; an even blend is neither style', async () => {
    const alone = await run({ iterations: 1 });
    const other = await run({ iterations: 1 }, { styles: [image] });
    const weightedFirst = await run({ iterations: 1, styleBlendWeights: [1, 0] }, { styles: [style, image] });
    const half = await run({ iterations: 1, styleBlendWeights: [1, 1] }, { styles: [style, image] });
    expect(Math.abs(weightedFirst.records[0].style - alone.records[0].style) / alone.records[0].style).toBeLessThan(1e-5);
    expectDistinct(half.records[0].style, alone.records[0].style, 1e-3, 'blend vs the first style');
    expectDistinct(half.records[0].style, other.records[0].style, 1e-3, 'blend vs the second style');
  });

  it('style scale changes the style targets', async () => {
    const one = await run({ iterations: 1, styleScale: 1 });
    const two = await run({ iterations: 1, styleScale: 2 });
    expectDistinct(two.records[0].style, one.records[0].style, 1e-3, 'style scale 2 vs 1');
  });

  it('scales run coarse to fine and end at the last size', async () => {
    const result = await run({ scales: [16, 32], iterations: 3 });
    expect(result.records.map((r) => r.iteration)).toEqual([1, 2, 3, 4, 5, 6]);
    expect([result.image.width, result.image.height]).toEqual([32, 24]);
  });

  it('stops within one iteration when aborted and keeps the image', async () => {
    const controller = new AbortController();
    const options = resolveOptions({ ...quick, iterations: 50, printEvery: 1 });
    let seen = 0;
    const result = await stylize({
      gpu,
      weights: realWeights(),
      content,
      styles: [style],
      options,
      signal: controller.signal,
      onIteration: ({ iteration }) => {
        seen = iteration;
        if (iteration === 3) controller.abort();
      },
    });
    expect(result.stopped).toBe(true);
    expect(result.iterations).toBe(3);
    expect(seen).toBe(3);
    expect(result.image.width).toBe(32);
  });

  it('leaves no GPU buffers behind', async () => {
    gpu.buffers.trim();
    const before = gpu.buffers.getStats();
    await run({ iterations: 2 });
    gpu.buffers.trim();
    const after = gpu.buffers.getStats();
    expect(after.live).toBe(before.live);
    expect(after.liveBytes).toBe(before.liveBytes);
  });
});

describe.skipIf(!weightsDir)('normalize-gradients', () => {
  it("scales a single term's image gradient by w / |g|_1 (backward is linear), and changes a mixed one", async () => {
    const { GatysLoss } = await import('../src/net/loss.js');
    const { Vgg19Net } = await import('../src/net/network.js');
    const { imageToX } = await import('../src/net/preprocess.js');
    const gpu = await testGpu();
    const content = await readImageFile(join(golden, 'content.png'));
    const style = await readImageFile(join(golden, 'style.png'));
    const image = await readImageFile(join(golden, 'image.png'));
    const net = new Vgg19Net(gpu, realWeights(), { depth: 4 });
    const gradFor = async (normalizeGradients: boolean, contentWeight: number) => {
      const loss = new GatysLoss(net, 32, 24, { contentWeight, styleWeight: 100, tvWeight: 0, contentLayers: ['relu2_1'], styleLayers: ['relu2_1'], normalizeGradients });
      await loss.setTargetImages(content, [style]);
      imageToX(gpu, image, loss.x);
      loss.evaluate();
      const grad = await gpu.readFloat32(loss.grad, 3 * 32 * 24);
      const values = await loss.readLosses();
      loss.dispose();
      return { grad, values };
    };
    const cosine = (a: Float32Array, b: Float32Array) => {
      let ab = 0,
        aa = 0,
        bb = 0;
      for (let i = 0; i < a.length; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
      }
      return ab / Math.sqrt(aa * bb);
    };
    const plainStyle = await gradFor(false, 0);
    const normStyle = await gradFor(true, 0);
    expect(normStyle.values.total).toBeCloseTo(plainStyle.values.total, 0);
    expect(cosine(plainStyle.grad, normStyle.grad)).toBeGreaterThan(0.99999);
    const ratio = Math.hypot(...normStyle.grad) / Math.hypot(...plainStyle.grad);
    expect(ratio).toBeLessThan(0.1);
    const plainMixed = await gradFor(false, 5);
    const normMixed = await gradFor(true, 5);
    expect(cosine(plainMixed.grad, normMixed.grad)).toBeLessThan(0.999);
    net.dispose();
  });
});
