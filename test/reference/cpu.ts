/**
 * Plain float64 reference implementations of everything the WGSL kernels compute, for the kernel tests and the
 * gradient check. Deliberately naive: explicit loops straight from the definitions, no tiling, no packing, no
 * shared code with src/ or shaders/.
 *
 * Layouts:
 * - feature tensors are HWC: index (y * width + x) * channels + c, with any channel count (no padding);
 * - the image x and its gradient are planar [3][H][W] (B, G, R planes), as in the engine;
 * - conv kernels are HWIO: index ((ky * 3 + kx) * cin + ci) * cout + co (the weights file's layout);
 * - Gram matrices and 1x1 matrices are row-major [rows][cols].
 */

export const VGG_MEAN_BGR_REF: readonly number[] = [103.939, 116.779, 123.68];

// ---------------------------------------------------------------------------------------------------------------
// Layout conversions

/** Planar [c][h*w] -> HWC. */
export function planarToHwc(x: ArrayLike<number>, channels: number, height: number, width: number): Float64Array {
  const pixels = height * width;
  const out = new Float64Array(pixels * channels);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < pixels; p++) out[p * channels + c] = x[c * pixels + p];
  }
  return out;
}

/** HWC -> planar [c][h*w]. */
export function hwcToPlanar(x: ArrayLike<number>, channels: number, height: number, width: number): Float64Array {
  const pixels = height * width;
  const out = new Float64Array(pixels * channels);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < pixels; p++) out[c * pixels + p] = x[p * channels + c];
  }
  return out;
}

/** HWC with `channels` -> HWC with `padded` >= channels, the extra channels zero. */
export function padChannels(x: ArrayLike<number>, pixels: number, channels: number, padded: number): Float64Array {
  const out = new Float64Array(pixels * padded);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) out[p * padded + c] = x[p * channels + c];
  }
  return out;
}

/** HWC with `padded` channels -> the first `channels` of them. */
export function unpadChannels(x: ArrayLike<number>, pixels: number, padded: number, channels: number): Float64Array {
  const out = new Float64Array(pixels * channels);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) out[p * channels + c] = x[p * padded + c];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Convolution

/**
 * Input gradient of conv3x3 with zero padding (pre-bias, pre-ReLU output gradient given), by the direct definition:
 * dIn[y][x][ci] = sum_{ky,kx,co} dOut[y-ky+1][x-kx+1][co] * w[ky][kx][ci][co] (out-of-range dOut is zero).
 */
export function conv3x3InputGrad(gradOut: ArrayLike<number>, height: number, width: number, cin: number, cout: number, kernel: ArrayLike<number>): Float64Array {
  const out = new Float64Array(height * width * cin);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let ci = 0; ci < cin; ci++) {
        let sum = 0;
        for (let ky = 0; ky < 3; ky++) {
          const oy = y - ky + 1;
          if (oy < 0 || oy >= height) continue;
          for (let kx = 0; kx < 3; kx++) {
            const ox = x - kx + 1;
            if (ox < 0 || ox >= width) continue;
            for (let co = 0; co < cout; co++) {
              sum += gradOut[(oy * width + ox) * cout + co] * kernel[((ky * 3 + kx) * cin + ci) * cout + co];
            }
          }
        }
        out[(y * width + x) * cin + ci] = sum;
      }
    }
  }
  return out;
}

export type RefPadding = 'zero' | 'reflect';

/** Index i of a line of n with reflect padding (PyTorch's 'reflect': -1 -> 1, n -> n - 2). */
export function reflectRef(i: number, n: number): number {
  if (n < 2) throw new Error(`reflect padding needs at least 2 pixels, got ${n}`);
  return i < 0 ? -i : i >= n ? 2 * n - 2 - i : i;
}

/**
 * 3x3 convolution, stride 1, padding 1, on HWC input:
 * out[y][x][co] = bias[co] + sum_{ky,kx,ci} in[p(y+ky-1)][p(x+kx-1)][ci] * w[ky][kx][ci][co], then ReLU if asked;
 * zero padding leaves out the taps outside the image, reflect padding reads p = reflectRef instead.
 */
