// Converts the official Keras VGG-19 "notop" HDF5 weights (vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5) into
// the project's .bin + .json format (src/net/weightsManifest.ts). Node only (h5wasm's Node build reads host paths).
//
// Layout of the Keras file (Keras 1/2 `save_weights` format): the root has a "layer_names" attribute and one group per
// layer (input_1, block1_conv1, ..., block5_pool). A conv group carries a "weight_names" attribute, e.g.
// ["block1_conv1_W_1:0", "block1_conv1_b_1:0"], naming its datasets relative to the group: the kernel, already in
// TensorFlow HWIO order [3,3,in,out] ("tf_kernels": no flip needed), and the bias [out], both float32.
// Newer Keras writes names like "block1_conv1/kernel:0" (nested); both resolve the same way. When "weight_names" is
// missing, the group's only 4-D dataset is taken as the kernel and its only 1-D dataset as the bias.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import h5wasm, { Dataset, Group } from 'h5wasm/node';

import { sha256Hex } from '../io/weightsFiles.js';
import { buildManifest, kernelShape, manifestToJson, validateManifest, VGG19_CONV_LAYERS, weightsByteLength, type ConvLayerSpec, type WeightsManifest } from './weightsManifest.js';

export const KERAS_VGG19_NOTOP_FILE = 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5';

/** Where keras.applications.VGG19(include_top=False) downloads its weights from (keras/src/applications/vgg19.py). */
export const KERAS_VGG19_NOTOP_URL = `https://storage.googleapis.com/tensorflow/keras-applications/vgg19/${KERAS_VGG19_NOTOP_FILE}`;

/**
 * MD5 of the official file: the `file_hash` Keras itself passes to get_file() for it (keras-applications vgg19.py and
 * keras/src/applications/vgg19.py: '253f8cb515780f3b799900260a226db6'; get_file treats a 32-digit hash as MD5).
 * No SHA-256 is published by the Keras project, so the download is verified against this MD5 (plus the size).
 */
export const KERAS_VGG19_NOTOP_MD5 = '253f8cb515780f3b799900260a226db6';

/** Size of the official file in bytes (the Content-Length Keras' own download logs report: 80134624). */
export const KERAS_VGG19_NOTOP_BYTES = 80_134_624;

/** "conv3_2" -> "block3_conv2" (Keras layer naming). */
export function kerasGroupName(layer: string): string {
  const m = /^conv(\d+)_(\d+)$/.exec(layer);
  if (!m) throw new Error(`layer name "${layer}" is not of the form convB_K.`);
  return `block${m[1]}_conv${m[2]}`;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when the file starts with the HDF5 signature (at 0, or after a user block of 512, 1024, 2048, ... bytes). */
async function isHdf5File(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(8);
    for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
      const { bytesRead } = await fh.read(buf, 0, 8, off);
      if (bytesRead === 8 && HDF5_SIGNATURE.every((b, i) => buf[i] === b)) return true;
    }
    return false;
  } finally {
    await fh.close();
  }
}

export interface ConvertedWeights {
  manifest: WeightsManifest;
  /** manifestToJson(manifest): what gets written as the .json. */
  manifestText: string;
  /** The .bin contents. */
  data: Uint8Array;
}

function fmtShape(shape: readonly number[] | null): string {
  return shape === null ? 'scalar' : `[${shape.join(',')}]`;
}

function attributeStrings(obj: Group, name: string): string[] | null {
  if (!Object.prototype.hasOwnProperty.call(obj.attrs, name)) return null;
  const v = obj.attrs[name].value;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  return null;
}

function datasetsUnder(group: Group, depth = 0): Dataset[] {
  const out: Dataset[] = [];
  for (const key of group.keys()) {
    const e = group.get(key);
    if (e instanceof Dataset) out.push(e);
    else if (e instanceof Group && depth < 4) out.push(...datasetsUnder(e, depth + 1));
  }
  return out;
}

