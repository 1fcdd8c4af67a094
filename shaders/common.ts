/**
 * Pieces shared by every kernel family: the linear invocation index over a 2-D workgroup grid (see
 * src/gpu/program.ts workgroupGrid) and a helper to unroll register blocks at generation time.
 */

/** WGSL lines defining `id`, the linear invocation index, inside `main`. */
export function linearId(workgroupSize: number): string {
  return `let id = gid.x + gid.y * groups.x * ${workgroupSize}u;`;
}

/** The `main` signature every kernel uses. */
export function mainSignature(workgroupSize: number): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u)`;
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
