/**
 * The pure parts of issue 17, no GPU: colour matching (src/net/colorMatch.ts: the matched style has the content's
 * mean and covariance; the 3x3 eigendecomposition) and style masks (src/net/styleMask.ts: grey and luma values,
 * pooling with odd sides floored, the scaling that makes the plain Gram the guided one), and the run's loss
 * configuration with masks (src/net/stylize.ts lossConfigOf).
 */
import { describe, expect, it } from 'vitest';
import { VGG_MEAN_BGR } from '../shaders/common.js';
import type { RgbaImage } from '../src/io/rgbaImage.js';
import { colorMoments, EIGENVALUE_FLOOR, matchStyleColors, symmetricEigen3 } from '../src/net/colorMatch.js';
import { STYLIZE_DEFAULTS } from '../src/net/options.js';
import { layerMasks, maskValues, poolMask, regionScaledMask, StyleMaskError } from '../src/net/styleMask.js';
import { lossConfigOf } from '../src/net/stylize.js';
import { randomArray } from './helpers/env.js';

function image(width: number, height: number, seed: number, channelScale = [1, 1, 1]): RgbaImage {
  const values = randomArray(width * height * 4, seed, 0, 255);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    // Correlated channels, so the covariance is not diagonal.
    const base = values[4 * p];
    for (let c = 0; c < 3; c++) data[4 * p + c] = Math.round(channelScale[c] * (0.6 * base + 0.4 * values[4 * p + c + 1]));
    data[4 * p + 3] = 255;
  }
  return { width, height, data };
}

/** Mean and population covariance (RGB 0..1) of a preprocessed planar x. */
function momentsOfX(x: Float32Array, n: number): { mean: number[]; covariance: number[][] } {
  const rgb = (p: number) => [0, 1, 2].map((c) => (x[(2 - c) * n + p] + VGG_MEAN_BGR[2 - c]) / 255);
  const mean = [0, 0, 0];
  for (let p = 0; p < n; p++) rgb(p).forEach((v, c) => (mean[c] += v / n));
  const covariance = [0, 1, 2].map(() => [0, 0, 0]);
  for (let p = 0; p < n; p++) {
    const d = rgb(p).map((v, c) => v - mean[c]);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) covariance[i][j] += (d[i] * d[j]) / n;
  }
  return { mean, covariance };
}

describe('colour matching', () => {
  it('the symmetric 3x3 eigendecomposition reconstructs the matrix with orthonormal vectors', () => {
    const m = [
      [0.05, 0.02, -0.01],
      [0.02, 0.03, 0.004],
      [-0.01, 0.004, 0.02],
    ];
    const { values, vectors } = symmetricEigen3(m);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const rebuilt = [0, 1, 2].reduce((s, k) => s + vectors[i][k] * values[k] * vectors[j][k], 0);
        expect(rebuilt).toBeCloseTo(m[i][j], 14);
        const dot = [0, 1, 2].reduce((s, k) => s + vectors[k][i] * vectors[k][j], 0);
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 14);
      }
    }
  });

  it("the matched style has the content's mean and covariance (float, unclipped), at the style's own size", () => {
    const content = image(20, 14, 1, [1, 0.7, 0.4]);
    const style = image(13, 17, 2, [0.3, 0.9, 1]);
    const matched = matchStyleColors(style, content);
    expect([matched.width, matched.height]).toEqual([13, 17]);
    const target = colorMoments(content);
    const got = momentsOfX(matched.x, 13 * 17);
    for (let i = 0; i < 3; i++) {
      expect(got.mean[i]).toBeCloseTo(target.mean[i], 5);
      for (let j = 0; j < 3; j++) expect(got.covariance[i][j]).toBeCloseTo(target.covariance[i][j], 6);
    }
  });

  it('a flat style (singular covariance) stays finite: eigenvalues are floored', () => {
    const flat: RgbaImage = { width: 4, height: 4, data: new Uint8ClampedArray(64).fill(128) };
    const matched = matchStyleColors(flat, image(8, 8, 3));
    expect(matched.x.every(Number.isFinite)).toBe(true);
    expect(EIGENVALUE_FLOOR).toBe(1e-10);
  });
});

describe('style masks', () => {
  it('grey pixels are value / 255, colour pixels their ITU-R 601 luma / 255', () => {
    const data = new Uint8ClampedArray([255, 255, 255, 255, 51, 51, 51, 255, 200, 120, 40, 255, 0, 0, 0, 255]);
    const { values } = maskValues({ width: 4, height: 1, data });
    expect(Array.from(values)).toEqual([1, 0.2, (0.299 * 200 + 0.587 * 120 + 0.114 * 40) / 255, 0]);
  });

  it('pooling averages 2x2 windows and floors odd sides; each layer gets the mask pooled once per pool before it', () => {
    const mask = { width: 5, height: 3, values: Float64Array.from({ length: 15 }, (_, i) => i) };
    const pooled = poolMask(mask);
    expect([pooled.width, pooled.height]).toEqual([2, 1]);
    expect(Array.from(pooled.values)).toEqual([(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4]);
    const layers = layerMasks({ width: 36, height: 20, values: new Float64Array(720).fill(0.5) }, 10);
    expect(layers.map((m) => m.width)).toEqual([36, 36, 18, 18, 18, 9, 9, 9, 9, 9]); // conv1_1, conv1_2, pool1, conv2_1, conv2_2, pool2, conv3_1 .. conv3_4
    expect(layers[9].values.every((v) => v === 0.5)).toBe(true);
  });

  it("the scaled mask m' = m sqrt(n / sum m^2) has sum m'^2 = n (so the plain Gram is the guided one); an empty mask stays 0", () => {
    const values = Float64Array.from(randomArray(30, 4, 0, 1));
    const scaled = regionScaledMask({ width: 6, height: 5, values });
    expect(scaled.reduce((s, v) => s + v * v, 0)).toBeCloseTo(30, 4);
    expect(Array.from(regionScaledMask({ width: 2, height: 1, values: new Float64Array(2) }))).toEqual([0, 0]);
  });

  it('with masks, each style is its own region weighted by its blend weight as given (default 1); one mask per style', () => {
    expect(lossConfigOf(STYLIZE_DEFAULTS, 2, [{}, {}]).styleRegionWeights).toEqual([1, 1]);
    expect(lossConfigOf({ ...STYLIZE_DEFAULTS, styleBlendWeights: [3, 0.5] }, 2, [{}, {}]).styleRegionWeights).toEqual([3, 0.5]);
    expect(lossConfigOf(STYLIZE_DEFAULTS, 2).styleRegionWeights).toBeUndefined();
    expect(() => lossConfigOf(STYLIZE_DEFAULTS, 2, [{}])).toThrow(StyleMaskError);
  });
});
