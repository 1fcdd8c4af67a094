/**
 * GPU optimisers against float64 TypeScript references of torch.optim.Adam and torch.optim.LBFGS (no line search,
 * one evaluation per iteration). The objective is a quadratic f = 0.5 x^T A x - b^T x with A tridiagonal
 * (diagonal for Adam); its gradient A x - b comes from a tiny WGSL kernel in this file (closed loop), or is
 * computed on the CPU and uploaded with writeBuffer (open loop) where the test fixes the gradient sequence.
 * Where a test leaves the partial sums to the optimiser, the expectation follows the runtime's parallelism (the
 * adapter's, or STYLE_TRANSFER_PARALLELISM's); optimiser timings are the bench's (npm run bench), not a test's.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { linearId, mainSignature } from '../shaders/common.js';
import { ADAM_PARAMS, LBFGS_PARAMS, LBFGS_SCALARS, SCALED_ADD_PARAMS } from '../shaders/optim.js';
import { dotProductSums } from '../src/gpu/parallelism.js';
import { PassList } from '../src/gpu/passes.js';
import { computeProgram, read, readWrite, uniform, uniformStruct } from '../src/gpu/program.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { AdamOptimizer } from '../src/optim/adam.js';
import { lbfgsMemoryBytes, LbfgsOptimizer } from '../src/optim/lbfgs.js';
import { LbfgsLineSearch } from '../src/optim/lbfgsLineSearch.js';
import { historyUsed } from '../src/net/stylize.js';
import type { GpuOptimizer } from '../src/optim/optimizer.js';
import { strongWolfe } from '../src/optim/strongWolfe.js';
import { randomArray, relativeError, testGpu } from './helpers/env.js';

const TRIDIAGONAL_PARAMS = uniformStruct('Params', { count: 'u32', off: 'f32' });
const QUADRATIC_PARAMS = uniformStruct('Params', { count: 'u32' });

/** g = diag x + off (x_{i-1} + x_{i+1}) - b over n floats. Bindings: params {count, off}, diag, b, x, g. */
function tridiagonalGradient(workgroupSize = 64) {
  const body = `
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  let n = params.count;
  if (id >= n) { return; }
  var neighbours = 0.0;
  if (id > 0u) { neighbours += x[id - 1u]; }
  if (id + 1u < n) { neighbours += x[id + 1u]; }
  g[id] = diag[id] * x[id] + params.off * neighbours - b[id];
}
`;
  return computeProgram({
    key: 'test_tridiagonal_gradient',
    label: 'test_tridiagonal_gradient',
    workgroupSize,
    bindings: { params: uniform(TRIDIAGONAL_PARAMS), diag: read('array<f32>'), b: read('array<f32>'), x: read('array<f32>'), g: readWrite('array<f32>') },
    body,
  });
}

/**
 * f = 0.5 x.(g - b) (= 0.5 x^T A x - b^T x once g = A x - b), one invocation, written as losses [0, 0, 0, f] the
 * way the loss passes write theirs. Bindings: params {count}, b, x, g, losses.
 */
function quadraticValue() {
  const body = `
@compute @workgroup_size(1)
fn main() {
  var f = 0.0;
  for (var i = 0u; i < params.count; i++) { f += 0.5 * x[i] * (g[i] - b[i]); }
  losses[0] = 0.0; losses[1] = 0.0; losses[2] = 0.0; losses[3] = f;
}
`;
  return computeProgram({
    key: 'test_quadratic_value',
    label: 'test_quadratic_value',
    workgroupSize: 1,
    bindings: { params: uniform(QUADRATIC_PARAMS), b: read('array<f32>'), x: read('array<f32>'), g: read('array<f32>'), losses: readWrite('array<f32>') },
    body,
  });
}

