/**
 * Node entry: WebGPU through Dawn (`webgpu` npm package). Kept apart from device.ts so browser bundles never
 * import the native addon. Also the one place Node code reads STYLE_TRANSFER_PARALLELISM (browsers have no
 * environment: there the adapter alone decides).
 */
import { GpuUnavailableError, openGpu, type GpuContext, type OpenGpuOptions } from './device.js';
import { parallelismFromEnvironment, type Parallelism } from './parallelism.js';
import { GpuRuntime } from './runtime.js';

export { PARALLELISM_ENV } from './parallelism.js';

let dawn: GPU | undefined;

export async function openNodeGpu(options?: OpenGpuOptions): Promise<GpuContext> {
  if (!dawn) {
    let mod: typeof import('webgpu');
    try {
      mod = await import('webgpu');
    } catch (err) {
      throw new GpuUnavailableError(`The 'webgpu' package (Dawn for Node) could not be loaded: ${(err as Error).message}`);
    }
    // Dawn's classes (GPUBufferUsage, GPUMapMode, ...) must be globals, as in a browser.
    Object.assign(globalThis, mod.globals);
    dawn = mod.create([]);
  }
  return openGpu(dawn, { pollingWaits: true, ...options });
}

/** STYLE_TRANSFER_PARALLELISM as Node sees it (src/gpu/parallelism.ts reads any environment given to it). */
export function parallelismFromEnv(env: NodeJS.ProcessEnv = process.env): Parallelism | undefined {
  return parallelismFromEnvironment(env);
}

/** The Node GPU runtime: Dawn's device, with the parallelism STYLE_TRANSFER_PARALLELISM asks for, if any. */
export async function openNodeRuntime(options?: OpenGpuOptions): Promise<GpuRuntime> {
  const parallelism = parallelismFromEnv(); // an invalid value fails before the device is opened
  return new GpuRuntime(await openNodeGpu(options), { parallelism });
}
