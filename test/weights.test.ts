import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { main, WEIGHTS_URL_ENV, type TextSink } from '../scripts/weights.js';
import { loadWeightsDirectory, readWeightsFile, sha256Hex, writeWeightsDirectory } from '../src/io/weightsFiles.js';
import { getTensor, type WeightTensors } from '../src/net/weights.js';
import { WEIGHTS_PRECISIONS, weightsFileName } from '../src/net/weightsFormat.js';
import { convertKerasH5, KERAS_VGG19_NOTOP_MD5, kerasGroupName } from '../src/net/kerasH5.js';
import {
  buildManifest,
  convLayerData,
  expectedTensors,
  manifestToJson,
  validateManifest,
  VGG19_CONV_LAYERS,
  VGG19_TOTAL_BYTES,
  WEIGHTS_BIN_FILE,
  WEIGHTS_MANIFEST_FILE,
  weightsByteLength,
  type ConvLayerSpec,
  type WeightsManifest,
} from '../src/net/weightsManifest.js';

// A tiny stand-in for VGG-19 with the same naming: conv1_1, conv1_2 (block 1) and conv2_1 (block 2).
const TINY: readonly ConvLayerSpec[] = [
  { name: 'conv1_1', inChannels: 3, outChannels: 4, kernelSize: 3 },
  { name: 'conv1_2', inChannels: 4, outChannels: 4, kernelSize: 3 },
  { name: 'conv2_1', inChannels: 4, outChannels: 6, kernelSize: 3 },
];

/** Value stored at kernel[h][w][i][o] of layer `l`: exact in float32 and unique per position. */
function kernelValue(l: number, h: number, w: number, i: number, o: number): number {
  return l * 10000 + h * 1000 + w * 100 + i * 10 + o + 0.25;
}
function biasValue(l: number, o: number): number {
  return -(l * 100 + o) - 0.5;
}

function kernelArray(l: number, layer: ConvLayerSpec): Float32Array {
  const k = layer.kernelSize;
  const a = new Float32Array(k * k * layer.inChannels * layer.outChannels);
  let n = 0;
  for (let h = 0; h < k; h++)
    for (let w = 0; w < k; w++) for (let i = 0; i < layer.inChannels; i++) for (let o = 0; o < layer.outChannels; o++) a[n++] = kernelValue(l, h, w, i, o);
  return a;
}

type Style = 'keras1' | 'keras2' | 'no-weight-names';

/** Writes an .h5 shaped like Keras' vgg19 notop file (root layer_names, groups with weight_names, pool groups). */
async function writeKerasLikeH5(file: string, layers: readonly ConvLayerSpec[], style: Style = 'keras1'): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'w');
  try {
    const layerNames = ['input_1'];
    f.create_group('input_1').create_attribute('weight_names', [], null, 'S1');
    layers.forEach((layer, l) => {
      const g = kerasGroupName(layer.name);
      layerNames.push(g);
      const grp = f.create_group(g);
      let kName: string;
      let bName: string;
      if (style === 'keras2') {
        kName = `${g}/kernel:0`;
        bName = `${g}/bias:0`;
        grp.create_group(g);
      } else {
        kName = `${g}_W_1:0`;
        bName = `${g}_b_1:0`;
      }
      if (style !== 'no-weight-names') grp.create_attribute('weight_names', [kName, bName], null, `S${kName.length + 2}`);
      const bias = new Float32Array(layer.outChannels).map((_, o) => biasValue(l, o));
      // Bias first, so the converter cannot rely on dataset order.
      grp.create_dataset({ name: bName, data: bias, shape: [layer.outChannels], dtype: '<f' });
      grp.create_dataset({ name: kName, data: kernelArray(l, layer), shape: [3, 3, layer.inChannels, layer.outChannels], dtype: '<f' });
      if (l === 1) {
        layerNames.push('block1_pool');
        f.create_group('block1_pool').create_attribute('weight_names', [], null, 'S1');
      }
    });
    f.create_attribute('layer_names', layerNames, null, 'S12');
  } finally {
    f.close();
  }
}

/** A captured stdout/stderr. */
function sink(): TextSink & { text: () => string } {
  let buf = '';
  return { write: (s: string) => ((buf += s), true), isTTY: false, text: () => buf };
}