/** The kernel (4-D) and bias (1-D) datasets of a Keras conv layer group. */
function findConvDatasets(group: Group, where: string): { kernel: Dataset; bias: Dataset } {
  let candidates: Dataset[] = [];
  const names = attributeStrings(group, 'weight_names');
  if (names && names.length > 0) {
    for (const n of names) {
      const e = group.get(n);
      if (!(e instanceof Dataset)) throw new Error(`${where} lists weight "${n}" but has no such dataset.`);
      candidates.push(e);
    }
  } else {
    candidates = datasetsUnder(group);
  }
  const kernels = candidates.filter((d) => d.shape?.length === 4);
  const biases = candidates.filter((d) => d.shape?.length === 1);
  if (kernels.length !== 1 || biases.length !== 1) {
    throw new Error(`${where} should hold one 4-D kernel and one 1-D bias but has ${kernels.length} 4-D and ${biases.length} 1-D datasets.`);
  }
  return { kernel: kernels[0], bias: biases[0] };
}

function readFloat32(d: Dataset, where: string): Float32Array {
  const v = d.value;
  if (v instanceof Float32Array) return v;
  if (v instanceof Float64Array) return Float32Array.from(v);
  throw new Error(`${where} is not a float dataset (dtype ${JSON.stringify(d.dtype)}).`);
}

/**
 * Reads a Keras VGG "notop" .h5 and returns the project's weights for `layers` (default VGG-19): kernels HWIO as
 * stored, then biases, packed in layer order, with a validated manifest carrying the SHA-256 of the data.
 * Throws a one-sentence Error when the file is missing, not HDF5, or lacks a layer/tensor of the expected shape.
 */
export async function convertKerasH5(h5Path: string, layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS): Promise<ConvertedWeights> {
  const file = path.resolve(h5Path);
  try {
    const st = await fsp.stat(file);
    if (!st.isFile()) throw new Error(`${file} is not a file.`);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') throw new Error(`Keras weights file ${file} does not exist.`);
    throw e;
  }
  // h5wasm does not throw for a non-HDF5 file (it logs an HDF5 error trace and returns file_id -1): check first.
  if (!(await isHdf5File(file))) throw new Error(`${file} is not an HDF5 file.`);

  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'r');
  if (h5.file_id < 0n) throw new Error(`HDF5 could not open ${file}.`);
  try {
    // A full-model save keeps the layer groups under "model_weights".
    let root: Group = h5;
    const mw = h5.get('model_weights');
    if (mw instanceof Group && !(h5.get(kerasGroupName(layers[0]?.name ?? 'conv1_1')) instanceof Group)) root = mw;

    const total = weightsByteLength(layers);
    const data = new Uint8Array(total);
    const floats = new Float32Array(data.buffer);
    let offset = 0; // in floats
    for (const layer of layers) {
      const groupName = kerasGroupName(layer.name);
      const where = `${path.basename(file)}: ${groupName}`;
      const group = root.get(groupName);
      if (!(group instanceof Group)) {
        throw new Error(`${path.basename(file)} has no layer group "${groupName}" (is it the Keras VGG-19 notop file?).`);
      }
      const { kernel, bias } = findConvDatasets(group, where);
      const wantK = kernelShape(layer);
      const gotK = kernel.shape ?? [];
      if (gotK.some((d, i) => d !== wantK[i])) {
        const channelsFirst = [wantK[3], wantK[2], wantK[0], wantK[1]];
        const hint = gotK.every((d, i) => d === channelsFirst[i]) ? ' (channels-first Theano layout: use the tf_dim_ordering_tf_kernels file)' : '';
        throw new Error(`${where} kernel has shape ${fmtShape(kernel.shape)} but ${fmtShape(wantK)} was expected${hint}.`);
      }
      const gotB = bias.shape ?? [];
      if (gotB[0] !== layer.outChannels) {
        throw new Error(`${where} bias has shape ${fmtShape(bias.shape)} but [${layer.outChannels}] was expected.`);
      }
      const k = readFloat32(kernel, `${where} kernel`);
      const b = readFloat32(bias, `${where} bias`);
      floats.set(k, offset);
      offset += k.length;
      floats.set(b, offset);
      offset += b.length;
    }

    const manifest = buildManifest(layers, sha256Hex(data));
    validateManifest(manifest, data.byteLength, layers);
    return { manifest, manifestText: manifestToJson(manifest), data };
  } finally {
    h5.close();
  }
}
