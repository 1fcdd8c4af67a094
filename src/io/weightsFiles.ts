// Node-side loading and writing of the project's weight files: the safetensors files of src/net/weightsFormat.ts,
// and the older .bin + .json manifest pair (src/net/weightsManifest.ts), which keeps loading.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { errorCode } from './atomicWrite.js';
import type { WeightTensors } from '../net/weights.js';
import { decodeWeightsFile, verifyLayerHashes, WEIGHTS_PRECISIONS, weightsFileName, type WeightsPrecision } from '../net/weightsFormat.js';
import { parseManifest, VGG19_CONV_LAYERS, WEIGHTS_BIN_FILE, WEIGHTS_MANIFEST_FILE, type ConvLayerSpec, type WeightsManifest } from '../net/weightsManifest.js';

/** Lower-case hex SHA-256 of `data`. */
export function sha256Hex(data: ArrayBuffer | ArrayBufferView): string {
  const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
  return createHash('sha256').update(bytes).digest('hex');
}

/** Temp names start with this so they are hidden and recognisable; they never collide with a real output name. */
export const TEMP_PREFIX = '.weights-tmp-';

function isTempName(name: string): boolean {
  return name.startsWith('.');
}

export interface WeightsPaths {
  manifestPath: string;
  binPath: string;
}

/**
 * Finds the manifest and its .bin in `dir`: the default vgg19_conv_hwio_f32.json if present, otherwise the only
 * *.json there; the .bin has the same base name. Throws a one-sentence Error for a missing directory or file.
 */
async function findWeightsFiles(dir: string): Promise<WeightsPaths> {
  let entries: string[];
  try {
    const st = await fsp.stat(dir);
    if (!st.isDirectory()) throw new Error(`weights path ${dir} is not a directory.`);
    entries = await fsp.readdir(dir);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') throw new Error(`weights directory ${dir} does not exist (run "npm run weights").`);
    throw e;
  }
  let manifestName: string;
  if (entries.includes(WEIGHTS_MANIFEST_FILE)) {
    manifestName = WEIGHTS_MANIFEST_FILE;
  } else {
    const jsons = entries.filter((n) => n.endsWith('.json') && !isTempName(n)).sort();
    if (jsons.length === 0) {
      throw new Error(`no weights manifest (${WEIGHTS_MANIFEST_FILE} or another *.json) in ${dir} (run "npm run weights").`);
    }
    if (jsons.length > 1) {
      throw new Error(`${dir} holds several manifests (${jsons.join(', ')}); name the right one ${WEIGHTS_MANIFEST_FILE}.`);
    }
    manifestName = jsons[0];
  }
  const binName = `${manifestName.slice(0, -'.json'.length)}.bin`;
  if (!entries.includes(binName)) {
    throw new Error(`weights manifest ${path.join(dir, manifestName)} has no matching ${binName} next to it.`);
  }
  return { manifestPath: path.join(dir, manifestName), binPath: path.join(dir, binName) };
}

/** A Buffer's bytes as an ArrayBuffer of exactly that length (no copy when the Buffer owns its whole store). */
function exactArrayBuffer(buf: Buffer): ArrayBuffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer) {
    return buf.buffer;
  }
  const copy = new ArrayBuffer(buf.byteLength);
  new Uint8Array(copy).set(buf);
  return copy;
}

export interface LoadOptions {
  /** Layer table to validate against (default VGG-19). */
  layers?: readonly ConvLayerSpec[];
  /** Hash the .bin and compare with the manifest's sha256 (default true). */
  verifySha256?: boolean;
}

export interface LoadedWeights extends WeightsPaths {
  manifest: WeightsManifest;
  /** The manifest file's text as read (kept so a copy can preserve it byte for byte). */
  manifestText: string;
  data: ArrayBuffer;
}

