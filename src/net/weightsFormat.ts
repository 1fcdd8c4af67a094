/**
 * The project's VGG-19 weight files: safetensors (src/net/safetensors.ts) in three precisions, one file each,
 * written side by side by `npm run weights` (docs/weights.md):
 *
 *   vgg19_conv_hwio_f32.safetensors   conv kernels F32                                  80.1 MB
 *   vgg19_conv_hwio_f16.safetensors   conv kernels F16                                  40.1 MB
 *   vgg19_conv_hwio_int8.safetensors  conv kernels I8, one F32 scale per output channel 20.1 MB
 *
 * For each conv layer in network order: `convB_K/kernel` HWIO [3, 3, in, out], then (I8 only)
 * `convB_K/kernel_scale` [out] (kernel = q x scale[out], symmetric: scale = max |w| / 127), then `convB_K/bias`
 * [out] F32. A layer's tensors are contiguous, so one HTTP Range request fetches a layer and a prefix of layers is
 * one range. `__metadata__` declares the input convention (required: a VGG trained on torchvision's RGB 0..1
 * normalised input must not be loaded by mistake), the layout and precision, and a SHA-256 per layer (the bytes of
 * its tensors, contiguous) that the browser checks before using or caching a layer.
 *
 * Pure (no Node imports; hashing through Web Crypto, which Node 20 has too).
 */
import { readSafetensors, SafetensorsError, writeSafetensors, type SafetensorsHeader, type SafetensorsTensor, type TensorToWrite } from './safetensors.js';
import { getTensor, SCALE_SUFFIX, type StoredDtype, type TensorRecord, type WeightTensors } from './weights.js';
import { VGG19_CONV_LAYERS, type ConvLayerSpec } from './weightsManifest.js';
import { toFloat16Array } from '../util/float16.js';

/** The precisions written, in the order the element prefers them (f16 is its default). */
export const WEIGHTS_PRECISIONS = ['f16', 'int8', 'f32'] as const;
export type WeightsPrecision = (typeof WEIGHTS_PRECISIONS)[number];

export function isWeightsPrecision(value: unknown): value is WeightsPrecision {
  return typeof value === 'string' && (WEIGHTS_PRECISIONS as readonly string[]).includes(value);
}

/** The file of one precision, e.g. vgg19_conv_hwio_f16.safetensors. */
export function weightsFileName(precision: WeightsPrecision): string {
  return `vgg19_conv_hwio_${precision}.safetensors`;
}

const KERNEL_DTYPE: Record<WeightsPrecision, StoredDtype> = { f32: 'F32', f16: 'F16', int8: 'I8' };

/** `__metadata__` keys. */
export const METADATA = {
  /** Required: must equal CAFFE_INPUT_CONVENTION. */
  inputConvention: 'input_convention',
  inputMeanBgr: 'input_mean_bgr',
  /** Optional; when present must be "hwio". */
  kernelLayout: 'kernel_layout',
  precision: 'precision',
  /** `sha256.conv1_1`: lower-case hex SHA-256 of the layer's bytes. */
  layerSha256Prefix: 'sha256.',
} as const;

/** The one input convention the network accepts: Caffe's BGR, 0..255, minus the ImageNet mean, no division by std. */
export const CAFFE_INPUT_CONVENTION = 'caffe_bgr_0_255_mean_subtracted';
export const CAFFE_MEAN_BGR = '103.939,116.779,123.68';