let tmpRoot: string;
let tinyH5: string;
let tinyH5Bytes: Buffer;
let tinySha: string;

beforeAll(async () => {
  tmpRoot = await fsp.mkdtemp(path.join(os.tmpdir(), 'weights-test-'));
  tinyH5 = path.join(tmpRoot, 'tiny_notop.h5');
  await writeKerasLikeH5(tinyH5, TINY);
  tinyH5Bytes = await fsp.readFile(tinyH5);
  tinySha = createHash('sha256').update(tinyH5Bytes).digest('hex');
});

afterAll(async () => {
  await fsp.rm(tmpRoot, { recursive: true, force: true });
});

async function freshDir(name: string): Promise<string> {
  const d = path.join(tmpRoot, name);
  await fsp.rm(d, { recursive: true, force: true });
  return d;
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of (await fsp.readdir(dir)).sort()) {
    const st = await fsp.stat(path.join(dir, n));
    out[n] = `${sha256Hex(await fsp.readFile(path.join(dir, n)))}@${st.mtimeMs}`;
  }
  return out;
}

function checkTinyValues(manifest: WeightsManifest, data: ArrayBuffer): void {
  TINY.forEach((layer, l) => {
    const { kernel, bias } = convLayerData(manifest, data, layer.name);
    expect(kernel.length).toBe(9 * layer.inChannels * layer.outChannels);
    // HWIO: index ((h*3 + w)*in + i)*out + o.
    for (let h = 0; h < 3; h++)
      for (let w = 0; w < 3; w++)
        for (let i = 0; i < layer.inChannels; i++)
          for (let o = 0; o < layer.outChannels; o++) {
            const idx = ((h * 3 + w) * layer.inChannels + i) * layer.outChannels + o;
            if (kernel[idx] !== kernelValue(l, h, w, i, o)) throw new Error(`${layer.name} kernel[${h},${w},${i},${o}] = ${kernel[idx]}`);
          }
    expect(Array.from(bias)).toEqual(Array.from({ length: layer.outChannels }, (_, o) => biasValue(l, o)));
  });
}

/** The tiny values through getTensor (any stored format), exactly. */
function checkTinyWeights(weights: WeightTensors): void {
  TINY.forEach((layer, l) => {
    const kernel = getTensor(weights, `${layer.name}/kernel`, [3, 3, layer.inChannels, layer.outChannels]);
    const expected = kernelArray(l, layer);
    expect(
      kernel.every((v, i) => v === expected[i]),
      `${layer.name} kernel`,
    ).toBe(true);
    expect(Array.from(getTensor(weights, `${layer.name}/bias`, [layer.outChannels]))).toEqual(Array.from({ length: layer.outChannels }, (_, o) => biasValue(l, o)));
  });
}

const VARIANT_FILES = WEIGHTS_PRECISIONS.map(weightsFileName).sort();