/** The quadratic problem on the GPU (x, g, the gradient pass) and its float64 gradient on the CPU. */
class Quadratic {
  readonly diag: Float32Array;
  readonly b: Float32Array<ArrayBuffer>;
  readonly x0: Float32Array<ArrayBuffer>;
  readonly x: GPUBuffer;
  readonly g: GPUBuffer;
  readonly passes: PassList;
  /** [0, 0, 0, f], written by the passes after the gradient (the layout of GatysLoss.losses). */
  readonly losses: GPUBuffer;
  private readonly owned: GPUBuffer[];

  constructor(
    private readonly gpu: GpuRuntime,
    readonly n: number,
    readonly off: number,
    seed: number,
    /** Multiplies b and x0, so x*, x0 and the gradients (scale sets |g|_1, hence L-BFGS's first step length). */
    scale = 1,
  ) {
    this.diag = randomArray(n, seed, 2.5, 4);
    this.b = Float32Array.from(randomArray(n, seed + 1), (v) => v * scale);
    this.x0 = Float32Array.from(randomArray(n, seed + 2), (v) => v * scale);
    const diag = gpu.upload(this.diag, 'test diag');
    const b = gpu.upload(this.b, 'test b');
    this.x = gpu.upload(this.x0, 'test x');
    this.g = gpu.buffers.storage(n * 4, 'test g');
    this.passes = new PassList(gpu);
    this.losses = gpu.buffers.storage(16, 'test losses');
    this.passes.add(tridiagonalGradient(), { params: { count: n, off }, diag, b, x: this.x, g: this.g }, n);
    this.passes.add(quadraticValue(), { params: { count: n }, b, x: this.x, g: this.g, losses: this.losses }, 1);
    this.owned = [diag, b, this.x, this.g, this.losses];
  }

  value(x: ArrayLike<number>): number {
    const g = this.gradient(x);
    let f = 0;
    for (let i = 0; i < this.n; i++) f += 0.5 * x[i] * (g[i] - this.b[i]);
    return f;
  }

