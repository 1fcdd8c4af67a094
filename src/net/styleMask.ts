/**
 * Style regions (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer", guided Gram
 * matrices): each style image may have a mask in content space, and its style terms then count only its region.
 *
 * - A mask is a greyscale image, value / 255 in 0..1 (a colour mask: its ITU-R 601 luma, 0.299 R + 0.587 G +
 *   0.114 B), resized to the content's run size like the content when its size differs.
 * - Per layer: the mask at full size, 2x2 average-pooled (odd sides floored) at every pooling layer.
 * - For style k at layer l with features F (C x HW) and mask m: G~ = (F*m)(F*m)^T / (C * sum(m^2)) (zero when
 *   sum(m^2) = 0); the target is the style image's plain Gram; the term is
 *   style_weight * w_l * b_k * mean((G~ - G_target)^2), b_k the style's blend weight as given (not normalised).
 *
 * On the GPU the mask is stored scaled, m' = m sqrt(HW / sum(m^2)), so that the plain Gram of F*m', normalised by
 * C HW, is G~ (shaders/region.ts). Pure: no GPU, DOM or Node imports.
 */
import type { RgbaImage } from '../io/rgbaImage.js';
import { resizeTo } from '../io/rgbaImage.js';
import { featureSizes, VGG19 } from './vgg19.js';

export class StyleMaskError extends Error {
  override name = 'StyleMaskError';
}

/** A mask's values, one per pixel in 0..1, row-major. */
export interface MaskValues {
  width: number;
  height: number;
  values: Float64Array;
}

/** The mask of an image: grey value / 255, or for colour pixels the ITU-R 601 luma / 255. */
export function maskValues(image: RgbaImage): MaskValues {
  const n = image.width * image.height;
  const values = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const [r, g, b] = [image.data[4 * p], image.data[4 * p + 1], image.data[4 * p + 2]];
    values[p] = (r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b) / 255;
  }
  return { width: image.width, height: image.height, values };
}

/** The mask image brought to the content's run size (as the content is resized) and read as values. */
export function maskAtSize(image: RgbaImage, width: number, height: number): MaskValues {
  return maskValues(image.width === width && image.height === height ? image : resizeTo(image, width, height));
}

/** 2x2 average pooling, odd sides floored (as the network's pooling). */
export function poolMask(mask: MaskValues): MaskValues {
  const width = Math.floor(mask.width / 2);
  const height = Math.floor(mask.height / 2);
  const values = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (dy: number, dx: number) => mask.values[(2 * y + dy) * mask.width + 2 * x + dx];
      values[y * width + x] = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4;
    }
  }
  return { width, height, values };
}

/** The mask of every layer [0, depth): the full-size mask up to the first pool, pooled once more at each pool. */
export function layerMasks(mask: MaskValues, depth: number): MaskValues[] {
  const shapes = featureSizes(mask.width, mask.height, depth);
  const out: MaskValues[] = [];
  let current = mask;
  for (let i = 0; i < depth; i++) {
    if (VGG19[i].kind === 'pool') current = poolMask(current);
    if (current.width !== shapes[i].width || current.height !== shapes[i].height) throw new Error(`mask ${current.width}x${current.height} at layer ${VGG19[i].feature}`);
    out.push(current);
  }
  return out;
}

/** m' = m sqrt(n / sum(m^2)) (all zero when sum(m^2) = 0), as f32 for the GPU. */
export function regionScaledMask(mask: MaskValues): Float32Array<ArrayBuffer> {
  let sumSquares = 0;
  for (const v of mask.values) sumSquares += v * v;
  const scale = sumSquares > 0 ? Math.sqrt(mask.values.length / sumSquares) : 0;
  return Float32Array.from(mask.values, (v) => v * scale);
}
