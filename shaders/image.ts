/**
 * Image conversion between RGBA8 pixels and the network's input x.
 *
 * preprocess: RGBA8 packed in u32 (R in the low byte) -> planar x [3][H][W] f32 in B, G, R order, 0..255 minus
 * the VGG mean (Caffe convention). Bytes are extracted with shifts, so integer pixel values stay exact.
 * deprocess: planar x -> RGBA8 u32 (x + mean, rounded, clamped to 0..255, alpha 255).
 * One invocation per pixel.
 */
import { computeProgram, read, readWrite, uniform, uniformStruct } from '../src/gpu/program.js';
import { VGG_MEAN_BGR, f32, linearId, mainSignature } from './common.js';

export const PIXEL_COUNT_PARAMS = uniformStruct('Params', { pixels: 'u32' });

const mean = `const MEAN_BGR = vec3f(${VGG_MEAN_BGR.map(f32).join(', ')});`;

export function preprocessImage(workgroupSize = 64) {
  const body = `
// RGBA8 -> planar BGR minus mean.
${mean}

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.pixels) { return; }
  let px = rgba[id];
  let r = f32(px & 255u);
  let g = f32((px >> 8u) & 255u);
  let b = f32((px >> 16u) & 255u);
  x[id] = b - MEAN_BGR.x;
  x[id + params.pixels] = g - MEAN_BGR.y;
  x[id + 2u * params.pixels] = r - MEAN_BGR.z;
}
`;
  return computeProgram({
    key: `preprocess_wg${workgroupSize}`,
    label: 'preprocess',
    workgroupSize,
    bindings: { params: uniform(PIXEL_COUNT_PARAMS), rgba: read('array<u32>'), x: readWrite('array<f32>') },
    body,
  });
}

export function deprocessImage(workgroupSize = 64) {
  const body = `
// Planar BGR minus mean -> RGBA8.
${mean}

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.pixels) { return; }
  let bgr = vec3f(x[id], x[id + params.pixels], x[id + 2u * params.pixels]) + MEAN_BGR;
  let v = vec3u(clamp(round(bgr), vec3f(0.0), vec3f(255.0)));
  rgba[id] = v.z | (v.y << 8u) | (v.x << 16u) | (255u << 24u);
}
`;
  return computeProgram({
    key: `deprocess_wg${workgroupSize}`,
    label: 'deprocess',
    workgroupSize,
    bindings: { params: uniform(PIXEL_COUNT_PARAMS), x: read('array<f32>'), rgba: readWrite('array<u32>') },
    body,
  });
}