describe('layer table and manifest', () => {
  it('describes the 16 VGG-19 conv layers', () => {
    expect(VGG19_CONV_LAYERS.map((l) => l.name)).toEqual([
      'conv1_1',
      'conv1_2',
      'conv2_1',
      'conv2_2',
      'conv3_1',
      'conv3_2',
      'conv3_3',
      'conv3_4',
      'conv4_1',
      'conv4_2',
      'conv4_3',
      'conv4_4',
      'conv5_1',
      'conv5_2',
      'conv5_3',
      'conv5_4',
    ]);
    expect(VGG19_TOTAL_BYTES).toBe(80_097_536);
    const t = expectedTensors();
    expect(t).toHaveLength(32);
    expect(t[0]).toEqual({ name: 'conv1_1/kernel', shape: [3, 3, 3, 64] });
    expect(t[9]).toEqual({ name: 'conv3_1/bias', shape: [256] });
    expect(t[16]).toEqual({ name: 'conv4_1/kernel', shape: [3, 3, 256, 512] });
    expect(kerasGroupName('conv3_4')).toBe('block3_conv4');
  });

  it('packs tensors back to back and validates', () => {
    const m = buildManifest(TINY, 'a'.repeat(64));
    expect(m.total_bytes).toBe(weightsByteLength(TINY));
    expect(m.tensors.map((t) => [t.name, t.byteOffset, t.byteLength])).toEqual([
      ['conv1_1/kernel', 0, 432],
      ['conv1_1/bias', 432, 16],
      ['conv1_2/kernel', 448, 576],
      ['conv1_2/bias', 1024, 16],
      ['conv2_1/kernel', 1040, 864],
      ['conv2_1/bias', 1904, 24],
    ]);
    expect(validateManifest(JSON.parse(manifestToJson(m)), m.total_bytes, TINY)).toEqual(m);
  });

  it('names the problem when the manifest does not fit', () => {
    const good = () => buildManifest(TINY, 'a'.repeat(64));
    const n = weightsByteLength(TINY);
    expect(() => validateManifest(good(), n - 4, TINY)).toThrow(/\.bin is 1924 bytes but the manifest says 1928/);
    const missing = good();
    missing.tensors.splice(3, 1);
    expect(() => validateManifest(missing, n, TINY)).toThrow('weights manifest is missing tensor "conv1_2/bias".');
    const shape = good();
    shape.tensors[2].shape = [3, 3, 4, 5];
    expect(() => validateManifest(shape, n, TINY)).toThrow('tensor "conv1_2/kernel" has shape [3,3,4,5] but [3,3,4,4] was expected.');
    const outside = good();
    outside.tensors[5].byteOffset = n - 12;
    expect(() => validateManifest(outside, n, TINY)).toThrow(/"conv2_1\/bias" spans bytes .* but the \.bin has only 1928/);
    const overlap = good();
    overlap.tensors[1].byteOffset = 428;
    expect(() => validateManifest(overlap, n, TINY)).toThrow(/overlap/);
    const dtype = good();
    (dtype.tensors[0] as { dtype: string }).dtype = 'float16';
    expect(() => validateManifest(dtype, n, TINY)).toThrow(/dtype float16/);
    expect(() => validateManifest({ ...good(), sha256: 'xyz' }, n, TINY)).toThrow(/sha256/);
    expect(() => validateManifest([], n, TINY)).toThrow(/not a JSON object/);
    // The full VGG-19 table rejects the tiny manifest with a precise message.
    expect(() => validateManifest(good(), n)).toThrow('tensor "conv1_1/kernel" has shape [3,3,3,4] but [3,3,3,64] was expected.');
  });
});

describe('Keras .h5 conversion', () => {
  for (const style of ['keras1', 'keras2', 'no-weight-names'] as const) {
    it(`round-trips values in HWIO order exactly (${style} naming)`, async () => {
      const file = path.join(tmpRoot, `style-${style}.h5`);
      await writeKerasLikeH5(file, TINY, style);
      const { manifest, manifestText, data } = await convertKerasH5(file, TINY);
      expect(JSON.parse(manifestText)).toEqual(manifest);
      expect(manifest.total_bytes).toBe(data.byteLength);
      expect(manifest.sha256).toBe(sha256Hex(data));
      expect(data.byteOffset).toBe(0);
      checkTinyValues(manifest, data.buffer as ArrayBuffer);
    });
  }

  it('rejects wrong shapes, missing layers and non-HDF5 files with one clear sentence', async () => {
    const wrong: ConvLayerSpec[] = TINY.map((l) => ({ ...l }));
    wrong[2] = { ...wrong[2], outChannels: 7 };
    await expect(convertKerasH5(tinyH5, wrong)).rejects.toThrow('block2_conv1 kernel has shape [3,3,4,6] but [3,3,4,7] was expected.');
    await expect(convertKerasH5(tinyH5, [...TINY, { name: 'conv2_2', inChannels: 6, outChannels: 6, kernelSize: 3 }])).rejects.toThrow('has no layer group "block2_conv2"');
    const junk = path.join(tmpRoot, 'junk.h5');
    await fsp.writeFile(junk, 'not an hdf5 file at all');
    await expect(convertKerasH5(junk, TINY)).rejects.toThrow(`${junk} is not an HDF5 file.`);
    await expect(convertKerasH5(path.join(tmpRoot, 'absent.h5'), TINY)).rejects.toThrow('does not exist');
  });
});

