import { describe, expect, it } from 'vitest';
import { float16Bits, float16Value, roundToFloat16, toFloat16Array } from '../src/util/float16.js';
import { randomArray } from './helpers/env.js';

describe('binary16 conversion', () => {
  it('known bit patterns', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [1 / 3, 0x3555],
      [65504, 0x7bff], // largest finite
      [65519, 0x7bff], // below the midpoint to 65536: stays finite
      [65520, 0x7c00], // the midpoint rounds to even, i.e. up to infinity
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even (0)
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal steps: ties to even (2)
      [2 ** -26, 0x0000],
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and its successor: even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1+2^-10 and 1+2^-9: even
    ];
    for (const [x, bits] of cases) expect(float16Bits(x), `${x}`).toBe(bits);
    expect(float16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(float16Bits(NaN) & 0x3ff).not.toBe(0);
    expect(float16Value(0x3555)).toBe(0.333251953125);
    expect(float16Value(0x0001)).toBe(2 ** -24);
    expect(float16Value(0xfc00)).toBe(-Infinity);
    expect(float16Value(0x7e00)).toBeNaN();
  });

  it('every finite pattern round-trips', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(float16Bits(float16Value(h))).toBe(h);
    }
  });

  it('random values go to the nearest binary16 (checked against both neighbours)', () => {
    const values = [...randomArray(2000, 5, -4, 4), ...randomArray(2000, 6, -1e-5, 1e-5), ...randomArray(500, 7, -6e4, 6e4)];
    const packed = toFloat16Array(values);
    const rounded = roundToFloat16(values);
    values.forEach((x, i) => {
      const h = packed[i];
      const v = float16Value(h);
      expect(rounded[i]).toBe(v);
      const magnitude = h & 0x7fff;
      const neighbours = [magnitude - 1, magnitude + 1].filter((m) => m >= 0 && m < 0x7c00).map((m) => float16Value((h & 0x8000) | m));
      for (const n of neighbours) expect(Math.abs(x - v)).toBeLessThanOrEqual(Math.abs(x - n));
    });
  });
});
