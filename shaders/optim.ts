/**
 * Optimiser updates of a vector x (n f32) from its gradient g (n f32), with all optimiser state on the GPU so an
 * iteration needs no CPU write or readback.
 *
 * Adam (torch.optim.Adam, no weight decay, no amsgrad):
 * - adamStep: one invocation; t += 1 and the bias corrections c1 = 1 - b1^t, c2 = 1 - b2^t kept by the recurrence
 *   c_t = (1 - b) + b c_{t-1} (exact to f32 precision even while c is tiny, unlike 1 - pow(b, t) in f32). Writes
 *   state = [t, c1, c2, lr / c1, sqrt(c2), 0, 0, 0].
 * - adamUpdate: one invocation per element: m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2;
 *   x -= (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps).
 *
 * L-BFGS (torch.optim.LBFGS without line search; see src/optim/lbfgs.ts for the schedule): the direction buffer d
 * doubles as q and r of the two-loop recursion, so a step is a chain of fused vector kernels, each doing one
 * vector update and accumulating the partial sums of the dot product the next scalar needs, alternating with a
 * scalar kernel that finishes that dot product and writes the recurrence scalar.
 *
 * Dot products reduce in two stages (LbfgsReduction): a vector kernel runs P invocations (workgroups of 64),
 * invocation k walks elements k, k + P, ... (neighbouring invocations read neighbouring elements); it stores its
 * share (a CPU adapter's choice, P = 256: no barrier), or each workgroup stores the tree sum of its 64 shares (a
 * GPU's choice, P up to 65536 so the vector kernels fill it: S = P / 64 sums). The scalar kernel adds the S stored
 * sums: in order in one invocation while S <= 256, else over 256 lanes and a workgroup tree (common.ts).
 *
 * The L-BFGS scalar buffer (f32, `LBFGS_SCALARS` offsets):
 *   [0, 8)                 header: t (step length), H_diag, ys, yy (last push), |g|_1 (first step), g.d and
 *                          max |d| (line search probe), unused;
 *   [8, 8 + 4m)            one record of 4 per ring slot j: ro_j, al_j, c_j = al_j - be_j, unused;
 *   [8 + 4m, + 3S)         three arrays of S partial sums (only the push kernel uses all three).
 * Each L-BFGS kernel gets a per-slot uniform LBFGS_PARAMS {count: n, slot: j, lr} (scaledAdd its own {count});
 * vector kernels bind the ring buffers of the slots they touch directly (y_j, s_j are separate buffers), so only
 * scalars are indexed by slot in WGSL.
 */
import { computeProgram, read, readWrite, uniform, uniformStruct, type BindingDeclarations } from '../src/gpu/program.js';
import {
  laneReduction,
  laneShares,
  linearId,
  mainSignature,
  partialShares,
  partialsMain,
  partialSumsKey,
  reduceLanes,
  storedSums,
  storePartials,
  type PartialSums,
} from './common.js';
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/** Adam's uniform (both kernels): the vector length, the betas, 1 - beta (rounded from float64), lr and eps. */
export const ADAM_PARAMS = uniformStruct('Params', {
  count: 'u32',
  beta1: 'f32',
  beta2: 'f32',
  oneMinusBeta1: 'f32',
  oneMinusBeta2: 'f32',
  lr: 'f32',
  eps: 'f32',
});
/** Adam: state floats [t, c1, c2, lr / c1, sqrt(c2), _, _, _]. */
export const ADAM_STATE_FLOATS = 8;

/** t += 1 and bias corrections. Bindings: params, state. */
export function adamStep() {
  const body = `
// Adam step counter and bias corrections.
@compute @workgroup_size(1)
fn main() {
  let c1 = params.oneMinusBeta1 + params.beta1 * state[1];
  let c2 = params.oneMinusBeta2 + params.beta2 * state[2];
  state[0] = state[0] + 1.0;
  state[1] = c1;
  state[2] = c2;
  state[3] = params.lr / c1;
  state[4] = sqrt(c2);
}
`;
  return computeProgram({
    key: 'adam_step',
    label: 'adam_step',
    workgroupSize: 1,
    bindings: { params: uniform(ADAM_PARAMS), state: readWrite('array<f32>') },
    body,
  });
}

