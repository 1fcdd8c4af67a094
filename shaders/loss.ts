/**
 * Loss values and their gradients with respect to features.
 *
 * Loss values are reduced in two stages (on a CPU adapter without workgroup barriers, which are costly there):
 * - `*Partials` kernels: P invocations (`sums`, chosen per adapter by src/gpu/parallelism.ts: 256 on a CPU
 *   adapter, up to 65536 on a GPU), invocation k adds elements k, k + P, ...; each invocation stores its share at
 *   partials[offset + k], or (GPU) each workgroup stores the tree sum of its invocations' shares (common.ts
 *   PartialSums, storePartials);
 * - `lossTotal`: adds each term's stored sums (one invocation in order, or 256 lanes and a workgroup tree: see
 *   common.ts reduceLanes), scales them and writes losses = [content, style, tv, total, term_0, term_1, ...].
 *
 * Gradients (elementwise over HWC vec4 features, or planar [3][H][W] for the image):
 * - contentGrad: g = scale * (F - F_target), with optional += existing and ReLU mask (F > 0);
 * - the style gradient is a 1x1 conv of F with D = G - G_target (see conv.ts), D written by squaredDiffPartials;
 * - tvGrad: gradient of the total variation of x, accumulated into the image gradient.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ComputeProgram } from '../src/gpu/program.js';
import { laneReduction, laneShares, linearId, mainSignature, partialShares, partialsMain, partialSumsKey, reduceLanes, storePartials, type PartialSums } from './common.js';

/** Slots before the per-term values in the losses buffer. */
export const LOSS_HEADER = 4;

export type LossCategory = 'content' | 'style' | 'tv';
export const CATEGORY_INDEX: Record<LossCategory, number> = { content: 0, style: 1, tv: 2 };

/**
 * sum((a - b)^2) over vec4 elements into partial sums as `sums` says. With `writeDifference`, also stores a - b
 * (the style loss keeps D = G - G_target for its gradient). Bindings: params {count, offset}, a, b, partials[, diff].
 */
export function squaredDiffPartials(writeDifference: boolean, sums: PartialSums, workgroupSize = 64): ComputeProgram {
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
${partialShares(sums, workgroupSize)}

${partialsMain(sums, workgroupSize)}
  var sum = 0.0;
  for (var i = id; i < params.count; i += ${sums.invocations}u) {
    let d = a[i] - b[i];
#if ${writeDifference}
    difference[i] = d;
#endif
    sum += dot(d, d);
  }
${storePartials([{ value: 'sum', at: (k) => `partials[params.offset + ${k}]` }], sums, workgroupSize)}
}
`;
  const name = writeDifference ? 'sqdiff_partials_diff' : 'sqdiff_partials';
  return {
    key: `${name}_${partialSumsKey(sums)}_wg${workgroupSize}`,
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
export function tvPartials(sums: PartialSums, workgroupSize = 64): ComputeProgram {
  const code = wgsl`
// Partial sums of the total variation of the image.
struct Params { width: u32, height: u32, offset: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
${partialShares(sums, workgroupSize)}

${partialsMain(sums, workgroupSize)}
  let w = params.width;
  let h = params.height;
  let count = 3u * w * h;
  var sum = 0.0;
  for (var i = id; i < count; i += ${sums.invocations}u) {
    let p = i % (w * h);
    let col = p % w;
    let row = p / w;
    let v = x[i];
    if (row + 1u < h) { let d = x[i + w] - v; sum += d * d; }
    if (col + 1u < w) { let d = x[i + 1u] - v; sum += d * d; }
  }
${storePartials([{ value: 'sum', at: (k) => `partials[params.offset + ${k}]` }], sums, workgroupSize)}
}
`;
  return { key: `tv_partials_${partialSumsKey(sums)}_wg${workgroupSize}`, label: 'tv_partials', code, bindings: ['uniform', 'read', 'read_write'], workgroupSize };
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
 * Adds each term's `stored` partial sums and writes [content, style, tv, total, term values...]. Terms are
 * described by a storage table of vec4f(scale, category, offset, 0). One invocation while that is at most 256
 * additions per term, else 256 lanes per term and a tree (common.ts reduceLanes); lane 0 writes.
 * Bindings: params {terms}, table, partials, losses.
 */
export function lossTotal(stored: number): ComputeProgram {
  const lanes = reduceLanes(stored);
  const code = `
// Loss terms and totals from partial sums (${lanes === 1 ? 'one invocation' : `${lanes} lanes and a tree per term`}).
struct Params { terms: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<vec4f>;
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
${laneShares(lanes)}
${laneReduction('termSum', 'partials', `${stored}u`, lanes, (a, b) => `${a} + ${b}`)}

@compute @workgroup_size(${lanes})
fn main(@builtin(local_invocation_index) lane: u32) {
  var byCategory = array<f32, 3>(0.0, 0.0, 0.0);
  for (var t = 0u; t < params.terms; t++) {
    let entry = table[t];
    let value = entry.x * termSum(u32(entry.z), lane);
    if (lane == 0u) { losses[${LOSS_HEADER}u + t] = value; }
    byCategory[u32(entry.y)] += value;
  }
  if (lane != 0u) { return; }
  losses[0] = byCategory[0];
  losses[1] = byCategory[1];
  losses[2] = byCategory[2];
  losses[3] = byCategory[0] + byCategory[1] + byCategory[2];
}
`;
  return { key: `loss_total_s${stored}`, label: 'loss_total', code, bindings: ['uniform', 'read', 'read', 'read_write'], workgroupSize: lanes };
}

/**
 * --normalize-gradients (neural-style): a loss term's feature gradient g is replaced by w g / (|g|_1 + 1e-8).
 * l1Partials makes partial sums of |g| (as `sums` says); l1Finalize sums them into norms[slot]; normalizedAccumulate
 * applies the scale, the optional accumulation and the ReLU mask.
 */
export function l1Partials(sums: PartialSums, workgroupSize = 64): ComputeProgram {
  const code = wgsl`
// Partial sums of |g| (L1 norm).
struct Params { count: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> g: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
${partialShares(sums, workgroupSize)}

${partialsMain(sums, workgroupSize)}
  var sum = 0.0;
  for (var i = id; i < params.count; i += ${sums.invocations}u) {
    sum += dot(abs(g[i]), vec4f(1.0));
  }
${storePartials([{ value: 'sum', at: (k) => `partials[${k}]` }], sums, workgroupSize)}
}
`;
  return { key: `l1_partials_${partialSumsKey(sums)}_wg${workgroupSize}`, label: 'l1_partials', code, bindings: ['uniform', 'read', 'read_write'], workgroupSize };
}

/** norms[slot] = sum of the `stored` partial sums (lanes as in lossTotal). Bindings: params {slot}, partials, norms. */
export function l1Finalize(stored: number): ComputeProgram {
  const lanes = reduceLanes(stored);
  const code = `
// L1 norm from partial sums.
struct Params { slot: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norms: array<f32>;
${laneShares(lanes)}
${laneReduction('total', 'partials', `${stored}u`, lanes, (a, b) => `${a} + ${b}`)}

@compute @workgroup_size(${lanes})
fn main(@builtin(local_invocation_index) lane: u32) {
  let sum = total(0u, lane);
  if (lane == 0u) { norms[params.slot] = sum; }
}
`;
  return { key: `l1_finalize_s${stored}`, label: 'l1_finalize', code, bindings: ['uniform', 'read', 'read_write'], workgroupSize: lanes };
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