/** A file whose metadata declares no input convention, or another one than the network's. */
export class WeightsConventionError extends Error {
  override name = 'WeightsConventionError';
  constructor(
    readonly declared: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** A valid safetensors file that does not hold this network's weights (a missing tensor, a wrong shape or dtype). */
export class WeightsContentError extends Error {
  override name = 'WeightsContentError';
}

/** One conv layer's tensors in a file: a contiguous byte range of the data section. */
export interface LayerSpan {
  layer: string;
  /** Data-relative byte range covering the layer's tensors (nothing else lies inside: the tensors tile the data). */
  begin: number;
  end: number;
  tensors: SafetensorsTensor[];
  /** From `__metadata__`, when the writer recorded it. */
  sha256?: string;
}

/** Throws WeightsConventionError unless the metadata declares the Caffe BGR convention (and HWIO when it says). */
export function checkConvention(metadata: Record<string, string>): void {
  const declared = metadata[METADATA.inputConvention];
  if (declared === undefined) {
    throw new WeightsConventionError(
      undefined,
      `its __metadata__ declares no "${METADATA.inputConvention}"; this network needs "${CAFFE_INPUT_CONVENTION}" (BGR 0..255 minus the mean ${CAFFE_MEAN_BGR}) and cannot tell a VGG trained on another input from it (convert the Keras file with npm run weights).`,
    );
  }
  if (declared !== CAFFE_INPUT_CONVENTION) {
    throw new WeightsConventionError(
      declared,
      `its __metadata__ declares the input convention "${declared}" but this network's weights expect "${CAFFE_INPUT_CONVENTION}" (BGR 0..255 minus the mean ${CAFFE_MEAN_BGR}); a torchvision VGG (RGB 0..1, normalised) gives wrong features here.`,
    );
  }
  const layout = metadata[METADATA.kernelLayout];
  if (layout !== undefined && layout.toLowerCase() !== 'hwio') {
    throw new WeightsConventionError(declared, `its __metadata__ says kernel_layout "${layout}" but kernels must be HWIO [3, 3, in, out].`);
  }
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Checks the header holds `layers` (default VGG-19; a prefix when `count` is given) with the declared convention
 * and returns each layer's byte span. A kernel is F32, F16 or I8 (then with its F32 scale); a bias is F32 or F16.
 */
export function vggLayerSpans(header: SafetensorsHeader, layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS): LayerSpan[] {
  checkConvention(header.metadata);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  return layers.map((layer) => {
    const need = (name: string, shape: readonly number[], dtypes: readonly string[]): SafetensorsTensor => {
      const t = byName.get(name);
      if (!t) throw new WeightsContentError(`it has no tensor "${name}" (is it the VGG-19 conv stack written by npm run weights?).`);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new WeightsContentError(`tensor "${name}" has shape ${fmt(t.shape)} but ${fmt(shape)} (HWIO) was expected.`);
      }
      if (!dtypes.includes(t.dtype)) throw new WeightsContentError(`tensor "${name}" has dtype ${t.dtype} but ${dtypes.join(' or ')} was expected.`);
      return t;
    };
    const kernel = need(`${layer.name}/kernel`, [layer.kernelSize, layer.kernelSize, layer.inChannels, layer.outChannels], ['F32', 'F16', 'I8']);
    const tensors = [kernel, need(`${layer.name}/bias`, [layer.outChannels], ['F32', 'F16'])];
    if (kernel.dtype === 'I8') tensors.push(need(`${layer.name}/kernel${SCALE_SUFFIX}`, [layer.outChannels], ['F32']));
    tensors.sort((a, b) => a.begin - b.begin);
    const sha256 = header.metadata[`${METADATA.layerSha256Prefix}${layer.name}`]?.toLowerCase();
    const begin = tensors[0].begin;
    const end = tensors[tensors.length - 1].end;
    if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) throw new SafetensorsError('header', `its __metadata__ "sha256.${layer.name}" is not 64 hex digits.`);
    return { layer: layer.name, begin, end, tensors, ...(sha256 ? { sha256 } : {}) };
  });
}

/** Records for `spans` whose bytes were laid back to back (in the order given) in one buffer. */
export function spanRecords(spans: readonly LayerSpan[]): TensorRecord[] {
  const records: TensorRecord[] = [];
  let at = 0;
  for (const span of spans) {
    for (const t of span.tensors) records.push({ name: t.name, shape: t.shape, dtype: t.dtype, byteOffset: at + t.begin - span.begin, byteLength: t.end - t.begin });
    at += span.end - span.begin;
  }
  return records;
}

/** Lower-case hex SHA-256 (Web Crypto: Node 20 and secure browser contexts). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Symmetric int8 per output channel (the last axis): scale = max |w| / 127, q = round(w / scale). */
export function quantizeInt8(values: Float32Array, channels: number): { q: Int8Array; scale: Float32Array } {
  const max = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) max[i % channels] = Math.max(max[i % channels], Math.abs(values[i]));
  const scale = Float32Array.from(max, (m) => m / 127);
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const s = scale[i % channels];
    q[i] = s === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(values[i] / s)));
  }
  return { q, scale };
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * The safetensors file of `precision` for f32 `weights` (any WeightTensors holding `layers`), with the Caffe
 * convention, layout, precision, provenance `source` and a SHA-256 per layer in `__metadata__`.
 */
