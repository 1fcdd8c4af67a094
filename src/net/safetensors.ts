/**
 * The safetensors format (https://github.com/huggingface/safetensors, "Format"), read and written without the
 * library: 8 bytes N (unsigned 64-bit little-endian), then N bytes of UTF-8 JSON, then the data. The JSON maps each
 * tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (byte offsets relative to the start of the data) and
 * may hold `__metadata__`, a map of strings to strings. Tensors are little-endian, row-major, and together cover
 * the data exactly (no holes, no overlap). The header may end in spaces (writers pad it so the data starts on an
 * 8-byte boundary).
 *
 * Pure (no Node imports): the Node loader, the converter and the browser loader share it. A browser that fetched
 * only the header can parse it (`parseSafetensorsHeader`) and then fetch single tensors by their byte ranges.
 */

/** The dtypes this project reads and writes (the format has more: BF16, F64, I16, ...). */
export const SAFETENSORS_DTYPES = { F32: 4, F16: 2, I8: 1 } as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

/** Every dtype the format defines, to tell "unknown" from "not supported here". */
const FORMAT_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64']);

/** What is wrong with a file that is not (complete, valid) safetensors. */
export type SafetensorsProblem = 'truncated' | 'header' | 'offsets' | 'dtype';

/** A file that is not valid safetensors; `problem` says which kind of fault, `message` is one sentence for the user. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(
    readonly problem: SafetensorsProblem,
    message: string,
  ) {
    super(message);
  }
}

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Tensors in data order. */
  tensors: SafetensorsTensor[];
  metadata: Record<string, string>;
  /** Offset of the data section in the file: 8 + header length. */
  dataStart: number;
  /** Size of the data section the tensors cover. */
  dataLength: number;
}

/** Headers beyond this are refused (the reference implementation's limit), so a lying length cannot exhaust memory. */
export const MAX_HEADER_BYTES = 100_000_000;

/** The header length N from the first 8 bytes of a file. */
export function safetensorsHeaderLength(first8: Uint8Array): number {
  if (first8.byteLength < 8) throw new SafetensorsError('truncated', `the file is ${first8.byteLength} bytes, too short for the 8-byte header length.`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const high = view.getUint32(4, true);
  const length = high * 2 ** 32 + view.getUint32(0, true);
  if (high !== 0 || length > MAX_HEADER_BYTES)
    throw new SafetensorsError('header', `its header length ${length} is larger than any safetensors header (${MAX_HEADER_BYTES} bytes at most).`);
  if (length < 2) throw new SafetensorsError('header', `its header length ${length} is too short for a JSON object.`);
  return length;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parses and checks the JSON header (`json`: the N header bytes). Checks each entry's dtype and shape, that its byte
 * range matches its shape, and that the ranges tile [0, dataLength) without holes or overlap. When
 * `fileByteLength` is known, the data must fit in it (a shorter file is truncated).
 */
export function parseSafetensorsHeader(json: Uint8Array, fileByteLength?: number): SafetensorsHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    throw new SafetensorsError('header', `its header is not UTF-8 JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
  if (!isRecord(parsed)) throw new SafetensorsError('header', 'its header is not a JSON object.');
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensor[] = [];
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isRecord(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
        throw new SafetensorsError('header', 'its __metadata__ is not a map of strings to strings.');
      }
      Object.assign(metadata, entry);
      continue;
    }
    if (!isRecord(entry)) throw new SafetensorsError('header', `its header entry "${name}" is not an object.`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !FORMAT_DTYPES.has(dtype)) throw new SafetensorsError('header', `tensor "${name}" has an unknown dtype ${JSON.stringify(dtype)}.`);
    if (!(dtype in SAFETENSORS_DTYPES)) throw new SafetensorsError('dtype', `tensor "${name}" has dtype ${dtype}; this project reads F32, F16 and I8.`);
    if (!Array.isArray(shape) || !shape.every(isCount)) throw new SafetensorsError('header', `tensor "${name}" has no valid shape.`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[1] < offsets[0]) {
      throw new SafetensorsError('offsets', `tensor "${name}" has no valid data_offsets [begin, end].`);
    }
    const bytes = shape.reduce((a: number, b: number) => a * b, 1) * SAFETENSORS_DTYPES[dtype as SafetensorsDtype];
    if (offsets[1] - offsets[0] !== bytes) {
      throw new SafetensorsError(
        'offsets',
        `tensor "${name}" has data_offsets [${offsets.join(', ')}] (${offsets[1] - offsets[0]} bytes) but its ${dtype} shape [${shape.join(', ')}] needs ${bytes}.`,
      );
    }
    tensors.push({ name, dtype: dtype as SafetensorsDtype, shape: [...shape], begin: offsets[0], end: offsets[1] });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const [i, t] of tensors.entries()) {
    if (t.begin < covered) throw new SafetensorsError('offsets', `tensors "${tensors[i - 1].name}" and "${t.name}" overlap in the data.`);
    if (t.begin > covered)
      throw new SafetensorsError('offsets', `the data has a hole at bytes ${covered}..${t.begin} that no tensor covers (data_offsets that do not match the data).`);
    covered = t.end;
  }
  const dataStart = 8 + json.byteLength;
  if (fileByteLength !== undefined) {
    if (dataStart + covered > fileByteLength) {
      throw new SafetensorsError('truncated', `its tensors need ${dataStart + covered} bytes but the file has ${fileByteLength} (truncated, or data_offsets out of range).`);
    }
    if (dataStart + covered < fileByteLength) {
      throw new SafetensorsError('offsets', `its tensors cover ${covered} data bytes but the file has ${fileByteLength - dataStart} (data_offsets that do not match the data).`);
    }
  }
  return { tensors, metadata, dataStart, dataLength: covered };
}

/** A whole safetensors file in memory, parsed and checked. */
export function readSafetensors(file: Uint8Array): SafetensorsHeader {
  const length = safetensorsHeaderLength(file.subarray(0, 8));
  if (8 + length > file.byteLength) throw new SafetensorsError('truncated', `its header needs ${8 + length} bytes but the file has ${file.byteLength} (truncated file).`);
  return parseSafetensorsHeader(file.subarray(8, 8 + length), file.byteLength);
}

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** Little-endian bytes, exactly numel x dtype size. */
  bytes: Uint8Array;
}

/** A safetensors file of `tensors` in the order given, with `metadata`; the header is padded with spaces to 8 bytes. */
export function writeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const need = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[t.dtype];
    if (t.bytes.byteLength !== need) throw new Error(`tensor "${t.name}": ${t.bytes.byteLength} bytes for a ${t.dtype} shape [${t.shape.join(', ')}] that needs ${need}.`);
    if (t.name in header) throw new Error(`tensor "${t.name}" given twice.`);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + need] };
    offset += need;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  const jsonLength = encoder.encode(json).byteLength;
  json += ' '.repeat((8 - ((8 + jsonLength) % 8)) % 8);
  const jsonBytes = encoder.encode(json);
  const out = new Uint8Array(8 + jsonBytes.byteLength + offset);
  new DataView(out.buffer).setUint32(0, jsonBytes.byteLength, true);
  out.set(jsonBytes, 8);
  let at = 8 + jsonBytes.byteLength;
  for (const t of tensors) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}
