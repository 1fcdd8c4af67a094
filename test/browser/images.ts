/**
 * Image files built in memory for the browser tests: PNGs of every colour type written by hand (so the bytes are
 * exactly what each case needs), a JPEG, and the broken inputs (text, truncated files, a decompression bomb).
 */
import { deflateSync } from 'node:zlib';
import * as jpeg from 'jpeg-js';
import { ihdr, PNG_SIGNATURE as SIGNATURE, pngChunk as chunk } from '../helpers/png.js';

/**
 * A PNG from raw samples: `sample(x, y)` gives the bytes of one pixel as stored (1 gray, 2 gray+alpha, 3 RGB,
 * 4 RGBA, 1 palette index; twice as many, big-endian, at 16 bits). `extra` chunks (PLTE, tRNS) precede IDAT.
 */
export function makePng(width: number, height: number, bitDepth: 8 | 16, colorType: 0 | 2 | 3 | 4 | 6, sample: (x: number, y: number) => number[], extra: Buffer[] = []): Buffer {
  const rows: number[] = [];
  for (let y = 0; y < height; y++) {
    rows.push(0); // filter: none
    for (let x = 0; x < width; x++) rows.push(...sample(x, y));
  }
  return Buffer.concat([SIGNATURE, ihdr(width, height, bitDepth, colorType), ...extra, chunk('IDAT', deflateSync(Buffer.from(rows))), chunk('IEND', new Uint8Array(0))]);
}

/**
 * The accepted PNG kinds, 16x16: grayscale with alpha, palette with tRNS, 16-bit RGBA, and a 1x1 8-bit RGBA (upscaled
 * by the engine). Left columns are transparent where the format has alpha.
 */
export function pngVariants(): Record<string, Buffer> {
  const n = 16;
  const gray = (x: number, y: number) => (x * 13 + y * 7) % 256;
  const rgb = (x: number, y: number) => [(x * 16 + 5) % 256, (y * 16 + 9) % 256, (x * y * 3 + 40) % 256];
  // Transparent pixels keep a colour the CLI reads as is (it ignores alpha); a canvas would lose it.
  const alpha = (x: number) => (x < 6 ? 0 : x < 10 ? 128 : 255);
  const palette = Buffer.from(Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 16, (i * 40) % 256]).flat());
  const paletteAlpha = Buffer.from(Array.from({ length: 16 }, (_, i) => (i < 4 ? 0 : i < 8 ? 100 : 255)));
  return {
    'gray-alpha.png': makePng(n, n, 8, 4, (x, y) => [gray(x, y), alpha(x)]),
    'palette-trns.png': makePng(n, n, 8, 3, (x, y) => [(x + y) % 16], [chunk('PLTE', palette), chunk('tRNS', paletteAlpha)]),
    // Samples c * 257: exactly c in 8 bits, whichever way a decoder rounds.
    'rgba16.png': makePng(n, n, 16, 6, (x, y) => [...rgb(x, y), alpha(x)].flatMap((c) => [c, c])),
    'tiny-1x1.png': makePng(1, 1, 8, 6, () => [30, 160, 90, 0]),
  };
}

/** Pseudo-random RGBA noise, so that compressed data is long enough to cut. */
function noise(width: number, height: number): Buffer {
  let s = 12345;
  const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return Buffer.from(Array.from({ length: width * height * 4 }, (_, i) => (i % 4 === 3 ? 255 : rnd())));
}

/** The inputs the element must refuse with the CLI's message. */
export function badImages(): Record<string, Buffer> {
  const png = makePng(
    64,
    64,
    8,
    6,
    (() => {
      const data = noise(64, 64);
      return (x: number, y: number) => Array.from(data.subarray((y * 64 + x) * 4, (y * 64 + x) * 4 + 4));
    })(),
  );
  const jpg = jpeg.encode({ width: 64, height: 64, data: noise(64, 64) }, 90).data;
  return {
    'notes.png': Buffer.from('hello, this is not an image\n'),
    'truncated.png': png.subarray(0, png.length >> 1),
    'truncated.jpg': jpg.subarray(0, Math.floor(jpg.length * 0.6)),
    // A valid signature and IHDR declaring 60000x60000 RGBA, then an IDAT that is not even zlib: only the header
    // check can produce the "declares" message.
    'bomb.png': Buffer.concat([SIGNATURE, ihdr(60000, 60000, 8, 6), chunk('IDAT', Uint8Array.from([1, 2, 3, 4])), chunk('IEND', new Uint8Array(0))]),
    // 64x4 at size 24 is 24x2: below the 16 px the default layers need.
    'thin.png': makePng(64, 4, 8, 2, (x, y) => [x * 4, y * 60, 128]),
  };
}