/** Moments and parameter update, one invocation per element. Bindings: params, state, grad, m, v, x. */
export function adamUpdate(workgroupSize = 64) {
  const body = `
// Adam moments and update of x.
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.count) { return; }
  let g = grad[id];
  let m0 = m[id];
  let m1 = m0 + params.oneMinusBeta1 * (g - m0);
  let v1 = v[id] * params.beta2 + params.oneMinusBeta2 * (g * g);
  m[id] = m1;
  v[id] = v1;
  let denom = sqrt(v1) / state[4] + params.eps;
  x[id] = x[id] + (-state[3]) * (m1 / denom);
}
`;
  return computeProgram({
    key: `adam_update_wg${workgroupSize}`,
    label: 'adam_update',
    workgroupSize,
    bindings: {
      params: uniform(ADAM_PARAMS),
      state: read('array<f32>'),
      grad: read('array<f32>'),
      m: readWrite('array<f32>'),
      v: readWrite('array<f32>'),
      x: readWrite('array<f32>'),
    },
    body,
  });
}

/** Float offsets in the L-BFGS scalar buffer: the header, then one record per ring slot, then the partial sums. */
export const LBFGS_SCALARS = {
  t: 0,
  hDiag: 1,
  ys: 2,
  yy: 3,
  l1: 4,
  /** Line search probe: g.d and max |d| (see lbfgsProbe). */
  gtd: 5,
  dMax: 6,
  slots: 8,
  /** Floats per ring slot record: ro, al, c, unused. */
  slotStride: 4,
  ro: 0,
  al: 1,
  c: 2,
} as const;

/**
 * How the L-BFGS kernels reduce a dot product: the vector kernels (workgroups of LBFGS_WORKGROUP) make `stored`
 * partial sums as `sums` says (shaders/common.ts PartialSums), three arrays of them back to back from float `offset`
 * of the scalar buffer (after the slot records); a scalar kernel adds them. The choice is the adapter's
 * (src/gpu/parallelism.ts); each is its own set of pipelines.
 */
export interface LbfgsReduction {
  sums: PartialSums;
  stored: number;
  offset: number;
}

/** Workgroup size of the L-BFGS vector kernels. */
export const LBFGS_WORKGROUP = 64;

/** The reduction layout for a ring of `historySize` slots. */
export function lbfgsReduction(historySize: number, sums: PartialSums): LbfgsReduction {
  return { sums, stored: storedSums(sums, LBFGS_WORKGROUP), offset: LBFGS_SCALARS.slots + LBFGS_SCALARS.slotStride * historySize };
}

/** Floats in the L-BFGS scalar buffer: header, `historySize` slot records, three arrays of partial sums. */
export function lbfgsScalarFloats(historySize: number, sums: PartialSums): number {
  const r = lbfgsReduction(historySize, sums);
  return r.offset + 3 * r.stored;
}

/** The per-slot uniform of every L-BFGS kernel: the vector length n, the ring slot j, the learning rate. */
export const LBFGS_PARAMS = uniformStruct('Params', { count: 'u32', slot: 'u32', lr: 'f32' });
/** scaledAdd's uniform: the vector length. */
export const SCALED_ADD_PARAMS = uniformStruct('Params', { count: 'u32' });
/** Every optimiser vector (x, g, m, v, d, y_j, s_j) and the scalar buffer are f32 arrays. */
const vector = 'array<f32>';

const S = LBFGS_SCALARS;
/** The header offsets and the slot record accessor (of `params`: LBFGS_PARAMS), for every L-BFGS kernel. */
const SLOT_HEADER = `const T = ${S.t}u;
const H_DIAG = ${S.hDiag}u;
fn slotScalar(field: u32) -> u32 { return ${S.slots}u + ${S.slotStride}u * params.slot + field; }
const RO = ${S.ro}u;
const AL = ${S.al}u;
const C = ${S.c}u;`;

/** SLOT_HEADER plus the partial-sum layout: P invocations, S stored sums per array, the arrays from float PART. */
function lbfgsHeader(r: LbfgsReduction): string {
  return `${SLOT_HEADER}
const P = ${r.sums.invocations}u;
const S = ${r.stored}u;
const PART = ${r.offset}u;`;
}

const reductionKey = (r: LbfgsReduction) => `${partialSumsKey(r.sums)}_o${r.offset}`;

