/**
 * Robustness: leaks over many runs, the numerical guard, no eval anywhere, and a decoder fuzz over mutated PNG and
 * JPEG files made from the bundled samples.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImageBytes, encodePng } from '../src/io/image.js';
import { ImageInputError, resizeToLongerSide, type RgbaImage } from '../src/io/rgbaImage.js';
import { resolveOptions } from '../src/net/options.js';
import { NonFiniteLossError, stylize } from '../src/net/stylize.js';
import type { WeightTensors } from '../src/net/weights.js';
import { mulberry32 } from '../src/util/random.js';
import { realWeights, repoRoot, testGpu, weightsDir } from './helpers/env.js';

const golden = join(repoRoot, 'test/fixtures/golden');
const shallow = { contentLayers: ['relu2_1'], styleLayers: ['relu1_1', 'relu2_1'], optimizer: 'adam' as const };

describe.skipIf(!weightsDir)('runs in one process', () => {
  let content: RgbaImage;
  let style: RgbaImage;
  beforeAll(() => {
    content = decodeImageBytes(new Uint8Array(readFileSync(join(golden, 'content.png'))), 'content.png');
    style = decodeImageBytes(new Uint8Array(readFileSync(join(golden, 'style.png'))), 'style.png');
  });

  it('100 runs leave the count and bytes of live GPU buffers at their baseline', async () => {
    const gpu = await testGpu();
    const options = resolveOptions({ ...shallow, size: 8, iterations: 1, printEvery: 0 });
    const run = () => stylize({ gpu, weights: realWeights(), content, styles: [style], options });
    await run(); // pipelines compiled, pool warmed
    gpu.buffers.trim();
    const baseline = gpu.buffers.getStats();
    for (let k = 0; k < 100; k++) await run();
    gpu.buffers.trim();
    const after = gpu.buffers.getStats();
    expect(after.live).toBe(baseline.live);
    expect(after.liveBytes).toBe(baseline.liveBytes);
  }, 300_000);

  it('an extreme learning rate stops with a clear message instead of producing garbage', async () => {
    const gpu = await testGpu();
    const options = resolveOptions({ ...shallow, size: 32, iterations: 6, learningRate: 1e38, printEvery: 1 });
    await expect(stylize({ gpu, weights: realWeights(), content, styles: [style], options })).rejects.toThrow(NonFiniteLossError);
    await expect(stylize({ gpu, weights: realWeights(), content, styles: [style], options })).rejects.toThrow(
      /The loss became (NaN|Infinity|-Infinity) at iteration \d+; stopping/,
    );
  });

  it('weights holding NaN stop the run with a clear message (ReLU may hide the NaN for one iteration)', async () => {
    const gpu = await testGpu();
    const real = realWeights();
    const data = real.data.slice(0);
    const kernel = real.tensors.find((t) => t.name === 'conv1_1/kernel')!;
    new Float32Array(data, kernel.byteOffset, 4)[0] = Number.NaN;
    const broken: WeightTensors = { tensors: real.tensors, data };
    const options = resolveOptions({ ...shallow, size: 32, iterations: 3, printEvery: 0 });
    await expect(stylize({ gpu, weights: broken, content, styles: [style], options })).rejects.toThrow(/The loss became NaN at iteration \d+; stopping/);
  });
});

describe('security', () => {
  const sourceFiles = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sourceFiles(path) : /\.(ts|js|mjs)$/.test(name) ? [path] : [];
    });
  const files = ['src', 'shaders'].flatMap((d) => sourceFiles(join(repoRoot, d)));

  it('uses no eval or new Function anywhere (strict CSP)', () => {
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/\beval\s*\(|new\s+Function\s*\(|\bFunction\s*\(\s*['"`]/);
    }
  });

  it('fetches only in the weights loader and the image loading of the component', () => {
    const fetching = files.filter((f) => /\bfetch\s*\(/.test(readFileSync(f, 'utf8'))).map((f) => f.slice(repoRoot.length + 1));
    for (const f of fetching) expect(f).toMatch(/^src\/(ui\/|cli\/weights|net\/weights|scripts)/);
  });
});

describe('decoder fuzz: 200 mutated PNG and JPEG files from the bundled samples', () => {
  const seeds: Array<{ name: string; bytes: Uint8Array }> = [];
  beforeAll(() => {
    const small = (file: string) => resizeToLongerSide(decodeImageBytes(new Uint8Array(readFileSync(join(repoRoot, 'samples', file))), file), 48);
    const cat = small('chelsea.png');
    const night = small('starry_night.jpg');
    const jpegOf = (img: RgbaImage) => new Uint8Array(jpeg.encode({ width: img.width, height: img.height, data: Buffer.from(img.data) }, 80).data);
    seeds.push({ name: 'cat.png', bytes: encodePng(cat) }, { name: 'night.png', bytes: encodePng(night) });
    seeds.push({ name: 'cat.jpg', bytes: jpegOf(cat) }, { name: 'night.jpg', bytes: jpegOf(night) });
  });

  function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
    const out = Uint8Array.from(bytes);
    const kind = Math.floor(random() * 4);
    if (kind === 0) {
      for (let k = 0; k < 1 + Math.floor(random() * 8); k++) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
      return out;
    }
    if (kind === 1) return out.subarray(0, Math.floor(random() * out.length));
    if (kind === 2) {
      // Corrupt the header region, where sizes and markers live.
      for (let k = 0; k < 4; k++) out[Math.floor(random() * Math.min(64, out.length))] = Math.floor(random() * 256);
      return out;
    }
    const at = Math.floor(random() * out.length);
    const junk = Uint8Array.from({ length: 1 + Math.floor(random() * 32) }, () => Math.floor(random() * 256));
    return new Uint8Array([...out.subarray(0, at), ...junk, ...out.subarray(at)]);
  }

  it('every case ends in an image or a clear ImageInputError, quickly', () => {
    const random = mulberry32(2026);
    const outcomes = { image: 0, error: 0 };
    for (let k = 0; k < 200; k++) {
      const seed = seeds[k % seeds.length];
      const bytes = mutate(seed.bytes, random);
      const started = performance.now();
      try {
        const image = decodeImageBytes(bytes, `mutant ${k} of ${seed.name}`);
        expect(image.width * image.height * 4).toBe(image.data.length);
        expect(image.width).toBeGreaterThan(0);
        outcomes.image++;
      } catch (error) {
        expect(error, `mutant ${k} of ${seed.name}: ${String(error)}`).toBeInstanceOf(ImageInputError);
        expect((error as Error).message).toMatch(/mutant \d+/);
        outcomes.error++;
      }
      expect(performance.now() - started, `mutant ${k} took too long`).toBeLessThan(5000);
    }
    expect(outcomes.image + outcomes.error).toBe(200);
    expect(outcomes.error).toBeGreaterThan(20);
  });
});
