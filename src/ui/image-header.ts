/**
 * What a browser image file declares before any pixel is decoded: its format and size, for every format the
 * element hands to the browser's decoder (createImageBitmap): PNG and JPEG (read by src/io/rgbaImage.ts, as the CLI
 * reads them), WebP (VP8, VP8L, VP8X), AVIF (the largest `ispe` item property of its meta box), GIF (the logical
 * screen) and BMP (the DIB header). The declared size is what a decompression bomb lies about least cheaply, so it
 * is checked against the pixel limit before the browser allocates anything.
 *
 * Pure: no DOM or Node imports.
 */
import { ImageInputError, quoteSource, readImageHeader } from '../io/rgbaImage.js';

export const BROWSER_IMAGE_FORMATS = ['png', 'jpeg', 'webp', 'avif', 'gif', 'bmp'] as const;
export type BrowserImageFormat = (typeof BROWSER_IMAGE_FORMATS)[number];

/** The formats as a sentence lists them. */
export const BROWSER_IMAGE_FORMAT_NAMES = 'PNG, JPEG, WebP, AVIF, GIF or BMP';

export interface BrowserImageHeader {
  format: BrowserImageFormat;
  width: number;
  height: number;
  /** The MIME type to hand the bytes to the decoder with. */
  mimeType: string;
}

const ascii = (b: Uint8Array, at: number, length: number): string => String.fromCharCode(...b.subarray(at, at + length));
const u16le = (b: Uint8Array, at: number): number => b[at] | (b[at + 1] << 8);
const u24le = (b: Uint8Array, at: number): number => b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
const u32le = (b: Uint8Array, at: number): number => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
const i32le = (b: Uint8Array, at: number): number => b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
const u32be = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

function corrupt(source: string, reason: string): ImageInputError {
  return new ImageInputError(`Image file ${quoteSource(source)} could not be decoded: ${reason}.`, source, 'corrupt');
}

/** The format from the magic bytes, or undefined. */
export function sniffBrowserImageFormat(bytes: Uint8Array): BrowserImageFormat | undefined {
  if (bytes[0] === 0x89 && ascii(bytes, 1, 3) === 'PNG') return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpeg';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'webp';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 2) === 'BM') return 'bmp';
  if (ascii(bytes, 4, 4) === 'ftyp' && isAvifBrand(bytes)) return 'avif';
  return undefined;
}

/** Whether the ftyp box names an AVIF brand (major or compatible). */
function isAvifBrand(bytes: Uint8Array): boolean {
  const size = Math.min(u32be(bytes, 0), bytes.length);
  for (let at = 8; at + 4 <= size; at += 4) {
    if (at === 12) continue; // minor version
    const brand = ascii(bytes, at, 4);
    if (brand === 'avif' || brand === 'avis') return true;
  }
  return false;
}

/**
 * Format and declared size of `bytes` without decoding. Throws ImageInputError: 'empty', 'unsupported-format' (not
 * one of BROWSER_IMAGE_FORMATS) or 'corrupt' (a header too short or inconsistent to give a size).
 */
export function readBrowserImageHeader(bytes: Uint8Array, source: string): BrowserImageHeader {
  if (bytes.length === 0) throw new ImageInputError(`Image file ${quoteSource(source)} is empty.`, source, 'empty');
  const format = sniffBrowserImageFormat(bytes);
  const sized = (width: number, height: number): BrowserImageHeader => ({ format: format!, width, height, mimeType: `image/${format}` });
  switch (format) {
    case 'png':
    case 'jpeg': {
      const header = readImageHeader(bytes, source);
      return sized(header.orientedWidth, header.orientedHeight);
    }
    case 'webp':
      return sized(...webpSize(bytes, source));
    case 'gif':
      if (bytes.length < 10) throw corrupt(source, 'the GIF file is truncated inside its header');
      return sized(u16le(bytes, 6), u16le(bytes, 8));
    case 'bmp':
      return sized(...bmpSize(bytes, source));
    case 'avif':
      return sized(...avifSize(bytes, source));
    case undefined:
      throw new ImageInputError(`Image file ${quoteSource(source)} is not an image this element reads (${BROWSER_IMAGE_FORMAT_NAMES}).`, source, 'unsupported-format');
  }
}

function webpSize(bytes: Uint8Array, source: string): [number, number] {
  if (bytes.length < 30) throw corrupt(source, 'the WebP file is truncated inside its header');
  const chunk = ascii(bytes, 12, 4);
  if (chunk === 'VP8 ') {
    // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (2 scale bits above each).
    if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a) throw corrupt(source, 'the WebP (VP8) frame header has no start code');
    return [u16le(bytes, 26) & 0x3fff, u16le(bytes, 28) & 0x3fff];
  }
  if (chunk === 'VP8L') {
    if (bytes[20] !== 0x2f) throw corrupt(source, 'the WebP (lossless) header has no signature byte');
    const bits = u32le(bytes, 21);
    return [(bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1];
  }
  if (chunk === 'VP8X') return [u24le(bytes, 24) + 1, u24le(bytes, 27) + 1];
  throw corrupt(source, `the WebP file starts with an unknown chunk "${chunk}"`);
}

function bmpSize(bytes: Uint8Array, source: string): [number, number] {
  if (bytes.length < 26) throw corrupt(source, 'the BMP file is truncated inside its header');
  const dibSize = u32le(bytes, 14);
  if (dibSize === 12) return [u16le(bytes, 18), u16le(bytes, 20)]; // BITMAPCOREHEADER
  if (dibSize < 40) throw corrupt(source, `the BMP header size ${dibSize} is not one of a known header`);
  // Height is negative for top-down rows.
  return [Math.abs(i32le(bytes, 18)), Math.abs(i32le(bytes, 22))];
}

/**
 * AVIF (ISO-BMFF): meta (a full box) > iprp > ipco > ispe (a full box: width, height). An image may hold several
 * (a grid and its tiles, an alpha plane, a thumbnail): the largest area counts, so no item the decoder may
 * allocate for is larger than the size checked.
 */
function avifSize(bytes: Uint8Array, source: string): [number, number] {
  let best: [number, number] | undefined;
  const walk = (from: number, to: number, depth: number): void => {
    for (let at = from; at + 8 <= to;) {
      let size = u32be(bytes, at);
      const type = ascii(bytes, at + 4, 4);
      let header = 8;
      if (size === 1) {
        // 64-bit size: past 4 GiB nothing here fits in memory anyway.
        if (at + 16 > to || u32be(bytes, at + 8) !== 0) return;
        size = u32be(bytes, at + 12);
        header = 16;
      } else if (size === 0) size = to - at;
      if (size < header || at + size > to) return;
      if (type === 'meta' && depth === 0) walk(at + header + 4, at + size, 1);
      else if ((type === 'iprp' && depth === 1) || (type === 'ipco' && depth === 2)) walk(at + header, at + size, depth + 1);
      else if (type === 'ispe' && depth === 3 && size >= header + 12) {
        const width = u32be(bytes, at + header + 4);
        const height = u32be(bytes, at + header + 8);
        if (!best || width * height > best[0] * best[1]) best = [width, height];
      }
      at += size;
    }
  };
  walk(0, bytes.length, 0);
  if (!best) throw corrupt(source, 'the AVIF file declares no image size (no ispe property in its meta box)');
  return best;
}
