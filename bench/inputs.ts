/**
 * Deterministic synthetic inputs, identical for the engine and the peer: content, style and the point x at which
 * the loss is evaluated, all as preprocessed planar [3][H][W] f32 (channels B, G, R, 0..255 minus the VGG mean),
 * the layout of GatysLoss.x. Smooth structure plus seeded noise, so every ReLU sees a realistic mix of signs.
 */
import { VGG_MEAN_BGR } from '../shaders/common.js';
import { VGG19_CONV_LAYERS } from '../src/net/vgg19.js';
import type { TensorRecord, WeightTensors } from '../src/net/weights.js';
import { uniformArray } from '../src/util/random.js';

export interface BenchInputs {
  size: number;
  content: Float32Array<ArrayBuffer>;
  style: Float32Array<ArrayBuffer>;
  /** Where loss and gradient are evaluated: 0.6 content + 0.4 noise (like --init noise). */
  x: Float32Array<ArrayBuffer>;
}

function image(size: number, seed: number, pattern: (u: number, v: number, c: number) => number): Float32Array<ArrayBuffer> {
  const plane = size * size;
  const noise = uniformArray(3 * plane, seed, -20, 20);
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = c * plane + y * size + x;
        const value = Math.min(255, Math.max(0, pattern(x / size, y / size, c) + noise[i]));
        out[i] = value - VGG_MEAN_BGR[c];
      }
    }
  }
  return out;
}

export function makeInputs(size: number): BenchInputs {
  const content = image(size, 1, (u, v, c) => 128 + 90 * Math.sin(6 * u + 2 * c) * Math.cos(4 * v - c) + 30 * Math.sin(25 * (u + v)));
  const style = image(size, 2, (u, v, c) => 128 + 110 * Math.sign(Math.sin(40 * u + 10 * c)) * Math.sin(30 * v * (1 + c)));
  const noise = uniformArray(content.length, 3, -20, 20);
  const x = new Float32Array(content.length);
  for (let i = 0; i < x.length; i++) x[i] = 0.6 * content[i] + 0.4 * noise[i];
  return { size, content, style, x };
}

/** Planar [3][H][W] -> NHWC [1][H][W][3]. */
export function planarToNhwc(planar: Float32Array, width: number, height: number): Float32Array<ArrayBuffer> {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[p * 3 + c] = planar[c * plane + p];
  return out;
}

/** NHWC [1][H][W][3] -> planar [3][H][W]. */
export function nhwcToPlanar(nhwc: Float32Array, width: number, height: number): Float32Array<ArrayBuffer> {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = nhwc[p * 3 + c];
  return out;
}

/** ||a - b|| / ||b||. */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * Seeded random weights with VGG-19's conv shapes (HWIO kernels uniform in ±sqrt(6 / (9 cin)), He's scale for
 * ReLU nets, so activations keep their magnitude layer after layer; zero biases), in the manifest's tensor layout.
 * For `--random-weights`: speed does not depend on the values (the losses do), so a machine without the weights
 * files can still be timed, engine and peer on the same weights.
 */
export function randomVggWeights(seed = 19): WeightTensors {
  const tensors: TensorRecord[] = [];
  const parts: Float32Array[] = [];
  let byteOffset = 0;
  VGG19_CONV_LAYERS.forEach((layer, i) => {
    const limit = Math.sqrt(6 / (9 * layer.inChannels));
    const kernel = uniformArray(9 * layer.inChannels * layer.outChannels, seed + i, -limit, limit);
    const bias = new Float32Array(layer.outChannels);
    for (const [name, shape, data] of [
      [`${layer.name}/kernel`, [3, 3, layer.inChannels, layer.outChannels], kernel],
      [`${layer.name}/bias`, [layer.outChannels], bias],
    ] as const) {
      tensors.push({ name, shape: [...shape], byteOffset, byteLength: data.byteLength });
      parts.push(data);
      byteOffset += data.byteLength;
    }
  });
  const data = new Uint8Array(byteOffset);
  let at = 0;
  for (const part of parts) {
    data.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), at);
    at += part.byteLength;
  }
  return { tensors, data: data.buffer };
}
