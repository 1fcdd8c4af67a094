// `npm run weights [-- --from PATH] [--out DIR] [--force] [--sha256 HEX | --md5 HEX] [--keep-h5]`
//
// Produces weights/vgg19_conv_hwio_{f32,f16,int8}.safetensors (src/net/weightsFormat.ts, docs/weights.md):
//   - without --from: downloads the official Keras VGG-19 notop .h5 (URL overridable with the environment variable
//     STYLE_TRANSFER_WEIGHTS_URL), verifies its hash (MD5 published by Keras, or --sha256/--md5), converts it;
//   - --from FILE.h5: converts a local copy of that file;
//   - --from DIR or FILE.safetensors: f32 weights already converted (safetensors, or the older .json + .bin pair):
//     validates them and writes the three variants.
// Existing valid output is kept unless --force. Nothing is half-written: temp names, then rename. Errors print one
// line on stderr and exit 1.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, promises as fsp, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { errorCode } from '../src/io/atomicWrite.js';
import { loadWeights, TEMP_PREFIX, writeWeightsFiles, type LoadedWeightsFile } from '../src/io/weightsFiles.js';
import { convertKerasH5, KERAS_VGG19_NOTOP_BYTES, KERAS_VGG19_NOTOP_FILE, KERAS_VGG19_NOTOP_MD5, KERAS_VGG19_NOTOP_URL } from '../src/net/kerasH5.js';
import type { WeightTensors } from '../src/net/weights.js';
import { encodeWeightsFile, WEIGHTS_PRECISIONS, weightsFileName } from '../src/net/weightsFormat.js';
import { VGG19_CONV_LAYERS, type ConvLayerSpec } from '../src/net/weightsManifest.js';

export const WEIGHTS_URL_ENV = 'STYLE_TRANSFER_WEIGHTS_URL';

const USAGE = `usage: npm run weights [-- [--from PATH] [--out DIR] [--force] [--sha256 HEX | --md5 HEX] [--keep-h5]]
  --from PATH   convert a local ${KERAS_VGG19_NOTOP_FILE}, or a directory holding f32 weights
                (vgg19_conv_hwio_f32.safetensors, or the older vgg19_conv_hwio_f32.{json,bin}), or one
                f32 .safetensors file; default: download from Keras' storage. Writes the f32, f16 and int8
                safetensors files.
  --out DIR     output directory (default: weights/ at the repository root)
  --force       rebuild even if the output already exists and is valid
  --sha256 HEX  expected SHA-256 of the .h5 (default: check Keras' published MD5 ${KERAS_VGG19_NOTOP_MD5})
  --md5 HEX     expected MD5 of the .h5
  --keep-h5     keep the downloaded .h5 in the output directory (a later --force run reuses it)
environment: ${WEIGHTS_URL_ENV} overrides the download URL`;

/** Minimal writable used for messages (process.stdout/stderr or a test capture). */
export interface TextSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface MainOptions {
  /** Layer table (default VGG-19); tests pass a tiny one. */
  layers?: readonly ConvLayerSpec[];
  env?: Record<string, string | undefined>;
  stdout?: TextSink;
  stderr?: TextSink;
  /** Abort a download that receives nothing for this long (default 60 s). */
  stallTimeoutMs?: number;
}

interface ExpectedHash {
  algorithm: 'md5' | 'sha256';
  hex: string;
}

/** The repository root: the nearest directory above this script holding package.json (works from scripts/ and build/scripts/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (no package.json above the script).');
    dir = up;
  }
}

// Temp files of the running command, deleted on Ctrl-C by the entry point.
const liveTempFiles = new Set<string>();

function fmtMB(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** Percent / MB / MB/s progress: a redrawn bar on a TTY, a plain line every 10% (or 10 MB) otherwise. */
class Progress {
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastStep = 0;
  constructor(
    private readonly out: TextSink,
    private readonly total: number | null,
  ) {}

