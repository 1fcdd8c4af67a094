/**
 * The kernels of tiled evaluation (src/net/tiledLoss.ts): moving a tile's window of the image in and its gradient
 * out, and restricting a tile's features to the positions it owns.
 *
 * - cropPlanar: tile[c][y][x] = image[c][y0 + y][x0 + x] for the tile's window (planar [3][H][W] f32 both).
 * - addPlanar: image[c][y0 + y][x0 + x] += tile[c][y][x] (the tile's input gradient, halo included, into the
 *   whole image's gradient; tiles run one after another, so no two dispatches add at once).
 * - maskOutside: out[p] = in[p] where p lies in the owned rectangle [x0, x1) x [y0, y1), else 0 (HWC vec4: the
 *   Gram matrix, the content loss and the loss gradients of a tile then count owned positions only).
 * - extractOwned / placeOwned: the owned rectangle of a window's features to a compact buffer of just that
 *   rectangle, and back into window coordinates with zeros elsewhere (a tile's content target is kept compact).
 * One invocation per element (per vec4 for maskOutside), no workgroup memory.
 */
import { computeProgram, read, readWrite, uniform, uniformStruct } from '../src/gpu/program.js';
import { linearId, mainSignature } from './common.js';

/** A tile's window in the image: its origin and size, and the image's size. */
export const WINDOW_PARAMS = uniformStruct('Params', { x0: 'u32', y0: 'u32', width: 'u32', height: 'u32', imageWidth: 'u32', imageHeight: 'u32' });
/** The owned rectangle of a feature map `width` pixels wide with `c4` channel groups; `total` = pixels * c4. */
export const OWNED_PARAMS = uniformStruct('Params', { x0: 'u32', y0: 'u32', x1: 'u32', y1: 'u32', width: 'u32', c4: 'u32', total: 'u32' });

const windowIndex = `  let plane = params.width * params.height;
  if (id >= 3u * plane) { return; }
  let c = id / plane;
  let p = id % plane;
  let pixel = (c * params.imageHeight + params.y0 + p / params.width) * params.imageWidth + params.x0 + p % params.width;`;

/** Bindings: params (the window), image (planar), tile (planar, the window's size). */
export function cropPlanar(workgroupSize = 64) {
  const body = `
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
${windowIndex}
  tile[id] = source[pixel];
}
`;
  return computeProgram({
    key: `crop_planar_wg${workgroupSize}`,
    label: 'crop_planar',
    workgroupSize,
    bindings: { params: uniform(WINDOW_PARAMS), source: read('array<f32>'), tile: readWrite('array<f32>') },
    body,
  });
}

/** Bindings: params (the window), tile (planar gradient of the window), imageGrad (planar gradient of the image). */
export function addPlanar(workgroupSize = 64) {
  const body = `
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
${windowIndex}
  imageGrad[pixel] += tile[id];
}
`;
  return computeProgram({
    key: `add_planar_wg${workgroupSize}`,
    label: 'add_planar',
    workgroupSize,
    bindings: { params: uniform(WINDOW_PARAMS), tile: read('array<f32>'), imageGrad: readWrite('array<f32>') },
    body,
  });
}

/** Bindings: params (owned rectangle), input, output (HWC vec4, same size). */
export function maskOutside(workgroupSize = 64) {
  const body = `
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.total) { return; }
  let p = id / params.c4;
  let x = p % params.width;
  let y = p / params.width;
  let owned = x >= params.x0 && x < params.x1 && y >= params.y0 && y < params.y1;
  output[id] = select(vec4f(0.0), input[id], owned);
}
`;
  return computeProgram({
    key: `mask_outside_wg${workgroupSize}`,
    label: 'mask_outside',
    workgroupSize,
    bindings: { params: uniform(OWNED_PARAMS), input: read('array<vec4f>'), output: readWrite('array<vec4f>') },
    body,
  });
}

/** The owned rectangle's features, compact: out[(y - y0) * (x1 - x0) + x - x0] = window[y * width + x]. */
export function extractOwned(workgroupSize = 64) {
  const body = `
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.total) { return; }
  let c = id % params.c4;
  let q = id / params.c4;
  let w = params.x1 - params.x0;
  let p = (params.y0 + q / w) * params.width + params.x0 + q % w;
  output[id] = input[p * params.c4 + c];
}
`;
  return computeProgram({
    key: `extract_owned_wg${workgroupSize}`,
    label: 'extract_owned',
    workgroupSize,
    bindings: { params: uniform(OWNED_PARAMS), input: read('array<vec4f>'), output: readWrite('array<vec4f>') },
    body,
  });
}

/** Compact owned features back in window coordinates, zero outside the rectangle (`total`: the window's vec4s). */
export function placeOwned(workgroupSize = 64) {
  const body = `
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.total) { return; }
  let c = id % params.c4;
  let p = id / params.c4;
  let x = p % params.width;
  let y = p / params.width;
  let owned = x >= params.x0 && x < params.x1 && y >= params.y0 && y < params.y1;
  let q = select(0u, (y - params.y0) * (params.x1 - params.x0) + x - params.x0, owned);
  output[id] = select(vec4f(0.0), input[q * params.c4 + c], owned);
}
`;
  return computeProgram({
    key: `place_owned_wg${workgroupSize}`,
    label: 'place_owned',
    workgroupSize,
    bindings: { params: uniform(OWNED_PARAMS), input: read('array<vec4f>'), output: readWrite('array<vec4f>') },
    body,
  });
}