export function conv3x3(
  input: ArrayLike<number>,
  height: number,
  width: number,
  cin: number,
  cout: number,
  kernel: ArrayLike<number>,
  bias?: ArrayLike<number>,
  relu = false,
  padding: RefPadding = 'zero',
): Float64Array {
  // The source index of a tap along a line of n, or -1 for a zero-padding tap.
  const source = (i: number, n: number) => (padding === 'reflect' ? reflectRef(i, n) : i >= 0 && i < n ? i : -1);
  const out = new Float64Array(height * width * cout);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let co = 0; co < cout; co++) {
        let sum = bias ? bias[co] : 0;
        for (let ky = 0; ky < 3; ky++) {
          const iy = source(y + ky - 1, height);
          if (iy < 0) continue;
          for (let kx = 0; kx < 3; kx++) {
            const ix = source(x + kx - 1, width);
            if (ix < 0) continue;
            for (let ci = 0; ci < cin; ci++) sum += input[(iy * width + ix) * cin + ci] * kernel[((ky * 3 + kx) * cin + ci) * cout + co];
          }
        }
        out[(y * width + x) * cout + co] = relu ? Math.max(sum, 0) : sum;
      }
    }
  }
  return out;
}

/** Input gradient of conv3x3 with reflect padding, by scattering every output's gradient to the (mirrored) pixels it read. */
export function conv3x3ReflectInputGrad(gradOut: ArrayLike<number>, height: number, width: number, cin: number, cout: number, kernel: ArrayLike<number>): Float64Array {
  const out = new Float64Array(height * width * cin);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let ky = 0; ky < 3; ky++) {
        const iy = reflectRef(y + ky - 1, height);
        for (let kx = 0; kx < 3; kx++) {
          const ix = reflectRef(x + kx - 1, width);
          for (let ci = 0; ci < cin; ci++) {
            let sum = 0;
            for (let co = 0; co < cout; co++) sum += gradOut[(y * width + x) * cout + co] * kernel[((ky * 3 + kx) * cin + ci) * cout + co];
            out[(iy * width + ix) * cin + ci] += sum;
          }
        }
      }
    }
  }
  return out;
}

/** out[p][co] = scale * sum_ci in[p][ci] * m[ci][co]. */
export function conv1x1(input: ArrayLike<number>, pixels: number, cin: number, cout: number, matrix: ArrayLike<number>, scale = 1): Float64Array {
  const out = new Float64Array(pixels * cout);
  for (let p = 0; p < pixels; p++) {
    for (let co = 0; co < cout; co++) {
      let sum = 0;
      for (let ci = 0; ci < cin; ci++) sum += input[p * cin + ci] * matrix[ci * cout + co];
      out[p * cout + co] = scale * sum;
    }
  }
  return out;
}

/** ReLU backward: grad where activation > 0, else 0 (the derivative at 0 is taken as 0, as PyTorch does). */
export function reluMask(grad: ArrayLike<number>, activation: ArrayLike<number>): Float64Array {
  const out = new Float64Array(grad.length);
  for (let i = 0; i < grad.length; i++) out[i] = activation[i] > 0 ? grad[i] : 0;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Pooling

export type RefPooling = 'max' | 'avg';

export function pooledSizeRef(width: number, height: number): { width: number; height: number } {
  return { width: Math.floor(width / 2), height: Math.floor(height / 2) };
}

/** 2x2 stride-2 pooling of HWC input; an odd last row/column is dropped (floor). */
export function pool2x2(kind: RefPooling, input: ArrayLike<number>, height: number, width: number, channels: number): Float64Array {
  const { width: ow, height: oh } = pooledSizeRef(width, height);
  const out = new Float64Array(ow * oh * channels);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      for (let c = 0; c < channels; c++) {
        const v = [0, 1, 2, 3].map((k) => input[((2 * oy + (k >> 1)) * width + 2 * ox + (k & 1)) * channels + c]);
        out[(oy * ow + ox) * channels + c] = kind === 'max' ? Math.max(v[0], v[1], v[2], v[3]) : (v[0] + v[1] + v[2] + v[3]) / 4;
      }
    }
  }
  return out;
}

/**
 * Backward of pool2x2: gradient w.r.t. the input. Max: the whole upstream gradient goes to one position, the first
 * maximum in scan order (0,0), (0,1), (1,0), (1,1), a later one only if strictly greater (PyTorch's rule). Avg:
 * a quarter to each of the four. Positions in no window (odd sizes) get 0.
 */