  private line(received: number): string {
    const secs = Math.max((Date.now() - this.start) / 1000, 1e-3);
    const rate = `${fmtMB(received / secs)} MB/s`;
    if (this.total) {
      const frac = Math.min(received / this.total, 1);
      const pct = `${Math.floor(frac * 100)}%`.padStart(4);
      if (this.out.isTTY) {
        const width = 30;
        const filled = Math.round(frac * width);
        return `${pct} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${fmtMB(received)}/${fmtMB(this.total)} MB  ${rate}`;
      }
      return `${pct}  ${fmtMB(received)}/${fmtMB(this.total)} MB  ${rate}`;
    }
    return `${fmtMB(received)} MB  ${rate}`;
  }

  update(received: number): void {
    if (this.out.isTTY) {
      const now = Date.now();
      if (now - this.lastDraw < 100) return;
      this.lastDraw = now;
      this.out.write(`\r${this.line(received)}\x1b[K`);
      return;
    }
    const step = this.total ? Math.floor((received / this.total) * 10) : Math.floor(received / 10e6);
    if (step > this.lastStep) {
      this.lastStep = step;
      this.out.write(`  ${this.line(received)}\n`);
    }
  }

  done(received: number): void {
    if (this.out.isTTY) this.out.write(`\r${this.line(received)}\x1b[K\n`);
    else if (this.lastStep < (this.total ? 10 : Math.floor(received / 10e6)) || received === 0) {
      this.out.write(`  ${this.line(received)}\n`);
    }
  }
}

function causeMessage(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.message) return cause.message;
    if (e.name === 'AbortError') return 'no data received for too long';
    return e.message;
  }
  return String(e);
}

/** Streams `url` into `dest`, returning the MD5 and SHA-256 of what was written. */
async function download(url: string, dest: string, out: TextSink, stallTimeoutMs: number): Promise<{ bytes: number; md5: string; sha256: string }> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), stallTimeoutMs);
  };
  arm();
  const hashes: Hash[] = [createHash('md5'), createHash('sha256')];
  let received = 0;
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: controller.signal });
    } catch (e) {
      throw new Error(`download of ${url} failed: ${causeMessage(e)}.`);
    }
    if (!res.ok || !res.body) {
      throw new Error(`download of ${url} failed: HTTP ${res.status} ${res.statusText}.`.replace(' .', '.'));
    }
    const lengthHeader = res.headers.get('content-length');
    const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
    out.write(`downloading ${url}${total ? ` (${fmtMB(total)} MB)` : ''}\n`);
    const progress = new Progress(out, total);
    const fh = await fsp.open(dest, 'w');
    try {
      const reader = res.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw new Error(`download of ${url} failed after ${fmtMB(received)} MB: ${causeMessage(e)}.`);
        }
        if (chunk.done) break;
        arm();
        const bytes = chunk.value;
        for (const h of hashes) h.update(bytes);
        let written = 0;
        while (written < bytes.byteLength) {
          const r = await fh.write(bytes, written, bytes.byteLength - written);
          written += r.bytesWritten;
        }
        received += bytes.byteLength;
        progress.update(received);
      }
      progress.done(received);
    } finally {
      await fh.close();
    }
    if (total !== null && received !== total) {
      throw new Error(`download of ${url} ended early: got ${received} of ${total} bytes.`);
    }
    return { bytes: received, md5: hashes[0].digest('hex'), sha256: hashes[1].digest('hex') };
  } finally {
    clearTimeout(timer);
  }
}