describe('weights directory loading', () => {
  it('loads what it writes, and reports missing or corrupt files', async () => {
    const dir = await freshDir('load');
    const conv = await convertKerasH5(tinyH5, TINY);
    await writeWeightsDirectory(dir, conv.manifestText, conv.data);
    expect((await fsp.readdir(dir)).sort()).toEqual([WEIGHTS_BIN_FILE, WEIGHTS_MANIFEST_FILE]);
    const loaded = await loadWeightsDirectory(dir, { layers: TINY });
    expect(loaded.manifest).toEqual(conv.manifest);
    checkTinyValues(loaded.manifest, loaded.data);

    await expect(loadWeightsDirectory(path.join(tmpRoot, 'nowhere'), { layers: TINY })).rejects.toThrow(/does not exist/);
    // Truncated .bin.
    await fsp.writeFile(path.join(dir, WEIGHTS_BIN_FILE), conv.data.subarray(0, 100));
    await expect(loadWeightsDirectory(dir, { layers: TINY })).rejects.toThrow(/\.bin is 100 bytes but the manifest says 1928/);
    // Same size, different contents.
    const flipped = conv.data.slice();
    flipped[7] ^= 1;
    await fsp.writeFile(path.join(dir, WEIGHTS_BIN_FILE), flipped);
    await expect(loadWeightsDirectory(dir, { layers: TINY })).rejects.toThrow(/SHA-256 .* but its manifest says/);
    // Missing .bin.
    await fsp.rm(path.join(dir, WEIGHTS_BIN_FILE));
    await expect(loadWeightsDirectory(dir, { layers: TINY })).rejects.toThrow(/has no matching vgg19_conv_hwio_f32\.bin/);
    // No manifest.
    await fsp.rm(path.join(dir, WEIGHTS_MANIFEST_FILE));
    await expect(loadWeightsDirectory(dir, { layers: TINY })).rejects.toThrow(/no weights manifest/);
  });

  it('finds a manifest with a non-default name', async () => {
    const dir = await freshDir('othername');
    await fsp.mkdir(dir);
    const conv = await convertKerasH5(tinyH5, TINY);
    await fsp.writeFile(path.join(dir, 'tiny.json'), conv.manifestText);
    await fsp.writeFile(path.join(dir, 'tiny.bin'), conv.data);
    const loaded = await loadWeightsDirectory(dir, { layers: TINY });
    expect(loaded.binPath).toBe(path.join(dir, 'tiny.bin'));
  });
});

