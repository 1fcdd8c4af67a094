/**
 * Live preview: draws the image being optimised straight from the GPU into a canvas texture, with no readback.
 *
 * What: x (planar BGR minus the VGG mean) -> RGB 0..255, rounded and clamped exactly as `deprocessImage` in
 * image.ts (so the preview equals the image `xToImage` reads back), stored as normalised rgba8 with alpha 1.
 *
 * Layout: bindings params { width, height }; x: planar f32 [3][H][W], channels B, G, R; image: a write-only `texture_storage_2d<rgba8unorm>` of exactly width x height (the canvas's current texture, configured
 * with format 'rgba8unorm' and STORAGE_BINDING usage: every WebGPU implementation can store to rgba8unorm, whereas
 * 'bgra8unorm', the preferred canvas format on some platforms, needs the optional 'bgra8unorm-storage' feature).
 *
 * Tiling: one invocation per pixel, 8x8 pixel tiles per workgroup over a 2-D grid of ceil(W/8) x ceil(H/8)
 * workgroups; the three plane reads of a tile row are contiguous, so they coalesce.
 */
import { bindingDeclarationsWgsl, read, storageTexture, uniform, uniformStruct } from '../src/gpu/program.js';
import { VGG_MEAN_BGR, f32 } from './common.js';

export const PREVIEW_FORMAT: GPUTextureFormat = 'rgba8unorm';
export const PREVIEW_PARAMS = uniformStruct('Params', { width: 'u32', height: 'u32' });
const PREVIEW_BINDINGS = { params: uniform(PREVIEW_PARAMS), x: read('array<f32>'), image: storageTexture(PREVIEW_FORMAT) };

/**
 * A compute program over a 2-D grid that writes a storage texture (`ComputeProgram` of src/gpu is 1-D and has its
 * pipelines cached per GpuRuntime; the preview's are per device, shared by every element on the page).
 */
export interface TextureProgram {
  key: string;
  label: string;
  code: string;
  bindings: typeof PREVIEW_BINDINGS;
  /** Pixels per workgroup side: dispatch ceil(width / tile) x ceil(height / tile) workgroups. */
  tile: number;
  /** The storage texture's format, which the canvas must be configured with. */
  format: GPUTextureFormat;
}

export function previewToTexture(tile = 8): TextureProgram {
  const code = `
// Planar BGR minus mean -> rgba8unorm storage texture (one invocation per pixel, ${tile}x${tile} tiles).
const MEAN_BGR = vec3f(${VGG_MEAN_BGR.map(f32).join(', ')});
${bindingDeclarationsWgsl(PREVIEW_BINDINGS)}

@compute @workgroup_size(${tile}, ${tile})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= params.width || gid.y >= params.height) { return; }
  let plane = params.width * params.height;
  let p = gid.y * params.width + gid.x;
  let bgr = vec3f(x[p], x[p + plane], x[p + 2u * plane]) + MEAN_BGR;
  // Quantise like deprocess, so the preview and the read-back image agree to the byte.
  let rgb = clamp(round(bgr.zyx), vec3f(0.0), vec3f(255.0)) / 255.0;
  textureStore(image, vec2i(gid.xy), vec4f(rgb, 1.0));
}
`;
  return { key: `preview_t${tile}`, label: 'preview', code, bindings: PREVIEW_BINDINGS, tile, format: PREVIEW_FORMAT };
}
