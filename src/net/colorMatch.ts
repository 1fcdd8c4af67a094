/**
 * Colour matching of a style image to the content before a run (Gatys et al. 2016, "Preserving Color in Neural
 * Artistic Style Transfer", colour histogram matching by the first two moments):
 *
 *   x' = A (x - mu_s) + mu_c,   A = Sigma_c^(1/2) Sigma_s^(-1/2)
 *
 * over RGB in 0..1, with mu and Sigma the mean and population covariance (divided by N) of the style's and the
 * content's pixels at their run sizes, and the matrix square roots taken by symmetric eigendecomposition
 * (eigenvalues clamped below at 1e-10). The result is neither clipped nor rounded to 8 bits: it goes straight to
 * the network's input x (planar BGR, 0..255 minus the VGG mean), as a `PreprocessedImage`.
 *
 * Pure: no GPU, DOM or Node imports.
 */
import { VGG_MEAN_BGR } from '../../shaders/common.js';
import type { RgbaImage } from '../io/rgbaImage.js';

/** An image already in the network's input layout: planar [3][H][W] f32, B, G, R, 0..255 minus the VGG mean. */
export interface PreprocessedImage {
  width: number;
  height: number;
  x: Float32Array<ArrayBuffer>;
}

/** Eigenvalues below this are taken as this before the square roots (a flat or grey image has a singular Sigma). */
export const EIGENVALUE_FLOOR = 1e-10;

type Matrix3 = number[][];

/** Mean (RGB, 0..1) and population covariance of an image's pixels. */
export function colorMoments(image: RgbaImage): { mean: number[]; covariance: Matrix3 } {
  const n = image.width * image.height;
  const mean = [0, 0, 0];
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) mean[c] += image.data[p * 4 + c] / 255;
  for (let c = 0; c < 3; c++) mean[c] /= n;
  const covariance = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  for (let p = 0; p < n; p++) {
    const d = [0, 1, 2].map((c) => image.data[p * 4 + c] / 255 - mean[c]);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) covariance[i][j] += d[i] * d[j];
  }
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) covariance[i][j] /= n;
  return { mean, covariance };
}

/** Eigenvalues and eigenvectors (columns of `vectors`) of a symmetric 3x3 matrix, by cyclic Jacobi rotations. */
export function symmetricEigen3(m: Matrix3): { values: number[]; vectors: Matrix3 } {
  const a = m.map((row) => [...row]);
  const v = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2;
    if (off <= 1e-30 * (a[0][0] ** 2 + a[1][1] ** 2 + a[2][2] ** 2) || off === 0) break;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      if (a[p][q] === 0) continue;
      // The rotation zeroing a[p][q] (Golub & Van Loan, the symmetric Schur decomposition).
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = a[k][p];
        const akq = a[k][q];
        a[k][p] = c * akp - s * akq;
        a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p][k];
        const aqk = a[q][k];
        a[p][k] = c * apk - s * aqk;
        a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p];
        const vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq;
        v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  return { values: [a[0][0], a[1][1], a[2][2]], vectors: v };
}

/** V f(Lambda) V^T of a symmetric matrix, f applied to its eigenvalues clamped below at EIGENVALUE_FLOOR. */
function matrixFunction(m: Matrix3, f: (lambda: number) => number): Matrix3 {
  const { values, vectors } = symmetricEigen3(m);
  const fl = values.map((l) => f(Math.max(l, EIGENVALUE_FLOOR)));
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => vectors[i][0] * fl[0] * vectors[j][0] + vectors[i][1] * fl[1] * vectors[j][1] + vectors[i][2] * fl[2] * vectors[j][2]));
}

/** A = Sigma_c^(1/2) Sigma_s^(-1/2) and the means: x' = A (x - mu_s) + mu_c (RGB, 0..1). */
export function colorTransfer(style: RgbaImage, content: RgbaImage): { matrix: Matrix3; styleMean: number[]; contentMean: number[] } {
  const s = colorMoments(style);
  const c = colorMoments(content);
  const sqrtC = matrixFunction(c.covariance, Math.sqrt);
  const invSqrtS = matrixFunction(s.covariance, (l) => 1 / Math.sqrt(l));
  const matrix = [0, 1, 2].map((i) => [0, 1, 2].map((j) => sqrtC[i][0] * invSqrtS[0][j] + sqrtC[i][1] * invSqrtS[1][j] + sqrtC[i][2] * invSqrtS[2][j]));
  return { matrix, styleMean: s.mean, contentMean: c.mean };
}

/** The style image with the content's colour statistics, as the network's input (no clipping, no rounding). */
export function matchStyleColors(style: RgbaImage, content: RgbaImage): PreprocessedImage {
  const { matrix, styleMean, contentMean } = colorTransfer(style, content);
  const n = style.width * style.height;
  const x = new Float32Array(3 * n);
  for (let p = 0; p < n; p++) {
    const d = [0, 1, 2].map((c) => style.data[p * 4 + c] / 255 - styleMean[c]);
    for (let c = 0; c < 3; c++) {
      const rgb = matrix[c][0] * d[0] + matrix[c][1] * d[1] + matrix[c][2] * d[2] + contentMean[c];
      // RGB channel c is plane 2 - c of x (B, G, R).
      x[(2 - c) * n + p] = 255 * rgb - VGG_MEAN_BGR[2 - c];
    }
  }
  return { width: style.width, height: style.height, x };
}
