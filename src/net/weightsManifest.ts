// The project's VGG-19 weight format: one .bin of float32 little-endian tensors plus a .json manifest.
//
// For each conv layer, in network order: the kernel HWIO [kh, kw, in, out] then the bias [out]. The manifest lists
// every tensor with its shape and byte range inside the .bin, plus the SHA-256 of the .bin.
//
// This module is pure (no Node imports): the Node loader (src/io/weightsFiles.ts), the converter
// (src/net/kerasH5.ts) and a browser loader can all share the layer table and the validation.

import { VGG19_CONV_LAYERS as NETWORK_CONV_LAYERS } from './vgg19.js';

/** One tensor's entry in the manifest. Extra fields (e.g. provenance notes) are allowed and preserved. */
interface TensorEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  byteOffset: number;
  byteLength: number;
  [extra: string]: unknown;
}

export interface WeightsManifest {
  model: string;
  layout: string;
  input: string;
  order: string;
  /** Lower-case hex SHA-256 of the .bin. */
  sha256: string;
  /** Size of the .bin in bytes. */
  total_bytes: number;
  tensors: TensorEntry[];
  [extra: string]: unknown;
}

/** A 2-D convolution layer of the table the weights must match. */
export interface ConvLayerSpec {
  /** Project name, e.g. "conv3_2". */
  name: string;
  inChannels: number;
  outChannels: number;
  /** Square kernel size (3 for VGG). */
  kernelSize: number;
}

/** A tensor the manifest must contain. */
export interface ExpectedTensor {
  name: string;
  shape: readonly number[];
}

const WEIGHTS_BASENAME = 'vgg19_conv_hwio_f32';
export const WEIGHTS_MANIFEST_FILE = `${WEIGHTS_BASENAME}.json`;
export const WEIGHTS_BIN_FILE = `${WEIGHTS_BASENAME}.bin`;

/** The 16 conv layers of VGG-19, in network order (derived from the network table in vgg19.ts). */
export const VGG19_CONV_LAYERS: readonly ConvLayerSpec[] = Object.freeze(
  NETWORK_CONV_LAYERS.map(({ name, inChannels, outChannels }) => Object.freeze({ name, inChannels, outChannels, kernelSize: 3 })),
);

/** Total .bin size of the VGG-19 weights: 80,097,536 bytes. */
export const VGG19_TOTAL_BYTES = weightsByteLength(VGG19_CONV_LAYERS);

function kernelName(layer: string): string {
  return `${layer}/kernel`;
}

function biasName(layer: string): string {
  return `${layer}/bias`;
}

export function kernelShape(layer: ConvLayerSpec): number[] {
  return [layer.kernelSize, layer.kernelSize, layer.inChannels, layer.outChannels];
}

/** The tensors (kernel then bias of each layer, in order) that a manifest for `layers` must contain. */
export function expectedTensors(layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS): ExpectedTensor[] {
  const out: ExpectedTensor[] = [];
  for (const layer of layers) {
    out.push({ name: kernelName(layer.name), shape: kernelShape(layer) });
    out.push({ name: biasName(layer.name), shape: [layer.outChannels] });
  }
  return out;
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Size in bytes of the .bin for `layers`. */
export function weightsByteLength(layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS): number {
  return expectedTensors(layers).reduce((sum, t) => sum + 4 * elementCount(t.shape), 0);
}

function isVgg19(layers: readonly ConvLayerSpec[]): boolean {
  return (
    layers.length === VGG19_CONV_LAYERS.length &&
    layers.every((l, i) => {
      const v = VGG19_CONV_LAYERS[i];
      return l.name === v.name && l.inChannels === v.inChannels && l.outChannels === v.outChannels && l.kernelSize === v.kernelSize;
    })
  );
}

/** The descriptive fields of a manifest (model, layout, input, order) for `layers`. */
function manifestDescription(layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS): Pick<WeightsManifest, 'model' | 'layout' | 'input' | 'order'> {
  const first = layers[0]?.name ?? '';
  const last = layers[layers.length - 1]?.name ?? '';
  const second = layers[1]?.name;
  const order = layers.length === 0 ? '' : `${kernelName(first)}, ${biasName(first)}, ${second ? `${kernelName(second)}, ... ` : ''}${biasName(last)}`;
  if (isVgg19(layers)) {
    return {
      model: 'VGG-19 (Simonyan & Zisserman 2014, ILSVRC-2014 release), converted from the Keras vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
      layout: 'HWIO kernels [kh,kw,in,out], float32 little-endian, TF/WebGPU cross-correlation (no kernel flip), SAME padding 1, stride 1',
      input: 'BGR, 0..255 minus mean [103.939,116.779,123.68] (B,G,R), no /std',
      order: `${order}; pooling 2x2 max stride 2 after conv1_2, conv2_2, conv3_4, conv4_4 (and conv5_4)`,
    };
  }
  return {
    model: `custom conv stack (${layers.map((l) => l.name).join(', ')})`,
    layout: 'HWIO kernels [kh,kw,in,out], float32 little-endian',
    input: 'unspecified',
    order,
  };
}

/** A manifest for `layers` with the tensors packed back to back in order (the layout every writer uses). */
export function buildManifest(layers: readonly ConvLayerSpec[], sha256: string): WeightsManifest {
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const t of expectedTensors(layers)) {
    const byteLength = 4 * elementCount(t.shape);
    tensors.push({ name: t.name, shape: [...t.shape], dtype: 'float32', byteOffset: offset, byteLength });
    offset += byteLength;
  }
  return { ...manifestDescription(layers), sha256: sha256.toLowerCase(), total_bytes: offset, tensors };
}