describe('npm run weights (main)', () => {
  let server: http.Server;
  let base: string;
  let hits = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits++;
      if (req.url === '/tiny.h5') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': tinyH5Bytes.byteLength });
        // Two chunks, so the streaming path sees more than one read.
        const half = Math.floor(tinyH5Bytes.byteLength / 2);
        res.write(tinyH5Bytes.subarray(0, half));
        setTimeout(() => res.end(tinyH5Bytes.subarray(half)), 10);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function runMain(argv: string[], url = `${base}/tiny.h5`) {
    const stdout = sink();
    const stderr = sink();
    const code = await main(argv, { layers: TINY, env: { [WEIGHTS_URL_ENV]: url }, stdout, stderr });
    return { code, out: stdout.text(), err: stderr.text() };
  }

  it('downloads, verifies, converts; then reports the output as present', async () => {
    const out = await freshDir('dl');
    const r = await runMain(['--out', out, '--sha256', tinySha]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`verified SHA-256 ${tinySha}`);
    expect(r.out).toMatch(/100%/);
    // Only the three safetensors files are left (the .h5 and all temp files are gone).
    expect((await fsp.readdir(out)).sort()).toEqual(VARIANT_FILES);
    const loaded = await readWeightsFile(path.join(out, weightsFileName('f32')), { layers: TINY });
    checkTinyWeights(loaded.weights);
    expect(loaded.metadata.source).toBe('Keras vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5');

    const before = hits;
    const again = await runMain(['--out', out]);
    expect(again.code).toBe(0);
    expect(again.out).toContain('already present and valid');
    expect(hits).toBe(before);
  });

  it('fails on a SHA-256 mismatch, deletes the download and leaves existing output untouched', async () => {
    const out = await freshDir('mismatch');
    expect((await runMain(['--out', out, '--sha256', tinySha])).code).toBe(0);
    const before = await snapshot(out);

    const wrong = 'f'.repeat(64);
    const r = await runMain(['--out', out, '--force', '--sha256', wrong]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`weights: error: downloaded file has SHA-256 ${tinySha} but ${wrong} was expected; deleted it (corrupted download or wrong URL).\n`);
    expect(await snapshot(out)).toEqual(before);

    // Without --sha256 the official Keras MD5 is checked, which the tiny file does not match.
    const fresh = await freshDir('mismatch-md5');
    const m = await runMain(['--out', fresh]);
    expect(m.code).toBe(1);
    expect(m.err).toContain(`but ${KERAS_VGG19_NOTOP_MD5} was expected`);
    expect(m.err.trim().split('\n')).toHaveLength(1);
    expect(await fsp.readdir(fresh)).toEqual([]);
  });

  it('fails cleanly on HTTP errors and unreachable servers', async () => {
    const out = await freshDir('http404');
    const r = await runMain(['--out', out, '--sha256', tinySha], `${base}/missing.h5`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^weights: error: download of .*missing\.h5 failed: HTTP 404 Not Found\.\n$/);
    expect(await fsp.readdir(out)).toEqual([]);

    // A port that was just closed: connection refused.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const refused = await runMain(['--out', out, '--sha256', tinySha], `http://127.0.0.1:${port}/tiny.h5`);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^weights: error: download of .* failed: .*\n$/);
  });

  it('a failed conversion keeps the existing output', async () => {
    const out = await freshDir('keep');
    expect((await runMain(['--out', out, '--from', tinyH5])).code).toBe(0);
    const before = await snapshot(out);
    const junk = path.join(tmpRoot, 'junk2.h5');
    await fsp.writeFile(junk, 'nope');
    const r = await runMain(['--out', out, '--from', junk, '--force']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`weights: error: ${junk} is not an HDF5 file.\n`);
    expect(await snapshot(out)).toEqual(before);
  });

  it('--from DIR converts the older .json + .bin weights (validated) to the three safetensors files', async () => {
    const src = await freshDir('from-src');
    const conv = await convertKerasH5(tinyH5, TINY);
    await writeWeightsDirectory(src, manifestToJson(conv.manifest), conv.data);
    const out = await freshDir('from-out');
    const r = await runMain(['--from', src, '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`converting the older .json + .bin weights in ${src} to safetensors`);
    expect((await fsp.readdir(out)).sort()).toEqual(VARIANT_FILES);
    checkTinyWeights((await readWeightsFile(path.join(out, weightsFileName('f32')), { layers: TINY })).weights);

    // The f32 safetensors file (or its directory) converts again; an int8 one is refused.
    const out3 = await freshDir('from-out3');
    expect((await runMain(['--from', path.join(out, weightsFileName('f32')), '--out', out3])).code).toBe(0);
    expect(Buffer.compare(await fsp.readFile(path.join(out3, weightsFileName('int8'))), await fsp.readFile(path.join(out, weightsFileName('int8'))))).toBe(0);
    const int8 = await runMain(['--from', path.join(out, weightsFileName('int8')), '--out', await freshDir('from-out4')]);
    expect(int8.code).toBe(1);
    expect(int8.err).toMatch(/holds int8 kernels; the variants are made from f32 weights/);

    // An invalid source directory is refused and nothing is written.
    await fsp.writeFile(path.join(src, WEIGHTS_BIN_FILE), conv.data.subarray(0, 64));
    const out2 = await freshDir('from-out2');
    const bad = await runMain(['--from', src, '--out', out2]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^weights: error: .*\.bin is 64 bytes but the manifest says 1928 .*\n$/);
    await expect(fsp.readdir(out2)).rejects.toThrow();
  });

  it('--from FILE.h5 converts a local copy; bad options give one line', async () => {
    const out = await freshDir('from-h5');
    const r = await runMain(['--from', tinyH5, '--out', out]);
    expect(r.code).toBe(0);
    checkTinyWeights((await readWeightsFile(path.join(out, weightsFileName('f32')), { layers: TINY })).weights);

    const bogus = await runMain(['--bogus']);
    expect(bogus.code).toBe(1);
    expect(bogus.err).toMatch(/^weights: error: Unknown option '--bogus'.*\(see --help\)\n$/);
    const badHex = await runMain(['--sha256', 'abc', '--out', out]);
    expect(badHex.err).toBe('weights: error: --sha256 needs 64 hex digits.\n');
  });
});
