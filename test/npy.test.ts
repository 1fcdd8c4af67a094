import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NpyFormatError, decodeNpy, encodeNpyFloat32, readNpyFile, writeNpyFile } from '../src/io/npy.js';

/**
 * The exact header NumPy 1.24 writes, generated once with
 *   /usr/bin/python3 -c 'import numpy as np, io; b = io.BytesIO();
 *     np.save(b, np.arange(24, dtype=np.float32).reshape(3, 2, 4)); print(b.getvalue()[:128])'
 * which printed b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 4), }" followed by
 * 55 spaces and '\n': 128 bytes in all (0x76 = 118 header bytes after the 10-byte prefix), so the data starts at a
 * multiple of 64. The data that follows is the 24 float32 values 0..23, little-endian.
 */
const NUMPY_HEADER_3_2_4 = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 4), }" + ' '.repeat(55) + '\n';

/** Headers NumPy wrote for other shapes (same command, other arrays), every one padded to 128 bytes in total. */
const NUMPY_DICTS: Array<[number[], string]> = [
  [[], "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"],
  [[5], "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"],
  [[0], "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }"],
  [[1, 3, 224, 224], "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }"],
];

/**
 * np.save(b, np.arange(3, dtype=np.float64)): a '<f8' file (header padded to 128 bytes, then 0.0, 1.0, 2.0).
 */
const NUMPY_F8_HEADER = "\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" + ' '.repeat(60) + '\n';

/**
 * numpy.lib.format.write_array(b, np.arange(6, dtype='<f4').reshape(2, 3), version=(2, 0)), as hex: a v2.0 header
 * (4-byte header length 0x74 = 116, data at 128) followed by 0..5 as float32.
 */
const NUMPY_V2_HEX =
  '934e554d50590200740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c2027' +
  '7368617065273a2028322c2033292c207d' +
  '20'.repeat(56) +
  '0a' +
  '000000000000803f0000004000004040000080400000a040';