async function hashFile(file: string): Promise<{ md5: string; sha256: string }> {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    md5.update(chunk);
    sha256.update(chunk);
  }
  return { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

function hashMatches(actual: { md5: string; sha256: string }, expected: ExpectedHash): boolean {
  return actual[expected.algorithm] === expected.hex;
}

function hashLabel(expected: ExpectedHash): string {
  return expected.algorithm === 'md5' ? 'MD5' : 'SHA-256';
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
}

async function run(argv: string[], options: MainOptions, stdout: TextSink): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      sha256: { type: 'string' },
      md5: { type: 'string' },
      'keep-h5': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
    strict: true,
  });
  if (values.help) {
    stdout.write(`${USAGE}\n`);
    return;
  }
  const layers = options.layers ?? VGG19_CONV_LAYERS;
  const env = options.env ?? process.env;
  const outDir = path.resolve(values.out ?? path.join(repoRoot(), 'weights'));

  if (values.sha256 !== undefined && values.md5 !== undefined) throw new Error('give either --sha256 or --md5, not both.');
  let expected: ExpectedHash | null = null;
  if (values.sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(values.sha256)) throw new Error('--sha256 needs 64 hex digits.');
    expected = { algorithm: 'sha256', hex: values.sha256.toLowerCase() };
  } else if (values.md5 !== undefined) {
    if (!/^[0-9a-fA-F]{32}$/.test(values.md5)) throw new Error('--md5 needs 32 hex digits.');
    expected = { algorithm: 'md5', hex: values.md5.toLowerCase() };
  }

  // 1. Existing output: every variant present and valid.
  if (await exists(outDir)) {
    if (!(await isDirectory(outDir))) throw new Error(`output path ${outDir} exists and is not a directory.`);
    if (!values.force) {
      try {
        for (const precision of WEIGHTS_PRECISIONS) await loadWeights(path.join(outDir, weightsFileName(precision)), { layers });
        stdout.write(`weights already present and valid in ${outDir} (use --force to rebuild)\n`);
        return;
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (!/do not exist/.test(msg)) stdout.write(`existing weights are not usable (${msg}); rebuilding\n`);
      }
    }
  }

  // 2. --from DIR or FILE.safetensors: f32 weights already converted (safetensors, or the older .json + .bin).
  if (values.from !== undefined) {
    const from = path.resolve(values.from);
    if (!(await exists(from))) throw new Error(`--from path ${from} does not exist.`);
    if ((await isDirectory(from)) || from.endsWith('.safetensors')) {
      const loaded = await loadWeights(from, { layers });
      if (loaded.precision !== 'f32')
        throw new Error(`${loaded.path} holds ${loaded.precision} kernels; the variants are made from f32 weights (give the f32 file or the Keras .h5).`);
      const fromDir = (await isDirectory(from)) ? from : path.dirname(from);
      if (path.resolve(fromDir) === outDir && loaded.format === 'safetensors') throw new Error('--from and --out are the same directory.');
      if (loaded.format === 'legacy') stdout.write(`converting the older .json + .bin weights in ${from} to safetensors\n`);
      const source = loaded.metadata.source ?? `converted from ${path.basename(loaded.path)}`;
      await writeVariants(loaded.weights, outDir, layers, source, stdout);
      return;
    }
    // --from FILE.h5: convert a local copy.
    const actual = await hashFile(from);
    if (expected) {
      if (!hashMatches(actual, expected)) {
        throw new Error(`${from} has ${hashLabel(expected)} ${actual[expected.algorithm]}, expected ${expected.hex}.`);
      }
    } else if (layers === VGG19_CONV_LAYERS && actual.md5 !== KERAS_VGG19_NOTOP_MD5) {
      stdout.write(`note: ${path.basename(from)} is not byte-identical to the official Keras file (MD5 ${actual.md5}); converting anyway, shapes are checked\n`);
    }
    await convertAndWrite(from, outDir, layers, stdout, actual.md5);
    return;
  }

  // 3. Download (or reuse a kept, verified .h5).
  await fsp.mkdir(outDir, { recursive: true });
  const url = env[WEIGHTS_URL_ENV] || KERAS_VGG19_NOTOP_URL;
  const want: ExpectedHash = expected ?? { algorithm: 'md5', hex: KERAS_VGG19_NOTOP_MD5 };
  const keptH5 = path.join(outDir, KERAS_VGG19_NOTOP_FILE);
  let h5Path: string | null = null;
  if (await exists(keptH5)) {
    if (hashMatches(await hashFile(keptH5), want)) {
      stdout.write(`using the already downloaded ${keptH5}\n`);
      h5Path = keptH5;
    }
  }
  let removeAfter: string | null = null;
  if (h5Path === null) {
    const tmp = path.join(outDir, `${TEMP_PREFIX}${process.pid}-${Date.now().toString(36)}.h5.partial`);
    liveTempFiles.add(tmp);
    try {
      const got = await download(url, tmp, stdout, options.stallTimeoutMs ?? 60_000);
      if (!hashMatches(got, want)) {
        const sizeNote =
          want.algorithm === 'md5' && !expected && got.bytes !== KERAS_VGG19_NOTOP_BYTES ? `, and its size ${got.bytes} is not the official ${KERAS_VGG19_NOTOP_BYTES}` : '';
        throw new Error(`downloaded file has ${hashLabel(want)} ${got[want.algorithm]} but ${want.hex} was expected${sizeNote}; deleted it (corrupted download or wrong URL).`);
      }
      stdout.write(`verified ${hashLabel(want)} ${want.hex}\n`);
      await fsp.rename(tmp, keptH5);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    } finally {
      liveTempFiles.delete(tmp);
    }
    h5Path = keptH5;
    if (!values['keep-h5']) removeAfter = keptH5;
  }
  try {
    await convertAndWrite(h5Path, outDir, layers, stdout, want.algorithm === 'md5' ? want.hex : null);
  } finally {
    if (removeAfter) await fsp.rm(removeAfter, { force: true });
  }
}

