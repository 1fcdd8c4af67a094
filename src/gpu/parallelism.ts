/**
 * How wide the split-up work must be to keep an adapter busy: the algorithm choices that split a reduction (Gram
 * pixel splits, L-BFGS dot-product partials) scale to it, the kernels take the result as a parameter.
 *
 * A CPU adapter (lavapipe, SwiftShader) runs one workgroup per core on a few cores: a few thousand invocations
 * fill it, and every further split only adds partial sums to write and add. A GPU needs hundreds of thousands of
 * resident invocations (an H200: 132 multiprocessors x 2048): measured there, L-BFGS dot products with 256 partials
 * (4 workgroups) took 0.7 ms each on a 786k-float vector and the Gram matrices ran at 2 % of the matmul rate.
 */
import type { PartialSums } from '../../shaders/common.js';
import { isCpuAdapter, type AdapterDescription } from './device.js';

export type Parallelism = 'cpu' | 'gpu';

/** The environment variable that overrides the adapter's parallelism in Node (browsers have no environment). */
export const PARALLELISM_ENV = 'STYLE_TRANSFER_PARALLELISM';

/**
 * STYLE_TRANSFER_PARALLELISM in `env`: `cpu` or `gpu` makes the choices for that kind of adapter (split reductions,
 * conv blocks and algorithm) whatever the adapter is, e.g. the GPU ones on lavapipe in CI; unset or empty: the
 * adapter's. Anything else throws, naming the variable. No Node import: the environment is passed in (Node's entries
 * pass process.env, src/gpu/nodeDevice.ts; the browser bench page passes nothing).
 */
export function parallelismFromEnvironment(env: Readonly<Record<string, string | undefined>>): Parallelism | undefined {
  const value = env[PARALLELISM_ENV]?.trim();
  if (!value) return undefined;
  if (value !== 'cpu' && value !== 'gpu') throw new Error(`${PARALLELISM_ENV} must be cpu or gpu (or unset: the adapter decides), got "${value}".`);
  return value;
}

export function parallelismOf(adapter: AdapterDescription): Parallelism {
  return isCpuAdapter(adapter) ? 'cpu' : 'gpu';
}

/** Invocations a split-K kernel aims for (Gram: splits x upper-triangle blocks x 2, lower-triangle ones return). */
export const FILL_INVOCATIONS: Record<Parallelism, number> = { cpu: 16384, gpu: 262144 };

/** Invocations making a dot product's partial sums on a CPU adapter: the same few workgroups at every size. */
export const CPU_PARTIALS = 256;
/** On a GPU: about one invocation per GPU_ELEMENTS_PER_PARTIAL elements, a power of two in [256, 65536]. */
const GPU_ELEMENTS_PER_PARTIAL = 8;
const GPU_MAX_PARTIALS = 65536;

/**
 * How the dot products (and loss sums) of an n-element vector make their partial sums (shaders/common.ts
 * PartialSums): on a CPU adapter 256 invocations, each storing its share; on a GPU enough invocations to fill it,
 * each workgroup storing one sum, so the one-workgroup kernel that finishes the reduction adds at most 1024.
 */
export function dotProductSums(n: number, parallelism: Parallelism): PartialSums {
  if (parallelism === 'cpu') return { invocations: CPU_PARTIALS, perWorkgroup: false };
  const wanted = 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(n / GPU_ELEMENTS_PER_PARTIAL))));
  return { invocations: Math.min(GPU_MAX_PARTIALS, Math.max(CPU_PARTIALS, wanted)), perWorkgroup: true };
}
