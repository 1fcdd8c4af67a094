/**
 * The practical-peak reference: a register-blocked WGSL matmul C = A B (f32, row-major, M x K times K x N) in a
 * few tile variants, timed with GPU timestamps. The best variant's GFLOP/s is the "peak" the conv layers are
 * measured against: it is what this adapter sustains on a dense, regular kernel with the same structure as
 * shaders/conv.ts (no workgroup memory, each invocation accumulates a TM x 4TN block in registers, vec4 loads).
 *
 * Rows are padded by one vec4 (ROW_PAD_FLOATS) so power-of-two sizes do not put every row of B in the same cache
 * sets.
 *
 * Invocation layout: id -> (row block rb = id / colBlocks, column block cb = id % colBlocks); per k4 step it loads
 * TM vec4 of A (rows rb*TM + i, columns 4k4..4k4+3) and 4 x TN vec4 of B (rows 4k4 + r, column vec4s cb*TN + j),
 * then 16 TM TN FMAs on vec4 (one per a-component per accumulator), like the conv kernel's inner loop.
 */
import { linearId, mainSignature, unroll } from '../shaders/common.js';
import { computeProgram, read, readWrite, uniform, uniformStruct } from '../src/gpu/program.js';
import { PassList } from '../src/gpu/passes.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { uniformArray } from '../src/util/random.js';
import { median, repeat, type RepeatPolicy } from './stats.js';

export interface MatmulVariant {
  /** Rows of C per invocation. */
  rows: number;
  /** vec4 column groups of C per invocation (4 x cols columns). */
  cols: number;
  workgroupSize: number;
}

/** Tile variants tried; the best one is the peak. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  { rows: 4, cols: 1, workgroupSize: 64 },
  { rows: 4, cols: 2, workgroupSize: 64 },
  { rows: 2, cols: 4, workgroupSize: 64 },
  { rows: 4, cols: 4, workgroupSize: 64 },
  { rows: 8, cols: 2, workgroupSize: 64 },
  { rows: 8, cols: 4, workgroupSize: 64 },
];

const MATMUL_PARAMS = uniformStruct('Params', { m: 'u32', k4: 'u32', n4: 'u32', colBlocks: 'u32', total: 'u32', aStride: 'u32', bStride: 'u32', cStride: 'u32' });

export function matmulProgram(v: MatmulVariant) {
  const { rows: tm, cols: tn } = v;
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) pairs.push([i, j]);
  const body = `
// C = A B, ${tm} rows x ${4 * tn} columns of C per invocation, register-blocked, no workgroup memory.

${mainSignature(v.workgroupSize)} {
  ${linearId(v.workgroupSize)}
  if (id >= params.total) { return; }
  let cb = (id % params.colBlocks) * ${tn}u;
  let r0 = (id / params.colBlocks) * ${tm}u;
  let k4 = params.k4;
  let aStride = params.aStride;
  let bStride = params.bStride;
  let cStride = params.cStride;
${unroll(pairs.length, (p) => `  var acc${pairs[p][0]}_${pairs[p][1]} = vec4f(0.0);`)}
  for (var k = 0u; k < k4; k++) {
${unroll(tm, (i) => `    let a${i} = a[(r0 + ${i}u) * aStride + k];`)}
    let bRow = k * 4u * bStride + cb;
${unroll(4, (r) => unroll(tn, (j) => `    let b${r}_${j} = b[bRow + ${r}u * bStride + ${j}u];`))}
${unroll(pairs.length, (p) => {
  const [i, j] = pairs[p];
  return `    acc${i}_${j} = fma(vec4f(a${i}.x), b0_${j}, fma(vec4f(a${i}.y), b1_${j}, fma(vec4f(a${i}.z), b2_${j}, fma(vec4f(a${i}.w), b3_${j}, acc${i}_${j}))));`;
})}
  }
${unroll(pairs.length, (p) => {
  const [i, j] = pairs[p];
  return `  c[(r0 + ${i}u) * cStride + cb + ${j}u] = acc${i}_${j};`;
})}
}
`;
  const name = `matmul_r${tm}c${4 * tn}_wg${v.workgroupSize}`;
  return computeProgram({
    key: `bench_${name}`,
    label: name,
    workgroupSize: v.workgroupSize,
    bindings: { params: uniform(MATMUL_PARAMS), a: read('array<vec4f>'), b: read('array<vec4f>'), c: readWrite('array<vec4f>') },
    body,
  });
}

export interface MatmulResult {
  variant: string;
  tile: MatmulVariant;
  m: number;
  n: number;
  k: number;
  /** Fastest timed dispatch (a peak is the best the adapter does, and load only ever slows a run down). */
  ms: number;
  /** Median of the timed dispatches. */
  medianMs: number;
  runs: number;
  gflops: number;
  /** Largest |C - C_cpu| / (|A| |B| scale) over the sampled entries: a guard that the kernel is right. */
  maxError: number;
}

export interface MatmulPeak {
  /** The sizes (M = N = K) measured, in order. */
  sizes: number[];
  /** Every variant at every size. */
  variants: MatmulResult[];
  /** The fastest correct (variant, size). */
  best: MatmulResult;
  /**
   * Later measurements: the best variant right after the per-layer timing, and every variant at every size at the
   * end of the run (on a shared machine the load changes; a peak is the best the adapter did).
   */
  recheck?: MatmulResult[];
  /** The peak the conv layers are measured against: the best GFLOP/s of all the measurements. */
  peakGflops: number;
}

