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
import { computeProgram, read, readWrite, uniform, uniformStruct } from '../src/gpu/program.js';
import { laneReduction, laneShares, linearId, mainSignature, partialShares, partialsMain, partialSumsKey, reduceLanes, storePartials, type PartialSums } from './common.js';

/** Slots before the per-term values in the losses buffer. */
export const LOSS_HEADER = 4;

export type LossCategory = 'content' | 'style' | 'tv';
export const CATEGORY_INDEX: Record<LossCategory, number> = { content: 0, style: 1, tv: 2 };

/** Uniform structs of the loss kernels (each kernel's `params`). */
export const SQUARED_DIFF_PARAMS = uniformStruct('Params', { count: 'u32', offset: 'u32' });
export const TV_PARTIALS_PARAMS = uniformStruct('Params', { width: 'u32', height: 'u32', offset: 'u32' });
export const TV_GRAD_PARAMS = uniformStruct('Params', { width: 'u32', height: 'u32', scale: 'f32' });
export const CONTENT_GRAD_PARAMS = uniformStruct('Params', { count: 'u32', scale: 'f32' });
export const LOSS_TOTAL_PARAMS = uniformStruct('Params', { terms: 'u32' });
export const L1_PARTIALS_PARAMS = uniformStruct('Params', { count: 'u32' });
export const L1_FINALIZE_PARAMS = uniformStruct('Params', { slot: 'u32' });
export const NORMALIZED_ACCUMULATE_PARAMS = uniformStruct('Params', { count: 'u32', slot: 'u32', weight: 'f32' });

/**
 * sum((a - b)^2) over vec4 elements into partial sums as `sums` says. With `writeDifference`, also stores a - b
 * (the style loss keeps D = G - G_target for its gradient). Bindings: params {count, offset}, a, b, partials[, difference].
 */
export function squaredDiffPartials(writeDifference: boolean, sums: PartialSums, workgroupSize = 64) {
  const body = wgsl`
// Partial sums of squared differences.
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
  return computeProgram({
    key: `${name}_${partialSumsKey(sums)}_wg${workgroupSize}`,
    label: name,
    workgroupSize,
    bindings: {
      params: uniform(SQUARED_DIFF_PARAMS),
      a: read('array<vec4f>'),
      b: read('array<vec4f>'),
      partials: readWrite('array<f32>'),
      difference: writeDifference ? readWrite('array<vec4f>') : undefined,
    },
    body,
  });
}

/**
 * Total variation of planar x [3][H][W]: sum of squared differences of vertical and horizontal neighbours.
 * Bindings: params {width, height, offset}, x, partials.
 */
export function tvPartials(sums: PartialSums, workgroupSize = 64) {
  const body = wgsl`
// Partial sums of the total variation of the image.
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
  return computeProgram({
    key: `tv_partials_${partialSumsKey(sums)}_wg${workgroupSize}`,
    label: 'tv_partials',
    workgroupSize,
    bindings: { params: uniform(TV_PARTIALS_PARAMS), x: read('array<f32>'), partials: readWrite('array<f32>') },
    body,
  });
}

/**
 * grad += scale * d/dx TV(x): 2 (x_ij - x_i-1,j) - 2 (x_i+1,j - x_ij) and likewise along j, at the borders only the
 * terms that exist. Bindings: params {width, height, scale}, x, grad.
 */
export function tvGrad(accumulate: boolean, workgroupSize = 64) {
  const body = wgsl`
// Gradient of the total variation of the image.
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
  return computeProgram({
    key: `${name}_wg${workgroupSize}`,
    label: name,
    workgroupSize,
    bindings: { params: uniform(TV_GRAD_PARAMS), x: read('array<f32>'), grad: readWrite('array<f32>') },
    body,
  });
}

/**
 * Content gradient g = scale * (F - target) over vec4 features, optional += existing and ReLU mask (A > 0, A the
 * layer's activation: the features themselves, or where a tile counts only its own positions, the unmasked ones).
 * Bindings: params {count, scale}, features, targetFeatures, [maskActivation], grad.
 */
export function contentGrad(accumulate: boolean, mask: boolean, workgroupSize = 64) {
  const body = wgsl`
// Content loss gradient with respect to the features.
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.count) { return; }
  let f = features[id];
  var g = params.scale * (f - targetFeatures[id]);
#if ${accumulate}
  g += grad[id];
#endif
#if ${mask}
  g = select(vec4f(0.0), g, maskActivation[id] > vec4f(0.0));
