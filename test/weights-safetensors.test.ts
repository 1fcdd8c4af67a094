/**
 * safetensors weights: files from an independent writer (tools/make_safetensors_fixture.py, numpy + json) load with
 * the project's reader; the project's writer round-trips; broken files get one typed, one-sentence error each.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadWeights, readWeightsFile, writeWeightsDirectory } from '../src/io/weightsFiles.js';
import { readSafetensors, SafetensorsError, writeSafetensors } from '../src/net/safetensors.js';
import { getTensor, type WeightTensors } from '../src/net/weights.js';
import { encodeWeightsFile, quantizeInt8, WeightsContentError, WeightsConventionError, weightsFileName } from '../src/net/weightsFormat.js';
import { buildManifest, manifestToJson, type ConvLayerSpec } from '../src/net/weightsManifest.js';
import { roundToFloat16 } from '../src/util/float16.js';
import { repoRoot } from './helpers/env.js';

const FIXTURES = path.join(repoRoot, 'test/fixtures/safetensors');

// The layers tools/make_safetensors_fixture.py writes.
const TINY: readonly ConvLayerSpec[] = [
  { name: 'conv1_1', inChannels: 3, outChannels: 4, kernelSize: 3 },
  { name: 'conv1_2', inChannels: 4, outChannels: 4, kernelSize: 3 },
  { name: 'conv2_1', inChannels: 4, outChannels: 6, kernelSize: 3 },
];

/** The fixture's formula (see the Python script), HWIO. */
function kernelOf(l: number, layer: ConvLayerSpec): Float32Array {
  const out = new Float32Array(9 * layer.inChannels * layer.outChannels);
  let n = 0;
  for (let h = 0; h < 3; h++)
    for (let w = 0; w < 3; w++)
      for (let i = 0; i < layer.inChannels; i++) for (let o = 0; o < layer.outChannels; o++) out[n++] = (((l * 7 + h * 5 + w * 3 + i * 2 + o) % 11) - 5) / 8;
  return out;
}
const biasOf = (l: number, layer: ConvLayerSpec) => Float32Array.from({ length: layer.outChannels }, (_, o) => -(l + o / 4));

function kernels(weights: WeightTensors): Float32Array[] {
  return TINY.map((layer) => getTensor(weights, `${layer.name}/kernel`, [3, 3, layer.inChannels, layer.outChannels]));
}

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'safetensors-test-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

/** Expects `promise` to reject with `type`, one sentence naming `file`, matching `pattern`; returns the error. */
async function rejectsWith<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T, file: string, pattern: RegExp): Promise<T> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  const message = (error as Error).message;
  expect(message.startsWith(`${file}: `), message).toBe(true);
  expect(message).toMatch(pattern);
  expect(message).not.toContain('\n');
  return error as T;
}

describe('files from an independent writer (numpy + json)', () => {
  it('F32, F16 and I8 load with the right values whatever the tensor order in the file', async () => {
    const f32 = await readWeightsFile(path.join(FIXTURES, 'tiny-f32.safetensors'), { layers: TINY });
    expect(f32.precision).toBe('f32');
    kernels(f32.weights).forEach((k, l) => expect(Array.from(k)).toEqual(Array.from(kernelOf(l, TINY[l]))));
    TINY.forEach((layer, l) => expect(Array.from(getTensor(f32.weights, `${layer.name}/bias`, [layer.outChannels]))).toEqual(Array.from(biasOf(l, layer))));

    const f16 = await readWeightsFile(path.join(FIXTURES, 'tiny-f16.safetensors'), { layers: TINY });
    expect(f16.precision).toBe('f16');
    kernels(f16.weights).forEach((k, l) => expect(Array.from(k)).toEqual(Array.from(kernelOf(l, TINY[l])))); // eighths are exact in f16

    const int8 = await readWeightsFile(path.join(FIXTURES, 'tiny-int8.safetensors'), { layers: TINY });
    expect(int8.precision).toBe('int8');
    kernels(int8.weights).forEach((k, l) => {
      const exact = kernelOf(l, TINY[l]);
      const ours = quantizeInt8(exact, TINY[l].outChannels);
      // numpy's scale (f32 division) and ours (f64, rounded once) may differ by an ulp; the codes are the same.
      k.forEach((v, i) => {
        const scale = ours.scale[i % TINY[l].outChannels];
        expect(Math.abs(v - exact[i])).toBeLessThanOrEqual(scale / 2 + 1e-7);
        expect(v).toBeCloseTo(ours.q[i] * scale, 6);
      });
    });
  });

  it('a file declaring another input convention, or none, is refused with one clear message', async () => {
    const torchvision = path.join(FIXTURES, 'tiny-torchvision.safetensors');
    const e = await rejectsWith(
      readWeightsFile(torchvision, { layers: TINY }),
      WeightsConventionError,
      torchvision,
      /declares the input convention "torchvision_rgb_0_1_imagenet_normalized" but .* expect "caffe_bgr_0_255_mean_subtracted"/,
    );
    expect(e.declared).toBe('torchvision_rgb_0_1_imagenet_normalized');
    const none = path.join(FIXTURES, 'tiny-no-convention.safetensors');
    expect((await rejectsWith(readWeightsFile(none, { layers: TINY }), WeightsConventionError, none, /declares no "input_convention"/)).declared).toBeUndefined();
  });
});