export function pool2x2Backward(kind: RefPooling, input: ArrayLike<number>, height: number, width: number, channels: number, gradOut: ArrayLike<number>): Float64Array {
  const { width: ow, height: oh } = pooledSizeRef(width, height);
  const out = new Float64Array(width * height * channels);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      for (let c = 0; c < channels; c++) {
        const g = gradOut[(oy * ow + ox) * channels + c];
        const index = (k: number) => ((2 * oy + (k >> 1)) * width + 2 * ox + (k & 1)) * channels + c;
        if (kind === 'avg') {
          for (let k = 0; k < 4; k++) out[index(k)] += g / 4;
        } else {
          let arg = 0;
          let best = input[index(0)];
          for (let k = 1; k < 4; k++) {
            if (input[index(k)] > best) {
              best = input[index(k)];
              arg = k;
            }
          }
          out[index(arg)] += g;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Gram matrix and losses

/** G[a][b] = sum_p F[p][a] F[p][b] / (C * P) for HWC features F (P pixels x C channels). */
export function gram(features: ArrayLike<number>, pixels: number, channels: number): Float64Array {
  const out = new Float64Array(channels * channels);
  const norm = channels * pixels;
  for (let a = 0; a < channels; a++) {
    for (let b = 0; b < channels; b++) {
      let sum = 0;
      for (let p = 0; p < pixels; p++) sum += features[p * channels + a] * features[p * channels + b];
      out[a * channels + b] = sum / norm;
    }
  }
  return out;
}

/** weight * mean((a - b)^2). */
export function meanSquaredDiff(a: ArrayLike<number>, b: ArrayLike<number>, weight = 1): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return (weight * sum) / a.length;
}

/** Content loss weight * mean((F - T)^2) over C*H*W. */
export function contentLossRef(features: ArrayLike<number>, target: ArrayLike<number>, weight: number): number {
  return meanSquaredDiff(features, target, weight);
}

/** d/dF of contentLossRef: 2 * weight * (F - T) / N. */
export function contentGradRef(features: ArrayLike<number>, target: ArrayLike<number>, weight: number): Float64Array {
  const out = new Float64Array(features.length);
  for (let i = 0; i < features.length; i++) out[i] = (2 * weight * (features[i] - target[i])) / features.length;
  return out;
}

/** Style loss weight * mean((G(F) - T)^2) over C*C. */
export function styleLossRef(features: ArrayLike<number>, pixels: number, channels: number, target: ArrayLike<number>, weight: number): number {
  return meanSquaredDiff(gram(features, pixels, channels), target, weight);
}

/**
 * d/dF of styleLossRef by the chain rule, without using the symmetry of G:
 * dL/dG[a][b] = 2 w (G[a][b] - T[a][b]) / C^2, dG[a][b]/dF[p][c] = (δ(a,c) F[p][b] + δ(b,c) F[p][a]) / N,
 * so dL/dF[p][c] = sum_b (dL/dG[c][b] + dL/dG[b][c]) F[p][b] / N with N = C * P.
 */
export function styleGradRef(features: ArrayLike<number>, pixels: number, channels: number, target: ArrayLike<number>, weight: number): Float64Array {
  const g = gram(features, pixels, channels);
  const c2 = channels * channels;
  const n = channels * pixels;
  const dG = new Float64Array(c2);
  for (let i = 0; i < c2; i++) dG[i] = (2 * weight * (g[i] - target[i])) / c2;
  const out = new Float64Array(pixels * channels);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let b = 0; b < channels; b++) sum += (dG[c * channels + b] + dG[b * channels + c]) * features[p * channels + b];
      out[p * channels + c] = sum / n;
    }
  }
  return out;
}

/** Total variation of planar x [3][H][W]: sum (x[i+1][j] - x[i][j])^2 + (x[i][j+1] - x[i][j])^2 over existing pairs. */
export function tvLossRef(x: ArrayLike<number>, height: number, width: number, channels = 3): number {
  let sum = 0;
  for (let c = 0; c < channels; c++) {
    const at = (i: number, j: number) => x[(c * height + i) * width + j];
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        if (i + 1 < height) sum += (at(i + 1, j) - at(i, j)) ** 2;
        if (j + 1 < width) sum += (at(i, j + 1) - at(i, j)) ** 2;
      }
    }
  }
  return sum;
}