async function convertAndWrite(h5Path: string, outDir: string, layers: readonly ConvLayerSpec[], stdout: TextSink, md5: string | null): Promise<void> {
  stdout.write(`converting ${h5Path}\n`);
  const converted = await convertKerasH5(h5Path, layers);
  const weights: WeightTensors = { tensors: converted.manifest.tensors, data: converted.data.buffer as ArrayBuffer };
  await writeVariants(weights, outDir, layers, `Keras ${path.basename(h5Path)}${md5 ? ` (MD5 ${md5})` : ''}`, stdout);
}

/** Writes the f32, f16 and int8 safetensors files of f32 `weights` into `outDir`. */
async function writeVariants(weights: WeightTensors, outDir: string, layers: readonly ConvLayerSpec[], source: string, stdout: TextSink): Promise<LoadedWeightsFile[]> {
  const files: Array<[string, Uint8Array]> = [];
  for (const precision of WEIGHTS_PRECISIONS) files.push([weightsFileName(precision), await encodeWeightsFile(weights, precision, layers, source)]);
  await writeWeightsFiles(outDir, files);
  const written: LoadedWeightsFile[] = [];
  for (const [name, bytes] of files) {
    written.push(await loadWeights(path.join(outDir, name), { layers }));
    stdout.write(`wrote ${path.join(outDir, name)} (${fmtMB(bytes.byteLength)} MB)\n`);
  }
  return written;
}

/** Runs the command; returns the exit code (0 ok, 1 error). Never throws. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  try {
    await run(argv, options, stdout);
    return 0;
  } catch (e) {
    let msg = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim();
    if (errorCode(e)?.startsWith('ERR_PARSE_ARGS')) msg += ' (see --help)';
    stderr.write(`weights: error: ${msg}\n`);
    if ((options.env ?? process.env).STYLE_TRANSFER_DEBUG && e instanceof Error && e.stack) stderr.write(`${e.stack}\n`);
    return 1;
  }
}

const invokedPath = process.argv[1];
if (invokedPath && import.meta.url === pathToFileURL(path.resolve(invokedPath)).href) {
  process.on('SIGINT', () => {
    for (const f of liveTempFiles) rmSync(f, { force: true });
    process.stderr.write('\nweights: interrupted\n');
    process.exit(130);
  });
  process.exitCode = await main(process.argv.slice(2));
}
