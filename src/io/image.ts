/**
 * Node image I/O for the CLI: PNG and JPEG in (pngjs, jpeg-js), PNG out, all as 8-bit RGBA.
 *
 * Input rules (see `readImageFile`): the format comes from the magic bytes, never the file name; the declared size is
 * read from the header and checked against a pixel limit before any pixel is decoded; JPEG EXIF orientation is
 * applied; every failure is an `ImageInputError` whose message is one sentence naming the file.
 */
import { readFile, stat } from 'node:fs/promises';
import { errorCode, writeFileAtomic } from './atomicWrite.js';

import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

import {
  DEFAULT_MAX_PIXELS,
  ImageInputError,
  applyExifOrientation,
  assertRgbaImage,
  checkDeclaredSize,
  quoteSource,
  readImageHeader,
  type ImageHeader,
  type RgbaImage,
} from './rgbaImage.js';

export { ImageInputError, resizeTo } from './rgbaImage.js';
export type { ImageInputErrorKind, RgbaImage } from './rgbaImage.js';

export type ReadImageOptions = {
  /** Refuse images whose header declares more pixels than this (default 50 megapixels). */
  maxPixels?: number;
};

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Reads a PNG or JPEG file into 8-bit RGBA.
 *
 * - PNG: every colour type and bit depth pngjs supports (grayscale, palette, RGB, with or without alpha or tRNS,
 *   1..16 bits, interlaced) becomes RGBA8; 16-bit samples are rounded to 8 bits.
 * - JPEG: baseline and progressive, grayscale, YCbCr and Adobe CMYK; EXIF orientation (APP1, tag 0x0112) is applied
 *   so the result is upright as a viewer would show it.
 * - Alpha is kept as decoded (not composited over anything); style transfer ignores it.
 * - PNG eXIf orientation and embedded colour profiles (ICC, gAMA) are ignored: samples are taken as sRGB.
 *
 * Throws ImageInputError for a missing file, a directory, an empty file, something that is not a PNG or JPEG, a
 * truncated or corrupt file, a declared size above `maxPixels` or below 1x1.
 */
export async function readImageFile(path: string, opts: ReadImageOptions = {}): Promise<RgbaImage> {
  const q = quoteSource(path);
  let bytes: Buffer;
  try {
    const st = await stat(path);
    if (st.isDirectory()) {
      throw new ImageInputError(`Image path ${q} is a directory, not an image file.`, path, 'not-a-file');
    }
    if (!st.isFile()) throw new ImageInputError(`Image path ${q} is not a regular file.`, path, 'not-a-file');
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof ImageInputError) throw e;
    const code = errorCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ImageInputError(`Image file ${q} does not exist.`, path, 'not-found', { cause: e });
    }
    if (code === 'EISDIR') {
      throw new ImageInputError(`Image path ${q} is a directory, not an image file.`, path, 'not-a-file', { cause: e });
    }
    const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ERR_FS_FILE_TOO_LARGE' ? 'the file is too large to read into memory' : errorMessage(e);
    throw new ImageInputError(`Image file ${q} could not be read: ${reason}.`, path, 'unreadable', { cause: e });
  }
  return decodeImageBytes(bytes, path, opts);
}

/**
 * Decodes PNG or JPEG bytes already in memory (what `readImageFile` does after reading). `source` names the image in
 * error messages.
 */
export function decodeImageBytes(bytes: Uint8Array, source: string, opts: ReadImageOptions = {}): RgbaImage {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new RangeError(`maxPixels must be positive, got ${maxPixels}`);
  const header = readImageHeader(bytes, source);
  checkDeclaredSize(header, source, maxPixels);
  const decoded = header.format === 'png' ? decodePng(bytes, source, header) : decodeJpeg(bytes, source, header, maxPixels);
  if (decoded.width !== header.width || decoded.height !== header.height) {
    throw corrupt(source, `the decoder produced ${decoded.width}x${decoded.height} pixels but the header declares ` + `${header.width}x${header.height}`);
  }
  return applyExifOrientation(decoded, header.orientation);
}

function corrupt(source: string, reason: string, cause?: unknown): ImageInputError {
  return new ImageInputError(`Image file ${quoteSource(source)} could not be decoded: ${reason}.`, source, 'corrupt', {
    cause,
  });
}

/** Turns a decoder's message into the tail of our sentence. */
function decoderReason(e: unknown): string {
  const message = errorMessage(e).trim().replace(/\.+$/, '');
  // pngjs: its sync reader ran out of input. zlib: the compressed stream stops early.
  if (/read requests waitng on finished stream|unexpected end of file/i.test(message)) return 'the file is truncated';
  return message.length > 0 ? message.charAt(0).toLowerCase() + message.slice(1) : 'unknown decoder error';
}

/** An exactly-sized Uint8ClampedArray over the decoder's output (copied if it is a view into a larger buffer). */
function ownPixels(data: Uint8Array): Uint8ClampedArray {
  if (data.byteOffset === 0 && data.buffer.byteLength === data.byteLength && data.buffer instanceof ArrayBuffer) {
    return new Uint8ClampedArray(data.buffer);
  }
  return new Uint8ClampedArray(data);
}

/**
 * The tRNS colour key of a grayscale (type 0) or RGB (type 2) PNG as raw samples, or null. Walks the chunks before
 * the first IDAT; the caller has already had pngjs validate the structure.
 */