/** Where partial array k (0, 1, 2) stores sum `index`. */
const partialAt = (k: number) => (index: string) => `scalars[PART + ${k === 0 ? '' : `${k}u * S + `}${index}]`;

/**
 * A vector kernel with `bindings` (params: LBFGS_PARAMS first): `loop` walks the invocation's elements into the
 * WGSL variables named by `outputs`.
 */
function partialsProgram<const B extends BindingDeclarations>(
  name: string,
  reduction: LbfgsReduction,
  bindings: B,
  comment: string,
  loop: string,
  outputs: ReadonlyArray<{ value: string; combine?: (a: string, b: string) => string }>,
) {
  const wg = LBFGS_WORKGROUP;
  const sums = reduction.sums;
  const body = `
${comment}
${lbfgsHeader(reduction)}
${partialShares(sums, wg)}

${partialsMain(sums, wg)}
${loop}
${storePartials(
  outputs.map((o, k) => ({ ...o, at: partialAt(k) })),
  sums,
  wg,
)}
}
`;
  return computeProgram({ key: `${name}_${reductionKey(reduction)}_wg${wg}`, label: name, workgroupSize: wg, bindings, body });
}

/**
 * First step, and the L1-norm partials: d = -g, g_prev = g, partials of |g|_1.
 * Bindings: params, g, gPrev, d, scalars.
 */
export function lbfgsFirst(reduction: LbfgsReduction) {
  return partialsProgram(
    'lbfgs_first',
    reduction,
    { params: uniform(LBFGS_PARAMS), g: read(vector), gPrev: readWrite(vector), d: readWrite(vector), scalars: readWrite(vector) },
    '// L-BFGS first step: d = -g, g_prev = g and partial sums of |g|_1.',
    `  var l1 = 0.0;
  for (var i = id; i < params.count; i += P) {
    let gi = g[i];
    gPrev[i] = gi;
    d[i] = -gi;
    l1 += abs(gi);
  }`,
    [{ value: 'l1' }],
  );
}

/**
 * Push of the pair for ring slot j, fused with the start of the first loop:
 * y_j = g - g_prev, s_j = t d, g_prev = g, q = d = -g; partials of y.s, y.y and s_j.q.
 * Bindings: params (slot j), g, gPrev, d, y (= y_j), s (= s_j), scalars.
 */
export function lbfgsPush(reduction: LbfgsReduction) {
  return partialsProgram(
    'lbfgs_push',
    reduction,
    {
      params: uniform(LBFGS_PARAMS),
      g: read(vector),
      gPrev: readWrite(vector),
      d: readWrite(vector),
      y: readWrite(vector),
      s: readWrite(vector),
      scalars: readWrite(vector),
    },
    '// L-BFGS history push: y = g - g_prev, s = t d, g_prev = g, q = -g; partials of y.s, y.y, s.q.',
    `  let t = scalars[T];
  var ys = 0.0;
  var yy = 0.0;
  var sq = 0.0;
  for (var i = id; i < params.count; i += P) {
    let gi = g[i];
    let yi = gi - gPrev[i];
    let si = d[i] * t;
    let qi = -gi;
    y[i] = yi;
    s[i] = si;
    gPrev[i] = gi;
    d[i] = qi;
    ys += yi * si;
    yy += yi * yi;
    sq += si * qi;
  }`,
    [{ value: 'ys' }, { value: 'yy' }, { value: 'sq' }],
  );
}

/**
 * First loop, one pair (slot j, not the oldest): q -= al_j y_j; partials of s_{j-1}.q (the next older pair).
 * Bindings: params (slot j), y (= y_j), sNext (= s_{j-1}), d (= q), scalars.
 */
export function lbfgsLoop1(reduction: LbfgsReduction) {
  return partialsProgram(
    'lbfgs_loop1',
    reduction,
    { params: uniform(LBFGS_PARAMS), y: read(vector), sNext: read(vector), d: readWrite(vector), scalars: readWrite(vector) },
    '// L-BFGS first loop: q -= al_j y_j and partials of s_older.q.',
    `  let al = scalars[slotScalar(AL)];
  var sum = 0.0;
  for (var i = id; i < params.count; i += P) {
    let q = d[i] - al * y[i];
    d[i] = q;
    sum += sNext[i] * q;
  }`,
    [{ value: 'sum' }],
  );
}

