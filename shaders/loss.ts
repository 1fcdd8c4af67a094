/**
 * Loss values and their gradients with respect to features.
 *
 * Loss values are reduced in two stages without workgroup barriers (costly on CPU Vulkan):
 * - `*Partials` kernels: PARTIALS invocations, invocation k sums elements k, k + PARTIALS, ... into
 *   partials[offset + k];
 * - `lossTotal`: one invocation sums each term's partials, scales them and writes
 *   losses = [content, style, tv, total, term_0, term_1, ...].
 *
 * Gradients (elementwise over HWC vec4 features, or planar [3][H][W] for the image):
 * - contentGrad: g = scale * (F - F_target), with optional += existing and ReLU mask (F > 0);
 * - the style gradient is a 1x1 conv of F with D = G - G_target (see conv.ts), D written by squaredDiffPartials;
 * - tvGrad: gradient of the total variation of x, accumulated into the image gradient.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ComputeProgram } from '../src/gpu/program.js';
import { linearId, mainSignature } from './common.js';

/** Invocations (and partial sums) per loss term. */
export const PARTIALS = 256;
/** Slots before the per-term values in the losses buffer. */
export const LOSS_HEADER = 4;

export type LossCategory = 'content' | 'style' | 'tv';
export const CATEGORY_INDEX: Record<LossCategory, number> = { content: 0, style: 1, tv: 2 };

/**
 * sum((a - b)^2) over vec4 elements into PARTIALS partial sums. With `writeDifference`, also stores a - b
 * (the style loss keeps D = G - G_target for its gradient). Bindings: params {count, offset}, a, b, partials[, diff].
 */
export function squaredDiffPartials(writeDifference: boolean, workgroupSize = 64): ComputeProgram {
  const code = wgsl`
// Partial sums of squared differences.
struct Params { count: u32, offset: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
#if ${writeDifference}
@group(0) @binding(4) var<storage, read_write> difference: array<vec4f>;
#endif

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= ${PARTIALS}u) { return; }
  var sum = 0.0;
  for (var i = id; i < params.count; i += ${PARTIALS}u) {
    let d = a[i] - b[i];
#if ${writeDifference}
    difference[i] = d;
#endif
    sum += dot(d, d);
  }
  partials[params.offset + id] = sum;
}
`;
  const name = writeDifference ? 'sqdiff_partials_diff' : 'sqdiff_partials';
  return {
    key: `${name}_wg${workgroupSize}`,
    label: name,
    code,
    bindings: writeDifference ? ['uniform', 'read', 'read', 'read_write', 'read_write'] : ['uniform', 'read', 'read', 'read_write'],
    workgroupSize,
  };
}

/**
 * Total variation of planar x [3][H][W]: sum of squared differences of vertical and horizontal neighbours.
 * Bindings: params {width, height, offset}, x, partials.
 */
export function tvPartials(workgroupSize = 64): ComputeProgram {
  const code = `
// Partial sums of the total variation of the image.
struct Params { width: u32, height: u32, offset: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= ${PARTIALS}u) { return; }
  let w = params.width;
  let h = params.height;
  let count = 3u * w * h;
  var sum = 0.0;
  for (var i = id; i < count; i += ${PARTIALS}u) {
    let p = i % (w * h);
    let col = p % w;
    let row = p / w;
    let v = x[i];
    if (row + 1u < h) { let d = x[i + w] - v; sum += d * d; }
    if (col + 1u < w) { let d = x[i + 1u] - v; sum += d * d; }
  }
  partials[params.offset + id] = sum;
}
`;
  return { key: `tv_partials_wg${workgroupSize}`, label: 'tv_partials', code, bindings: ['uniform', 'read', 'read_write'], workgroupSize };
}

/**
 * grad += scale * d/dx TV(x): 2 (x_ij - x_i-1,j) - 2 (x_i+1,j - x_ij) and likewise along j, at the borders only the
 * terms that exist. Bindings: params {width, height, scale}, x, grad.
 */
export function tvGrad(accumulate: boolean, workgroupSize = 64): ComputeProgram {
  const code = wgsl`
// Gradient of the total variation of the image.
struct Params { width: u32, height: u32, _p0: u32, scale: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  let w = params.width;
  let h = params.height;
  if (id >= 3u * w * h) { return; }
  let p = id % (w * h);
  let col = p % w;
  let row = p / w;
  let v = x[id];
  var g = 0.0;
  if (row > 0u) { g += 2.0 * (v - x[id - w]); }
  if (row + 1u < h) { g -= 2.0 * (x[id + w] - v); }
  if (col > 0u) { g += 2.0 * (v - x[id - 1u]); }
  if (col + 1u < w) { g -= 2.0 * (x[id + 1u] - v); }
#if ${accumulate}
  grad[id] += params.scale * g;
#else
  grad[id] = params.scale * g;
#endif
}
`;
  const name = accumulate ? 'tv_grad_acc' : 'tv_grad';
  return { key: `${name}_wg${workgroupSize}`, label: name, code, bindings: ['uniform', 'read', 'read_write'], workgroupSize };
}

/**
 * Content gradient g = scale * (F - target) over vec4 features, optional += existing and ReLU mask (F > 0).
 * Bindings: params {count, scale}, features, target, grad.
 */
