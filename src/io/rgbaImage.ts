/**
 * The in-memory image type shared by the Node CLI and the browser, and the pure pieces of image input that need no
 * Node API: header sniffing (format, declared size, JPEG EXIF orientation), the pixel-count guard, orientation and
 * resizing.  Decoding itself lives in `image.ts` (Node: pngjs needs zlib); the browser decodes with its own codecs
 * and can still use everything here.
 */

/** An 8-bit RGBA image, row-major, top row first; `data.length === width * height * 4`. */
export type RgbaImage = {
  width: number;
  height: number;
  data: Uint8ClampedArray;
};

/** Images declaring more pixels than this are refused before decoding (50 megapixels). */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** What went wrong with an input image; lets callers react without parsing the message. */
export type ImageInputErrorKind = 'not-found' | 'not-a-file' | 'unreadable' | 'empty' | 'unsupported-format' | 'corrupt' | 'too-large' | 'too-small';

/**
 * An input image that cannot be used. The message is one sentence naming the file (`source`: a path in Node, a file
 * name in the browser), suitable for printing to a user as is.
 */
export class ImageInputError extends Error {
  override readonly name = 'ImageInputError';
  constructor(
    message: string,
    readonly source: string,
    readonly kind: ImageInputErrorKind,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Quotes a path or file name for an error message. */
export function quoteSource(source: string): string {
  return JSON.stringify(source);
}

// ---------------------------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------------------------

/** Throws a TypeError unless `image` is a well-formed RgbaImage (programming errors, not user input errors). */
export function assertRgbaImage(image: RgbaImage, what = 'image'): void {
  if (image === null || typeof image !== 'object') throw new TypeError(`${what} is not an RgbaImage`);
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new TypeError(`${what} has invalid dimensions ${width}x${height}; both must be integers >= 1`);
  }
  if (!(data instanceof Uint8ClampedArray)) throw new TypeError(`${what}.data must be a Uint8ClampedArray`);
  if (data.length !== width * height * 4) {
    throw new TypeError(`${what}.data has length ${data.length}, expected ${width}*${height}*4 = ${width * height * 4}`);
  }
}

function assertPositiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Header sniffing
// ---------------------------------------------------------------------------------------------------------------

type ImageFormat = 'png' | 'jpeg';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Identifies PNG or JPEG by magic bytes (never by file name); null for anything else. */
function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  let s = '';
  for (let i = start; i < start + length && i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** A best-effort name for a common non-PNG/JPEG format, to make the "unsupported" message more helpful. */
function describeOtherFormat(bytes: Uint8Array): string | null {
  const head = ascii(bytes, 0, 16);
  if (head.startsWith('GIF87a') || head.startsWith('GIF89a')) return 'a GIF image';
  if (head.startsWith('RIFF') && ascii(bytes, 8, 4) === 'WEBP') return 'a WebP image';
  if (head.startsWith('BM')) return 'a BMP image';
  if (head.startsWith('II*\0') || head.startsWith('MM\0*')) return 'a TIFF image';
  if (ascii(bytes, 4, 4) === 'ftyp') {
    const brand = ascii(bytes, 8, 4);
    if (brand.startsWith('avi')) return 'an AVIF image';
    if (brand.startsWith('hei') || brand.startsWith('mif') || brand.startsWith('hev')) return 'a HEIC/HEIF image';
  }
  if (head.startsWith('qoif')) return 'a QOI image';
  if (bytes[0] === 0xff && bytes[1] === 0x0a) return 'a JPEG XL image';
  if (/^\s*(<\?xml|<svg)/i.test(head)) return 'an SVG or XML file';
  if (head.startsWith('\x93NUMPY')) return 'a NumPy .npy file';
  return null;
}

/** What the file header declares, read without decoding any pixels. */
export type ImageHeader = {
  format: ImageFormat;
  width: number;
  height: number;
  /** EXIF orientation 1..8 (1 = as stored). Only read from JPEG APP1 Exif; always 1 for PNG. */
  orientation: number;
  /** Width and height after applying `orientation` (swapped for 5..8). */
  orientedWidth: number;
  orientedHeight: number;
  /** PNG: IHDR fields. */
  png?: { bitDepth: number; colorType: number; interlaced: boolean };
  /**
   * JPEG: the frame header. `sofMarker` is the second byte of the SOFn marker (0xc0 baseline, 0xc1 extended,
   * 0xc2 progressive, others lossless/hierarchical/arithmetic). `samplingFactors` are [h, v] per component.
   * `truncated` is true when no end-of-image marker follows the first scan.
   */
  jpeg?: {
    sofMarker: number;
    precision: number;
    components: number;
    samplingFactors: Array<[number, number]>;
    hasAdobeMarker: boolean;
    truncated: boolean;
  };
};

function u16be(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function u32be(b: Uint8Array, o: number): number {
  return ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
}

function isSofMarker(m: number): boolean {
  // C0..CF except C4 (DHT), C8 (JPG extension) and CC (DAC).
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

function orientedSize(width: number, height: number, orientation: number): [number, number] {
  return orientation >= 5 ? [height, width] : [width, height];
}

/**
 * Reads format, declared dimensions and (JPEG) EXIF orientation from the first bytes of a file, without decoding
 * pixels. Throws ImageInputError (kind 'empty', 'unsupported-format' or 'corrupt') when that is not possible.
 * Size limits are checked separately by `checkDeclaredSize`.
 */
export function readImageHeader(bytes: Uint8Array, source: string): ImageHeader {
  const q = quoteSource(source);
  if (bytes.length === 0) throw new ImageInputError(`Image file ${q} is empty.`, source, 'empty');
  const format = sniffImageFormat(bytes);
  if (format === 'png') return readPngHeader(bytes, source);
  if (format === 'jpeg') return readJpegHeader(bytes, source);
  const other = describeOtherFormat(bytes);
  throw new ImageInputError(`Image file ${q} is not a PNG or JPEG image${other ? ` (it looks like ${other})` : ''}.`, source, 'unsupported-format');
}

function corrupt(source: string, reason: string): ImageInputError {
  return new ImageInputError(`Image file ${quoteSource(source)} could not be decoded: ${reason}.`, source, 'corrupt');
}

function readPngHeader(bytes: Uint8Array, source: string): ImageHeader {
  // signature (8) + IHDR length (4) + "IHDR" (4) + 13 data bytes + CRC (4)
  if (bytes.length < 33) throw corrupt(source, 'the PNG file is truncated inside its header');
  if (ascii(bytes, 12, 4) !== 'IHDR' || u32be(bytes, 8) !== 13) {
    throw corrupt(source, 'the PNG file does not start with a valid IHDR chunk');
  }
  const width = u32be(bytes, 16);
  const height = u32be(bytes, 20);
  const bitDepth = bytes[24];
  const colorType = bytes[25];
  const interlaced = bytes[28] === 1;
  return {
    format: 'png',
    width,
    height,
    orientation: 1,
    orientedWidth: width,
    orientedHeight: height,
    png: { bitDepth, colorType, interlaced },
  };
}

function readJpegHeader(bytes: Uint8Array, source: string): ImageHeader {
  const n = bytes.length;
  let pos = 2; // after SOI
  let orientation = 1;
  let exifSeen = false;
  let hasAdobeMarker = false;
  let sof: NonNullable<ImageHeader['jpeg']> | null = null;
  let width = 0;
  let height = 0;
  let scanStart = -1;
  while (scanStart < 0) {
    // Find the next marker. Bytes that are not 0xFF here are garbage (some writers get APPn lengths wrong);
    // skip them like libjpeg does ("extraneous bytes before marker") instead of failing.
    while (pos < n && bytes[pos] !== 0xff) pos++;
    while (pos + 1 < n && bytes[pos + 1] === 0xff) pos++; // fill bytes
    if (pos + 1 >= n) throw corrupt(source, 'the JPEG file is truncated before its image data');
    const marker = bytes[pos + 1];
    pos += 2;
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue; // no length field
    if (marker === 0xd9) throw corrupt(source, 'the JPEG file ends (EOI marker) before any image data');
    if (pos + 2 > n) throw corrupt(source, 'the JPEG file is truncated inside its header');
    const segLength = u16be(bytes, pos);
    if (segLength < 2) throw corrupt(source, `invalid JPEG segment length ${segLength}`);
    const segEnd = pos + segLength;
    if (segEnd > n) throw corrupt(source, 'the JPEG file is truncated inside its header');
    const body = pos + 2;
    if (marker === 0xe1 && !exifSeen && segLength >= 2 + 6 && ascii(bytes, body, 5) === 'Exif\0') {
      exifSeen = true;
      orientation = parseExifOrientation(bytes.subarray(body + 6, segEnd));
    } else if (marker === 0xee && segLength >= 2 + 12 && ascii(bytes, body, 6) === 'Adobe\0') {
      hasAdobeMarker = true;
    } else if (isSofMarker(marker) && sof === null) {
      if (segLength < 8) throw corrupt(source, 'the JPEG frame header (SOF) is too short');
      const components = bytes[body + 5];
      if (segLength < 8 + 3 * components) throw corrupt(source, 'the JPEG frame header (SOF) is too short');
      const samplingFactors: Array<[number, number]> = [];
      for (let c = 0; c < components; c++) {
        const hv = bytes[body + 6 + 3 * c + 1];
        samplingFactors.push([hv >> 4, hv & 15]);
      }
      height = u16be(bytes, body + 1);
      width = u16be(bytes, body + 3);
      sof = { sofMarker: marker, precision: bytes[body], components, samplingFactors, hasAdobeMarker, truncated: false };
    } else if (marker === 0xda) {
      if (sof === null) throw corrupt(source, 'the JPEG file has no frame header (SOF) before its image data');
      scanStart = segEnd;
    }
    pos = segEnd;
  }
  sof!.hasAdobeMarker = hasAdobeMarker;
  sof!.truncated = !hasEndOfImage(bytes, scanStart);
  const [orientedWidth, orientedHeight] = orientedSize(width, height, orientation);
  return { format: 'jpeg', width, height, orientation, orientedWidth, orientedHeight, jpeg: sof! };
}

/**
 * Whether an EOI marker (FF D9) occurs at or after `from`. Inside entropy-coded data 0xFF is always followed by 0x00
 * (stuffing) or a marker, so the first FF D9 after the start of the scan is the real end of the image.
 */
function hasEndOfImage(bytes: Uint8Array, from: number): boolean {
  for (let i = bytes.indexOf(0xff, from); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(0xff, i + 1)) {
    if (bytes[i + 1] === 0xd9) return true;
  }
  return false;
}

/**
 * Reads tag 0x0112 (Orientation) from IFD0 of an EXIF TIFF structure (the APP1 payload after "Exif\0\0"), in either
 * byte order. Returns 1 when the tag is absent, malformed or out of range: a broken EXIF block never fails decoding.
 */
export function parseExifOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  let little: boolean;
  if (tiff[0] === 0x49 && tiff[1] === 0x49)
    little = true; // "II"
  else if (tiff[0] === 0x4d && tiff[1] === 0x4d)
    little = false; // "MM"
  else return 1;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  if (view.getUint16(2, little) !== 42) return 1;
  const ifd = view.getUint32(4, little);
  if (ifd < 8 || ifd + 2 > tiff.length) return 1;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > tiff.length) return 1;
    if (view.getUint16(entry, little) !== 0x0112) continue;
    const type = view.getUint16(entry + 2, little);
    // SHORT is the specified type; tolerate LONG written by some tools. The value fits in the entry itself.
    const value = type === 3 ? view.getUint16(entry + 8, little) : type === 4 ? view.getUint32(entry + 8, little) : 0;
    return Number.isInteger(value) && value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

/**
 * Refuses a declared size that is empty or above `maxPixels` (checked before any pixel is decoded, so a
 * decompression bomb costs nothing). Throws ImageInputError of kind 'too-small' or 'too-large'.
 */
export function checkDeclaredSize(header: Pick<ImageHeader, 'width' | 'height'>, source: string, maxPixels = DEFAULT_MAX_PIXELS): void {
  const q = quoteSource(source);
  const { width, height } = header;
  if (width < 1 || height < 1) {
    throw new ImageInputError(`Image file ${q} declares ${width}x${height} pixels; width and height must both be at least 1.`, source, 'too-small');
  }
  if (width * height > maxPixels) {
    const mp = maxPixels >= 1e5 ? ` (${+(maxPixels / 1e6).toFixed(2)} megapixels)` : '';
    throw new ImageInputError(`Image file ${q} declares ${width}x${height} pixels; the limit is ${maxPixels} pixels${mp}.`, source, 'too-large');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Orientation
// ---------------------------------------------------------------------------------------------------------------

/**
 * Applies an EXIF orientation (1..8) so that the result is the image as it should be displayed: 2 mirror
 * horizontally, 3 rotate 180°, 4 mirror vertically, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90°
 * counter-clockwise. Orientation 1 (or any invalid value) returns the same object.
 */
export function applyExifOrientation(image: RgbaImage, orientation: number): RgbaImage {
  if (!Number.isInteger(orientation) || orientation < 2 || orientation > 8) return image;
  const { width: w, height: h, data: src } = image;
  const [ow, oh] = orientedSize(w, h, orientation);
  const outData = new Uint8ClampedArray(ow * oh * 4);
  const out32 = new Uint32Array(outData.buffer);
  // Move whole pixels as 32-bit words (byte order is irrelevant for a copy). A view at an unaligned offset cannot be
  // read as Uint32 and is copied first.
  const s = src.byteOffset % 4 === 0 ? new Uint32Array(src.buffer, src.byteOffset, w * h) : new Uint32Array(new Uint8ClampedArray(src).buffer);
  for (let dy = 0; dy < oh; dy++) {
    for (let dx = 0; dx < ow; dx++) {
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2:
          sx = w - 1 - dx;
          sy = dy;
          break;
        case 3:
          sx = w - 1 - dx;
          sy = h - 1 - dy;
          break;
        case 4:
          sx = dx;
          sy = h - 1 - dy;
          break;
        case 5:
          sx = dy;
          sy = dx;
          break;
        case 6:
          sx = dy;
          sy = h - 1 - dx;
          break;
        case 7:
          sx = w - 1 - dy;
          sy = h - 1 - dx;
          break;
        default:
          sx = w - 1 - dy;
          sy = dx;
          break; // 8
      }
      out32[dy * ow + dx] = s[sy * w + sx];
    }
  }
  return { width: ow, height: oh, data: outData };
}

// ---------------------------------------------------------------------------------------------------------------
// Resizing
// ---------------------------------------------------------------------------------------------------------------

/** The size whose longer side is `n`, the shorter side round(short * n / long) but at least 1. */
export function sizeForLongerSide(width: number, height: number, n: number): { width: number; height: number } {
  assertPositiveInteger(n, 'longer side');
  if (width >= height) return { width: n, height: Math.max(1, Math.round((height * n) / width)) };
  return { width: Math.max(1, Math.round((width * n) / height)), height: n };
}

/** Scales so that the longer side is exactly `n` (see `sizeForLongerSide`); same rules as `resizeTo`. */
export function resizeToLongerSide(image: RgbaImage, n: number): RgbaImage {
  const { width, height } = sizeForLongerSide(image.width, image.height, n);
  return resizeTo(image, width, height);
}

/** Per output index along one axis: the source indices and normalised weights contributing to it. */
type AxisWeights = { first: Int32Array; count: Int32Array; offset: Int32Array; weights: Float64Array };

function axisWeights(src: number, dst: number): AxisWeights {
  const first = new Int32Array(dst);
  const count = new Int32Array(dst);
  const offset = new Int32Array(dst);
  const list: number[] = [];
  for (let i = 0; i < dst; i++) {
    offset[i] = list.length;
    if (dst < src) {
      // Area average: output pixel i covers source interval [i*src/dst, (i+1)*src/dst); every source pixel
      // contributes in proportion to the length it overlaps.
      const left = (i * src) / dst;
      const right = ((i + 1) * src) / dst;
      const j0 = Math.floor(left);
      const j1 = Math.min(src, Math.ceil(right));
      first[i] = j0;
      let sum = 0;
      const start = list.length;
      for (let j = j0; j < j1; j++) {
        const w = Math.max(0, Math.min(j + 1, right) - Math.max(j, left));
        list.push(w);
        sum += w;
      }
      for (let k = start; k < list.length; k++) list[k] /= sum;
      count[i] = j1 - j0;
    } else {
      // Bilinear with half-pixel centres, clamped at the edges.
      const u = ((i + 0.5) * src) / dst - 0.5;
      if (u <= 0) {
        first[i] = 0;
        count[i] = 1;
        list.push(1);
      } else if (u >= src - 1) {
        first[i] = src - 1;
        count[i] = 1;
        list.push(1);
      } else {
        const j0 = Math.floor(u);
        const f = u - j0;
        first[i] = j0;
        count[i] = 2;
        list.push(1 - f, f);
      }
    }
  }
  return { first, count, offset, weights: Float64Array.from(list) };
}

type Samples = Uint8ClampedArray | Float32Array;

/** Resamples the 4-channel `input` (w x h) along x to `weights.length` columns. */
function resampleX(input: Samples, w: number, h: number, dstW: number, ax: AxisWeights): Float32Array {
  const out = new Float32Array(dstW * h * 4);
  for (let y = 0; y < h; y++) {
    const rowIn = y * w * 4;
    const rowOut = y * dstW * 4;
    for (let x = 0; x < dstW; x++) {
      let r = 0,
        g = 0,
        b = 0,
        a = 0;
      const f = ax.first[x],
        c = ax.count[x],
        o = ax.offset[x];
      for (let k = 0; k < c; k++) {
        const wt = ax.weights[o + k];
        const p = rowIn + (f + k) * 4;
        r += input[p] * wt;
        g += input[p + 1] * wt;
        b += input[p + 2] * wt;
        a += input[p + 3] * wt;
      }
      const q = rowOut + x * 4;
      out[q] = r;
      out[q + 1] = g;
      out[q + 2] = b;
      out[q + 3] = a;
    }
  }
  return out;
}

/** Resamples the 4-channel `input` (w x h) along y to `dstH` rows. */
function resampleY(input: Samples, w: number, dstH: number, ay: AxisWeights): Float32Array {
  const rowLen = w * 4;
  const out = new Float32Array(rowLen * dstH);
  const acc = new Float64Array(rowLen);
  for (let y = 0; y < dstH; y++) {
    acc.fill(0);
    const f = ay.first[y],
      c = ay.count[y],
      o = ay.offset[y];
    for (let k = 0; k < c; k++) {
      const wt = ay.weights[o + k];
      const rowIn = (f + k) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += input[rowIn + i] * wt;
    }
    out.set(acc, y * rowLen);
  }
  return out;
}

/**
 * Resizes to exactly width x height. Returns the same object when the size is unchanged (no resampling). Each axis
 * independently: downscaling averages over each output pixel's exact source footprint (box filter, proper
 * antialiasing); upscaling is bilinear with half-pixel centres. Works in float, rounds (half up) once at the end.
 * The four channels are filtered independently (alpha is not premultiplied; callers of this project ignore alpha).
 */
export function resizeTo(image: RgbaImage, width: number, height: number): RgbaImage {
  assertRgbaImage(image);
  assertPositiveInteger(width, 'width');
  assertPositiveInteger(height, 'height');
  const { width: sw, height: sh, data } = image;
  if (sw === width && sh === height) return image;
  let result: Float32Array;
  if (sw === width) {
    result = resampleY(data, sw, height, axisWeights(sh, height));
  } else if (sh === height) {
    result = resampleX(data, sw, sh, width, axisWeights(sw, width));
  } else if (width * sh <= sw * height) {
    // x first keeps the intermediate (width x sh) no larger than the alternative (sw x height).
    const mid = resampleX(data, sw, sh, width, axisWeights(sw, width));
    result = resampleY(mid, width, height, axisWeights(sh, height));
  } else {
    const mid = resampleY(data, sw, height, axisWeights(sh, height));
    result = resampleX(mid, sw, height, width, axisWeights(sw, width));
  }
  const out = new Uint8ClampedArray(result.length);
  for (let i = 0; i < result.length; i++) out[i] = Math.round(result[i]); // clamped by the array type
  return { width, height, data: out };
}
