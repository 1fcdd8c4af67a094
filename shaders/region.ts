/**
 * Style regions (guided Gram matrices, src/net/styleMask.ts): features scaled per pixel by a style's mask.
 *
 * - scalePixels: out[p][c] = in[p][c] * m[p] (or m[p]^2 with `squared`). With m the mask scaled so that the plain
 *   Gram of the result, (F m)(F m)^T / (C P), is the guided Gram (F*m)(F*m)^T / (C sum(m^2)); squared, the same
 *   scaling once more gives the guided Gram's gradient as the plain style gradient (a 1x1 conv with D) of F m^2.
 *
 * Layout: features HWC as array<vec4f> (index = pixel * c4 + g), the mask one f32 per pixel. One invocation per
 * vec4, no workgroup memory.
 */
import { computeProgram, read, readWrite, uniform, uniformStruct, type StructValues } from '../src/gpu/program.js';
import { linearId, mainSignature } from './common.js';

export const SCALE_PIXELS_PARAMS = uniformStruct('Params', { c4: 'u32', total: 'u32' });

/** Bindings: params {c4, total}, input (HWC vec4), mask (f32 per pixel), output (HWC vec4, same size). */
export function scalePixels(squared: boolean, workgroupSize = 64) {
  const body = `
// Features times the region mask${squared ? ' squared' : ''}, per pixel.
${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  if (id >= params.total) { return; }
  let m = mask[id / params.c4];
  output[id] = input[id] * ${squared ? 'm * m' : 'm'};
}
`;
  const name = `scale_pixels${squared ? '_squared' : ''}`;
  return computeProgram({
    key: `${name}_wg${workgroupSize}`,
    label: name,
    workgroupSize,
    bindings: { params: uniform(SCALE_PIXELS_PARAMS), input: read('array<vec4f>'), mask: read('array<f32>'), output: readWrite('array<vec4f>') },
    body,
  });
}

export function scalePixelsParams(pixels: number, channels: number): { values: StructValues<typeof SCALE_PIXELS_PARAMS.fields>; invocations: number } {
  const c4 = channels / 4;
  return { values: { c4, total: pixels * c4 }, invocations: pixels * c4 };
}
