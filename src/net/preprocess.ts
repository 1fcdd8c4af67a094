/**
 * The first and last steps of the data flow: RGBA8 pixels -> x (planar BGR minus mean) on the GPU, and x -> RGBA8.
 */
import { deprocessImage, preprocessImage } from '../../shaders/image.js';
import { PassList } from '../gpu/passes.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import type { RgbaImage } from '../io/rgbaImage.js';

/** RGBA8 pixels, row-major (the shared image type of src/io/rgbaImage.ts, which has no Node imports). */
export type Rgba8 = RgbaImage;

/** Uploads `image` and converts it into `x` (or a new buffer the caller then owns). */
export function imageToX(gpu: GpuRuntime, image: Rgba8, x?: GPUBuffer): GPUBuffer {
  const pixels = image.width * image.height;
  if (image.data.length !== pixels * 4) throw new Error(`RGBA data has ${image.data.length} bytes, expected ${pixels * 4}`);
  const target = x ?? gpu.buffers.storage(pixels * 3 * 4, 'x');
  const packed = new Uint32Array(image.data.buffer.slice(image.data.byteOffset, image.data.byteOffset + pixels * 4));
  const rgba = gpu.upload(packed, 'rgba');
  const passes = new PassList(gpu);
  try {
    passes.add(preprocessImage(), { params: { pixels }, rgba, x: target }, pixels);
    passes.submit();
  } finally {
    // Destroyed after submission, not pooled: an image's RGBA matches no later buffer, and kept in the pool it would
    // add to the peak the memory estimates (src/net/memory.ts) plan against (24 MiB at 2048 px, content and style).
    gpu.buffers.discard(rgba);
    passes.dispose();
  }
  return target;
}

/** Converts x back to RGBA8 (alpha 255) and reads it. */
export async function xToImage(gpu: GpuRuntime, x: GPUBuffer, width: number, height: number): Promise<Rgba8> {
  const pixels = width * height;
  const rgba = gpu.buffers.storage(pixels * 4, 'rgba out');
  const passes = new PassList(gpu);
  try {
    passes.add(deprocessImage(), { params: { pixels }, x, rgba }, pixels);
    passes.submit();
    const bytes = await gpu.read(rgba, pixels * 4);
    return { width, height, data: new Uint8ClampedArray(bytes) };
  } finally {
    gpu.buffers.discard(rgba); // as imageToX's: not held in the pool through the rest of the run
    passes.dispose();
  }
}
