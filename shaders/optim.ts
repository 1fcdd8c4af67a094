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
 * single-invocation scalar kernel that finishes that dot product and writes the recurrence scalar.
 *
 * Dot products use the barrier-free two-stage reduction of loss.ts: a vector kernel runs PARTIALS invocations,
 * invocation k walks elements k, k + PARTIALS, ... (neighbouring invocations read neighbouring elements) and
 * writes partials[k]; the scalar kernel sums them in order.
 *
 * The L-BFGS scalar buffer (f32, `LBFGS_SCALARS` offsets):
 *   [0, 3 PARTIALS)        three partial-sum arrays (only the push kernel uses all three);
 *   [3 PARTIALS, +8)       header: t (step length), H_diag, ys, yy (last push), |g|_1 (first step), g.d and
 *                          max |d| (line search probe), unused;
 *   [3 PARTIALS + 8, ...)  one record of 4 per ring slot j: ro_j, al_j, c_j = al_j - be_j, unused.
 * Each L-BFGS kernel gets a per-slot uniform {count: n, slot: j, _, lr}; vector kernels bind the ring buffers of
 * the slots they touch directly (y_j, s_j are separate buffers), so only scalars are indexed by slot in WGSL.
 */
import type { ComputeProgram } from '../src/gpu/program.js';
import { linearId, mainSignature } from './common.js';
import { PARTIALS } from './loss.js';

export { PARTIALS };

/** Adam: uniform words {count, _, _, _, beta1, beta2, 1 - beta1, 1 - beta2, lr, eps, _, _} (u32 then f32). */
export const ADAM_PARAMS_WORDS = 12;
/** Adam: state floats [t, c1, c2, lr / c1, sqrt(c2), _, _, _]. */
export const ADAM_STATE_FLOATS = 8;

const ADAM_PARAMS = `struct Params {
  count: u32, _p0: u32, _p1: u32, _p2: u32,
  beta1: f32, beta2: f32, oneMinusBeta1: f32, oneMinusBeta2: f32,
  lr: f32, eps: f32, _p3: f32, _p4: f32,
}
@group(0) @binding(0) var<uniform> params: Params;`;

/** t += 1 and bias corrections. Bindings: params, state. */
export function adamStep(): ComputeProgram {
  const code = `
// Adam step counter and bias corrections.
${ADAM_PARAMS}
@group(0) @binding(1) var<storage, read_write> state: array<f32>;

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
  return { key: 'adam_step', label: 'adam_step', code, bindings: ['uniform', 'read_write'], workgroupSize: 1 };
}

/** Moments and parameter update, one invocation per element. Bindings: params, state, grad, m, v, x. */
export function adamUpdate(workgroupSize = 64): ComputeProgram {
  const code = `
// Adam moments and update of x.
${ADAM_PARAMS}
@group(0) @binding(1) var<storage, read> state: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;

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
  return {
    key: `adam_update_wg${workgroupSize}`,
    label: 'adam_update',
    code,
    bindings: ['uniform', 'read', 'read', 'read_write', 'read_write', 'read_write'],
    workgroupSize,
  };
}

/** Float offsets in the L-BFGS scalar buffer. */
export const LBFGS_SCALARS = {
  partials: 0,
  t: 3 * PARTIALS,
  hDiag: 3 * PARTIALS + 1,
  ys: 3 * PARTIALS + 2,
  yy: 3 * PARTIALS + 3,
  l1: 3 * PARTIALS + 4,
  /** Line search probe: g.d and max |d| (see lbfgsProbe). */
  gtd: 3 * PARTIALS + 5,
  dMax: 3 * PARTIALS + 6,
  slots: 3 * PARTIALS + 8,
  /** Floats per ring slot record: ro, al, c, unused. */
  slotStride: 4,
  ro: 0,
  al: 1,
  c: 2,
} as const;

/** Floats in the L-BFGS scalar buffer for a ring of `historySize` slots. */
export function lbfgsScalarFloats(historySize: number): number {
  return LBFGS_SCALARS.slots + LBFGS_SCALARS.slotStride * historySize;
}

/** Per-slot uniform words {count, slot, _, lr}. */
export const LBFGS_PARAMS_WORDS = 4;

const S = LBFGS_SCALARS;
const LBFGS_HEADER = `struct Params { count: u32, slot: u32, _p0: u32, lr: f32 }
@group(0) @binding(0) var<uniform> params: Params;
const P = ${PARTIALS}u;
const T = ${S.t}u;
const H_DIAG = ${S.hDiag}u;
fn slotScalar(field: u32) -> u32 { return ${S.slots}u + ${S.slotStride}u * params.slot + field; }
const RO = ${S.ro}u;
const AL = ${S.al}u;
const C = ${S.c}u;`;

