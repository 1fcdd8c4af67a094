/**
 * Node entry: WebGPU through Dawn (`webgpu` npm package). Kept apart from device.ts so browser bundles never
 * import the native addon.
 */
import { GpuUnavailableError, openGpu, type GpuContext, type OpenGpuOptions } from './device.js';

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
