/**
 * VGG-19 weights: reading tensors (HWIO; f32, f16 or int8 with scales) and repacking them into the
 * layouts the conv kernels read (see shaders/conv.ts):
 * - forward:  [tap][ci][co], ci padded to a multiple of 4 with zero rows (only conv1_1, 3 -> 4);
 * - backward: [tap][co][ci] with the kernel flipped (tap -> 8 - tap), ci padded to 4, so the input gradient is
 *   the same convolution loop as the forward pass;
 * - Winograd: [16][ci][co], the kernel transformed once as U = G g G^T (shaders/winograd.ts); the input gradient
 *   reads the same array (flipped positions, transposed), so such a layer keeps one array instead of two.
 */
import type { ConvLayer } from './vgg19.js';
import { IMAGE_GRADIENT_COLUMNS } from '../../shaders/conv.js';
import { WINOGRAD_POSITIONS } from '../../shaders/winograd.js';
import { float16Value } from '../util/float16.js';

/**
 * Where one tensor lies in `WeightTensors.data`. `dtype` (default F32) is how it is stored: F16, or I8 with a
 * per-output-channel F32 scale in the tensor named `${name}_scale` (value = q x scale[last index]); getTensor
 * widens both to f32 (docs/weights.md).
 */
export interface TensorRecord {
  name: string;
  shape: number[];
  byteOffset: number;
  byteLength: number;
  /** Default F32; 'float32' is how the .json manifests of the older format name it. */
  dtype?: StoredDtype | 'float32';
}

export type StoredDtype = 'F32' | 'F16' | 'I8';

const DTYPE_BYTES: Record<StoredDtype, number> = { F32: 4, F16: 2, I8: 1 };

export interface WeightTensors {
  tensors: readonly TensorRecord[];
  data: ArrayBuffer;
}

/** The suffix of the tensor holding an I8 tensor's per-output-channel scales. */
export const SCALE_SUFFIX = '_scale';

const storedDtype = (record: TensorRecord): StoredDtype => (record.dtype === undefined || record.dtype === 'float32' ? 'F32' : record.dtype);