describe('broken files', () => {
  async function variant(name: string, edit: (bytes: Uint8Array) => Uint8Array): Promise<string> {
    const file = path.join(tmp, name);
    await fsp.writeFile(file, edit(new Uint8Array(await fsp.readFile(path.join(FIXTURES, 'tiny-f16.safetensors')))));
    return file;
  }
  /** Replaces text of the same length inside the JSON header (so the header length stays true). */
  const editHeader = (from: string, to: string) => (bytes: Uint8Array) => {
    expect(to.length).toBe(from.length);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const json = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(json).toContain(from);
    const out = bytes.slice();
    out.set(new TextEncoder().encode(json.replace(from, to)), 8);
    return out;
  };

  it('truncated: in the data, in the header, before the header length', async () => {
    for (const [name, keep, pattern] of [
      ['cut-data.safetensors', -10, /tensors need 1584 bytes but the file has 1574 \(truncated/],
      ['cut-header.safetensors', 100, /header needs \d+ bytes but the file has 100 \(truncated file\)/],
      ['cut-length.safetensors', 5, /the file is 5 bytes, too short for the 8-byte header length/],
    ] as const) {
      const file = await variant(name, (b) => b.subarray(0, keep < 0 ? b.byteLength + keep : keep));
      expect((await rejectsWith(readWeightsFile(file, { layers: TINY }), SafetensorsError, file, pattern)).problem).toBe('truncated');
    }
  });

  it('a header whose offsets lie: overlap, a hole, past the end, a length that does not match the shape', async () => {
    const f16 = await fsp.readFile(path.join(FIXTURES, 'tiny-f16.safetensors'));
    const header = readSafetensors(new Uint8Array(f16));
    const [first, second] = header.tensors;
    const pair = (t: { begin: number; end: number }) => `"data_offsets":[${t.begin},${t.end}]`;
    const cases: Array<[string, string, string, RegExp, string]> = [
      // The second tensor claims to start 2 bytes early (same length): overlaps the first.
      ['overlap', pair(second), pair({ begin: second.begin - 2, end: second.end - 2 }), /overlap in the data/, 'offsets'],
      // The first tensor starts 2 bytes late: a hole at the start.
      ['hole', pair(first), pair({ begin: first.begin + 2, end: first.end + 2 }), /the data has a hole at bytes 0\.\.2 that no tensor covers/, 'offsets'],
      // A length that does not fit the shape.
      ['length', pair(second), pair({ begin: second.begin, end: second.end + 2 }), /needs \d+/, 'offsets'],
    ];
    for (const [name, from, to, pattern, problem] of cases) {
      const file = await variant(`${name}.safetensors`, editHeader(from, to));
      expect((await rejectsWith(readWeightsFile(file, { layers: TINY }), SafetensorsError, file, pattern)).problem).toBe(problem);
    }
    // The last tensor ends past the data: out of range, named as such.
    const last = header.tensors[header.tensors.length - 1];
    const big = writeSafetensors([{ name: 'x', dtype: 'F32', shape: [4], bytes: new Uint8Array(16) }]);
    const lying = big.slice(0, big.byteLength - 8); // header says 16 data bytes, 8 remain
    const file = path.join(tmp, 'past-end.safetensors');
    await fsp.writeFile(file, lying);
    expect((await rejectsWith(readWeightsFile(file, { layers: TINY }), SafetensorsError, file, /out of range/)).problem).toBe('truncated');
    expect(last.end).toBe(header.dataLength);
    // A header length that is absurd.
    const absurd = await variant('absurd.safetensors', (b) => {
      const out = b.slice();
      new DataView(out.buffer).setUint32(4, 1, true);
      return out;
    });
    expect((await rejectsWith(readWeightsFile(absurd, { layers: TINY }), SafetensorsError, absurd, /larger than any safetensors header/)).problem).toBe('header');
  });

  it('a valid file of another network names the missing tensor or wrong shape', async () => {
    const file = path.join(FIXTURES, 'tiny-f32.safetensors');
    await rejectsWith(
      readWeightsFile(file, { layers: [...TINY, { name: 'conv2_2', inChannels: 6, outChannels: 6, kernelSize: 3 }] }),
      WeightsContentError,
      file,
      /no tensor "conv2_2\/kernel"/,
    );
    const wrong = TINY.map((l, i) => (i === 2 ? { ...l, outChannels: 8 } : l));
    await rejectsWith(readWeightsFile(file, { layers: wrong }), WeightsContentError, file, /"conv2_1\/kernel" has shape \[3, 3, 4, 6\] but \[3, 3, 4, 8\] \(HWIO\)/);
  });
});

describe('the project writer', () => {
  const f32Weights = (): WeightTensors => {
    const parts = TINY.flatMap((layer, l) => [kernelOf(l, layer), biasOf(l, layer)]);
    const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      data.set(p, at);
      at += p.length;
    }
    return { tensors: buildManifest(TINY, '0'.repeat(64)).tensors, data: data.buffer };
  };

  it('writes f32 exactly, f16 rounded to nearest, int8 within half a step; per-layer SHA-256 checked on load', async () => {
    const source = f32Weights();
    for (const precision of ['f32', 'f16', 'int8'] as const) {
      const file = path.join(tmp, weightsFileName(precision));
      await fsp.writeFile(file, await encodeWeightsFile(source, precision, TINY, 'test'));
      const loaded = await readWeightsFile(file, { layers: TINY });
      expect(loaded.precision).toBe(precision);
      expect(loaded.metadata).toMatchObject({ input_convention: 'caffe_bgr_0_255_mean_subtracted', kernel_layout: 'hwio', precision, source: 'test' });
      expect(Object.keys(loaded.metadata).filter((k) => k.startsWith('sha256.'))).toEqual(['sha256.conv1_1', 'sha256.conv1_2', 'sha256.conv2_1']);
      kernels(loaded.weights).forEach((k, l) => {
        const exact = kernelOf(l, TINY[l]);
        if (precision === 'f32') expect(Array.from(k)).toEqual(Array.from(exact));
        if (precision === 'f16') expect(Array.from(k)).toEqual(Array.from(roundToFloat16(exact)));
        if (precision === 'int8')
          k.forEach((v, i) => expect(Math.abs(v - exact[i])).toBeLessThanOrEqual(quantizeInt8(exact, TINY[l].outChannels).scale[i % TINY[l].outChannels] / 2 + 1e-7));
      });
      // Data starts on an 8-byte boundary; each layer's tensors are contiguous (one Range request per layer).
      expect(readSafetensors(new Uint8Array(await fsp.readFile(file))).dataStart % 8).toBe(0);
    }
    // One flipped data byte: the layer's hash no longer matches.
    const file = path.join(tmp, weightsFileName('f16'));
    const bytes = new Uint8Array(await fsp.readFile(file));
    bytes[bytes.byteLength - 30] ^= 1;
    await fsp.writeFile(file, bytes);
    await expect(readWeightsFile(file, { layers: TINY })).rejects.toThrow(/layer conv2_1 has SHA-256 [0-9a-f]{64} but the metadata says [0-9a-f]{64} \(corrupted file\)/);
  });

  it('a directory loads its safetensors file, else the older .json + .bin', async () => {
    const dir = path.join(tmp, 'dir');
    const source = f32Weights();
    await writeWeightsDirectory(dir, manifestToJson(buildManifest(TINY, await sha(source.data))), new Uint8Array(source.data));
    const legacy = await loadWeights(dir, { layers: TINY });
    expect(legacy.format).toBe('legacy');
    await fsp.writeFile(path.join(dir, weightsFileName('f32')), await encodeWeightsFile(source, 'f32', TINY));
    const modern = await loadWeights(dir, { layers: TINY });
    expect(modern.format).toBe('safetensors');
    expect(Array.from(kernels(modern.weights)[2])).toEqual(Array.from(kernels(legacy.weights)[2]));
    const empty = path.join(tmp, 'empty');
    await fsp.mkdir(empty);
    await fsp.writeFile(path.join(empty, weightsFileName('int8')), await encodeWeightsFile(source, 'int8', TINY));
    await expect(loadWeights(empty, { layers: TINY })).rejects.toThrow(
      `no vgg19_conv_hwio_f32.safetensors in ${empty} (it has vgg19_conv_hwio_int8.safetensors: name one with --weights FILE) (run "npm run weights").`,
    );
  });
});

async function sha(data: ArrayBuffer): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(new Uint8Array(data)).digest('hex');
}