/** Folds later measurements into `peak`: appended to `recheck`, `best` and `peakGflops` updated. */
export function withRecheck(peak: MatmulPeak, again: MatmulResult[]): MatmulPeak {
  const valid = [peak.best, ...again.filter((r) => r.maxError < 1e-3)];
  const best = valid.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  return { ...peak, recheck: [...(peak.recheck ?? []), ...again], best, peakGflops: best.gflops };
}

/** With sizes 'auto': start here, double while the fastest dispatch takes under AUTO_GROW_MS, up to AUTO_MAX_SIZE. */
export const AUTO_START_SIZE = 256;
export const AUTO_GROW_MS = 20;
export const AUTO_MAX_SIZE = 4096;

/**
 * The peak: every variant at each size ('auto': 256, 512, ... doubling while a dispatch stays short, so a CPU
 * adapter stops where its caches still help and a discrete GPU goes on to sizes that fill it); the best correct
 * (variant, size) wins.
 */
export async function measureMatmulPeak(gpu: GpuRuntime, sizes: readonly number[] | 'auto', policy: RepeatPolicy): Promise<MatmulPeak> {
  const variants: MatmulResult[] = [];
  const measured: number[] = [];
  const queue = sizes === 'auto' ? [AUTO_START_SIZE] : [...sizes];
  while (queue.length) {
    const size = queue.shift()!;
    const results = await measureMatmul(gpu, size, policy);
    variants.push(...results);
    measured.push(size);
    if (sizes === 'auto' && size * 2 <= AUTO_MAX_SIZE && Math.min(...results.map((r) => r.ms)) < AUTO_GROW_MS) queue.push(size * 2);
  }
  const valid = variants.filter((r) => r.maxError < 1e-3);
  if (valid.length === 0) throw new Error(`every matmul variant gave wrong results (errors ${variants.map((r) => r.maxError.toExponential(1)).join(', ')})`);
  const best = valid.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  return { sizes: measured, variants, best, peakGflops: best.gflops };
}

/**
 * Times the variants (default: all) on size x size x size (size a multiple of 32): one untimed warm-up dispatch,
 * then timed dispatches as the policy allows; a variant's time is its fastest dispatch. Each variant's result is
 * checked against the CPU on 32 sampled entries (maxError; the peak only counts correct ones).
 */
export async function measureMatmul(
  gpu: GpuRuntime,
  size: number,
  policy: RepeatPolicy,
  variants: readonly MatmulVariant[] = MATMUL_VARIANTS,
  rowPad = ROW_PAD_FLOATS,
): Promise<MatmulResult[]> {
  if (size % 32 !== 0) throw new Error(`matmul size must be a multiple of 32, got ${size}`);
  const m = size;
  const n = size;
  const k = size;
  // Row strides padded past the power of two, so successive rows of B do not all map to the same cache sets.
  const lda = k + rowPad;
  const ldb = n + rowPad;
  const ldc = n + rowPad;
  const aHost = padRows(uniformArray(m * k, 11, -1, 1), m, k, lda);
  const bHost = padRows(uniformArray(k * n, 12, -1, 1), k, n, ldb);
  const a = gpu.upload(aHost, 'bench matmul A');
  const b = gpu.upload(bHost, 'bench matmul B');
  const c = gpu.buffers.storage(m * ldc * 4, 'bench matmul C');
  const owned = [a, b, c];
  const results: MatmulResult[] = [];
  try {
    for (const v of variants) {
      const program = matmulProgram(v);
      const colBlocks = n / 4 / v.cols;
      const total = (m / v.rows) * colBlocks;
      const params = { m, k4: k / 4, n4: n / 4, colBlocks, total, aStride: lda / 4, bStride: ldb / 4, cStride: ldc / 4 };
      const flops = 2 * m * n * k;
      const warm = new PassList(gpu);
      warm.add(program, { params, a, b, c }, total, flops);
      warm.submit();
      await gpu.device.queue.onSubmittedWorkDone();
      const maxError = await checkMatmul(gpu, c, aHost, bHost, { m, n, k, lda, ldb, ldc });
      const times = await repeat(policy, async () => (await warm.submitPerDispatch())[0].ms);
      warm.dispose();
      const ms = Math.min(...times);
      results.push({ variant: program.label, tile: v, m, n, k, ms, medianMs: median(times), runs: times.length, gflops: flops / (ms * 1e6), maxError });
    }
  } finally {
    for (const buffer of owned) gpu.buffers.release(buffer);
  }
  return results;
}

/** Floats of padding after each matrix row (one vec4). */
export const ROW_PAD_FLOATS = 4;

function padRows(data: Float32Array, rows: number, cols: number, stride: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(rows * stride);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols, (r + 1) * cols), r * stride);
  return out;
}

async function checkMatmul(
  gpu: GpuRuntime,
  c: GPUBuffer,
  aHost: Float32Array,
  bHost: Float32Array,
  d: { m: number; n: number; k: number; lda: number; ldb: number; ldc: number },
): Promise<number> {
  const got = await gpu.readFloat32(c, d.m * d.ldc);
  let worst = 0;
  for (let s = 0; s < 32; s++) {
    const row = (s * 7919) % d.m;
    const col = (s * 104729 + 13) % d.n;
    let sum = 0;
    for (let q = 0; q < d.k; q++) sum += aHost[row * d.lda + q] * bHost[q * d.ldb + col];
    // Entries are sums of k products of U(-1, 1) numbers: scale the error by sqrt(k).
    worst = Math.max(worst, Math.abs(got[row * d.ldc + col] - sum) / Math.sqrt(d.k));
  }
  return worst;
}
