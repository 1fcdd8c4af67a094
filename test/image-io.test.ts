import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ImageInputError, decodeImageBytes, encodePng, readImageFile, writePngFile, type ImageInputErrorKind, type RgbaImage } from '../src/io/image.js';
import { applyExifOrientation, parseExifOrientation, readImageHeader, resizeTo, resizeToLongerSide, sizeForLongerSide } from '../src/io/rgbaImage.js';
import { ihdr, PNG_SIGNATURE, pngChunk } from './helpers/png.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');

/**
 * The shared sample images: $STYLE_TRANSFER_SAMPLES if set, else ../shared/samples next to the repository root.
 * Returns the directory, or null and a message saying where it looked.
 */
function findSamples(): { dir: string | null; message: string } {
  const env = process.env.STYLE_TRANSFER_SAMPLES;
  const candidate = env ? resolve(env) : resolve(REPO_ROOT, '..', 'shared', 'samples');
  if (existsSync(candidate)) return { dir: candidate, message: '' };
  return {
    dir: null,
    message: `sample images not found at ${candidate}` + (env ? ' (from STYLE_TRANSFER_SAMPLES)' : '; set STYLE_TRANSFER_SAMPLES to the samples directory'),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers to build images
// ---------------------------------------------------------------------------------------------------------------

/** A PNG built by hand: `rows` are raw scanlines (filter type 0 is prepended), `extra` chunks go before IDAT. */
function makePng(width: number, height: number, bitDepth: number, colorType: number, rows: number[][], extra: Buffer[] = []): Buffer {
  const raw = Buffer.concat(rows.map((r) => Buffer.from([0, ...r])));
  return Buffer.concat([PNG_SIGNATURE, ihdr(width, height, bitDepth, colorType), ...extra, pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
}

function image(width: number, height: number, fill: (x: number, y: number) => number[]): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(fill(x, y), (y * width + x) * 4);
  }
  return { width, height, data };
}

function px(img: RgbaImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 4;
  return Array.from(img.data.subarray(i, i + 4));
}

function expectClose(actual: number[], expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]), `channel ${i}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance));
}

/** Pseudo-random noise (fixed seed), so JPEGs have a long entropy-coded segment. */
function noise(width: number, height: number): RgbaImage {
  let s = 12345;
  const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return image(width, height, () => [rnd(), rnd(), rnd(), 255]);
}

function encodeJpeg(img: RgbaImage, quality = 95): Buffer {
  return jpeg.encode({ width: img.width, height: img.height, data: Buffer.from(img.data) }, quality).data;
}

/** An APP1 Exif segment whose IFD0 holds a Make tag and the Orientation tag, in the given byte order. */
function exifSegment(orientation: number, order: 'II' | 'MM'): Buffer {
  const le = order === 'II';
  const tiff = Buffer.alloc(8 + 2 + 2 * 12 + 4);
  const u16 = (v: number, o: number) => (le ? tiff.writeUInt16LE(v, o) : tiff.writeUInt16BE(v, o));
  const u32 = (v: number, o: number) => (le ? tiff.writeUInt32LE(v, o) : tiff.writeUInt32BE(v, o));
  tiff.write(order, 0, 'latin1');
  u16(42, 2);
  u32(8, 4); // IFD0 offset
  u16(2, 8); // entry count
  u16(0x010f, 10); // Make, ASCII, 4 bytes inline
  u16(2, 12);
  u32(4, 14);
  tiff.write('abc\0', 18, 'latin1');
  u16(0x0112, 22); // Orientation, SHORT, 1 value
  u16(3, 24);
  u32(1, 26);
  u16(orientation, 30);
  u32(0, 34); // no next IFD
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const head = Buffer.from([0xff, 0xe1, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

function withExif(jpg: Buffer, orientation: number, order: 'II' | 'MM' = 'MM'): Buffer {
  return Buffer.concat([jpg.subarray(0, 2), exifSegment(orientation, order), jpg.subarray(2)]);
}

/** Offset of the first FF <marker> in a JPEG. */
function findMarker(jpg: Uint8Array, marker: number): number {
  for (let i = 2; i + 1 < jpg.length; i++) if (jpg[i] === 0xff && jpg[i + 1] === marker) return i;
  throw new Error(`marker ${marker.toString(16)} not found`);
}

/** A copy of a baseline JPEG whose SOF0 declares another size (the scan data is left alone). */
function withSofSize(jpg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpg);
  const sof = findMarker(out, 0xc0);
  out.writeUInt16BE(height, sof + 5);
  out.writeUInt16BE(width, sof + 7);
  return out;
}

async function expectInputError(promise: Promise<unknown>, kind: ImageInputErrorKind, message: RegExp): Promise<ImageInputError> {
  const error = await promise.then(
    () => {
      throw new Error('expected an ImageInputError, but the image was accepted');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageInputError);
  const e = error as ImageInputError;
  expect(e.message).toMatch(message);
  expect(e.kind).toBe(kind);
  return e;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'style-transfer-image-io-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function tmpFile(name: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(tmp, name);
  await writeFile(path, bytes);
  return path;
}

// ---------------------------------------------------------------------------------------------------------------

describe('real sample images', () => {
  const samples = findSamples();

  it('decodes chelsea.png (451x300 RGB PNG)', async (ctx) => {
    ctx.skip(samples.dir === null, samples.message);
    const img = await readImageFile(join(samples.dir!, 'chelsea.png'));
    expect([img.width, img.height]).toEqual([451, 300]);
    expect(img.data).toBeInstanceOf(Uint8ClampedArray);
    expect(img.data.length).toBe(451 * 300 * 4);
    // Reference values from PIL (lossless, so exact).
    expect(px(img, 0, 0)).toEqual([143, 120, 104, 255]);
    expect(px(img, 450, 299)).toEqual([162, 138, 128, 255]);
    expect(px(img, 200, 150)).toEqual([125, 64, 35, 255]);
  });

  it('decodes starry_night.jpg', async (ctx) => {
    ctx.skip(samples.dir === null, samples.message);
    const img = await readImageFile(join(samples.dir!, 'starry_night.jpg'));
    expect([img.width, img.height]).toEqual([752, 600]);
    // PIL/libjpeg gives (95, 127, 174); jpeg-js upsamples chroma differently, so allow a little slack.
    expectClose(px(img, 376, 300), [95, 127, 174, 255], 12);
    expectClose(px(img, 0, 0), [0, 0, 0, 255], 6);
  });
});

describe('PNG decoding', () => {
  it('8-bit RGB written by pngjs round-trips exactly', () => {
    const src = noise(7, 5);
    const bytes = PNG.sync.write(Object.assign(new PNG({ width: 7, height: 5 }), { data: Buffer.from(src.data) }), { colorType: 2 });
    const img = decodeImageBytes(bytes, 'rgb.png');
    expect(img.width).toBe(7);
    expect(Array.from(img.data)).toEqual(Array.from(src.data));
  });

  it('8-bit grayscale becomes gray RGBA', () => {
    const img = decodeImageBytes(
      makePng(2, 2, 8, 0, [
        [0, 100],
        [200, 255],
      ]),
      'gray.png',
    );
    expect(px(img, 0, 0)).toEqual([0, 0, 0, 255]);
    expect(px(img, 1, 0)).toEqual([100, 100, 100, 255]);
    expect(px(img, 0, 1)).toEqual([200, 200, 200, 255]);
    expect(px(img, 1, 1)).toEqual([255, 255, 255, 255]);
  });

  it('1-bit grayscale is expanded to 0/255', () => {
    const img = decodeImageBytes(makePng(3, 1, 1, 0, [[0b10100000]]), 'bits.png');
    expect([px(img, 0, 0), px(img, 1, 0), px(img, 2, 0)]).toEqual([
      [255, 255, 255, 255],
      [0, 0, 0, 255],
      [255, 255, 255, 255],
    ]);
  });

  it('gray + alpha keeps the alpha as decoded', () => {
    const img = decodeImageBytes(makePng(2, 1, 8, 4, [[10, 20, 30, 255]]), 'ga.png');
    expect(px(img, 0, 0)).toEqual([10, 10, 10, 20]);
    expect(px(img, 1, 0)).toEqual([30, 30, 30, 255]);
  });

  it('palette with tRNS', () => {
    const plte = pngChunk('PLTE', Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]));
    const trns = pngChunk('tRNS', Uint8Array.from([128])); // only entry 0; the others are opaque
    const img = decodeImageBytes(makePng(3, 1, 8, 3, [[2, 0, 1]], [plte, trns]), 'palette.png');
    expect([px(img, 0, 0), px(img, 1, 0), px(img, 2, 0)]).toEqual([
      [0, 0, 255, 255],
      [255, 0, 0, 128],
      [0, 255, 0, 255],
    ]);
  });

  it('4-bit palette', () => {
    const plte = pngChunk('PLTE', Uint8Array.from([10, 20, 30, 40, 50, 60]));
    const real = decodeImageBytes(makePng(2, 1, 4, 3, [[0x10]], [plte]), 'p4.png');
    expect([px(real, 0, 0), px(real, 1, 0)]).toEqual([
      [40, 50, 60, 255],
      [10, 20, 30, 255],
    ]);
  });

  it('16-bit RGBA is rounded to 8 bits, alpha included', () => {
    const row = [0xff, 0xff, 0x80, 0x80, 0x12, 0x34, 0x00, 0x00];
    const img = decodeImageBytes(makePng(1, 1, 16, 6, [row]), 'deep.png');
    // round(v * 255 / 65535): 65535 -> 255, 0x8080 -> 128, 0x1234 (4660) -> 18, 0 -> 0
    expect(px(img, 0, 0)).toEqual([255, 128, 18, 0]);
  });

  it('16-bit grayscale', () => {
    const img = decodeImageBytes(makePng(2, 1, 16, 0, [[0x00, 0x00, 0x7f, 0xff]]), 'g16.png');
    expect(px(img, 0, 0)).toEqual([0, 0, 0, 255]);
    expect(px(img, 1, 0)).toEqual([127, 127, 127, 255]); // 32767 * 255 / 65535 = 127.498 -> 127
  });

  it('8-bit RGBA alpha is kept, not composited', () => {
    const img = decodeImageBytes(makePng(2, 1, 8, 6, [[200, 100, 50, 0, 1, 2, 3, 77]]), 'rgba.png');
    expect(px(img, 0, 0)).toEqual([200, 100, 50, 0]);
    expect(px(img, 1, 0)).toEqual([1, 2, 3, 77]);
  });

  it('RGB with a tRNS colour key keeps the colour of keyed pixels (pngjs alone would zero it)', () => {
    const trns = pngChunk('tRNS', Uint8Array.from([0, 10, 0, 20, 0, 30]));
    const img = decodeImageBytes(makePng(2, 1, 8, 2, [[10, 20, 30, 10, 20, 31]], [trns]), 'key.png');
    expect(px(img, 0, 0)).toEqual([10, 20, 30, 0]);
    expect(px(img, 1, 0)).toEqual([10, 20, 31, 255]);
  });

  it('grayscale 16-bit with a tRNS key', () => {
    const trns = pngChunk('tRNS', Uint8Array.from([0x80, 0x80]));
    const img = decodeImageBytes(makePng(2, 1, 16, 0, [[0x80, 0x80, 0x80, 0x81]], [trns]), 'gkey.png');
    expect(px(img, 0, 0)).toEqual([128, 128, 128, 0]);
    expect(px(img, 1, 0)).toEqual([128, 128, 128, 255]);
  });

  it('detects the format from magic bytes, not the file name', async () => {
    const png = makePng(1, 1, 8, 0, [[42]]);
    const path = await tmpFile('actually-a-png.jpg', png);
    expect(px(await readImageFile(path), 0, 0)).toEqual([42, 42, 42, 255]);
    const jpg = encodeJpeg(image(8, 8, () => [90, 90, 90, 255]));
    const path2 = await tmpFile('actually-a-jpeg.png', jpg);
    expectClose(px(await readImageFile(path2), 4, 4), [90, 90, 90, 255], 2);
  });
});

describe('JPEG decoding', () => {
  it('decodes a jpeg-js encoded image', () => {
    const img = decodeImageBytes(encodeJpeg(image(16, 8, (x) => (x < 8 ? [200, 40, 40, 255] : [40, 40, 200, 255]))), 'a.jpg');
    expect([img.width, img.height]).toEqual([16, 8]);
    expectClose(px(img, 3, 4), [200, 40, 40, 255], 6);
    expectClose(px(img, 12, 4), [40, 40, 200, 255], 6);
  });

  it('decodes the Adobe CMYK fixture (written by PIL) to plausible RGB', async () => {
    // test/fixtures/cmyk.jpg: 16x8 PIL CMYK JPEG (Adobe APP14, transform 0, inverted CMYK as Photoshop writes it):
    // left half C=255 (cyan), right half K=128. PIL converts it to (0, 255, 255) and (127, 127, 127).
    const bytes = new Uint8Array(await readFile(join(FIXTURES, 'cmyk.jpg')));
    const header = readImageHeader(bytes, 'cmyk.jpg');
    expect(header.jpeg?.components).toBe(4);
    expect(header.jpeg?.hasAdobeMarker).toBe(true);
    const img = decodeImageBytes(bytes, 'cmyk.jpg');
    expect([img.width, img.height]).toEqual([16, 8]);
    expectClose(px(img, 3, 3), [0, 255, 255, 255], 4);
    expectClose(px(img, 12, 3), [127, 127, 127, 255], 4);
  });

  it('reads EXIF orientation in both byte orders, and ignores a broken EXIF block', () => {
    const jpg = encodeJpeg(image(16, 8, () => [0, 0, 0, 255]));
    for (const order of ['II', 'MM'] as const) {
      for (let o = 1; o <= 8; o++) {
        const h = readImageHeader(withExif(jpg, o, order), 'x.jpg');
        expect(h.orientation).toBe(o);
        expect([h.orientedWidth, h.orientedHeight]).toEqual(o >= 5 ? [8, 16] : [16, 8]);
      }
    }
    expect(readImageHeader(jpg, 'x.jpg').orientation).toBe(1);
    expect(readImageHeader(withExif(jpg, 9), 'x.jpg').orientation).toBe(1); // out of range
    expect(parseExifOrientation(Uint8Array.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 200]))).toBe(1); // IFD out of bounds
    expect(parseExifOrientation(Uint8Array.from([1, 2, 3]))).toBe(1);
  });

  describe('applies EXIF orientation', () => {
    // 48x32, the top-left 16x16 block red, the rest gray; blocks aligned to JPEG MCUs so colours stay clean.
    const RED = [220, 30, 30, 255];
    const GRAY = [128, 128, 128, 255];
    const src = image(48, 32, (x, y) => (x < 16 && y < 16 ? RED : GRAY));
    const jpg = encodeJpeg(src);
    const cases: Array<[number, number, number, [number, number]]> = [
      // orientation, displayed width, height, where the centre of the red block ends up
      [1, 48, 32, [8, 8]],
      [3, 48, 32, [39, 23]],
      [6, 32, 48, [23, 8]], // 90° clockwise: the top-left corner moves to the top-right
      [8, 32, 48, [8, 39]], // 90° counter-clockwise: the top-left corner moves to the bottom-left
    ];
    for (const [orientation, w, h, [rx, ry]] of cases) {
      it(`orientation ${orientation}`, async () => {
        const path = await tmpFile(`orient-${orientation}.jpg`, withExif(jpg, orientation));
        const img = await readImageFile(path);
        expect([img.width, img.height]).toEqual([w, h]);
        expectClose(px(img, rx, ry), RED, 12);
        // the opposite corner is gray
        expectClose(px(img, w - 1 - rx, h - 1 - ry), GRAY, 12);
      });
    }
  });

  it('applyExifOrientation maps pixels exactly for all 8 orientations', () => {
    // a b c
    // d e f   (encoded as the red channel 1..6)
    const src = image(3, 2, (x, y) => [1 + x + 3 * y, 0, 0, 255]);
    const letters = (img: RgbaImage) => {
      const rows: string[] = [];
      for (let y = 0; y < img.height; y++) {
        let row = '';
        for (let x = 0; x < img.width; x++) row += 'abcdef'[px(img, x, y)[0] - 1];
        rows.push(row);
      }
      return rows.join('/');
    };
    expect(applyExifOrientation(src, 1)).toBe(src);
    expect(letters(applyExifOrientation(src, 2))).toBe('cba/fed');
    expect(letters(applyExifOrientation(src, 3))).toBe('fed/cba');
    expect(letters(applyExifOrientation(src, 4))).toBe('def/abc');
    expect(letters(applyExifOrientation(src, 5))).toBe('ad/be/cf');
    expect(letters(applyExifOrientation(src, 6))).toBe('da/eb/fc');
    expect(letters(applyExifOrientation(src, 7))).toBe('fc/eb/da');
    expect(letters(applyExifOrientation(src, 8))).toBe('cf/be/ad');
  });
});

describe('input errors', () => {
  it('missing file', async () => {
    const path = join(tmp, 'does-not-exist.png');
    const e = await expectInputError(readImageFile(path), 'not-found', /does not exist/);
    expect(e.message).toContain(path);
    expect(e.source).toBe(path);
  });

  it('a directory', async () => {
    const e = await expectInputError(readImageFile(tmp), 'not-a-file', /is a directory/);
    expect(e.message).toContain(tmp);
  });

  it('an empty file', async () => {
    const path = await tmpFile('empty.png', '');
    const e = await expectInputError(readImageFile(path), 'empty', /is empty/);
    expect(e.message).toContain(path);
  });

  it('a text file named .png', async () => {
    const path = await tmpFile('notes.png', 'hello, this is not an image\n');
    const e = await expectInputError(readImageFile(path), 'unsupported-format', /is not a PNG or JPEG image/);
    expect(e.message).toContain(path);
  });

  it('names a recognisable other format', async () => {
    const path = await tmpFile('anim.png', Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'));
    await expectInputError(readImageFile(path), 'unsupported-format', /is not a PNG or JPEG image \(it looks like a GIF image\)/);
  });

  it('a truncated PNG', async () => {
    const png = encodePng(noise(64, 64));
    const path = await tmpFile('truncated.png', png.subarray(0, png.length >> 1));
    const e = await expectInputError(readImageFile(path), 'corrupt', /could not be decoded: the file is truncated/);
    expect(e.message).toContain(path);
    // cut inside the IHDR
    await expectInputError(readImageFile(await tmpFile('t2.png', png.subarray(0, 20))), 'corrupt', /could not be decoded/);
  });

  it('a PNG with a corrupted IDAT', async () => {
    const png = Buffer.from(encodePng(noise(16, 16)));
    png[60] ^= 0xff;
    await expectInputError(readImageFile(await tmpFile('crc.png', png)), 'corrupt', /could not be decoded: .+/);
  });

  it('a truncated JPEG', async () => {
    const jpg = encodeJpeg(noise(64, 64));
    const path = await tmpFile('truncated.jpg', jpg.subarray(0, Math.floor(jpg.length * 0.6)));
    const e = await expectInputError(readImageFile(path), 'corrupt', /could not be decoded: the file is truncated/);
    expect(e.message).toContain(path);
    // cut inside the header segments, before the scan
    await expectInputError(readImageFile(await tmpFile('t2.jpg', jpg.subarray(0, 100))), 'corrupt', /could not be decoded: .*truncated/);
  });

  it('refuses a PNG declaring 60000x60000 before decoding anything', async () => {
    // A valid signature and IHDR (correct CRC) declaring 60000x60000 RGBA, followed by an IDAT that is not even
    // valid zlib: decoding would fail differently, so the message proves the refusal came from the header check.
    const bomb = Buffer.concat([PNG_SIGNATURE, ihdr(60000, 60000, 8, 6), pngChunk('IDAT', Uint8Array.from([1, 2, 3, 4])), pngChunk('IEND', new Uint8Array(0))]);
    const path = await tmpFile('bomb.png', bomb);
    const t0 = performance.now();
    const e = await expectInputError(readImageFile(path), 'too-large', /declares 60000x60000 pixels; the limit is 50000000 pixels \(50 megapixels\)/);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(e.message).toContain(path);
  });

  it('refuses a JPEG whose frame header declares 60000x60000', async () => {
    const jpg = withSofSize(encodeJpeg(noise(16, 16)), 60000, 60000);
    const t0 = performance.now();
    await expectInputError(readImageFile(await tmpFile('bomb.jpg', jpg)), 'too-large', /declares 60000x60000 pixels/);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('honours maxPixels', async () => {
    const path = await tmpFile(
      'ten.png',
      makePng(
        10,
        10,
        8,
        0,
        Array.from({ length: 10 }, () => Array<number>(10).fill(7)),
      ),
    );
    await expectInputError(readImageFile(path, { maxPixels: 99 }), 'too-large', /declares 10x10 pixels; the limit is 99 pixels/);
    expect((await readImageFile(path, { maxPixels: 100 })).width).toBe(10);
    // JPEG: exactly at the limit is accepted, one pixel over is refused (jpeg-js' own MP guard must agree).
    const jpgPath = await tmpFile('limit.jpg', encodeJpeg(noise(7, 9)));
    for (const limit of [63, 99, 1e6 - 1]) {
      const ok = await readImageFile(jpgPath, { maxPixels: Math.max(limit, 63) });
      expect([ok.width, ok.height]).toEqual([7, 9]);
    }
    await expectInputError(readImageFile(jpgPath, { maxPixels: 62 }), 'too-large', /declares 7x9 pixels; the limit is 62 pixels/);
  });

  it('refuses zero width or height', async () => {
    const png = Buffer.concat([PNG_SIGNATURE, ihdr(0, 5, 8, 0), pngChunk('IEND', new Uint8Array(0))]);
    await expectInputError(readImageFile(await tmpFile('zero.png', png)), 'too-small', /declares 0x5 pixels; width and height must both be at least 1/);
    const jpg = withSofSize(encodeJpeg(noise(8, 8)), 8, 0);
    await expectInputError(readImageFile(await tmpFile('zero.jpg', jpg)), 'too-small', /declares 8x0 pixels/);
  });

  it('refuses unsupported JPEG flavours with a clear reason', async () => {
    const jpg = encodeJpeg(noise(8, 8));
    const lossless = Buffer.from(jpg);
    lossless[findMarker(lossless, 0xc0) + 1] = 0xc3;
    await expectInputError(
      readImageFile(await tmpFile('lossless.jpg', lossless)),
      'unsupported-format',
      /could not be decoded: it is a lossless \(SOF3\) JPEG, which is not supported/,
    );
  });
});

describe('writePngFile', () => {
  it('writes an opaque image as RGB and reads it back exactly', async () => {
    const src = noise(13, 7);
    const path = join(tmp, 'out-rgb.png');
    await writePngFile(path, src);
    const bytes = await readFile(path);
    expect(bytes[25]).toBe(2); // IHDR colour type: RGB
    const back = await readImageFile(path);
    expect([back.width, back.height]).toEqual([13, 7]);
    expect(Array.from(back.data)).toEqual(Array.from(src.data));
  });

  it('keeps alpha when some pixel is not opaque', async () => {
    const src = image(3, 2, (x, y) => [x * 80, y * 100, 7, x === 1 ? 10 : 255]);
    const path = join(tmp, 'out-rgba.png');
    await writePngFile(path, src);
    expect((await readFile(path))[25]).toBe(6);
    expect(Array.from((await readImageFile(path)).data)).toEqual(Array.from(src.data));
  });

  it('a failure never touches an existing output and leaves no temporary file', async () => {
    const dir = join(tmp, 'atomic');
    await mkdir(dir);
    const target = join(dir, 'result.png');
    await writeFile(target, 'previous contents');
    const bad = { width: 4, height: 4, data: new Uint8ClampedArray(10) };
    await expect(writePngFile(target, bad)).rejects.toThrow(TypeError);
    // The rename itself fails when the target is a non-empty directory.
    const targetDir = join(dir, 'is-a-dir.png');
    await mkdir(targetDir);
    await writeFile(join(targetDir, 'keep'), 'x');
    await expect(writePngFile(targetDir, noise(2, 2))).rejects.toThrow(/Could not write .*is-a-dir\.png.*: it is a directory/);
    expect(await readFile(target, 'utf8')).toBe('previous contents');
    expect((await readdir(dir)).sort()).toEqual(['is-a-dir.png', 'result.png']);
    expect(await readdir(targetDir)).toEqual(['keep']);
    // And a successful write replaces it.
    await writePngFile(target, noise(2, 2));
    expect((await readImageFile(target)).width).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(['is-a-dir.png', 'result.png']);
  });

  it('reports a missing directory', async () => {
    await expect(writePngFile(join(tmp, 'no-such-dir', 'x.png'), noise(2, 2))).rejects.toThrow(/directory .*no-such-dir.* does not exist/);
  });
});

describe('resize', () => {
  it('returns the same object when the size is unchanged', () => {
    const src = noise(5, 3);
    expect(resizeTo(src, 5, 3)).toBe(src);
    expect(resizeToLongerSide(src, 5)).toBe(src);
  });

  it('2x downscale averages each 2x2 block', () => {
    const R = [
      [0, 10, 20, 40],
      [100, 110, 120, 160],
    ];
    const src = image(4, 2, (x, y) => [R[y][x], 255 - R[y][x], x % 2 ? 255 : 0, 255]);
    const out = resizeTo(src, 2, 1);
    // R: (0+10+100+110)/4 = 55, (20+40+120+160)/4 = 85; G = 255 - R; B: (0+255+0+255)/4 = 127.5 -> 128 (half up)
    expect(px(out, 0, 0)).toEqual([55, 200, 128, 255]);
    expect(px(out, 1, 0)).toEqual([85, 170, 128, 255]);
  });

  it('non-integer downscale weights the exact source footprint', () => {
    const src = image(3, 1, (x) => [[0, 90, 180][x], 0, 0, 255]);
    const out = resizeTo(src, 2, 1);
    // [0, 1.5): (0*1 + 90*0.5) / 1.5 = 30; [1.5, 3): (90*0.5 + 180*1) / 1.5 = 150
    expect(px(out, 0, 0)).toEqual([30, 0, 0, 255]);
    expect(px(out, 1, 0)).toEqual([150, 0, 0, 255]);
  });

  it('downscaling antialiases a one-pixel checkerboard to mid-gray', () => {
    const src = image(9, 9, (x, y) => ((x + y) % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255]));
    const out = resizeTo(src, 4, 4);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        const v = px(out, x, y)[0];
        expect(v).toBeGreaterThan(100);
        expect(v).toBeLessThan(155);
      }
    }
  });

  it('upscaling is bilinear with half-pixel centres', () => {
    const src = image(2, 1, (x) => [x * 100, 0, 0, 255]);
    const out = resizeTo(src, 4, 1);
    // source coordinates -0.25, 0.25, 0.75, 1.25 -> 0, 25, 75, 100 (clamped at the edges)
    expect([0, 1, 2, 3].map((x) => px(out, x, 0)[0])).toEqual([0, 25, 75, 100]);
  });

  it('upscaling a constant image keeps it constant', () => {
    const src = image(3, 2, () => [37, 200, 5, 255]);
    const out = resizeTo(src, 7, 5);
    for (let y = 0; y < 5; y++) for (let x = 0; x < 7; x++) expect(px(out, x, y)).toEqual([37, 200, 5, 255]);
  });

  it('handles one axis up and the other down', () => {
    const src = image(4, 1, (x) => [x < 2 ? 0 : 200, 50, 50, 255]);
    const out = resizeTo(src, 2, 3);
    for (let y = 0; y < 3; y++) {
      expect(px(out, 0, y)).toEqual([0, 50, 50, 255]);
      expect(px(out, 1, y)).toEqual([200, 50, 50, 255]);
    }
  });

  it('rounds the shorter side and keeps it at least 1', () => {
    expect(sizeForLongerSide(451, 300, 224)).toEqual({ width: 224, height: 149 }); // 300 * 224 / 451 = 149.002
    expect(sizeForLongerSide(300, 451, 224)).toEqual({ width: 149, height: 224 });
    expect(sizeForLongerSide(3, 2, 4)).toEqual({ width: 4, height: 3 }); // 2.67 -> 3
    expect(sizeForLongerSide(4, 4, 2)).toEqual({ width: 2, height: 2 });
    expect(sizeForLongerSide(1000, 1, 10)).toEqual({ width: 10, height: 1 }); // 0.01 -> clamped to 1
    const out = resizeToLongerSide(noise(451, 300), 224);
    expect([out.width, out.height]).toEqual([224, 149]);
    expect(out.data.length).toBe(224 * 149 * 4);
    expect(() => resizeToLongerSide(noise(4, 4), 0)).toThrow(RangeError);
    expect(() => resizeTo(noise(4, 4), 2.5, 2)).toThrow(RangeError);
  });
});