#endif
  grad[id] = g;
}
`;
  const flags = [accumulate && 'acc', mask && 'mask'].filter(Boolean).join('_');
  const name = `content_grad${flags ? '_' + flags : ''}`;
  return computeProgram({
    key: `${name}_wg${workgroupSize}`,
    label: name,
    workgroupSize,
    bindings: {
      params: uniform(CONTENT_GRAD_PARAMS),
      features: read('array<vec4f>'),
      targetFeatures: read('array<vec4f>'),
      maskActivation: mask ? read('array<vec4f>') : undefined,
      grad: readWrite('array<vec4f>'),
    },
    body,
  });
}

/**
 * Adds each term's `stored` partial sums and writes [content, style, tv, total, term values...]. Terms are
 * described by a storage table of vec4f(scale, category, offset, 0). One invocation while that is at most 256
 * additions per term, else 256 lanes per term and a tree (common.ts reduceLanes); lane 0 writes.
 * Bindings: params {terms}, table, partials, losses.
 */
export function lossTotal(stored: number) {
  const lanes = reduceLanes(stored);
  const body = `
// Loss terms and totals from partial sums (${lanes === 1 ? 'one invocation' : `${lanes} lanes and a tree per term`}).
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
  return computeProgram({
    key: `loss_total_s${stored}`,
    label: 'loss_total',
    workgroupSize: lanes,
    bindings: { params: uniform(LOSS_TOTAL_PARAMS), table: read('array<vec4f>'), partials: read('array<f32>'), losses: readWrite('array<f32>') },
    body,
  });
}

/**
 * --normalize-gradients (neural-style): a loss term's feature gradient g is replaced by w g / (|g|_1 + 1e-8).
 * l1Partials makes partial sums of |g| (as `sums` says); l1Finalize sums them into norms[slot]; normalizedAccumulate
 * applies the scale, the optional accumulation and the ReLU mask.
 */
export function l1Partials(sums: PartialSums, workgroupSize = 64) {
  const body = wgsl`
// Partial sums of |g| (L1 norm).
${partialShares(sums, workgroupSize)}

${partialsMain(sums, workgroupSize)}
  var sum = 0.0;
  for (var i = id; i < params.count; i += ${sums.invocations}u) {
    sum += dot(abs(g[i]), vec4f(1.0));
  }
${storePartials([{ value: 'sum', at: (k) => `partials[${k}]` }], sums, workgroupSize)}
}
`;
  return computeProgram({
    key: `l1_partials_${partialSumsKey(sums)}_wg${workgroupSize}`,
    label: 'l1_partials',
    workgroupSize,
    bindings: { params: uniform(L1_PARTIALS_PARAMS), g: read('array<vec4f>'), partials: readWrite('array<f32>') },
    body,
  });
}

/** norms[slot] = sum of the `stored` partial sums (lanes as in lossTotal). Bindings: params {slot}, partials, norms. */
export function l1Finalize(stored: number) {
  const lanes = reduceLanes(stored);
  const body = `
// L1 norm from partial sums.
${laneShares(lanes)}
${laneReduction('total', 'partials', `${stored}u`, lanes, (a, b) => `${a} + ${b}`)}

@compute @workgroup_size(${lanes})
fn main(@builtin(local_invocation_index) lane: u32) {
  let sum = total(0u, lane);
  if (lane == 0u) { norms[params.slot] = sum; }
}
`;
  return computeProgram({
    key: `l1_finalize_s${stored}`,
    label: 'l1_finalize',
    workgroupSize: lanes,
    bindings: { params: uniform(L1_FINALIZE_PARAMS), partials: read('array<f32>'), norms: readWrite('array<f32>') },
    body,
  });
}

/**
 * grad = [grad +] weight * g / (norms[slot] + 1e-8), then the optional ReLU mask (features > 0).
 * Bindings: params {count, slot, weight}, g, norms, [features], grad.
 */
export function normalizedAccumulate(accumulate: boolean, mask: boolean, workgroupSize = 64) {
  const body = wgsl`
// Normalised gradient accumulation.
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
  return computeProgram({
    key: `${name}_wg${workgroupSize}`,
    label: name,
    workgroupSize,
    bindings: {
      params: uniform(NORMALIZED_ACCUMULATE_PARAMS),
      g: read('array<vec4f>'),
      norms: read('array<f32>'),
      features: mask ? read('array<vec4f>') : undefined,
      grad: readWrite('array<vec4f>'),
    },
    body,
  });
}