/** Serialises a manifest the way the project writes it (2-space JSON, trailing newline). */
export function manifestToJson(manifest: WeightsManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

function fmtShape(shape: readonly unknown[]): string {
  return `[${shape.join(',')}]`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks that `manifest` describes a .bin of `binByteLength` bytes holding every tensor of `layers` with the right
 * shape, dtype and an in-bounds, non-overlapping, 4-byte-aligned byte range. Extra tensors are allowed. Does not
 * hash the data (see sha256Hex in src/io/weightsFiles.ts). Throws an Error with one sentence naming the problem.
 */
export function validateManifest(manifest: unknown, binByteLength: number, layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS): WeightsManifest {
  if (!isRecord(manifest)) throw new Error('weights manifest is not a JSON object.');
  for (const field of ['model', 'layout', 'input', 'order'] as const) {
    if (typeof manifest[field] !== 'string') throw new Error(`weights manifest is missing the "${field}" text field.`);
  }
  if (typeof manifest.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(manifest.sha256)) {
    throw new Error('weights manifest has no valid "sha256" (64 hex digits).');
  }
  if (!isNonNegInt(manifest.total_bytes)) throw new Error('weights manifest has no valid "total_bytes".');
  if (manifest.total_bytes !== binByteLength) {
    throw new Error(`weights .bin is ${binByteLength} bytes but the manifest says ${manifest.total_bytes} (truncated or mismatched file).`);
  }
  if (!Array.isArray(manifest.tensors)) throw new Error('weights manifest has no "tensors" list.');

  const byName = new Map<string, Record<string, unknown>>();
  for (const [i, t] of manifest.tensors.entries()) {
    if (!isRecord(t) || typeof t.name !== 'string') throw new Error(`weights manifest tensor #${i} has no name.`);
    if (byName.has(t.name)) throw new Error(`weights manifest lists tensor "${t.name}" twice.`);
    byName.set(t.name, t);
  }

  const ranges: Array<[number, number, string]> = [];
  for (const exp of expectedTensors(layers)) {
    const t = byName.get(exp.name);
    if (!t) throw new Error(`weights manifest is missing tensor "${exp.name}".`);
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegInt)) throw new Error(`tensor "${exp.name}" has no valid shape.`);
    if (t.shape.length !== exp.shape.length || t.shape.some((d, k) => d !== exp.shape[k])) {
      throw new Error(`tensor "${exp.name}" has shape ${fmtShape(t.shape)} but ${fmtShape(exp.shape)} was expected.`);
    }
    if (t.dtype !== 'float32') throw new Error(`tensor "${exp.name}" has dtype ${String(t.dtype)} but float32 was expected.`);
    const wantLength = 4 * elementCount(exp.shape);
    if (t.byteLength !== wantLength) {
      throw new Error(`tensor "${exp.name}" has byteLength ${String(t.byteLength)} but its shape needs ${wantLength}.`);
    }
    if (!isNonNegInt(t.byteOffset) || t.byteOffset % 4 !== 0) {
      throw new Error(`tensor "${exp.name}" has byteOffset ${String(t.byteOffset)}, which is not a non-negative multiple of 4.`);
    }
    if (t.byteOffset + wantLength > binByteLength) {
      throw new Error(`tensor "${exp.name}" spans bytes ${t.byteOffset}..${t.byteOffset + wantLength} but the .bin has only ${binByteLength}.`);
    }
    ranges.push([t.byteOffset, t.byteOffset + wantLength, exp.name]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) {
      throw new Error(`tensors "${ranges[i - 1][2]}" and "${ranges[i][2]}" overlap in the .bin.`);
    }
  }
  return manifest as WeightsManifest;
}

/** JSON.parse + validateManifest, with a clear error for malformed JSON. */
export function parseManifest(jsonText: string, binByteLength: number, layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS): WeightsManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(jsonText);
  } catch (e) {
    throw new Error(`weights manifest is not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
  return validateManifest(parsed, binByteLength, layers);
}

function assertLittleEndianHost(): void {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    throw new Error('big-endian hosts are not supported: the weights are little-endian float32.');
  }
}

/** A zero-copy Float32Array view of one tensor of a validated manifest. */
function tensorData(manifest: WeightsManifest, data: ArrayBuffer, name: string): Float32Array {
  assertLittleEndianHost();
  const t = manifest.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`weights have no tensor "${name}".`);
  if (t.byteOffset + t.byteLength > data.byteLength) throw new Error(`tensor "${name}" lies outside the weights data.`);
  return new Float32Array(data, t.byteOffset, t.byteLength / 4);
}

/** Kernel (HWIO) and bias views of one conv layer. */
export function convLayerData(manifest: WeightsManifest, data: ArrayBuffer, layer: string): { kernel: Float32Array; bias: Float32Array } {
  return { kernel: tensorData(manifest, data, kernelName(layer)), bias: tensorData(manifest, data, biasName(layer)) };
}