function pngColourKey(bytes: Uint8Array, colorType: number): number[] | null {
  if (colorType !== 0 && colorType !== 2) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let pos = 8; pos + 8 <= bytes.length;) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    if (type === 'IDAT' || type === 'IEND') return null;
    if (type === 'tRNS' && pos + 8 + length <= bytes.length) {
      if (colorType === 0 && length >= 2) return [view.getUint16(pos + 8)];
      if (colorType === 2 && length >= 6) return [0, 2, 4].map((o) => view.getUint16(pos + 8 + o));
      return null;
    }
    pos += 12 + length;
  }
  return null;
}

function decodePng(bytes: Uint8Array, source: string, header: ImageHeader): RgbaImage {
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw corrupt(source, decoderReason(e), e);
  }
  const data = ownPixels(png.data);
  // pngjs turns pixels matching a tRNS colour key into (0, 0, 0, 0), losing their colour. Such images have no other
  // transparency, so every alpha-0 pixel is a keyed one: give it back the key colour (alpha stays 0, as decoded).
  const key = pngColourKey(bytes, header.png!.colorType);
  if (key !== null) {
    const max = 2 ** header.png!.bitDepth - 1;
    const [r, g, b] = (key.length === 1 ? [key[0], key[0], key[0]] : key).map((v) => Math.floor((v * 255) / max + 0.5));
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] === 0) {
        data[i] = r;
        data[i + 1] = g;
        data[i + 2] = b;
      }
    }
  }
  return { width: png.width, height: png.height, data };
}

const JPEG_SOF_NAMES: Record<number, string> = {
  0xc3: 'lossless (SOF3)',
  0xc5: 'hierarchical (SOF5)',
  0xc6: 'hierarchical (SOF6)',
  0xc7: 'hierarchical lossless (SOF7)',
  0xc9: 'arithmetic-coded (SOF9)',
  0xca: 'arithmetic-coded progressive (SOF10)',
  0xcb: 'arithmetic-coded lossless (SOF11)',
  0xcd: 'hierarchical arithmetic-coded (SOF13)',
  0xce: 'hierarchical arithmetic-coded (SOF14)',
  0xcf: 'hierarchical arithmetic-coded lossless (SOF15)',
};

/** An upper bound of what jpeg-js allocates for this frame, in MiB (its own accounting; see decoder.js). */
function jpegMemoryBudgetMiB(header: ImageHeader): number {
  const { width, height } = header;
  const factors = header.jpeg!.samplingFactors;
  const maxH = Math.max(1, ...factors.map(([h]) => h));
  const maxV = Math.max(1, ...factors.map(([, v]) => v));
  const paddedW = Math.ceil(width / 8 / maxH) * 8 * maxH;
  const paddedH = Math.ceil(height / 8 / maxV) * 8 * maxV;
  let bytes = 1 << 20; // tables
  for (const [h, v] of factors) {
    const samples = ((paddedW * h) / maxH) * ((paddedH * v) / maxV);
    bytes += samples * 4 /* Int32 coefficient blocks */ + samples; /* decoded lines */
  }
  bytes += width * height * (factors.length + 4); // colour-converted samples + RGBA output
  return Math.ceil((bytes * 1.25) / 2 ** 20) + 16;
}

function decodeJpeg(bytes: Uint8Array, source: string, header: ImageHeader, maxPixels: number): RgbaImage {
  const info = header.jpeg!;
  const q = quoteSource(source);
  const unsupported = (what: string) => new ImageInputError(`Image file ${q} could not be decoded: ${what}, which is not supported.`, source, 'unsupported-format');
  if (info.sofMarker !== 0xc0 && info.sofMarker !== 0xc1 && info.sofMarker !== 0xc2) {
    throw unsupported(`it is a ${JPEG_SOF_NAMES[info.sofMarker] ?? 'non-standard'} JPEG`);
  }
  if (info.precision !== 8) throw unsupported(`it uses ${info.precision}-bit JPEG samples`);
  if (info.truncated) throw corrupt(source, 'the file is truncated (there is no end-of-image marker after the image data)');
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      // Already checked against the header; these are jpeg-js's own guards in case the header scan and the decoder
      // ever disagree about the frame.
      // (A hair above the limit: jpeg-js compares pixels > MP * 1e6, and x / 1e6 * 1e6 is not always x.)
      maxResolutionInMP: (maxPixels + 1) / 1e6,
      maxMemoryUsageInMB: jpegMemoryBudgetMiB(header),
    });
  } catch (e) {
    throw corrupt(source, decoderReason(e), e);
  }
  return { width: decoded.width, height: decoded.height, data: ownPixels(decoded.data) };
}

// ---------------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------------

/** Encodes an RGBA image as PNG (RGB when every pixel is opaque, RGBA otherwise). */
export function encodePng(image: RgbaImage): Uint8Array {
  assertRgbaImage(image);
  const { width, height, data } = image;
  let opaque = true;
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] !== 255) {
      opaque = false;
      break;
    }
  }
  const png = { width, height, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  // pngjs' packer only reads width, height and data; with colorType 2 and RGBA input it drops alpha (all 255 here).
  return PNG.sync.write(png as unknown as PNG, { colorType: opaque ? 2 : 6, inputColorType: 6, inputHasAlpha: true });
}

/** Writes an RGBA image as a PNG file, atomically (temporary file + rename). */
export async function writePngFile(path: string, image: RgbaImage): Promise<void> {
  const bytes = encodePng(image);
  await writeFileAtomic(path, bytes);
}
