/**
 * What every CLI command shares: finding the weights, reading and sizing the images, opening the GPU.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openNodeRuntime } from '../gpu/nodeDevice.js';
import { GpuRuntime } from '../gpu/runtime.js';
import { readImageFile } from '../io/image.js';
import { resizeTo, resizeToLongerSide, type RgbaImage } from '../io/rgbaImage.js';
import { loadWeights as loadWeightsFrom } from '../io/weightsFiles.js';
import type { WeightTensors } from '../net/weights.js';
import { weightsFileName } from '../net/weightsFormat.js';
import { STYLIZE_DEFAULTS, WEIGHT_STORAGES } from '../net/options.js';
import { UsageError, type OptionSpec } from './args.js';

/** The directory holding this package's package.json (works from src/ under vitest and from build/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/**
 * --weights, else $STYLE_TRANSFER_WEIGHTS, else the package's weights/ (written by `npm run weights`): a directory
 * (its vgg19_conv_hwio_f32.safetensors, else the older .json + .bin) or one .safetensors file (any precision).
 */
export function resolveWeightsDir(option: string | undefined): string {
  if (option) return resolve(option);
  if (process.env.STYLE_TRANSFER_WEIGHTS) return resolve(process.env.STYLE_TRANSFER_WEIGHTS);
  const local = join(packageRoot(), 'weights');
  if (!existsSync(join(local, weightsFileName('f32'))) && !existsSync(join(local, 'vgg19_conv_hwio_f32.json'))) {
    throw new UsageError('No VGG-19 weights found: run `npm run weights` once, or pass --weights DIR (or set STYLE_TRANSFER_WEIGHTS).');
  }
  return local;
}

export async function loadWeights(option: string | undefined): Promise<WeightTensors> {
  return (await loadWeightsFrom(resolveWeightsDir(option))).weights;
}

/** Reads an image and scales it so its longer side is `size` (unchanged if it already is). */
export async function readScaled(path: string, size: number): Promise<RgbaImage> {
  return resizeToLongerSide(await readImageFile(path), size);
}

/** Reads an image and brings it to exactly width x height (unchanged if it already is). */
export async function readExact(path: string, width: number, height: number): Promise<RgbaImage> {
  return resizeTo(await readImageFile(path), width, height);
}

/** The GPU runtime, honouring STYLE_TRANSFER_PARALLELISM (src/gpu/nodeDevice.ts). */
export async function openRuntime(): Promise<GpuRuntime> {
  return openNodeRuntime();
}

/** `--weight-storage`, the same for stylize and evaluate. */
export const WEIGHT_STORAGE_OPTION: OptionSpec = {
  type: 'choice',
  choices: WEIGHT_STORAGES,
  default: STYLIZE_DEFAULTS.weightStorage,
  help: 'Conv weights on the GPU as f32, or f16 (needs shader-f16; half the weight memory, arithmetic stays f32).',
};
