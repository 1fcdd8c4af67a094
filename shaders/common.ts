/**
 * Pieces shared by every kernel family: the linear invocation index over a 2-D workgroup grid (see
 * src/gpu/program.ts workgroupGrid), a helper to unroll register blocks at generation time, and the two stages of
 * a reduction (partial sums stored per invocation or per workgroup; a one-workgroup kernel that adds them), whose
 * shape is chosen per adapter in src/gpu/parallelism.ts.
 */

/** WGSL lines defining `id`, the linear invocation index, inside `main`. */
export function linearId(workgroupSize: number): string {
  return `let id = gid.x + gid.y * groups.x * ${workgroupSize}u;`;
}

/** The `main` signature every kernel uses; `withLocalIndex` adds `lid`, the index within the workgroup. */
export function mainSignature(workgroupSize: number, withLocalIndex = false): string {
  const local = withLocalIndex ? ', @builtin(local_invocation_index) lid: u32' : '';
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u${local})`;
}

/** Concatenates `f(i)` for i in [0, n): WGSL has no compile-time loops, so register blocks are unrolled here. */
export function unroll(n: number, f: (i: number) => string, separator = '\n'): string {
  return Array.from({ length: n }, (_, i) => f(i)).join(separator);
}

/** Formats a number as a WGSL f32 literal. */
export function f32(x: number): string {
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Mean subtracted by the Caffe VGG convention, in B, G, R order. */
export const VGG_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/**
 * Finishing a two-stage reduction: up to SERIAL_PARTIALS partial sums are added by one invocation, in order
 * (where a workgroup barrier costs more than the adds, as on CPU adapters, which use 256 partials); more are split
 * over REDUCE_LANES lanes, each adding a strided share, and a workgroup tree adds the shares.
 */
export const SERIAL_PARTIALS = 256;
export const REDUCE_LANES = 256;

/** Workgroup size of the kernel that finishes a reduction of `partials` partial sums. */
export function reduceLanes(partials: number): number {
  return partials > SERIAL_PARTIALS ? REDUCE_LANES : 1;
}

/** The workgroup array `laneReduction` functions share (nothing for one lane). */
export function laneShares(lanes: number): string {
  return lanes > 1 ? `var<workgroup> shares: array<f32, ${lanes}>;` : '';
}

/**
 * WGSL `fn name(first: u32, lane: u32) -> f32`: `combine` over source[first .. first + count), every lane getting
 * the result (`count` is a WGSL expression). With one lane, in index order; with more, lane l takes indices
 * l, l + lanes, ... and a tree adds the lanes' results, so it must be called in uniform control flow.
 */
export function laneReduction(name: string, source: string, count: string, lanes: number, combine: (a: string, b: string) => string): string {
  const tree =
    lanes > 1
      ? `
  shares[lane] = acc;
${workgroupTree('shares', 'lane', lanes, combine)}
  acc = shares[0];
  workgroupBarrier();`
      : '';
  return `fn ${name}(first: u32, lane: u32) -> f32 {
  var acc = 0.0;
  for (var k = lane; k < ${count}; k += ${lanes}u) { acc = ${combine('acc', `${source}[first + k]`)}; }${tree}
  return acc;
}`;
}

/**
 * WGSL combining `array[0 .. size)` into `array[0]` by a workgroup tree over the invocation index `index` (size a
 * power of two, every invocation of the workgroup taking part: uniform control flow). Both reduction stages use it.
 */
function workgroupTree(array: string, index: string, size: number, combine: (a: string, b: string) => string): string {
  return `  workgroupBarrier();
  for (var w = ${size / 2}u; w > 0u; w = w / 2u) {
    if (${index} < w) { ${array}[${index}] = ${combine(`${array}[${index}]`, `${array}[${index} + w]`)}; }
    workgroupBarrier();
  }`;
}

/**
 * How a vector kernel makes the partial sums of a reduction (the first stage; `laneReduction` finishes them):
 * `invocations` invocations each add a strided share of the elements (invocation k: k, k + invocations, ...).
 * Then either every invocation stores its share (no barrier: a CPU adapter's choice), or, `perWorkgroup`, each
 * workgroup adds its invocations' shares in a tree and stores one sum (a GPU's choice: 64 times fewer sums for the
 * finishing kernel, which runs on one multiprocessor). perWorkgroup needs invocations to be a multiple of the
 * workgroup size, and the kernel must be dispatched exactly `invocations` invocations.
 */
export interface PartialSums {
  invocations: number;
  perWorkgroup: boolean;
}

/** Sums a kernel with workgroups of `workgroupSize` stores. */
export function storedSums(p: PartialSums, workgroupSize: number): number {
  if (p.perWorkgroup && p.invocations % workgroupSize !== 0) throw new Error(`${p.invocations} invocations are no multiple of the workgroup size ${workgroupSize}`);
  return p.perWorkgroup ? p.invocations / workgroupSize : p.invocations;
}

export const partialSumsKey = (p: PartialSums) => `p${p.invocations}${p.perWorkgroup ? 'w' : ''}`;

/**
 * The start of a partials kernel's `main`: the signature (with `lid` per workgroup), `id`, and per invocation the
 * guard that ends invocations past the count (none per workgroup: every invocation must reach the tree).
 */
export function partialsMain(p: PartialSums, workgroupSize: number): string {
  const guard = p.perWorkgroup ? '' : `\n  if (id >= ${p.invocations}u) { return; }`;
  return `${mainSignature(workgroupSize, p.perWorkgroup)} {
  ${linearId(workgroupSize)}${guard}`;
}

/** The workgroup array `storePartials` uses (nothing without perWorkgroup). */
export function partialShares(p: PartialSums, workgroupSize: number): string {
  return p.perWorkgroup ? `var<workgroup> partialShares: array<f32, ${workgroupSize}>;` : '';
}

/**
 * WGSL ending a partials kernel: each output's value (a WGSL expression, the invocation's share) stored at
 * `at(index)`, index = the invocation (`id`) or, perWorkgroup, the workgroup (`id / workgroupSize`) after a tree over
 * `lid` (needs mainSignature(.., true) and `partialShares`; every invocation must reach it: no early return).
 */
export function storePartials(
  outputs: ReadonlyArray<{ value: string; at: (index: string) => string; combine?: (a: string, b: string) => string }>,
  p: PartialSums,
  workgroupSize: number,
): string {
  if (!p.perWorkgroup) return outputs.map((o) => `  ${o.at('id')} = ${o.value};`).join('\n');
  return outputs
    .map(
      ({ value, at, combine = (a, b) => `${a} + ${b}` }) => `  partialShares[lid] = ${value};
${workgroupTree('partialShares', 'lid', workgroupSize, combine)}
  if (lid == 0u) { ${at(`id / ${workgroupSize}u`)} = partialShares[0]; }
  workgroupBarrier();`,
    )
    .join('\n');
}
