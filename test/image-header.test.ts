/**
 * src/ui/image-header.ts: the format and declared size of every format the element hands to the browser's decoder,
 * read from the header alone (so a decompression bomb is refused before decoding).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageInputError } from '../src/io/rgbaImage.js';
import { readBrowserImageHeader } from '../src/ui/image-header.js';

const formats = join(import.meta.dirname, 'fixtures/formats');
const fixture = (name: string) => new Uint8Array(readFileSync(join(formats, name)));

/** A 24-bit BMP header (BITMAPINFOHEADER) declaring width x height; rows are not included. */
function bmpHeader(width: number, height: number): Uint8Array {
  const b = Buffer.alloc(54);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return new Uint8Array(b);
}

function gifHeader(width: number, height: number): Uint8Array {
  const b = Buffer.alloc(13);
  b.write('GIF89a', 0, 'latin1');
  b.writeUInt16LE(width, 6);
  b.writeUInt16LE(height, 8);
  return new Uint8Array(b);
}

/** A RIFF/WEBP file whose first chunk is `chunk` with `payload` (padded to 30 bytes). */
function webp(chunk: string, payload: number[]): Uint8Array {
  const b = Buffer.alloc(Math.max(30, 20 + payload.length));
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(b.length - 8, 4);
  b.write('WEBP', 8, 'latin1');
  b.write(chunk, 12, 'latin1');
  b.writeUInt32LE(payload.length, 16);
  Buffer.from(payload).copy(b, 20);
  return new Uint8Array(b);
}

/** The AVIF fixture with every ispe property declaring width x height instead. */
function avifDeclaring(width: number, height: number): Uint8Array {
  const b = Buffer.from(fixture('chelsea-64.avif'));
  for (let at = b.indexOf('ispe'); at >= 0; at = b.indexOf('ispe', at + 4)) {
    b.writeUInt32BE(width, at + 8);
    b.writeUInt32BE(height, at + 12);
  }
  return new Uint8Array(b);
}

describe('readBrowserImageHeader', () => {
  it.each([
    ['chelsea-64.png', 'png', 'image/png'],
    ['chelsea-64.webp', 'webp', 'image/webp'],
    ['chelsea-64.avif', 'avif', 'image/avif'],
  ])('%s: %s, 64x43 from the header', (name, format, mimeType) => {
    expect(readBrowserImageHeader(fixture(name), name)).toEqual({ format, width: 64, height: 43, mimeType });
  });

  it('JPEG, GIF, BMP (bottom-up and top-down), lossless and extended WebP', () => {
    const jpeg = new Uint8Array(readFileSync(join(import.meta.dirname, '../samples/starry_night.jpg')));
    expect(readBrowserImageHeader(jpeg, 'starry_night.jpg')).toMatchObject({ format: 'jpeg', width: 752, height: 600 });
    expect(readBrowserImageHeader(gifHeader(300, 200), 'a.gif')).toMatchObject({ format: 'gif', width: 300, height: 200 });
    expect(readBrowserImageHeader(bmpHeader(70, 50), 'a.bmp')).toMatchObject({ format: 'bmp', width: 70, height: 50 });
    expect(readBrowserImageHeader(bmpHeader(70, -50), 'a.bmp')).toMatchObject({ format: 'bmp', width: 70, height: 50 });
    // VP8L: signature 0x2f, then (width - 1) and (height - 1) in 14 bits each: 100x60.
    const bits = 99 | (59 << 14);
    expect(readBrowserImageHeader(webp('VP8L', [0x2f, bits & 255, (bits >> 8) & 255, (bits >> 16) & 255, bits >>> 24]), 'a.webp')).toMatchObject({ width: 100, height: 60 });
    // VP8X: flags (4 bytes), then (width - 1) and (height - 1) in 24 bits each: 5000x4000.
    expect(readBrowserImageHeader(webp('VP8X', [0, 0, 0, 0, 0x87, 0x13, 0, 0x9f, 0x0f, 0]), 'a.webp')).toMatchObject({ width: 5000, height: 4000 });
  });

  it('a bomb declares its size in the header of every format: 60000x60000 is read without decoding', () => {
    expect(readBrowserImageHeader(avifDeclaring(60000, 60000), 'bomb.avif')).toMatchObject({ width: 60000, height: 60000 });
    expect(readBrowserImageHeader(gifHeader(60000, 60000), 'bomb.gif')).toMatchObject({ width: 60000, height: 60000 });
    expect(readBrowserImageHeader(bmpHeader(60000, 60000), 'bomb.bmp')).toMatchObject({ width: 60000, height: 60000 });
  });

  const refusal = (bytes: Uint8Array, name: string): ImageInputError => {
    try {
      readBrowserImageHeader(bytes, name);
    } catch (e) {
      if (e instanceof ImageInputError) return e;
      throw e;
    }
    throw new Error(`${name} was accepted`);
  };

  it('refuses what it cannot size, with one sentence each', () => {
    const text = refusal(new TextEncoder().encode('hello, this is not an image'), 'notes.png');
    expect([text.kind, text.message]).toEqual(['unsupported-format', 'Image file "notes.png" is not an image this element reads (PNG, JPEG, WebP, AVIF, GIF or BMP).']);
    expect(refusal(new Uint8Array(0), 'empty.webp').kind).toBe('empty');
    expect(refusal(fixture('chelsea-64.webp').subarray(0, 20), 'short.webp').message).toBe(
      'Image file "short.webp" could not be decoded: the WebP file is truncated inside its header.',
    );
    const noIspe = Buffer.from(fixture('chelsea-64.avif'));
    noIspe.write('xxxx', noIspe.indexOf('ispe'), 'latin1');
    expect(refusal(new Uint8Array(noIspe), 'odd.avif').message).toMatch(/declares no image size/);
    expect(refusal(gifHeader(1, 1).subarray(0, 8), 'short.gif').kind).toBe('corrupt');
  });
});