function partialsProgram(name: string, bindings: ComputeProgram['bindings'], declarations: string, body: string, workgroupSize: number): ComputeProgram {
  const code = `
${LBFGS_HEADER}
${declarations}

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= P) { return; }
${body}
}
`;
  return { key: `${name}_wg${workgroupSize}`, label: name, code, bindings, workgroupSize };
}

/**
 * First step, and the L1-norm partials: d = -g, g_prev = g, partials of |g|_1.
 * Bindings: params, g, gPrev, d, scalars.
 */
export function lbfgsFirst(workgroupSize = 64): ComputeProgram {
  return partialsProgram(
    'lbfgs_first',
    ['uniform', 'read', 'read_write', 'read_write', 'read_write'],
    `// L-BFGS first step: d = -g, g_prev = g and partial sums of |g|_1.
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> gPrev: array<f32>;
@group(0) @binding(3) var<storage, read_write> d: array<f32>;
@group(0) @binding(4) var<storage, read_write> scalars: array<f32>;`,
    `  var l1 = 0.0;
  for (var i = id; i < params.count; i += P) {
    let gi = g[i];
    gPrev[i] = gi;
    d[i] = -gi;
    l1 += abs(gi);
  }
  scalars[id] = l1;`,
    workgroupSize,
  );
}

/**
 * Push of the pair for ring slot j, fused with the start of the first loop:
 * y_j = g - g_prev, s_j = t d, g_prev = g, q = d = -g; partials of y.s, y.y and s_j.q.
 * Bindings: params (slot j), g, gPrev, d, y_j, s_j, scalars.
 */
export function lbfgsPush(workgroupSize = 64): ComputeProgram {
  return partialsProgram(
    'lbfgs_push',
    ['uniform', 'read', 'read_write', 'read_write', 'read_write', 'read_write', 'read_write'],
    `// L-BFGS history push: y = g - g_prev, s = t d, g_prev = g, q = -g; partials of y.s, y.y, s.q.
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> gPrev: array<f32>;
@group(0) @binding(3) var<storage, read_write> d: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> s: array<f32>;
@group(0) @binding(6) var<storage, read_write> scalars: array<f32>;`,
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
  }
  scalars[id] = ys;
  scalars[P + id] = yy;
  scalars[2u * P + id] = sq;`,
    workgroupSize,
  );
}

/**
 * First loop, one pair (slot j, not the oldest): q -= al_j y_j; partials of s_{j-1}.q (the next older pair).
 * Bindings: params (slot j), y_j, s_{j-1}, d (= q), scalars.
 */
export function lbfgsLoop1(workgroupSize = 64): ComputeProgram {
  return partialsProgram(
    'lbfgs_loop1',
    ['uniform', 'read', 'read', 'read_write', 'read_write'],
    `// L-BFGS first loop: q -= al_j y_j and partials of s_older.q.
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> sNext: array<f32>;
@group(0) @binding(3) var<storage, read_write> d: array<f32>;
@group(0) @binding(4) var<storage, read_write> scalars: array<f32>;`,
    `  let al = scalars[slotScalar(AL)];
  var sum = 0.0;
  for (var i = id; i < params.count; i += P) {
    let q = d[i] - al * y[i];
    d[i] = q;
    sum += sNext[i] * q;
  }
  scalars[id] = sum;`,
    workgroupSize,
  );
}

/**
 * First loop, oldest pair (slot j), then the initial Hessian: r = H_diag (q - al_j y_j); partials of y_j.r.
 * Bindings: params (slot j), y_j, d (q, then r), scalars.
 */
export function lbfgsLoop1Last(workgroupSize = 64): ComputeProgram {
  return partialsProgram(
    'lbfgs_loop1_last',
    ['uniform', 'read', 'read_write', 'read_write'],
    `// L-BFGS end of the first loop: r = H_diag (q - al_j y_j) and partials of y_j.r.
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> scalars: array<f32>;`,
    `  let al = scalars[slotScalar(AL)];
  let h = scalars[H_DIAG];
  var sum = 0.0;
  for (var i = id; i < params.count; i += P) {
    let yi = y[i];
    let r = (d[i] - al * yi) * h;
    d[i] = r;
    sum += yi * r;
  }
  scalars[id] = sum;`,
    workgroupSize,
  );
}

/**
 * Second loop, one pair (slot j, not the newest): r += c_j s_j; partials of y_{j+1}.r (the next newer pair).
 * Bindings: params (slot j), s_j, y_{j+1}, d (= r), scalars.
 */
export function lbfgsLoop2(workgroupSize = 64): ComputeProgram {
  return partialsProgram(
    'lbfgs_loop2',
    ['uniform', 'read', 'read', 'read_write', 'read_write'],
    `// L-BFGS second loop: r += (al_j - be_j) s_j and partials of y_newer.r.
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read> yNext: array<f32>;
@group(0) @binding(3) var<storage, read_write> d: array<f32>;
@group(0) @binding(4) var<storage, read_write> scalars: array<f32>;`,
    `  let c = scalars[slotScalar(C)];
  var sum = 0.0;
  for (var i = id; i < params.count; i += P) {
    let r = d[i] + c * s[i];
    d[i] = r;
    sum += yNext[i] * r;
  }
  scalars[id] = sum;`,
    workgroupSize,
  );
}

/**
 * Second loop, newest pair (slot j), then the step: d = r + c_j s_j; x += t d. One invocation per element.
 * Bindings: params (slot j), s_j, d, x, scalars.
 */
export function lbfgsLoop2Last(workgroupSize = 64): ComputeProgram {
  const code = `
// L-BFGS end of the second loop and the step: d = r + (al_j - be_j) s_j; x += t d.
${LBFGS_HEADER}
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<storage, read> scalars: array<f32>;

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.count) { return; }
  let r = d[id] + scalars[slotScalar(C)] * s[id];
  d[id] = r;
  x[id] = x[id] + scalars[T] * r;
}
`;
  return {
    key: `lbfgs_loop2_last_wg${workgroupSize}`,
    label: 'lbfgs_loop2_last',
    code,
    bindings: ['uniform', 'read', 'read_write', 'read_write', 'read'],
    workgroupSize,
  };
}

/**
 * Helper: dst += scalars[index] * src, one invocation per element (`index` is a compile-time float offset in the
 * scalar buffer). L-BFGS's first step uses it with t: x += t d. Bindings: params, src, dst, scalars.
 */
export function scaledAdd(index: number, workgroupSize = 64): ComputeProgram {
  const code = `