export async function encodeWeightsFile(
  weights: WeightTensors,
  precision: WeightsPrecision,
  layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS,
  source = '',
): Promise<Uint8Array> {
  const tensors: TensorToWrite[] = [];
  const layerBytes: Array<[string, Uint8Array[]]> = [];
  for (const layer of layers) {
    const shape = [layer.kernelSize, layer.kernelSize, layer.inChannels, layer.outChannels];
    const kernel = getTensor(weights, `${layer.name}/kernel`, shape);
    const bias = getTensor(weights, `${layer.name}/bias`, [layer.outChannels]);
    const own: TensorToWrite[] = [];
    if (precision === 'int8') {
      const { q, scale } = quantizeInt8(kernel, layer.outChannels);
      own.push({ name: `${layer.name}/kernel`, dtype: 'I8', shape, bytes: bytesOf(q) });
      own.push({ name: `${layer.name}/kernel${SCALE_SUFFIX}`, dtype: 'F32', shape: [layer.outChannels], bytes: bytesOf(scale) });
    } else {
      own.push({ name: `${layer.name}/kernel`, dtype: KERNEL_DTYPE[precision], shape, bytes: bytesOf(precision === 'f16' ? toFloat16Array(kernel) : kernel) });
    }
    own.push({ name: `${layer.name}/bias`, dtype: 'F32', shape: [layer.outChannels], bytes: bytesOf(bias) });
    tensors.push(...own);
    layerBytes.push([layer.name, own.map((t) => t.bytes)]);
  }
  const metadata: Record<string, string> = {
    [METADATA.inputConvention]: CAFFE_INPUT_CONVENTION,
    [METADATA.inputMeanBgr]: CAFFE_MEAN_BGR,
    [METADATA.kernelLayout]: 'hwio',
    [METADATA.precision]: precision,
    ...(precision === 'int8' ? { quantization: 'symmetric int8 per output channel: kernel = q * kernel_scale[out], scale = max|w| / 127' } : {}),
    ...(source ? { source } : {}),
  };
  for (const [name, parts] of layerBytes) {
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.byteLength;
    }
    metadata[`${METADATA.layerSha256Prefix}${name}`] = await sha256Hex(joined);
  }
  return writeSafetensors(tensors, metadata);
}

/** Conv layers (in network order) that a network of VGG19 `depth` (loss depth, src/net/loss.ts) runs. */
export function convLayersForDepth(depth: number, layers: readonly { kind: string; name: string }[]): string[] {
  return layers
    .slice(0, depth)
    .filter((l) => l.kind === 'conv')
    .map((l) => l.name);
}

/** The precision of a file's kernels (from the first layer's kernel dtype). */
export function spansPrecision(spans: readonly LayerSpan[]): WeightsPrecision {
  const dtype = spans[0]?.tensors.find((t) => t.name.endsWith('/kernel'))?.dtype;
  return dtype === 'I8' ? 'int8' : dtype === 'F16' ? 'f16' : 'f32';
}

/**
 * A whole weights file in memory as WeightTensors (records pointing into `file`), with its header and precision.
 * Checks the format, the convention and the tensors of `layers`; not the per-layer hashes (see verifyLayerHashes).
 */
export function decodeWeightsFile(
  file: Uint8Array<ArrayBuffer>,
  layers: readonly ConvLayerSpec[] = VGG19_CONV_LAYERS,
): { weights: WeightTensors; header: SafetensorsHeader; spans: LayerSpan[]; precision: WeightsPrecision } {
  const header = readSafetensors(file);
  const spans = vggLayerSpans(header, layers);
  const base = file.byteOffset + header.dataStart;
  const tensors = spans.flatMap((span) => span.tensors.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype, byteOffset: base + t.begin, byteLength: t.end - t.begin })));
  return { weights: { tensors, data: file.buffer }, header, spans, precision: spansPrecision(spans) };
}

/** Throws when a layer's bytes (in `file`, laid out as `header` says) do not match the SHA-256 in its metadata. */
export async function verifyLayerHashes(file: Uint8Array, header: SafetensorsHeader, spans: readonly LayerSpan[]): Promise<void> {
  for (const span of spans) {
    if (!span.sha256) continue;
    const actual = await sha256Hex(file.subarray(header.dataStart + span.begin, header.dataStart + span.end));
    if (actual !== span.sha256) throw new Error(`layer ${span.layer} has SHA-256 ${actual} but the metadata says ${span.sha256} (corrupted file).`);
  }
}