/**
 * First loop, oldest pair (slot j), then the initial Hessian: r = H_diag (q - al_j y_j); partials of y_j.r.
 * Bindings: params (slot j), y (= y_j), d (q, then r), scalars.
 */
export function lbfgsLoop1Last(reduction: LbfgsReduction) {
  return partialsProgram(
    'lbfgs_loop1_last',
    reduction,
    { params: uniform(LBFGS_PARAMS), y: read(vector), d: readWrite(vector), scalars: readWrite(vector) },
    '// L-BFGS end of the first loop: r = H_diag (q - al_j y_j) and partials of y_j.r.',
    `  let al = scalars[slotScalar(AL)];
  let h = scalars[H_DIAG];
  var sum = 0.0;
  for (var i = id; i < params.count; i += P) {
    let yi = y[i];
    let r = (d[i] - al * yi) * h;
    d[i] = r;
    sum += yi * r;
  }`,
    [{ value: 'sum' }],
  );
}

/**
 * Second loop, one pair (slot j, not the newest): r += c_j s_j; partials of y_{j+1}.r (the next newer pair).
 * Bindings: params (slot j), s (= s_j), yNext (= y_{j+1}), d (= r), scalars.
 */
export function lbfgsLoop2(reduction: LbfgsReduction) {
  return partialsProgram(
    'lbfgs_loop2',
    reduction,
    { params: uniform(LBFGS_PARAMS), s: read(vector), yNext: read(vector), d: readWrite(vector), scalars: readWrite(vector) },
    '// L-BFGS second loop: r += (al_j - be_j) s_j and partials of y_newer.r.',
    `  let c = scalars[slotScalar(C)];
  var sum = 0.0;
  for (var i = id; i < params.count; i += P) {
    let r = d[i] + c * s[i];
    d[i] = r;
    sum += yNext[i] * r;
  }`,
    [{ value: 'sum' }],
  );
}

/**
 * Second loop, newest pair (slot j), then the step: d = r + c_j s_j; x += t d. One invocation per element.
 * Bindings: params (slot j), s (= s_j), d, x, scalars.
 */
export function lbfgsLoop2Last(workgroupSize = 64) {
  const body = `
// L-BFGS end of the second loop and the step: d = r + (al_j - be_j) s_j; x += t d.
${SLOT_HEADER}

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.count) { return; }
  let r = d[id] + scalars[slotScalar(C)] * s[id];
  d[id] = r;
  x[id] = x[id] + scalars[T] * r;
}
`;
  return computeProgram({
    key: `lbfgs_loop2_last_wg${workgroupSize}`,
    label: 'lbfgs_loop2_last',
    workgroupSize,
    bindings: { params: uniform(LBFGS_PARAMS), s: read(vector), d: readWrite(vector), x: readWrite(vector), scalars: read(vector) },
    body,
  });
}

/**
 * Helper: dst += scalars[index] * src, one invocation per element (`index` is a compile-time float offset in the
 * scalar buffer). L-BFGS's first step uses it with t: x += t d. Bindings: params, src, dst, scalars.
 */
export function scaledAdd(index: number, workgroupSize = 64) {
  const body = `
// Vector update dst += a src, a read from the scalar buffer.

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.count) { return; }
  dst[id] = dst[id] + scalars[${index}u] * src[id];
}
`;
  return computeProgram({
    key: `scaled_add_${index}_wg${workgroupSize}`,
    label: 'scaled_add',
    workgroupSize,
    bindings: { params: uniform(SCALED_ADD_PARAMS), src: read(vector), dst: readWrite(vector), scalars: read(vector) },
    body,
  });
}

/**
 * Line search probe (strong-Wolfe option): partials of g.d (first partial array) and of max |d| (second),
 * finished by lbfgsScalar('probe'). Bindings: params, g, d, scalars.
 */
export function lbfgsProbe(reduction: LbfgsReduction) {
  return partialsProgram(
    'lbfgs_probe',
    reduction,
    { params: uniform(LBFGS_PARAMS), g: read(vector), d: read(vector), scalars: readWrite(vector) },
    '// L-BFGS line search probe: partial sums of g.d and partial maxima of |d|.',
    `  var gd = 0.0;
  var dMax = 0.0;
  for (var i = id; i < params.count; i += P) {
    gd += g[i] * d[i];
    dMax = max(dMax, abs(d[i]));
  }`,
    [{ value: 'gd' }, { value: 'dMax', combine: (a, b) => `max(${a}, ${b})` }],
  );
}