// Vector update dst += a src, a read from the scalar buffer.
struct Params { count: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> scalars: array<f32>;

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.count) { return; }
  dst[id] = dst[id] + scalars[${index}u] * src[id];
}
`;
  return {
    key: `scaled_add_${index}_wg${workgroupSize}`,
    label: 'scaled_add',
    code,
    bindings: ['uniform', 'read', 'read_write', 'read'],
    workgroupSize,
  };
}

/**
 * Line search probe (strong-Wolfe option): partials of g.d (scalars [0, P)) and of max |d| (scalars [P, 2P)),
 * finished by lbfgsScalar('probe'). Bindings: params, g, d, scalars.
 */
export function lbfgsProbe(workgroupSize = 64): ComputeProgram {
  return partialsProgram(
    'lbfgs_probe',
    ['uniform', 'read', 'read', 'read_write'],
    `// L-BFGS line search probe: partial sums of g.d and partial maxima of |d|.
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> scalars: array<f32>;`,
    `  var gd = 0.0;
  var dMax = 0.0;
  for (var i = id; i < params.count; i += P) {
    gd += g[i] * d[i];
    dMax = max(dMax, abs(d[i]));
  }
  scalars[id] = gd;
  scalars[P + id] = dMax;`,
    workgroupSize,
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
export function lbfgsScalar(op: LbfgsScalarOp): ComputeProgram {
  const sum = (offset: string, name: string) => `  var ${name} = 0.0;
  for (var k = 0u; k < P; k++) { ${name} += scalars[${offset} + k]; }`;
  const bodies: Record<LbfgsScalarOp, string> = {
    first: `${sum('0u', 'l1')}
  scalars[${S.l1}u] = l1;
  scalars[T] = select(1.0, min(1.0, 1.0 / l1), l1 > 0.0) * params.lr;
  scalars[H_DIAG] = 1.0;`,
    push: `${sum('0u', 'ys')}
${sum('P', 'yy')}
${sum('2u * P', 'sq')}
  scalars[${S.ys}u] = ys;
  scalars[${S.yy}u] = yy;
  var ro = 0.0;
  if (ys > 1e-10) {
    ro = 1.0 / ys;
    scalars[H_DIAG] = ys / yy;
  }
  scalars[slotScalar(RO)] = ro;
  scalars[slotScalar(AL)] = sq * ro;
  scalars[T] = params.lr;`,
    alpha: `${sum('0u', 'sq')}
  scalars[slotScalar(AL)] = sq * scalars[slotScalar(RO)];`,
    beta: `${sum('0u', 'yr')}
  scalars[slotScalar(C)] = scalars[slotScalar(AL)] - yr * scalars[slotScalar(RO)];`,
    probe: `${sum('0u', 'gd')}
  var dMax = 0.0;
  for (var k = 0u; k < P; k++) { dMax = max(dMax, scalars[P + k]); }
  scalars[${S.gtd}u] = gd;
  scalars[${S.dMax}u] = dMax;`,
  };
  const code = `
// L-BFGS scalar recurrence (${op}).
${LBFGS_HEADER}
@group(0) @binding(1) var<storage, read_write> scalars: array<f32>;

@compute @workgroup_size(1)
fn main() {
${bodies[op]}
}
`;
  return { key: `lbfgs_scalar_${op}`, label: `lbfgs_scalar_${op}`, code, bindings: ['uniform', 'read_write'], workgroupSize: 1 };
}
