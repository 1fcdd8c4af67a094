/**
 * 2x2 stride-2 pooling (max or average), forward and backward. Odd sizes floor, as in PyTorch: the last row or
 * column of an odd-sized input belongs to no window and gets a zero gradient.
 *
 * Layout: HWC vec4 (see conv.ts), C/4 = `c4` groups; four channels per invocation.
 * - poolForward: one invocation per output vec4 (oy, ox, c4), id = (oy * outWidth + ox) * c4 + g.
 * - poolBackward: one invocation per *input* vec4 (gather form, no atomics: windows do not overlap). For max pooling
 *   the window's argmax is recomputed from the stored input with PyTorch's rule (scan order (0,0) (0,1) (1,0)
 *   (1,1), a later value wins only if strictly greater), and only that position receives the gradient. Optional
 *   `accumulate` (+= current) and `mask` (ReLU backward of the conv below: zero where the input <= 0).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { computeProgram, read, readWrite, uniform, uniformStruct, type StructValues } from '../src/gpu/program.js';
import { linearId, mainSignature } from './common.js';

export type PoolingKind = 'max' | 'avg';

export const POOL_PARAMS = uniformStruct('Params', { inWidth: 'u32', inHeight: 'u32', outWidth: 'u32', outHeight: 'u32', c4: 'u32', total: 'u32' });

export function poolForward(kind: PoolingKind, workgroupSize = 64) {
  const body = wgsl`
// 2x2 stride-2 ${kind} pool, forward.

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.total) { return; }
  let g = id % params.c4;
  let op = id / params.c4;
  let ox = op % params.outWidth;
  let oy = op / params.outWidth;
  let i00 = ((2u * oy) * params.inWidth + 2u * ox) * params.c4 + g;
  let i01 = i00 + params.c4;
  let i10 = i00 + params.inWidth * params.c4;
  let i11 = i10 + params.c4;
#if ${kind === 'max'}
  output[id] = max(max(input[i00], input[i01]), max(input[i10], input[i11]));
#else
  output[id] = (input[i00] + input[i01] + input[i10] + input[i11]) * 0.25;
#endif
}
`;
  return computeProgram({
    key: `pool_${kind}_fwd_wg${workgroupSize}`,
    label: `pool_${kind}_fwd`,
    workgroupSize,
    bindings: { params: uniform(POOL_PARAMS), input: read('array<vec4f>'), output: readWrite('array<vec4f>') },
    body,
  });
}

export interface PoolBackwardOptions {
  kind: PoolingKind;
  accumulate: boolean;
  mask: boolean;
  workgroupSize?: number;
}

/** Whether the backward variant reads the forward input (max pooling's argmax, or the ReLU mask). */
export const poolBackwardReadsInput = (o: Pick<PoolBackwardOptions, 'kind' | 'mask'>): boolean => o.kind === 'max' || o.mask;

/** Bindings: params, [poolInput] (the forward input, see poolBackwardReadsInput), gradOut, gradIn. */
export function poolBackward(o: PoolBackwardOptions) {
  const wg = o.workgroupSize ?? 64;
  const body = wgsl`
// 2x2 stride-2 ${o.kind} pool, backward (gather over input positions).

${mainSignature(wg)} {
  ${linearId(wg)}
  if (id >= params.total) { return; }
  let g = id % params.c4;
  let p = id / params.c4;
  let x = p % params.inWidth;
  let y = p / params.inWidth;
  let ox = x / 2u;
  let oy = y / 2u;
  var grad = vec4f(0.0);
  if (ox < params.outWidth && oy < params.outHeight) {
    let upstream = gradOut[(oy * params.outWidth + ox) * params.c4 + g];
#if ${o.kind === 'max'}
    let i00 = ((2u * oy) * params.inWidth + 2u * ox) * params.c4 + g;
    let i10 = i00 + params.inWidth * params.c4;
    let v1 = poolInput[i00 + params.c4];
    let v2 = poolInput[i10];
    let v3 = poolInput[i10 + params.c4];
    var best = poolInput[i00];
    var arg = vec4u(0u);
    let g1 = v1 > best; best = select(best, v1, g1); arg = select(arg, vec4u(1u), g1);
    let g2 = v2 > best; best = select(best, v2, g2); arg = select(arg, vec4u(2u), g2);
    let g3 = v3 > best; arg = select(arg, vec4u(3u), g3);
    let mine = vec4u((y % 2u) * 2u + (x % 2u));
    grad = select(vec4f(0.0), upstream, arg == mine);
#else
    grad = upstream * 0.25;
#endif
  }
#if ${o.accumulate}
  grad += gradIn[id];
#endif
#if ${o.mask}
  grad = select(vec4f(0.0), grad, poolInput[id] > vec4f(0.0));
#endif
  gradIn[id] = grad;
}
`;
  const flags = [o.accumulate && 'acc', o.mask && 'mask'].filter(Boolean).join('_');
  const name = `pool_${o.kind}_bwd${flags ? '_' + flags : ''}`;
  return computeProgram({
    key: `${name}_wg${wg}`,
    label: name,
    workgroupSize: wg,
    bindings: {
      params: uniform(POOL_PARAMS),
      poolInput: poolBackwardReadsInput(o) ? read('array<vec4f>') : undefined,
      gradOut: read('array<vec4f>'),
      gradIn: readWrite('array<vec4f>'),
    },
    body,
  });
}

/** Output size of a 2x2 stride-2 pool (floor). */
export function pooledSize(width: number, height: number): { width: number; height: number } {
  return { width: Math.floor(width / 2), height: Math.floor(height / 2) };
}

/** Packs the uniforms; `forward` selects the invocation count (outputs vs inputs). */
export function poolParams(inWidth: number, inHeight: number, c4: number, forward: boolean): { values: StructValues<typeof POOL_PARAMS.fields>; invocations: number } {
  const out = pooledSize(inWidth, inHeight);
  const total = forward ? out.width * out.height * c4 : inWidth * inHeight * c4;
  return { values: { inWidth, inHeight, outWidth: out.width, outHeight: out.height, c4, total }, invocations: total };
}