  gradient(x: ArrayLike<number>): Float64Array {
    const { n, diag, b, off } = this;
    const g = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const neighbours = (i > 0 ? x[i - 1] : 0) + (i + 1 < n ? x[i + 1] : 0);
      g[i] = diag[i] * x[i] + off * neighbours - b[i];
    }
    return g;
  }

  setGradient(g: ArrayLike<number>): void {
    this.gpu.device.queue.writeBuffer(this.g, 0, Float32Array.from(g));
  }

  /** One submission: (the gradient kernel, when `closedLoop`) then the optimiser step. */
  step(optimizer: GpuOptimizer, iteration: number, closedLoop = true): void {
    const encoder = this.gpu.device.createCommandEncoder();
    if (closedLoop) this.passes.encode(encoder);
    optimizer.encodeStep(encoder, iteration);
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  readX(): Promise<Float32Array> {
    return this.gpu.readFloat32(this.x, this.n);
  }

  dispose(): void {
    this.passes.dispose();
    for (const b of this.owned) this.gpu.buffers.release(b);
  }
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** torch.optim.Adam (no weight decay, no amsgrad) in float64. */
class AdamReference {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;

  constructor(
    n: number,
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
  }

  step(x: Float64Array, g: ArrayLike<number>): void {
    const { m, v, beta1, beta2, eps } = this;
    this.t++;
    const bias1 = 1 - beta1 ** this.t;
    const bias2Sqrt = Math.sqrt(1 - beta2 ** this.t);
    const stepSize = this.lr / bias1;
    for (let i = 0; i < x.length; i++) {
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      x[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bias2Sqrt + eps);
    }
  }
}

/**
 * torch.optim.LBFGS(lr, history_size, line_search_fn=None), one evaluation per iteration, in float64. With
 * `skippedPairsTakeSlots`, a pair with ys <= 1e-10 is kept with ro = 0 (the GPU optimiser's documented behaviour)
 * instead of being dropped.
 */
class LbfgsReference {
  private history: Array<{ y: Float64Array; s: Float64Array; ro: number }> = [];
  private hDiag = 1;
  private d!: Float64Array;
  private t = 0;
  private gPrev!: Float64Array;
  private k = 0;

  constructor(
    private readonly lr: number,
    private readonly historySize: number,
    private readonly skippedPairsTakeSlots = false,
  ) {}

  step(x: Float64Array, g: ArrayLike<number>): void {
    this.direction(g);
    for (let i = 0; i < x.length; i++) x[i] += this.t * this.d[i];
  }

  /**
   * torch's iteration with line_search_fn='strong_wolfe' (src/optim/strongWolfe.ts, itself checked against torch):
   * d and the first t as without, then the searched t; x moves to x + t d. Returns the evaluations it took.
   */
  async stepWithLineSearch(x: Float64Array, f: number, g: ArrayLike<number>, objective: (x: Float64Array) => [number, Float64Array]): Promise<number> {
    this.direction(g);
    const d = this.d;
    const at = (t: number) => Float64Array.from(x, (v, i) => v + t * d[i]);
    const result = await strongWolfe(
      async (t) => {
        const [ft, gt] = objective(at(t));
        return { f: ft, gtd: dot(gt, d) };
      },
      { f0: f, gtd0: dot(g, d), t0: this.t, dNorm: d.reduce((m, v) => Math.max(m, Math.abs(v)), 0) },
    );
    this.t = result.t;
    x.set(at(result.t));
    return result.evaluations;
  }

  /** d and t for the current gradient (pushing the previous pair first). */
  private direction(g: ArrayLike<number>): void {
    const n = g.length;
    if (this.k === 0) {
      this.d = Float64Array.from(g, (v) => -v);
      this.hDiag = 1;
      this.history = [];
      let l1 = 0;
      for (let i = 0; i < n; i++) l1 += Math.abs(g[i]);
      this.t = Math.min(1, 1 / l1) * this.lr;
    } else {
      const y = Float64Array.from(g, (v, i) => v - this.gPrev[i]);
      const s = this.d.map((v) => v * this.t);
      const ys = dot(y, s);
      if (ys > 1e-10) {
        if (this.history.length === this.historySize) this.history.shift();
        this.history.push({ y, s, ro: 1 / ys });
        this.hDiag = ys / dot(y, y);
      } else if (this.skippedPairsTakeSlots) {
        if (this.history.length === this.historySize) this.history.shift();
        this.history.push({ y, s, ro: 0 });
      }
      const q = Float64Array.from(g, (v) => -v);
      const al: number[] = [];
      for (let i = this.history.length - 1; i >= 0; i--) {
        const h = this.history[i];
        al[i] = dot(h.s, q) * h.ro;
        for (let e = 0; e < n; e++) q[e] -= al[i] * h.y[e];
      }
      const r = q.map((v) => v * this.hDiag);
      for (let i = 0; i < this.history.length; i++) {
        const h = this.history[i];
        const be = dot(h.y, r) * h.ro;
        for (let e = 0; e < n; e++) r[e] += (al[i] - be) * h.s[e];
      }
      this.d = r;
      this.t = this.lr;
    }
    this.gPrev = Float64Array.from(g);
    this.k++;
  }
}

describe('GPU optimisers', () => {
  let gpu: GpuRuntime;

  beforeAll(async () => {
    gpu = await testGpu();
  });

  it('Adam: the first 5 steps match torch.optim.Adam in float64', async () => {
    const problem = new Quadratic(gpu, 1000, 0, 11);
    const lr = 0.05;
    const adam = new AdamOptimizer(gpu, problem.x, problem.g, problem.n, { learningRate: lr });
    const reference = new AdamReference(problem.n, lr);
    const x = Float64Array.from(problem.x0);
    try {
      for (let k = 0; k < 5; k++) {
        problem.step(adam, k);
        reference.step(x, problem.gradient(x));
        const error = relativeError(await problem.readX(), x);
        expect(error, `step ${k}`).toBeLessThan(1e-5);
      }
      // The step count lives on the GPU: [t, 1 - b1^t, 1 - b2^t, lr / (1 - b1^t), sqrt(1 - b2^t)].
      const state = await gpu.readFloat32(adam.state, 5);
      expect(state[0]).toBe(5);
      expect(state[1]).toBeCloseTo(1 - 0.9 ** 5, 7);
      expect(Math.abs(state[2] / (1 - 0.999 ** 5) - 1)).toBeLessThan(1e-6);
    } finally {
      adam.dispose();
      problem.dispose();
    }
  });

  // Partial sums: the runtime's choice (a CPU's: 256 invocations, added in one invocation; a GPU's at n = 1024: 256
  // invocations in 4 workgroups, each storing one sum), more invocations than
  // one invocation adds (256 lanes and a workgroup tree; 300: no multiple of the lanes), and the GPU choice (each
  // workgroup of 64 stores one sum).
  it.each([undefined, { invocations: 1024, perWorkgroup: false }, { invocations: 300, perWorkgroup: false }, { invocations: 4096, perWorkgroup: true }])(
    'L-BFGS: 15 iterations on a tridiagonal quadratic match torch.optim.LBFGS in float64 (history 5 wraps; sums %o)',
    async (sums) => {
      // Scaled so that |g0|_1 is about 4: torch's first step t = min(1, 1 / |g|_1) is then about 0.25. With
      // |g0|_1 in the thousands, t would be ~5e-4 and y = g1 - g0 a near cancellation in f32 (about 1e-4 relative
      // error in y, in torch's float32 as much as here), which the float64 reference does not share.
      // diag in [2.5, 4] > 2 |off|: diagonally dominant, so A is positive definite (eigenvalues in about [0.1, 6.4],
      // slow enough that 15 iterations stay above the f32 noise floor of the gradient).
      const problem = new Quadratic(gpu, 1024, -1.2, 21, 2e-3);
      const lbfgs = new LbfgsOptimizer(gpu, problem.x, problem.g, problem.n, { learningRate: 1, historySize: 5, sums });
      expect(lbfgs.reduction.sums).toEqual(sums ?? dotProductSums(problem.n, gpu.parallelism));
      const reference = new LbfgsReference(1, 5);
      const x = Float64Array.from(problem.x0);
      const errors: number[] = [];
      try {
        for (let k = 0; k < 15; k++) {
          problem.step(lbfgs, k);
          reference.step(x, problem.gradient(x));
          errors.push(relativeError(await problem.readX(), x));
          if (k === 0) {
            // The first step length is min(1, 1 / |g|_1) lr, below 1 here.
            const g0 = problem.gradient(problem.x0).reduce((sum, v) => sum + Math.abs(v), 0);
            const t = (await gpu.readFloat32(lbfgs.state.scalars))[LBFGS_SCALARS.t];
            expect(1 / g0).toBeLessThan(1);
            expect(Math.abs(t * g0 - 1)).toBeLessThan(1e-5);
          }
        }
        if (process.env.OPTIM_VERBOSE) console.log('L-BFGS relative errors', errors.map((e) => e.toExponential(1)).join(' '));
        errors.forEach((error, k) => expect(error, `iteration ${k}: ${errors.map((e) => e.toExponential(1)).join(' ')}`).toBeLessThan(1e-4));
        // It optimises: the gradient at the end is small next to the first one.
        const g0 = problem.gradient(problem.x0);
        const g15 = problem.gradient(await problem.readX());
        expect(Math.sqrt(dot(g15, g15))).toBeLessThan(1e-3 * Math.sqrt(dot(g0, g0)));
      } finally {
        lbfgs.dispose();
        problem.dispose();
      }
    },
  );

  it.each([undefined, { invocations: 300, perWorkgroup: false }, { invocations: 1024, perWorkgroup: true }])(
    'L-BFGS with the strong-Wolfe line search: 8 iterations match torch semantics in float64 (sums %o)',
    async (sums) => {
      // Scaled so that |g0|_1 is about 40 (first step t = 1 / |g0|_1 = 0.025).
      const problem = new Quadratic(gpu, 1024, -1.2, 31, 2e-2);
      const lbfgs = new LbfgsOptimizer(gpu, problem.x, problem.g, problem.n, { learningRate: 1, historySize: 5, sums });
      const search = new LbfgsLineSearch(gpu, lbfgs, { encode: (e) => problem.passes.encode(e), losses: problem.losses });
      const reference = new LbfgsReference(1, 5);
      const x = Float64Array.from(problem.x0);
      const objective = (v: Float64Array): [number, Float64Array] => [problem.value(v), problem.gradient(v)];
      const records: number[] = [];
      const evaluations: number[] = [];
      const history = gpu.buffers.storage(8 * 16, 'test history');
      try {
        for (let k = 0; k < 8; k++) {
          const fBefore = problem.value(x);
          const ours = await search.iterate(k, (encoder) => encoder.copyBufferToBuffer(problem.losses, 0, history, k * 16, 16));
          const theirs = await reference.stepWithLineSearch(x, fBefore, problem.gradient(x), objective);
          expect(ours.converged).toBe(false);
          expect(ours.evaluations, `iteration ${k}`).toBe(theirs);
          expect(relativeError(await problem.readX(), x), `iteration ${k}`).toBeLessThan(1e-4);
          records.push(fBefore);
          evaluations.push(ours.evaluations);
        }
        // Some iteration needed more than one trial, so the search really ran (1,1,1,1,2,1,1,1 here).
        expect(Math.max(...evaluations), `evaluations per iteration: ${evaluations}`).toBeGreaterThan(1);
        // The history got the loss at x_k before each iteration, and the loss falls every iteration (Armijo).
        const logged = await gpu.readFloat32(history, 32);
        records.forEach((f, k) => expect(Math.abs(logged[4 * k + 3] - f)).toBeLessThan(1e-4 * Math.abs(f)));
        for (let k = 1; k < records.length; k++) expect(records[k]).toBeLessThan(records[k - 1]);
        // The gradient, x and the losses on the GPU belong to the same point at the end.
        const gpuX = await problem.readX();
        expect(relativeError(await gpu.readFloat32(problem.g, problem.n), problem.gradient(gpuX))).toBeLessThan(1e-4);
      } finally {
        gpu.buffers.release(history);
        search.dispose();
        lbfgs.dispose();
        problem.dispose();
      }
    },
  );

  it('L-BFGS: a history as long as the iterations steps exactly as a longer one (stylize keeps no more: historyUsed)', async () => {
    const iterations = 6;
    const xsWith = async (historySize: number) => {
      const problem = new Quadratic(gpu, 1024, -1.2, 21, 2e-3);
      const lbfgs = new LbfgsOptimizer(gpu, problem.x, problem.g, problem.n, { learningRate: 1, historySize });
      const xs: Float32Array[] = [];
      try {
        for (let k = 0; k < iterations; k++) {
          problem.step(lbfgs, k);
          xs.push(await problem.readX());
        }
      } finally {
        lbfgs.dispose();
        problem.dispose();
      }
      return xs;
    };
    const long = await xsWith(100);
    const exact = await xsWith(historyUsed({ historySize: 100, iterations }));
    const short = await xsWith(iterations - 3);
    for (let k = 0; k < iterations; k++) expect(exact[k], `iteration ${k}`).toEqual(long[k]);
    // A history shorter than the iterations drops pairs: the last steps differ (so the comparison can fail).
    expect(short[iterations - 1]).not.toEqual(long[iterations - 1]);
  });

  it('L-BFGS: a pair with ys <= 1e-10 gets ro = 0, keeps H_diag and takes a ring slot (as documented)', async () => {
    const m = 3;
    const problem = new Quadratic(gpu, 512, -1, 31, 4e-3);
    const lbfgs = new LbfgsOptimizer(gpu, problem.x, problem.g, problem.n, { learningRate: 1, historySize: m });
    const iterations = 8;
    const stalled = 2; // iteration 2 sees the gradient of iteration 1 again: y = 0, ys = 0
    // The gradient sequence: from the documented-semantics reference's own x, with the stall injected.
    const ours = new LbfgsReference(1, m, true);
    const x = Float64Array.from(problem.x0);
    const gradients: Float64Array[] = [];
    const xs: Float64Array[] = [];
    for (let k = 0; k < iterations; k++) {
      const g = k === stalled ? gradients[k - 1] : problem.gradient(x);
      gradients.push(g);
      ours.step(x, g);
      xs.push(x.slice());
    }
    // torch itself, fed the same gradients.
    const torch = new LbfgsReference(1, m, false);
    const xTorch = Float64Array.from(problem.x0);
    const xsTorch = gradients.map((g) => (torch.step(xTorch, g), xTorch.slice()));
    try {
      let hBefore = 0;
      for (let k = 0; k < iterations; k++) {
        problem.setGradient(gradients[k]);
        problem.step(lbfgs, k, false);
        const gpuX = await problem.readX();
        expect(relativeError(gpuX, xs[k]), `iteration ${k}`).toBeLessThan(1e-4);
        // Until the skipped pair's slot would have held a pair torch keeps (k <= m), this is torch exactly.
        if (k <= m) expect(relativeError(gpuX, xsTorch[k]), `iteration ${k} vs torch`).toBeLessThan(1e-4);
        const scalars = await gpu.readFloat32(lbfgs.state.scalars);
        if (k === stalled - 1) hBefore = scalars[LBFGS_SCALARS.hDiag];
        if (k === stalled) {
          const slot = (stalled - 1) % m;
          expect(scalars[LBFGS_SCALARS.ys]).toBe(0);
          expect(scalars[LBFGS_SCALARS.slots + LBFGS_SCALARS.slotStride * slot + LBFGS_SCALARS.ro]).toBe(0);
          expect(scalars[LBFGS_SCALARS.hDiag]).toBe(hBefore);
        }
      }
      // The test can see the difference: once the ring wraps, torch still holds the pair ours evicted early.
      const later = xs.slice(m + 1).map((xk, i) => relativeError(xk, xsTorch[m + 1 + i]));
      expect(Math.max(...later)).toBeGreaterThan(1e-3);
    } finally {
      lbfgs.dispose();
      problem.dispose();
    }
  });

  it('L-BFGS: with a constant gradient every pair is skipped and x moves along -g like torch', async () => {
    const problem = new Quadratic(gpu, 256, 0, 41);
    const lr = 0.5;
    const lbfgs = new LbfgsOptimizer(gpu, problem.x, problem.g, problem.n, { learningRate: lr, historySize: 2 });
    const g = problem.b.map((v) => -v); // f = -b.x
    const torch = new LbfgsReference(lr, 2);
    const x = Float64Array.from(problem.x0);
    try {
      problem.setGradient(g);
      for (let k = 0; k < 5; k++) {
        problem.step(lbfgs, k, false);
        torch.step(x, g);
        expect(relativeError(await problem.readX(), x), `iteration ${k}`).toBeLessThan(1e-6);
      }
      const scalars = await gpu.readFloat32(lbfgs.state.scalars);
      expect(scalars[LBFGS_SCALARS.hDiag]).toBe(1);
    } finally {
      lbfgs.dispose();
      problem.dispose();
    }
  });

  it('memoryBytes is (2m + 2) n 4 plus the scalar buffer and uniforms for L-BFGS, 2 n 4 plus state and uniform for Adam', () => {
    const n = 1000;
    const m = 7;
    const x = gpu.buffers.storage(n * 4, 'test x');
    const g = gpu.buffers.storage(n * 4, 'test g');
    try {
      gpu.buffers.trim(); // nothing reusable: every buffer an optimiser takes is new and shows in liveBytes
      let before = gpu.buffers.getStats().liveBytes;
      const lbfgs = new LbfgsOptimizer(gpu, x, g, n, { historySize: m });
      const sums = lbfgs.reduction.sums;
      expect(sums).toEqual(dotProductSums(n, gpu.parallelism)); // the runtime's choice
      // Header, one record per slot, three arrays of stored partial sums (one per invocation, or per workgroup of 64).
      const stored = sums.perWorkgroup ? sums.invocations / 64 : sums.invocations;
      const scalarFloats = 8 + 4 * m + 3 * stored;
      expect(LBFGS_PARAMS.byteSize).toBe(16);
      expect(SCALED_ADD_PARAMS.byteSize).toBe(16);
      expect(lbfgs.memoryBytes).toBe((2 * m + 2) * n * 4 + scalarFloats * 4 + m * 16 + 16);
      expect(lbfgs.memoryBytes).toBe(lbfgsMemoryBytes(n, m, sums));
      expect(gpu.buffers.getStats().liveBytes - before).toBe(lbfgs.memoryBytes);
      // Within the (2m + 4) n 4 bound once x and grad are counted, apart from O(m) scalars.
      expect(lbfgs.memoryBytes + 2 * n * 4 - (2 * m + 4) * n * 4).toBe(scalarFloats * 4 + m * 16 + 16);
      lbfgs.dispose();

      gpu.buffers.trim();
      before = gpu.buffers.getStats().liveBytes;
      const adam = new AdamOptimizer(gpu, x, g, n, { learningRate: 0.1 });
      expect(ADAM_PARAMS.byteSize).toBe(32); // 7 fields, rounded up to 16 bytes
      expect(adam.memoryBytes).toBe(2 * n * 4 + 8 * 4 + 32);
      expect(gpu.buffers.getStats().liveBytes - before).toBe(adam.memoryBytes);
      adam.dispose();
    } finally {
      gpu.buffers.release(x);
      gpu.buffers.release(g);
    }
  });

  it.each(['lbfgs', 'adam'] as const)('%s: 20 steps map no buffer and allocate nothing', async (name) => {
    const problem = new Quadratic(gpu, 1024, -1, 51);
    const optimizer: GpuOptimizer =
      name === 'lbfgs'
        ? new LbfgsOptimizer(gpu, problem.x, problem.g, problem.n, { historySize: 5 })
        : new AdamOptimizer(gpu, problem.x, problem.g, problem.n, { learningRate: 0.05 });
    try {
      problem.step(optimizer, 0);
      const mappings = gpu.mappings;
      const stats = gpu.buffers.getStats();
      for (let k = 1; k <= 20; k++) problem.step(optimizer, k);
      await gpu.device.queue.onSubmittedWorkDone();
      expect(gpu.mappings).toBe(mappings);
      const after = gpu.buffers.getStats();
      expect(after.live).toBe(stats.live);
      expect(after.created).toBe(stats.created);
      expect(after.liveBytes).toBe(stats.liveBytes);
      const x = await problem.readX();
      expect(x.every(Number.isFinite)).toBe(true);
    } finally {
      optimizer.dispose();
      problem.dispose();
    }
  });

  it('L-BFGS rejects non-consecutive iterations', () => {
    const x = gpu.buffers.storage(64 * 4);
    const g = gpu.buffers.storage(64 * 4);
    const lbfgs = new LbfgsOptimizer(gpu, x, g, 64, { historySize: 2 });
    try {
      const encoder = gpu.device.createCommandEncoder();
      lbfgs.encodeStep(encoder, 0);
      expect(() => lbfgs.encodeStep(encoder, 2)).toThrow(/consecutive/);
      encoder.finish();
    } finally {
      lbfgs.dispose();
      gpu.buffers.release(x);
      gpu.buffers.release(g);
    }
  });
});