function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function f32bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A v1.0 file with an arbitrary header dict (padded like NumPy) and data bytes. */
function npyWith(dict: string, data: Uint8Array): Uint8Array {
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const header = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const prefix = latin1('\x93NUMPY\x01\x00');
  const len = Uint8Array.from([header.length & 0xff, header.length >> 8]);
  return concat(prefix, len, latin1(header), data);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('encodeNpyFloat32', () => {
  it('matches np.save byte for byte for float32 shape (3, 2, 4)', () => {
    expect(NUMPY_HEADER_3_2_4.length).toBe(128);
    const bytes = encodeNpyFloat32(Float32Array.from(range(24)), [3, 2, 4]);
    const expected = concat(latin1(NUMPY_HEADER_3_2_4), f32bytes(range(24)));
    expect(bytes.length).toBe(128 + 24 * 4);
    expect(Array.from(bytes)).toEqual(Array.from(expected));
  });

  it('writes the same shape literals and padding as NumPy', () => {
    for (const [shape, dict] of NUMPY_DICTS) {
      const count = shape.reduce((a, b) => a * b, 1);
      const bytes = encodeNpyFloat32(new Float32Array(count), shape);
      const headerLength = bytes[8] | (bytes[9] << 8);
      expect(10 + headerLength).toBe(128);
      const header = String.fromCharCode(...bytes.subarray(10, 128));
      expect(header).toBe(dict.padEnd(117, ' ') + '\n');
    }
  });

  it('pads long headers to the next multiple of 64', () => {
    const shape = Array.from({ length: 40 }, () => 1);
    const bytes = encodeNpyFloat32(new Float32Array(1), shape);
    const dataStart = 10 + (bytes[8] | (bytes[9] << 8));
    expect(dataStart % 64).toBe(0);
    expect(dataStart).toBeGreaterThan(128);
    expect(bytes[dataStart - 1]).toBe(0x0a);
    expect(decodeNpy(bytes).shape).toEqual(shape);
  });

  it('encodes a subarray view correctly', () => {
    const big = Float32Array.from(range(10));
    const view = big.subarray(3, 7);
    expect(Array.from(decodeNpy(encodeNpyFloat32(view, [2, 2])).data)).toEqual([3, 4, 5, 6]);
  });

  it('rejects a shape that does not match the data', () => {
    expect(() => encodeNpyFloat32(new Float32Array(5), [2, 3])).toThrow(/shape \[2, 3\] holds 6 values but data has 5/);
    expect(() => encodeNpyFloat32(new Float32Array(1), [-1])).toThrow(NpyFormatError);
    expect(() => encodeNpyFloat32(new Float32Array(1), [1.5])).toThrow(NpyFormatError);
  });
});

describe('decodeNpy', () => {
  it('decodes what NumPy writes (float32, v1.0)', () => {
    const { data, shape } = decodeNpy(concat(latin1(NUMPY_HEADER_3_2_4), f32bytes(range(24))));
    expect(data).toBeInstanceOf(Float32Array);
    expect(shape).toEqual([3, 2, 4]);
    expect(Array.from(data)).toEqual(range(24));
  });

  it('decodes float64', () => {
    const f8 = new Uint8Array(Float64Array.from([0, 1, 2]).buffer);
    const { data, shape } = decodeNpy(concat(latin1(NUMPY_F8_HEADER), f8));
    expect(data).toBeInstanceOf(Float64Array);
    expect(shape).toEqual([3]);
    expect(Array.from(data)).toEqual([0, 1, 2]);
  });

  it('decodes a version 2.0 header', () => {
    const bytes = Uint8Array.from(Buffer.from(NUMPY_V2_HEX, 'hex'));
    expect(bytes.length).toBe(152);
    const { data, shape } = decodeNpy(bytes);
    expect(shape).toEqual([2, 3]);
    expect(Array.from(data)).toEqual(range(6));
  });

  it('accepts other key orders, double quotes and 0-d arrays', () => {
    const a = decodeNpy(npyWith('{"shape": (2,), "fortran_order": False, "descr": "<f4"}', f32bytes([1.5, -2])));
    expect(a.shape).toEqual([2]);
    expect(Array.from(a.data)).toEqual([1.5, -2]);
    const scalar = decodeNpy(npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32bytes([7])));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([7]);
  });

  it('works on an unaligned view and returns an independent copy', () => {
    const file = encodeNpyFloat32(Float32Array.from([1, 2, 3]), [3]);
    const padded = new Uint8Array(file.length + 1);
    padded.set(file, 1);
    const view = padded.subarray(1);
    const { data } = decodeNpy(view);
    expect(Array.from(data)).toEqual([1, 2, 3]);
    padded.fill(0);
    expect(Array.from(data)).toEqual([1, 2, 3]);
  });

  it('rejects bad input with clear errors', () => {
    const dict = (descr: string, fortran = 'False', shape = '(2,)') => `{'descr': ${descr}, 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
    const two = f32bytes([1, 2]);
    const cases: Array<[Uint8Array, RegExp]> = [
      [latin1('hello world'), /not a \.npy file/],
      [new Uint8Array(0), /not a \.npy file/],
      [concat(latin1('\x93NUMPY\x04\x00'), new Uint8Array(8)), /unsupported \.npy format version 4\.0/],
      [npyWith(dict("'>f4'"), two), /unsupported dtype '>f4'; only '<f4' \(float32\) and '<f8' \(float64\)/],
      [npyWith(dict("'<i4'"), two), /unsupported dtype '<i4'/],
      [npyWith(dict("[('a', '<f4')]"), two), /structured arrays are not supported/],
      [npyWith(dict("'<f4'", 'True'), two), /Fortran order/],
      [npyWith(dict("'<f4'", 'False', '(3,)'), two), /truncated: shape \(3\) of '<f4' needs 12 data bytes, found 8/],
      [npyWith(dict("'<f4'", 'False', '(1,)'), two), /4 unexpected bytes after the data/],
      [npyWith(dict("'<f4'", 'False', '(2.5,)'), two), /malformed header|invalid 'shape'/],
      [npyWith("{'descr': '<f4', 'fortran_order': False", two), /malformed header/],
      [latin1('\x93NUMPY\x01\x00\xff\x00{}'), /truncated inside its header/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => decodeNpy(bytes)).toThrow(NpyFormatError);
      expect(() => decodeNpy(bytes)).toThrow(message);
    }
  });
});

describe('npy files', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'style-transfer-npy-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('round-trips through writeNpyFile and readNpyFile', async () => {
    const values = Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => Math.sin(i) * 1e3);
    const path = join(tmp, 'a.npy');
    await writeNpyFile(path, values, [2, 3, 5]);
    expect(await readdir(tmp)).toEqual(['a.npy']); // no temporary file left
    const { data, shape } = await readNpyFile(path);
    expect(shape).toEqual([2, 3, 5]);
    expect(data).toBeInstanceOf(Float32Array);
    expect(Array.from(data)).toEqual(Array.from(values));
    expect((await readFile(path)).length).toBe(128 + 30 * 4);
  });

  it('a failed write leaves the existing file alone', async () => {
    const path = join(tmp, 'keep.npy');
    await writeNpyFile(path, Float32Array.from([1]), [1]);
    const before = await readFile(path);
    await expect(writeNpyFile(path, Float32Array.from([1, 2]), [3])).rejects.toThrow(NpyFormatError);
    expect(await readFile(path)).toEqual(before);
    await expect(writeNpyFile(join(tmp, 'missing', 'x.npy'), new Float32Array(1), [1])).rejects.toThrow(/Could not write .*x\.npy.*: the directory .*missing.* does not exist/);
  });

  it('errors name the file', async () => {
    const missing = join(tmp, 'nope.npy');
    await expect(readNpyFile(missing)).rejects.toThrow(`Could not read ${JSON.stringify(missing)}: the file does not exist.`);
    const text = join(tmp, 'text.npy');
    await writeFile(text, 'not numpy');
    await expect(readNpyFile(text)).rejects.toThrow(/"[^"]*text\.npy" is not a usable \.npy file: not a \.npy file/);
  });
});