function findRecord(weights: WeightTensors, name: string, shape: readonly number[]): TensorRecord {
  const record = weights.tensors.find((t) => t.name === name);
  if (!record) throw new Error(`The weights have no tensor "${name}".`);
  if (record.shape.length !== shape.length || record.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`Weight tensor "${name}" has shape [${record.shape}], expected [${shape}].`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const dtype = storedDtype(record);
  if (!(dtype in DTYPE_BYTES) || record.byteLength !== count * DTYPE_BYTES[dtype] || record.byteOffset + record.byteLength > weights.data.byteLength) {
    throw new Error(`Weight tensor "${name}" lies outside the weights file or has the wrong length.`);
  }
  return record;
}

/**
 * Tensor `name` as f32, whatever its stored dtype: F16 widened exactly, I8 dequantised with its scales (on the CPU,
 * once at upload: the kernel repacking and the Winograd transform below need the values, and the GPU keeps f32 or
 * f16 as weightStorage says, so int8 only saves download bytes).
 */
export function getTensor(weights: WeightTensors, name: string, shape: readonly number[]): Float32Array {
  const record = findRecord(weights, name, shape);
  // Copies: offsets inside a safetensors file need not be aligned for a typed-array view.
  const bytes = weights.data.slice(record.byteOffset, record.byteOffset + record.byteLength);
  switch (storedDtype(record)) {
    case 'F32':
      return new Float32Array(bytes);
    case 'F16': {
      const halves = new Uint16Array(bytes);
      const out = new Float32Array(halves.length);
      for (let i = 0; i < halves.length; i++) out[i] = float16Value(halves[i]);
      return out;
    }
    case 'I8': {
      const channels = shape[shape.length - 1];
      const scale = getTensor(weights, `${name}${SCALE_SUFFIX}`, [channels]);
      const q = new Int8Array(bytes);
      const out = new Float32Array(q.length);
      for (let i = 0; i < q.length; i++) out[i] = q[i] * scale[i % channels];
      return out;
    }
  }
}

export const pad4 = (n: number): number => Math.ceil(n / 4) * 4;

/** HWIO [3][3][cin][cout] -> [tap][pad4(cin)][cout]. */
export function packForwardKernel(hwio: Float32Array, cin: number, cout: number): Float32Array {
  const cinPad = pad4(cin);
  const out = new Float32Array(9 * cinPad * cout);
  for (let tap = 0; tap < 9; tap++) {
    for (let ci = 0; ci < cin; ci++) {
      const src = (tap * cin + ci) * cout;
      out.set(hwio.subarray(src, src + cout), (tap * cinPad + ci) * cout);
    }
  }
  return out;
}

/** HWIO [3][3][cin][cout] -> flipped, transposed [tap][cout][pad4(cin)]. */
export function packBackwardKernel(hwio: Float32Array, cin: number, cout: number): Float32Array {
  const cinPad = pad4(cin);
  const out = new Float32Array(9 * cout * cinPad);
  for (let tap = 0; tap < 9; tap++) {
    const flipped = 8 - tap;
    for (let co = 0; co < cout; co++) {
      for (let ci = 0; ci < cin; ci++) {
        out[(tap * cout + co) * cinPad + ci] = hwio[(flipped * cin + ci) * cout + co];
      }
    }
  }
  return out;
}

/**
 * Winograd F(2x2, 3x3) kernel transform: HWIO [3][3][cin][cout] -> U [16][cin][cout], U[4i + j][ci][co] =
 * (G g G^T)[i][j] with g[a][b] = w[3a + b][ci][co] and G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
 * Computed in float64, rounded once to f32. cin must be a multiple of 4 (every layer but the image layer).
 */
export function packWinogradKernel(hwio: Float32Array, cin: number, cout: number): Float32Array {
  if (cin % 4 !== 0) throw new Error(`Winograd weights need input channels in fours, got ${cin}`);
  const out = new Float32Array(WINOGRAD_POSITIONS * cin * cout);
  const g = new Float64Array(9);
  const gg = new Float64Array(12); // G g: [4][3]
  for (let ci = 0; ci < cin; ci++) {
    for (let co = 0; co < cout; co++) {
      for (let tap = 0; tap < 9; tap++) g[tap] = hwio[(tap * cin + ci) * cout + co];
      for (let b = 0; b < 3; b++) {
        gg[b] = g[b];
        gg[3 + b] = (g[b] + g[3 + b] + g[6 + b]) / 2;
        gg[6 + b] = (g[b] - g[3 + b] + g[6 + b]) / 2;
        gg[9 + b] = g[6 + b];
      }
      for (let i = 0; i < 4; i++) {
        const [r0, r1, r2] = [gg[3 * i], gg[3 * i + 1], gg[3 * i + 2]];
        const row = [r0, (r0 + r1 + r2) / 2, (r0 - r1 + r2) / 2, r2];
        for (let j = 0; j < 4; j++) out[((4 * i + j) * cin + ci) * cout + co] = row[j];
      }
    }
  }
  return out;
}

/**
 * HWIO [3][3][3][cout] of the first (image) layer -> the [cout][28] matrix M of its two-pass input gradient:
 * M[c][3 tap + k] = w[tap][k][c], column 27 zero (shaders/conv.ts, imageGradientGather).
 */
export function packImageGradientMatrix(hwio: Float32Array, cout: number): Float32Array {
  const out = new Float32Array(cout * IMAGE_GRADIENT_COLUMNS);
  for (let c = 0; c < cout; c++) {
    for (let tap = 0; tap < 9; tap++) {
      for (let k = 0; k < 3; k++) out[c * IMAGE_GRADIENT_COLUMNS + tap * 3 + k] = hwio[(tap * 3 + k) * cout + c];
    }
  }
  return out;
}

/** A layer's kernel in the layouts its algorithm reads, and its bias. */
export type PackedConv =
  | {
      algorithm: 'direct';
      forward: Float32Array;
      /** The input-gradient weights: packBackwardKernel, or packImageGradientMatrix for the image layer when asked. */
      backward: Float32Array;
      bias: Float32Array;
    }
  | { algorithm: 'winograd'; /** packWinogradKernel, for both directions. */ winograd: Float32Array; bias: Float32Array };

/**
 * `imageGradientMatrix`: pack the 3-channel image layer's backward weights for the two-pass image gradient.
 * `algorithm`: 'winograd' packs the transformed kernel only (not for the image layer).
 */
export function packConvLayer(weights: WeightTensors, layer: ConvLayer, options: { imageGradientMatrix?: boolean; algorithm?: 'direct' | 'winograd' } = {}): PackedConv {
  const { inChannels: cin, outChannels: cout } = layer;
  const kernel = getTensor(weights, `${layer.name}/kernel`, [3, 3, cin, cout]);
  const bias = getTensor(weights, `${layer.name}/bias`, [cout]);
  if (options.algorithm === 'winograd') return { algorithm: 'winograd', winograd: packWinogradKernel(kernel, cin, cout), bias };
  const backward = cin === 3 && options.imageGradientMatrix ? packImageGradientMatrix(kernel, cout) : packBackwardKernel(kernel, cin, cout);
  return { algorithm: 'direct', forward: packForwardKernel(kernel, cin, cout), backward, bias };
}
