/**
 * Test environment: the Node GPU (Dawn on lavapipe in CI; STYLE_TRANSFER_PARALLELISM=cpu|gpu picks the choices
 * it is sized for), and where the shared data lives.
 * Tests that need the real VGG-19 weights skip with a clear message when STYLE_TRANSFER_WEIGHTS is unset and
 * ../shared/weights/vgg19 does not exist.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openNodeRuntime } from '../../src/gpu/nodeDevice.js';
import type { GpuRuntime } from '../../src/gpu/runtime.js';
import type { WeightTensors } from '../../src/net/weights.js';
import { decodeWeightsFile, weightsFileName } from '../../src/net/weightsFormat.js';
import { uniformArray } from '../../src/util/random.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function firstExisting(candidates: Array<string | undefined>): string | undefined {
  return candidates.find((c): c is string => !!c && existsSync(c));
}

export const weightsDir = firstExisting([process.env.STYLE_TRANSFER_WEIGHTS, join(repoRoot, '../shared/weights/vgg19')]);

const WEIGHTS_SKIP_REASON =
  'SKIPPED: the real VGG-19 weights are missing (set STYLE_TRANSFER_WEIGHTS to the directory holding vgg19_conv_hwio_f32.safetensors or .json/.bin; .ci/run sets it)';

if (!weightsDir) console.warn(WEIGHTS_SKIP_REASON);

let shared: GpuRuntime | undefined;

/**
 * One GPU runtime per test file (device creation on lavapipe takes a while), with the parallelism
 * STYLE_TRANSFER_PARALLELISM asks for (the adapter's when unset): tests derive their expectations from
 * `gpu.parallelism`, so they hold on any adapter and under either override.
 */
export async function testGpu(): Promise<GpuRuntime> {
  if (!shared) shared = await openNodeRuntime();
  return shared;
}

let cachedWeights: WeightTensors | undefined;

export function realWeights(): WeightTensors {
  if (!weightsDir) throw new Error(WEIGHTS_SKIP_REASON);
  if (!cachedWeights && existsSync(join(weightsDir, weightsFileName('f32')))) {
    const file = readFileSync(join(weightsDir, weightsFileName('f32')));
    cachedWeights = decodeWeightsFile(new Uint8Array(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength))).weights;
  }
  if (!cachedWeights) {
    const manifest = JSON.parse(readFileSync(join(weightsDir, 'vgg19_conv_hwio_f32.json'), 'utf8')) as Pick<WeightTensors, 'tensors'>;
    const bin = readFileSync(join(weightsDir, 'vgg19_conv_hwio_f32.bin'));
    cachedWeights = { tensors: manifest.tensors, data: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) };
  }
  return cachedWeights;
}

/** Seeded uniform random numbers in [lo, hi): tests must be reproducible. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return uniformArray(n, seed, lo, hi);
}

/** ||a - b|| / ||b|| over float arrays. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den || 1);
}