/** What the single-invocation L-BFGS scalar kernel finishes (see `lbfgsScalar`). */
export type LbfgsScalarOp = 'first' | 'push' | 'alpha' | 'beta' | 'probe';

/**
 * The recurrence scalars, one invocation; sums the partials the preceding vector kernel wrote.
 * - first: t = min(1, 1 / |g|_1) lr (1 lr when |g|_1 is 0 or NaN, as Python's min does), H_diag = 1;
 * - push (slot j): ys, yy, s_j.q; if ys > 1e-10: ro_j = 1 / ys, H_diag = ys / yy, else ro_j = 0 (H_diag kept);
 *   al_j = ro_j (s_j.q); t = lr;
 * - alpha (slot j): al_j = ro_j (s_j.q);
 * - beta (slot j): c_j = al_j - ro_j (y_j.r);
 * - probe: g.d and max |d| from lbfgsProbe's partials.
 * Bindings: params (slot j), scalars.
 */
export function lbfgsScalar(op: LbfgsScalarOp, reduction: LbfgsReduction) {
  const lanes = reduceLanes(reduction.stored);
  const bodies: Record<LbfgsScalarOp, { reads: string; writes: string }> = {
    first: {
      reads: 'let l1 = sumOf(0u, lane);',
      writes: `scalars[${S.l1}u] = l1;
  scalars[T] = select(1.0, min(1.0, 1.0 / l1), l1 > 0.0) * params.lr;
  scalars[H_DIAG] = 1.0;`,
    },
    push: {
      reads: `let ys = sumOf(0u, lane);
  let yy = sumOf(1u, lane);
  let sq = sumOf(2u, lane);`,
      writes: `scalars[${S.ys}u] = ys;
  scalars[${S.yy}u] = yy;
  var ro = 0.0;
  if (ys > 1e-10) {
    ro = 1.0 / ys;
    scalars[H_DIAG] = ys / yy;
  }
  scalars[slotScalar(RO)] = ro;
  scalars[slotScalar(AL)] = sq * ro;
  scalars[T] = params.lr;`,
    },
    alpha: { reads: 'let sq = sumOf(0u, lane);', writes: 'scalars[slotScalar(AL)] = sq * scalars[slotScalar(RO)];' },
    beta: { reads: 'let yr = sumOf(0u, lane);', writes: 'scalars[slotScalar(C)] = scalars[slotScalar(AL)] - yr * scalars[slotScalar(RO)];' },
    probe: {
      reads: `let gd = sumOf(0u, lane);
  let dMax = maxOf(1u, lane);`,
      writes: `scalars[${S.gtd}u] = gd;
  scalars[${S.dMax}u] = dMax;`,
    },
  };
  const body = wgsl`
// L-BFGS scalar recurrence (${op}): reduces the partial sums the preceding vector kernel wrote
// (${lanes === 1 ? 'one invocation, in order' : `${lanes} lanes over strided shares, then a workgroup tree`}), then one
// invocation writes the recurrence scalars.
${lbfgsHeader(reduction)}
${laneShares(lanes)}
// Sum (maximum) of partial array which = 0, 1, 2.
${laneReduction('sumArray', 'scalars', 'S', lanes, (a, b) => `${a} + ${b}`)}
fn sumOf(which: u32, lane: u32) -> f32 { return sumArray(PART + which * S, lane); }
#if ${op === 'probe'}
${laneReduction('maxArray', 'scalars', 'S', lanes, (a, b) => `max(${a}, ${b})`)}
fn maxOf(which: u32, lane: u32) -> f32 { return maxArray(PART + which * S, lane); }
#endif

@compute @workgroup_size(${lanes})
fn main(@builtin(local_invocation_index) lane: u32) {
  ${bodies[op].reads}
  if (lane != 0u) { return; }
  ${bodies[op].writes}
}
`;
  const key = `lbfgs_scalar_${op}_${reductionKey(reduction)}`;
  return computeProgram({
    key,
    label: `lbfgs_scalar_${op}`,
    workgroupSize: lanes,
    bindings: { params: uniform(LBFGS_PARAMS), scalars: readWrite(vector) },
    body,
  });
}
