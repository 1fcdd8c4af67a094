// Node-side loading and writing of the project's weight files (.bin + .json manifest, see src/net/weightsManifest.ts).

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { errorCode } from './atomicWrite.js';
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
