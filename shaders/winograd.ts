/**
 * Winograd F(2x2, 3x3) convolution: the two transforms around the batched matrix product (which is shaders/conv.ts's
 * 1x1 kernel with `winogradBatch`).
 *
 * What: a 3x3 stride-1 zero-padding-1 conv, out = A^T [ sum_c (G g G^T) .* (B^T d B) ] A per 2x2 output tile, where
 * d is the tile's 4x4 input patch (rows 2ty-1 .. 2ty+2, columns 2tx-1 .. 2tx+2, zero outside the image) and
 *   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],  A^T = [[1, 1, 1, 0], [0, 1, -1, -1]],
 * G as in src/net/weights.ts packWinogradKernel (U = G g G^T, transformed once at upload). 16 multiply-adds per
 * tile and channel pair instead of 36, i.e. 2.25x fewer; the transforms are additions only.
 * - winogradInputTransform: V[xi][t][c] = (B^T d_t,c B)[xi], xi = 4i + j.
 * - (conv1x1 with winogradBatch) M[xi][t][k] = sum_c V[xi][t][c] U[xi][c][k]: 16 independent GEMMs.
 * - winogradOutputTransform: out[2x2 tile t][k] = epilogue((A^T M[.][t][k] A)), the epilogues of the direct kernel:
 *   bias + ReLU (forward), or `+= out` and the ReLU mask of the layer below (input gradient).
 * The input gradient is the same pipeline on the output gradient with U[flip(xi)]^T (the flipped kernel's transform).
 *
 * Bands: V and M hold a band of consecutive tiles (row-major tile order, tiles [tileStart, tileStart + bandTiles)),
 * so the scratch stays within a fixed size whatever the layer (src/net/winograd.ts plans the bands); a layer runs
 * input transform, product, output transform once per band.
 *
 * Layout: activations HWC as array<vec4f> (index = pixel * C/4 + c4); V and M [16][bandTiles][C/4] vec4, which is
 * the HWC layout of a 16-row, bandTiles-wide image, as the 1x1 kernel reads and writes it.
 *
 * Tiling: one invocation per (tile, channel group of 4), the channel group fastest, so neighbouring invocations
 * read neighbouring vec4s of the same pixels. No workgroup memory.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { computeProgram, read, readWrite, uniform, uniformStruct, type StructValues } from '../src/gpu/program.js';
import { linearId, mainSignature, unroll } from './common.js';
import { storeWithEpilogue } from './conv.js';

/** The 4x4 transformed positions xi: rows of the batched product, matrices in U, vec4s per tile in V and M. */
export const WINOGRAD_POSITIONS = 16;

/** Uniform block of both transforms. */
export const WINOGRAD_PARAMS = uniformStruct('Params', {
  width: 'u32',
  height: 'u32',
  tilesX: 'u32', // ceil(width / 2)
  channels4: 'u32', // channel groups of 4 of the transformed side
  tileStart: 'u32', // first tile of this band (row-major tile index)
  bandTiles: 'u32', // tiles in this band
  total: 'u32', // bandTiles * channels4
});

/** Maps the invocation to its tile (in the band and in the image) and channel group. */
const TILE_OF_INVOCATION = `  if (id >= params.total) { return; }
  let c4 = id % params.channels4;
  let tb = id / params.channels4;
  let t = params.tileStart + tb;
  let ty = t / params.tilesX;
  let tx = t % params.tilesX;`;

/** Index of position xi of tile tb in V or M. */
const scratchIndex = (xi: string) => `(${xi} * params.bandTiles + tb) * params.channels4 + c4`;

