/**
 * NumPy .npy files: float32 out (format v1.0, exactly what `np.save` writes), float32/float64 in (v1, v2 and v3).
 *
 * `encodeNpyFloat32` and `decodeNpy` are pure; `writeNpyFile` and `readNpyFile` add Node file I/O.
 */
import { readFile } from 'node:fs/promises';
import { errorCode, writeFileAtomic } from './atomicWrite.js';

/** A .npy file that cannot be decoded (or data that cannot be encoded). */
export class NpyFormatError extends Error {
  override readonly name = 'NpyFormatError';
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
/** NumPy pads the header so the data starts at a multiple of this (numpy.lib.format.ARRAY_ALIGN). */
const ARRAY_ALIGN = 64;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function checkShape(shape: readonly number[]): number {
  if (!Array.isArray(shape)) throw new NpyFormatError('shape must be an array of non-negative integers');
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new NpyFormatError(`shape [${shape.join(', ')}] must contain only non-negative integers`);
    }
    count *= d;
  }
  return count;
}

/** The Python tuple literal NumPy writes for a shape: "()", "(5,)", "(3, 2, 4)". */
function shapeLiteral(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/**
 * Encodes float32 values in C order as a .npy v1.0 file with dtype '<f4', byte for byte what `np.save` writes: the
 * header dict, space padding so the data starts at a multiple of 64 bytes, and a final '\n'.
 */
export function encodeNpyFloat32(data: Float32Array, shape: number[]): Uint8Array {
  if (!(data instanceof Float32Array)) throw new NpyFormatError('data must be a Float32Array');
  const count = checkShape(shape);
  if (count !== data.length) {
    throw new NpyFormatError(`shape [${shape.join(', ')}] holds ${count} values but data has ${data.length}`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeLiteral(shape)}, }`;
  const prefix = MAGIC.length + 2 + 2; // magic, version, uint16 header length
  const total = Math.ceil((prefix + dict.length + 1) / ARRAY_ALIGN) * ARRAY_ALIGN;
  const headerLength = total - prefix;
  if (headerLength > 0xffff) throw new NpyFormatError('the .npy header is too long for format version 1.0');
  const out = new Uint8Array(total + data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1; // major version
  out[7] = 0; // minor version
  out[8] = headerLength & 0xff;
  out[9] = headerLength >> 8;
  const header = dict.padEnd(headerLength - 1, ' ') + '\n';
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST) {
    out.set(body, total);
  } else {
    const view = new DataView(out.buffer, total);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Header parsing: the header is a Python dict literal; parse the small subset NumPy writes, in any key order.
// ---------------------------------------------------------------------------------------------------------------

type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

class PyLiteralParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseAll(): PyValue {
    const value = this.value();
    this.ws();
    if (this.pos !== this.text.length) this.fail('unexpected text after the header dictionary');
    return value;
  }

  private fail(message: string): never {
    throw new NpyFormatError(`malformed header (${message} at character ${this.pos}): ${JSON.stringify(this.text)}`);
  }

  private ws(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private value(): PyValue {
    this.ws();
    const c = this.text[this.pos];
    if (c === '{') return this.dict();
    if (c === '(' || c === '[') return this.sequence(c === '(' ? ')' : ']');
    if (c === "'" || c === '"') return this.string();
    if (c !== undefined && /[0-9+-]/.test(c)) return this.integer();
    const word = /^[A-Za-z_]+/.exec(this.text.slice(this.pos))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      this.pos += word.length;
      return word === 'None' ? null : word === 'True';
    }
    return this.fail('expected a value');
  }

  private dict(): { [key: string]: PyValue } {
    this.pos++; // {
    const out: { [key: string]: PyValue } = {};
    for (;;) {
      this.ws();
      if (this.text[this.pos] === '}') {
        this.pos++;
        return out;
      }
      const key = this.value();
      if (typeof key !== 'string') this.fail('dictionary keys must be strings');
      this.ws();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      out[key] = this.value();
      this.ws();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.text[this.pos] !== '}') this.fail("expected ',' or '}'");
    }
  }

  private sequence(close: string): PyValue[] {
    this.pos++;
    const out: PyValue[] = [];
    for (;;) {
      this.ws();
      if (this.text[this.pos] === close) {
        this.pos++;
        return out;
      }
      out.push(this.value());
      this.ws();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.text[this.pos] !== close) this.fail(`expected ',' or '${close}'`);
    }
  }

  private string(): string {
    const quote = this.text[this.pos++];
    const end = this.text.indexOf(quote, this.pos);
    if (end < 0) this.fail('unterminated string');
    const s = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }

  private integer(): number {
    const m = /^[+-]?[0-9]+L?/.exec(this.text.slice(this.pos)); // "L": Python 2 long
    if (!m) return this.fail('expected an integer');
    this.pos += m[0].length;
    return Number.parseInt(m[0], 10);
  }
}

export type NpyArray = { data: Float32Array | Float64Array; shape: number[] };

/**
 * Decodes a .npy file holding a little-endian float32 ('<f4') or float64 ('<f8') array in C order; format versions
 * 1.0, 2.0 and 3.0. The returned data is a fresh copy (aligned, independent of `bytes`). Throws NpyFormatError
 * with the reason otherwise.
 */
export function decodeNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new NpyFormatError('not a .npy file (it does not start with "\\x93NUMPY")');
  }
  const major = bytes[6];
  const minor = bytes[7];
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = bytes[8] | (bytes[9] << 8);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyFormatError('the file is truncated inside its header');
    headerStart = 12;
    headerLength = (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16)) + bytes[11] * 2 ** 24;
  } else {
    throw new NpyFormatError(`unsupported .npy format version ${major}.${minor} (only 1.0, 2.0 and 3.0 are known)`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw new NpyFormatError('the file is truncated inside its header');
  const headerBytes = bytes.subarray(headerStart, dataStart);
  let headerText = '';
  if (major === 3) headerText = new TextDecoder('utf-8').decode(headerBytes);
  else for (const b of headerBytes) headerText += String.fromCharCode(b); // latin-1
  const header = new PyLiteralParser(headerText).parseAll();
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new NpyFormatError(`the header is not a dictionary: ${JSON.stringify(headerText)}`);
  }
  const { descr, fortran_order: fortranOrder, shape } = header;
  if (typeof descr !== 'string') {
    throw new NpyFormatError(`unsupported dtype ${JSON.stringify(descr)} (structured arrays are not supported)`);
  }
  const itemSize = descr === '<f4' ? 4 : descr === '<f8' ? 8 : 0;
  if (itemSize === 0) {
    throw new NpyFormatError(`unsupported dtype '${descr}'; only '<f4' (float32) and '<f8' (float64) are supported`);
  }
  if (fortranOrder !== false) {
    throw new NpyFormatError(
      fortranOrder === true ? 'the array is in Fortran order; only C order is supported (save np.ascontiguousarray(a))' : "the header has no valid 'fortran_order'",
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new NpyFormatError(`the header has an invalid 'shape': ${JSON.stringify(shape)}`);
  }
  const dims = shape as number[];
  const count = checkShape(dims);
  const expected = count * itemSize;
  const actual = bytes.length - dataStart;
  if (actual < expected) {
    throw new NpyFormatError(`the file is truncated: shape (${dims.join(', ')}) of '${descr}' needs ${expected} data bytes, found ${actual}`);
  }
  if (actual > expected) {
    throw new NpyFormatError(`the file has ${actual - expected} unexpected bytes after the data for shape (${dims.join(', ')}) of '${descr}'`);
  }
  // An own, aligned copy. (Not bytes.slice(): on a Node Buffer, slice() returns a view, not a copy.)
  const copy = new Uint8Array(expected);
  copy.set(bytes.subarray(dataStart, dataStart + expected));
  if (!LITTLE_ENDIAN_HOST) {
    for (let i = 0; i < expected; i += itemSize) copy.subarray(i, i + itemSize).reverse();
  }
  const data = itemSize === 4 ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer);
  return { data, shape: dims };
}

// ---------------------------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------------------------

/** Writes float32 data as a .npy file (see `encodeNpyFloat32`), atomically. */
export async function writeNpyFile(path: string, data: Float32Array, shape: number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpyFloat32(data, shape));
}

/** Reads a '<f4' or '<f8' .npy file (see `decodeNpy`); errors name the file. */
export async function readNpyFile(path: string): Promise<NpyArray> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = errorCode(e);
    const reason = code === 'ENOENT' || code === 'ENOTDIR' ? 'the file does not exist' : code === 'EISDIR' ? 'it is a directory' : e instanceof Error ? e.message : String(e);
    throw new NpyFormatError(`Could not read ${JSON.stringify(path)}: ${reason}.`, { cause: e });
  }
  try {
    return decodeNpy(bytes);
  } catch (e) {
    if (!(e instanceof NpyFormatError)) throw e;
    throw new NpyFormatError(`${JSON.stringify(path)} is not a usable .npy file: ${e.message}.`, { cause: e });
  }
}