/** Reads and validates the weights in `dir` (see findWeightsFiles). */
export async function loadWeightsDirectory(dir: string, options: LoadOptions = {}): Promise<LoadedWeights> {
  const { manifestPath, binPath } = await findWeightsFiles(dir);
  const [manifestText, bin] = await Promise.all([fsp.readFile(manifestPath, 'utf8'), fsp.readFile(binPath)]);
  let manifest: WeightsManifest;
  try {
    manifest = parseManifest(manifestText, bin.byteLength, options.layers ?? VGG19_CONV_LAYERS);
  } catch (e) {
    throw new Error(`${manifestPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (options.verifySha256 ?? true) {
    const actual = sha256Hex(bin);
    if (actual !== manifest.sha256.toLowerCase()) {
      throw new Error(`${binPath} has SHA-256 ${actual} but its manifest says ${manifest.sha256} (corrupted or mismatched file).`);
    }
  }
  return { manifestPath, binPath, manifest, manifestText, data: exactArrayBuffer(bin) };
}

async function removeQuietly(p: string): Promise<void> {
  await fsp.rm(p, { force: true }).catch(() => undefined);
}

/**
 * Writes vgg19_conv_hwio_f32.{bin,json} into `dir` without ever leaving a half-written pair: both files go to temp
 * names first, then replace the old ones by rename; if a rename fails the old files are restored. Any other
 * *.json/*.bin pair is left alone (the default names win when loading).
 */
export async function writeWeightsDirectory(dir: string, manifestText: string, bin: Uint8Array): Promise<WeightsPaths> {
  await fsp.mkdir(dir, { recursive: true });
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const finalBin = path.join(dir, WEIGHTS_BIN_FILE);
  const finalJson = path.join(dir, WEIGHTS_MANIFEST_FILE);
  const tmpBin = path.join(dir, `${TEMP_PREFIX}${tag}.bin`);
  const tmpJson = path.join(dir, `${TEMP_PREFIX}${tag}.json.new`);
  const bakBin = path.join(dir, `${TEMP_PREFIX}${tag}.bin.old`);
  const bakJson = path.join(dir, `${TEMP_PREFIX}${tag}.json.old`);
  const moved: Array<[string, string]> = [];
  const placed: string[] = [];
  try {
    await fsp.writeFile(tmpBin, bin);
    await fsp.writeFile(tmpJson, manifestText);
    // Move the old pair aside (if any), then the new pair in.
    for (const [from, to] of [
      [finalJson, bakJson],
      [finalBin, bakBin],
    ] as const) {
      try {
        await fsp.rename(from, to);
        moved.push([to, from]);
      } catch (e) {
        if (errorCode(e) !== 'ENOENT') throw e;
      }
    }
    await fsp.rename(tmpBin, finalBin);
    placed.push(finalBin);
    await fsp.rename(tmpJson, finalJson);
    placed.push(finalJson);
  } catch (e) {
    // Drop the new files that made it in, then put back whatever was moved aside.
    for (const p of placed) await removeQuietly(p);
    for (const [from, to] of moved) await fsp.rename(from, to).catch(() => undefined);
    await removeQuietly(tmpBin);
    await removeQuietly(tmpJson);
    throw e;
  }
  await removeQuietly(bakBin);
  await removeQuietly(bakJson);
  return { manifestPath: finalJson, binPath: finalBin };
}

/** Prefixes a loader error's message with the file it is about, keeping its class (callers test the type). */
function about(file: string, e: unknown): unknown {
  if (e instanceof Error) e.message = `${file}: ${e.message}`;
  return e;
}

export interface LoadedWeightsFile {
  path: string;
  /** 'safetensors', or 'legacy' for a .json + .bin directory. */
  format: 'safetensors' | 'legacy';
  /** The kernels' precision (f32 for the older format). */
  precision: WeightsPrecision;
  weights: WeightTensors;
  /** safetensors `__metadata__` (empty for the older format). */
  metadata: Record<string, string>;
}

/**
 * Reads one safetensors weights file: format checks (SafetensorsError), the declared input convention
 * (WeightsConventionError), the tensors of `layers` (WeightsContentError), and each layer's SHA-256 when the
 * metadata records it. The returned records point into the file's bytes.
 */
export async function readWeightsFile(file: string, options: { layers?: readonly ConvLayerSpec[] } = {}): Promise<LoadedWeightsFile> {
  const bytes = await fsp.readFile(file).catch((e: unknown) => {
    if (errorCode(e) === 'ENOENT') throw new Error(`weights file ${file} does not exist (run "npm run weights").`);
    throw e;
  });
  const data = new Uint8Array(exactArrayBuffer(bytes));
  try {
    const { weights, header, spans, precision } = decodeWeightsFile(data, options.layers ?? VGG19_CONV_LAYERS);
    await verifyLayerHashes(data, header, spans);
    return { path: file, format: 'safetensors', precision, weights, metadata: header.metadata };
  } catch (e) {
    throw about(file, e);
  }
}

/**
 * The weights at `location`: a .safetensors file, or a directory holding vgg19_conv_hwio_<precision>.safetensors
 * (default f32) or, failing that, the older vgg19_conv_hwio_f32.json + .bin (still loaded as they are).
 */
export async function loadWeights(location: string, options: { layers?: readonly ConvLayerSpec[]; precision?: WeightsPrecision } = {}): Promise<LoadedWeightsFile> {
  const stats = await fsp.stat(location).catch((e: unknown) => {
    if (errorCode(e) === 'ENOENT') throw new Error(`weights ${location} do not exist (run "npm run weights", or give the directory or .safetensors file it wrote).`);
    throw e;
  });
  if (stats.isFile()) return readWeightsFile(location, options);
  const precision = options.precision ?? 'f32';
  const file = path.join(location, weightsFileName(precision));
  if (await isFile(file)) return readWeightsFile(file, options);
  try {
    const legacy = await loadWeightsDirectory(location, options);
    return { path: legacy.binPath, format: 'legacy', precision: 'f32', weights: { tensors: legacy.manifest.tensors, data: legacy.data }, metadata: {} };
  } catch (e) {
    if (!(e instanceof Error && /^no weights manifest/.test(e.message))) throw e;
    const present: string[] = [];
    for (const other of WEIGHTS_PRECISIONS) if (await isFile(path.join(location, weightsFileName(other)))) present.push(weightsFileName(other));
    const note = present.length ? ` (it has ${present.join(', ')}: name one with --weights FILE)` : '';
    throw new Error(`no ${weightsFileName(precision)} in ${location}${note} (run "npm run weights").`);
  }
}

const isFile = (p: string): Promise<boolean> =>
  fsp.stat(p).then(
    (s) => s.isFile(),
    () => false,
  );

/**
 * Writes `files` (name -> bytes) into `dir`, each through a temp name and a rename, so no file is ever half-written
 * and an existing file is replaced only by a complete one.
 */
export async function writeWeightsFiles(dir: string, files: ReadonlyArray<[string, Uint8Array]>): Promise<string[]> {
  await fsp.mkdir(dir, { recursive: true });
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const temps = files.map(([name]) => path.join(dir, `${TEMP_PREFIX}${tag}-${name}`));
  try {
    for (const [i, [, bytes]] of files.entries()) await fsp.writeFile(temps[i], bytes);
    for (const [i, [name]] of files.entries()) await fsp.rename(temps[i], path.join(dir, name));
  } finally {
    for (const t of temps) await removeQuietly(t);
  }
  return files.map(([name]) => path.join(dir, name));
}