export function contentGrad(accumulate: boolean, mask: boolean, workgroupSize = 64): ComputeProgram {
  const code = wgsl`
// Content loss gradient with respect to the features.
struct Params { count: u32, _p0: u32, _p1: u32, scale: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> features: array<vec4f>;
@group(0) @binding(2) var<storage, read> targetFeatures: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> grad: array<vec4f>;

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.count) { return; }
  let f = features[id];
  var g = params.scale * (f - targetFeatures[id]);
#if ${accumulate}
  g += grad[id];
#endif
#if ${mask}
  g = select(vec4f(0.0), g, f > vec4f(0.0));
#endif
  grad[id] = g;
}
`;
  const flags = [accumulate && 'acc', mask && 'mask'].filter(Boolean).join('_');
  const name = `content_grad${flags ? '_' + flags : ''}`;
  return { key: `${name}_wg${workgroupSize}`, label: name, code, bindings: ['uniform', 'read', 'read', 'read_write'], workgroupSize };
}

/**
 * Sums each term's partials and writes [content, style, tv, total, term values...]. Terms are described by a
 * storage table of vec4f(scale, category, offset, 0). One invocation: the work is a few thousand additions.
 * Bindings: params {terms}, table, partials, losses.
 */
export function lossTotal(): ComputeProgram {
  const code = `
// Loss terms and totals from partial sums.
struct Params { terms: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<vec4f>;
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;

@compute @workgroup_size(1)
fn main() {
  var byCategory = array<f32, 3>(0.0, 0.0, 0.0);
  for (var t = 0u; t < params.terms; t++) {
    let entry = table[t];
    let offset = u32(entry.z);
    var sum = 0.0;
    for (var k = 0u; k < ${PARTIALS}u; k++) { sum += partials[offset + k]; }
    let value = entry.x * sum;
    losses[${LOSS_HEADER}u + t] = value;
    byCategory[u32(entry.y)] += value;
  }
  losses[0] = byCategory[0];
  losses[1] = byCategory[1];
  losses[2] = byCategory[2];
  losses[3] = byCategory[0] + byCategory[1] + byCategory[2];
}
`;
  return { key: 'loss_total', label: 'loss_total', code, bindings: ['uniform', 'read', 'read', 'read_write'], workgroupSize: 1 };
}

/**
 * --normalize-gradients (neural-style): a loss term's feature gradient g is replaced by w g / (|g|_1 + 1e-8).
 * l1Partials writes PARTIALS partial sums of |g|; l1Finalize sums them into norms[slot]; normalizedAccumulate
 * applies the scale, the optional accumulation and the ReLU mask.
 */
export function l1Partials(workgroupSize = 64): ComputeProgram {
  const code = `
// Partial sums of |g| (L1 norm).
struct Params { count: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> g: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= ${PARTIALS}u) { return; }
  var sum = 0.0;
  for (var i = id; i < params.count; i += ${PARTIALS}u) {
    sum += dot(abs(g[i]), vec4f(1.0));
  }
  partials[id] = sum;
}
`;
  return { key: `l1_partials_wg${workgroupSize}`, label: 'l1_partials', code, bindings: ['uniform', 'read', 'read_write'], workgroupSize };
}

/** norms[slot] = sum of the PARTIALS partials. Bindings: params {slot}, partials, norms. */
export function l1Finalize(): ComputeProgram {
  const code = `
// L1 norm from partial sums.
struct Params { slot: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norms: array<f32>;

@compute @workgroup_size(1)
fn main() {
  var sum = 0.0;
  for (var k = 0u; k < ${PARTIALS}u; k++) { sum += partials[k]; }
  norms[params.slot] = sum;
}
`;
  return { key: 'l1_finalize', label: 'l1_finalize', code, bindings: ['uniform', 'read', 'read_write'], workgroupSize: 1 };
}

/**
 * out = [out +] weight * g / (norms[slot] + 1e-8), then the optional ReLU mask (features > 0).
 * Bindings: params {count, slot, weight}, g, norms, [features], out.
 */
export function normalizedAccumulate(accumulate: boolean, mask: boolean, workgroupSize = 64): ComputeProgram {
  const code = wgsl`
// Normalised gradient accumulation.
struct Params { count: u32, slot: u32, _p0: u32, weight: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> g: array<vec4f>;
@group(0) @binding(2) var<storage, read> norms: array<f32>;
#if ${mask}
@group(0) @binding(3) var<storage, read> features: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> grad: array<vec4f>;
#else
@group(0) @binding(3) var<storage, read_write> grad: array<vec4f>;
#endif

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.count) { return; }
  var v = g[id] * (params.weight / (norms[params.slot] + 1e-8));
#if ${accumulate}
  v += grad[id];
#endif
#if ${mask}
  v = select(vec4f(0.0), v, features[id] > vec4f(0.0));
#endif
  grad[id] = v;
}
`;
  const flags = [accumulate && 'acc', mask && 'mask'].filter(Boolean).join('_');
  const name = `normalized_accumulate${flags ? '_' + flags : ''}`;
  return {
    key: `${name}_wg${workgroupSize}`,
    label: name,
    code,
    bindings: mask ? ['uniform', 'read', 'read', 'read', 'read_write'] : ['uniform', 'read', 'read', 'read_write'],
    workgroupSize,
  };
}