/** Bindings: params, input (HWC vec4), V (read_write). Invocations: bandTiles * C/4. */
export function winogradInputTransform(workgroupSize = 64) {
  const body = `
// Winograd F(2x2,3x3) input transform: V[xi][t][c4] = (B^T d B)[xi] of each tile's 4x4 input patch.

fn patchValue(iy: i32, ix: i32, c4: u32) -> vec4f {
  let ok = iy >= 0 && iy < i32(params.height) && ix >= 0 && ix < i32(params.width);
  let v = input[select(0u, (u32(iy) * params.width + u32(ix)) * params.channels4 + c4, ok)];
  return select(vec4f(0.0), v, ok);
}

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
${TILE_OF_INVOCATION}
  let y0 = i32(ty * 2u) - 1;
  let x0 = i32(tx * 2u) - 1;
${unroll(4, (r) => unroll(4, (s) => `  let d${r}${s} = patchValue(y0 + ${r}, x0 + ${s}, c4);`))}
  // B^T d (along rows), then (.) B (along columns).
${unroll(
  4,
  (s) => `  let e0${s} = d0${s} - d2${s};
  let e1${s} = d1${s} + d2${s};
  let e2${s} = d2${s} - d1${s};
  let e3${s} = d1${s} - d3${s};`,
)}
${unroll(
  4,
  (i) => `  transformed[${scratchIndex(`${4 * i}u`)}] = e${i}0 - e${i}2;
  transformed[${scratchIndex(`${4 * i + 1}u`)}] = e${i}1 + e${i}2;
  transformed[${scratchIndex(`${4 * i + 2}u`)}] = e${i}2 - e${i}1;
  transformed[${scratchIndex(`${4 * i + 3}u`)}] = e${i}1 - e${i}3;`,
)}
}
`;
  const name = `winograd_input_wg${workgroupSize}`;
  return computeProgram({
    key: name,
    label: name,
    workgroupSize,
    bindings: { params: uniform(WINOGRAD_PARAMS), input: read('array<vec4f>'), transformed: readWrite('array<vec4f>') },
    body,
  });
}

export interface WinogradOutputOptions {
  /** Add the bias and apply ReLU (forward). */
  biasRelu: boolean;
  /** Add the output buffer's current contents (gradient accumulation). */
  accumulate: boolean;
  /** Zero the result where the mask activation (same layout as the output) is <= 0: ReLU backward. */
  mask: boolean;
  workgroupSize?: number;
}

/**
 * Bindings: params, M (read), [bias | maskActivation], output (HWC vec4). Invocations: bandTiles * K/4.
 */
export function winogradOutputTransform(o: WinogradOutputOptions) {
  if (o.biasRelu && (o.mask || o.accumulate)) throw new Error('bias+ReLU (forward) excludes accumulate and mask (backward)');
  const workgroupSize = o.workgroupSize ?? 64;
  const body = wgsl`
// Winograd F(2x2,3x3) output transform: out[2x2 tile][k4] = A^T M A${o.biasRelu ? ', + bias, ReLU' : ''}${o.accumulate ? ', += out' : ''}${o.mask ? ', ReLU mask' : ''}.

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
${TILE_OF_INVOCATION}
${unroll(16, (xi) => `  let m${Math.floor(xi / 4)}${xi % 4} = products[${scratchIndex(`${xi}u`)}];`)}
  // A^T m (along rows), then (.) A (along columns).
${unroll(
  4,
  (j) => `  let s0${j} = m0${j} + m1${j} + m2${j};
  let s1${j} = m1${j} - m2${j} - m3${j};`,
)}
${unroll(
  2,
  (a) => `  let y${a}0 = s${a}0 + s${a}1 + s${a}2;
  let y${a}1 = s${a}1 - s${a}2 - s${a}3;`,
)}
${unroll(4, (q) => {
  const a = Math.floor(q / 2);
  const b = q % 2;
  return `  {
    let py = ty * 2u + ${a}u;
    let px = tx * 2u + ${b}u;
    if (py < params.height && px < params.width) {
      let o = (py * params.width + px) * params.channels4 + c4;
      var v = y${a}${b};
${storeWithEpilogue(o, 'c4', '      ')}
    }
  }`;
})}
}
`;
  const flags = [o.biasRelu && 'biasrelu', o.accumulate && 'acc', o.mask && 'mask'].filter(Boolean);
  const name = `winograd_output_wg${workgroupSize}${flags.length ? '_' + flags.join('_') : ''}`;
  return computeProgram({
    key: name,
    label: name,
    workgroupSize,
    bindings: {
      params: uniform(WINOGRAD_PARAMS),
      products: read('array<vec4f>'),
      bias: o.biasRelu ? read('array<vec4f>') : undefined,
      maskActivation: o.mask ? read('array<vec4f>') : undefined,
      output: readWrite('array<vec4f>'),
    },
    body,
  });
}

/** Packs the transforms' uniform block for one band. */
export function winogradParams(
  width: number,
  height: number,
  channels4: number,
  tileStart: number,
  bandTiles: number,
): { values: StructValues<typeof WINOGRAD_PARAMS.fields>; invocations: number } {
  const total = bandTiles * channels4;
  return { values: { width, height, tilesX: Math.ceil(width / 2), channels4, tileStart, bandTiles, total }, invocations: total };
}
