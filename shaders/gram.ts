/**
 * Gram matrix G = X^T X / (C * P) of features X (P pixels x C channels, HWC vec4 layout).
 *
 * gramPartial: split-K over pixels. Invocation (split s, block bi, block bj) with bj >= bi accumulates the 4x4
 * block G[4bi..4bi+3][4bj..4bj+3] over its pixel range in four vec4 registers: per pixel two vec4 loads feed 16
 * FMAs. Only the upper block triangle is computed (G is symmetric); lower-triangle invocations return at once.
 * Partials: [splits][C][C] f32 as vec4 rows.
 * gramReduce: one invocation per entry (i, j) sums the splits, mirrors the lower triangle from the upper one and
 * applies 1/(C * P) (P: the whole image's pixels, also when a tile adds its share). Output: G as [C][C] f32, written
 * or (`accumulate`, tiled evaluation) added to.
 */
import { computeProgram, read, readWrite, uniform, uniformStruct, type StructValues } from '../src/gpu/program.js';
import { linearId, mainSignature } from './common.js';

export const GRAM_PARTIAL_PARAMS = uniformStruct('Params', { pixels: 'u32', c4: 'u32', splits: 'u32', pixelsPerSplit: 'u32', total: 'u32' });
export const GRAM_REDUCE_PARAMS = uniformStruct('Params', { channels: 'u32', splits: 'u32', total: 'u32', invNorm: 'f32' });

export function gramPartial(workgroupSize = 64) {
  const body = `
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.total) { return; }
  let n = params.c4;
  let bj = id % n;
  let bi = (id / n) % n;
  let s = id / (n * n);
  if (bj < bi) { return; }
  let start = s * params.pixelsPerSplit;
  let end = min(params.pixels, start + params.pixelsPerSplit);
  var r0 = vec4f(0.0); var r1 = vec4f(0.0); var r2 = vec4f(0.0); var r3 = vec4f(0.0);
  for (var p = start; p < end; p++) {
    let a = features[p * n + bi];
    let b = features[p * n + bj];
    r0 = fma(vec4f(a.x), b, r0);
    r1 = fma(vec4f(a.y), b, r1);
    r2 = fma(vec4f(a.z), b, r2);
    r3 = fma(vec4f(a.w), b, r3);
  }
  // Row (4 bi + r) of split s, vec4 column block bj; a row holds n vec4s.
  let base = (s * 4u * n + 4u * bi) * n + bj;
  partials[base] = r0;
  partials[base + n] = r1;
  partials[base + 2u * n] = r2;
  partials[base + 3u * n] = r3;
}
`;
  return computeProgram({
    key: `gram_partial_wg${workgroupSize}`,
    label: 'gram_partial',
    workgroupSize,
    bindings: { params: uniform(GRAM_PARTIAL_PARAMS), features: read('array<vec4f>'), partials: readWrite('array<vec4f>') },
    body,
  });
}

/** With `accumulate`, adds the normalised sum to the Gram already there (tiles adding their owned positions' share). */
export function gramReduce(workgroupSize = 64, accumulate = false) {
  const body = `
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.total) { return; }
  let c = params.channels;
  let i = id / c;
  let j = id % c;
  // Blocks below the diagonal were not computed: read the transposed entry.
  let upper = (i / 4u) <= (j / 4u);
  let src = select(j * c + i, i * c + j, upper);
  var sum = 0.0;
  for (var s = 0u; s < params.splits; s++) {
    sum += partials[s * c * c + src];
  }
  gram[id] = ${accumulate ? 'gram[id] + ' : ''}sum * params.invNorm;
}
`;
  return computeProgram({
    key: `gram_reduce${accumulate ? '_acc' : ''}_wg${workgroupSize}`,
    label: accumulate ? 'gram_reduce_acc' : 'gram_reduce',
    workgroupSize,
    bindings: { params: uniform(GRAM_REDUCE_PARAMS), partials: read('array<f32>'), gram: readWrite('array<f32>') },
    body,
  });
}

/**
 * How many pixel splits to use: about `targetInvocations` invocations (FILL_INVOCATIONS of the adapter's
 * parallelism, src/gpu/parallelism.ts), each split at least 64 pixels long to amortise its partial sums.
 */
export function gramSplits(pixels: number, channels: number, targetInvocations: number): number {
  const blocks = (channels / 4) * (channels / 4);
  const wanted = Math.ceil(targetInvocations / blocks);
  return Math.max(1, Math.min(wanted, Math.ceil(pixels / 64)));
}

export function gramPartialParams(pixels: number, channels: number, splits: number): { values: StructValues<typeof GRAM_PARTIAL_PARAMS.fields>; invocations: number } {
  const c4 = channels / 4;
  const total = splits * c4 * c4;
  return { values: { pixels, c4, splits, pixelsPerSplit: Math.ceil(pixels / splits), total }, invocations: total };
}

export function gramReduceParams(pixels: number, channels: number, splits: number): { values: StructValues<typeof GRAM_REDUCE_PARAMS.fields>; invocations: number } {
  return { values: { channels, splits, total: channels * channels, invNorm: 1 / (channels * pixels) }, invocations: channels * channels };
}