/** d/dx of tvLossRef, by scattering the derivative of each pair term onto its two pixels. */
export function tvGradRef(x: ArrayLike<number>, height: number, width: number, channels = 3): Float64Array {
  const out = new Float64Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    const idx = (i: number, j: number) => (c * height + i) * width + j;
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        if (i + 1 < height) {
          const d = x[idx(i + 1, j)] - x[idx(i, j)];
          out[idx(i + 1, j)] += 2 * d;
          out[idx(i, j)] -= 2 * d;
        }
        if (j + 1 < width) {
          const d = x[idx(i, j + 1)] - x[idx(i, j)];
          out[idx(i, j + 1)] += 2 * d;
          out[idx(i, j)] -= 2 * d;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Image conversion

/** RGBA8 bytes (row-major) -> planar x [3][H][W]: B, G, R planes, 0..255 minus `mean` (B, G, R order). */
export function preprocessRef(rgba: ArrayLike<number>, pixels: number, mean: readonly number[] = VGG_MEAN_BGR_REF): Float64Array {
  const out = new Float64Array(3 * pixels);
  for (let p = 0; p < pixels; p++) {
    out[p] = rgba[4 * p + 2] - mean[0];
    out[pixels + p] = rgba[4 * p + 1] - mean[1];
    out[2 * pixels + p] = rgba[4 * p] - mean[2];
  }
  return out;
}

/** Rounds to the nearest integer, ties to even (WGSL's round). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Planar x -> RGBA8 bytes: round(x + mean) (ties to even), clamped to 0..255, alpha 255. `roundSum` is applied to
 * x + mean before rounding (pass Math.fround to mimic f32 arithmetic exactly).
 */
export function deprocessRef(x: ArrayLike<number>, pixels: number, mean: readonly number[] = VGG_MEAN_BGR_REF, roundSum: (v: number) => number = (v) => v): Uint8Array {
  const out = new Uint8Array(4 * pixels);
  const byte = (v: number) => Math.min(255, Math.max(0, roundHalfEven(v)));
  for (let p = 0; p < pixels; p++) {
    const b = byte(roundSum(x[p] + mean[0]));
    const g = byte(roundSum(x[pixels + p] + mean[1]));
    const r = byte(roundSum(x[2 * pixels + p] + mean[2]));
    out.set([r, g, b, 255], 4 * p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// A small VGG-like network and the whole Gatys loss + gradient

export type RefLayer = { kind: 'conv'; cin: number; cout: number; /** HWIO */ kernel: Float64Array; bias: Float64Array } | { kind: 'pool' };

export interface RefFeature {
  /** HWC; for a conv layer, the ReLU output. */
  data: Float64Array;
  width: number;
  height: number;
  channels: number;
}

/** Forward pass from planar x [3][H][W]; returns the output of every layer. The first layer must be a conv. */
export function referenceForward(
  layers: readonly RefLayer[],
  x: ArrayLike<number>,
  width: number,
  height: number,
  pooling: RefPooling,
  padding: RefPadding = 'zero',
): RefFeature[] {
  const features: RefFeature[] = [];
  let current: RefFeature = { data: planarToHwc(x, 3, height, width), width, height, channels: 3 };
  for (const layer of layers) {
    if (layer.kind === 'conv') {
      if (layer.cin !== current.channels) throw new Error(`conv expects ${layer.cin} channels, got ${current.channels}`);
      const data = conv3x3(current.data, current.height, current.width, layer.cin, layer.cout, layer.kernel, layer.bias, true, padding);
      current = { data, width: current.width, height: current.height, channels: layer.cout };
    } else {
      const size = pooledSizeRef(current.width, current.height);
      current = { data: pool2x2(pooling, current.data, current.height, current.width, current.channels), ...size, channels: current.channels };
    }
    features.push(current);
  }
  return features;
}

/** Loss settings as in src/net/loss.ts, with layers given as indices into the layer list. */
export interface RefLossConfig {
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  contentLayers: number[];
  styleLayers: number[];
  /** One per style layer, default 1. */
  styleLayerWeights?: number[];
  /** Every conv's border padding; default 'zero'. */
  padding?: RefPadding;
  /**
   * Style regions: per style image a mask in content space (values 0..1, row-major, the content's size) and its
   * weight b_k. Each style then has its own terms "style:<layer>#k" = styleWeight * w_l * b_k *
   * mean((G~ - G(s_k))^2), G~ = sum_p m_p^2 F_p F_p^T / (C sum_p m_p^2) (0 when the sum is 0), the mask average-pooled
   * 2x2 (floor) at every pool.
   */
  styleRegions?: { weights: number[]; masks: Float64Array[] };
}

/** A style region's mask at every layer: the content-size mask, average-pooled at each pool (the reference's pool2x2). */
export function referenceLayerMasks(layers: readonly RefLayer[], mask: ArrayLike<number>, width: number, height: number): Float64Array[] {
  const out: Float64Array[] = [];
  let current: Float64Array = Float64Array.from(mask);
  let [w, h] = [width, height];
  for (const layer of layers) {
    if (layer.kind === 'pool') {
      current = pool2x2('avg', current, h, w, 1);
      ({ width: w, height: h } = pooledSizeRef(w, h));
    }
    out.push(current);
  }
  return out;
}

export interface RefTargets {
  /** Content features F_l(c) per content layer index. */
  content: Map<number, Float64Array>;
  /** Style Gram targets per style layer index. */
  style: Map<number, Float64Array>;
  /** With style regions: per style image, its plain Grams per style layer index. */
  regions?: Array<Map<number, Float64Array>>;
}

/** Content features of `content` and (blended) style Grams of `styles`, as GatysLoss.setContentTarget/setStyleTargets. */
export function referenceTargets(
  layers: readonly RefLayer[],
  pooling: RefPooling,
  config: RefLossConfig,
  content: { x: ArrayLike<number>; width: number; height: number },
  styles: Array<{ x: ArrayLike<number>; width: number; height: number }>,
  blend?: number[],
): RefTargets {
  const depth = Math.max(...config.contentLayers, ...config.styleLayers) + 1;
  const net = layers.slice(0, depth);
  const contentFeatures = referenceForward(net, content.x, content.width, content.height, pooling, config.padding);
  const targets: RefTargets = { content: new Map(), style: new Map() };
  for (const l of config.contentLayers) targets.content.set(l, contentFeatures[l].data);
  const weights = blend ?? styles.map(() => 1);
  const total = weights.reduce((a, b) => a + b, 0);
  if (config.styleRegions) targets.regions = styles.map(() => new Map());
  styles.forEach((s, k) => {
    const features = referenceForward(net, s.x, s.width, s.height, pooling, config.padding);
    for (const l of config.styleLayers) targets.regions?.[k].set(l, gram(features[l].data, features[l].width * features[l].height, features[l].channels));
    for (const l of config.styleLayers) {
      const f = features[l];
      const g = gram(f.data, f.width * f.height, f.channels);
      const acc = targets.style.get(l) ?? new Float64Array(g.length);
      for (let i = 0; i < g.length; i++) acc[i] += (weights[k] / total) * g[i];
      targets.style.set(l, acc);
    }
  });
  return targets;
}

export interface RefResult {
  content: number;
  style: number;
  tv: number;
  total: number;
  /** "content:<layer index>", "style:<layer index>", "tv". */
  terms: Record<string, number>;
  /** d(total)/dx, planar [3][H][W]; only when asked for. */
  grad?: Float64Array;
  features: RefFeature[];
}

/**
 * The Gatys loss of x exactly as src/net/loss.ts documents it:
 * content = sum_l contentWeight * mean((F_l(x) - F_l(c))^2),
 * style = sum_l styleWeight * w_l * mean((G_l(x) - G_l(s))^2), G = F F^T / (C H W),
 * tv = tvWeight * TV(x);
 * and, with `withGradient`, d(total)/dx by manual backpropagation through the layers.
 */
export function gatysReference(
  layers: readonly RefLayer[],
  pooling: RefPooling,
  config: RefLossConfig,
  targets: RefTargets,
  x: ArrayLike<number>,
  width: number,
  height: number,
  withGradient = true,
): RefResult {
  const depth = Math.max(...config.contentLayers, ...config.styleLayers) + 1;
  const net = layers.slice(0, depth);
  const features = referenceForward(net, x, width, height, pooling, config.padding);
  const layerWeights = config.styleLayerWeights ?? config.styleLayers.map(() => 1);
  const terms: Record<string, number> = {};
  let content = 0;
  let style = 0;
  // Gradient w.r.t. each layer's output, filled by the loss terms and by backprop from above.
  const grads = features.map((f) => new Float64Array(f.data.length));
  const addInto = (a: Float64Array, b: ArrayLike<number>) => {
    for (let i = 0; i < a.length; i++) a[i] += b[i];
  };

  for (const l of config.contentLayers) {
    const f = features[l];
    const t = targets.content.get(l)!;
    const value = contentLossRef(f.data, t, config.contentWeight);
    terms[`content:${l}`] = value;
    content += value;
    if (withGradient) addInto(grads[l], contentGradRef(f.data, t, config.contentWeight));
  }
  if (config.styleRegions) {
    config.styleRegions.masks.forEach((mask, r) => {
      const masks = referenceLayerMasks(net, mask, width, height);
      config.styleLayers.forEach((l, k) => {
        const f = features[l];
        const m = masks[l];
        const pixels = f.width * f.height;
        const c = f.channels;
        const sumSquares = m.reduce((a, v) => a + v * v, 0);
        // G~ = sum_p m_p^2 F_p F_p^T / (C S); term = w mean((G~ - T)^2); dL/dF_p = 4 w m_p^2 (F_p D) / (C^3 S).
        const guided = new Float64Array(c * c);
        if (sumSquares > 0) {
          for (let p = 0; p < pixels; p++) {
            const m2 = m[p] * m[p];
            for (let a = 0; a < c; a++) for (let b = 0; b < c; b++) guided[a * c + b] += (m2 * f.data[p * c + a] * f.data[p * c + b]) / (c * sumSquares);
          }
        }
        const target = targets.regions![r].get(l)!;
        const w = config.styleWeight * layerWeights[k] * config.styleRegions!.weights[r];
        const d = guided.map((v, i) => v - target[i]);
        const value = (w * d.reduce((a, v) => a + v * v, 0)) / (c * c);
        terms[`style:${l}#${r}`] = value;
        style += value;
        if (withGradient && sumSquares > 0) {
          const g = conv1x1(f.data, pixels, c, c, d, (4 * w) / (c * c * c * sumSquares));
          for (let p = 0; p < pixels; p++) for (let a = 0; a < c; a++) grads[l][p * c + a] += m[p] * m[p] * g[p * c + a];
        }
      });
    });
  } else {
    config.styleLayers.forEach((l, k) => {
      const f = features[l];
      const t = targets.style.get(l)!;
      const w = config.styleWeight * layerWeights[k];
      const value = styleLossRef(f.data, f.width * f.height, f.channels, t, w);
      terms[`style:${l}`] = value;
      style += value;
      if (withGradient) addInto(grads[l], styleGradRef(f.data, f.width * f.height, f.channels, t, w));
    });
  }
  const tv = config.tvWeight * tvLossRef(x, height, width);
  terms.tv = tv;
  const result: RefResult = { content, style, tv, total: content + style + tv, terms, features };
  if (!withGradient) return result;

  let gradX: Float64Array = new Float64Array(3 * width * height);
  for (let i = depth - 1; i >= 0; i--) {
    const layer = net[i];
    const below: RefFeature = i > 0 ? features[i - 1] : { data: planarToHwc(x, 3, height, width), width, height, channels: 3 };
    let gIn: Float64Array;
    if (layer.kind === 'conv') {
      const pre = reluMask(grads[i], features[i].data);
      gIn = (config.padding === 'reflect' ? conv3x3ReflectInputGrad : conv3x3InputGrad)(pre, below.height, below.width, layer.cin, layer.cout, layer.kernel);
    } else {
      gIn = pool2x2Backward(pooling, below.data, below.height, below.width, below.channels, grads[i]);
    }
    if (i > 0) addInto(grads[i - 1], gIn);
    else gradX = hwcToPlanar(gIn, 3, height, width);
  }
  const tvg = tvGradRef(x, height, width);
  for (let i = 0; i < gradX.length; i++) gradX[i] += config.tvWeight * tvg[i];
  result.grad = gradX;
  return result;
}
