/**
 * Every kernel's WGSL, read back by an independent WGSL parser (wgsl_reflect), declares exactly the bindings its
 * program describes (name, @binding index, kind, access) and lays out its uniform struct as the packer does, and
 * its entry point has the program's workgroup size. No GPU needed.
 */
import { describe, expect, it } from 'vitest';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { matmulProgram, MATMUL_VARIANTS } from '../bench/matmul.js';
import { conv3x3ImageForward, convProgram, imageGradientGather, reflectPadAdjoint, type ConvKernelOptions } from '../shaders/conv.js';
import { scalePixels } from '../shaders/region.js';
import { gramPartial, gramReduce } from '../shaders/gram.js';
import { contentGrad, l1Finalize, l1Partials, lossTotal, normalizedAccumulate, squaredDiffPartials, tvGrad, tvPartials } from '../shaders/loss.js';
import {
  adamStep,
  adamUpdate,
  lbfgsFirst,
  lbfgsLoop1,
  lbfgsLoop1Last,
  lbfgsLoop2,
  lbfgsLoop2Last,
  lbfgsProbe,
  lbfgsPush,
  lbfgsReduction,
  lbfgsScalar,
  scaledAdd,
} from '../shaders/optim.js';
import { deprocessImage, preprocessImage } from '../shaders/image.js';
import { poolBackward, poolForward } from '../shaders/pool.js';
import { previewToTexture } from '../shaders/preview.js';
import { addPlanar, cropPlanar, extractOwned, maskOutside, placeOwned } from '../shaders/tile.js';
import { winogradInputTransform, winogradOutputTransform } from '../shaders/winograd.js';
import { declaredBindings, type BindingDeclarations, type ComputeProgram } from '../src/gpu/program.js';

interface Described {
  label: string;
  code: string;
  bindings: BindingDeclarations;
  /** Invocations per workgroup. */
  invocations: number;
}

function convVariants(): ComputeProgram[] {
  const base: ConvKernelOptions = {
    taps: 9,
    pixelsPerThread: 2,
    channelGroupsPerThread: 2,
    inputPlanar3: false,
    outputPlanar3: false,
    biasRelu: true,
    accumulate: false,
    mask: false,
    workgroupSize: 64,
  };
  const variants: ConvKernelOptions[] = [
    base,
    { ...base, inputPlanar3: true, weightsF16: true },
    { ...base, biasRelu: false, mask: true, accumulate: true, channelBlockPerWorkgroup: true, reuseRowLoads: true },
    { ...base, biasRelu: false, outputPlanar3: true, channelGroupsPerThread: 1 },
    { ...base, taps: 1, biasRelu: false, winogradBatch: 'forward' },
    { ...base, taps: 1, biasRelu: false, winogradBatch: 'backward', weightsF16: true },
    { ...base, inputPlanar3: true, reflect: true },
    { ...base, reflect: true, reuseRowLoads: true, weightsF16: true },
  ];
  return variants.map((o) => convProgram(o));
}

function lossKernels(): ComputeProgram[] {
  const perInvocation = { invocations: 256, perWorkgroup: false };
  const perWorkgroup = { invocations: 4096, perWorkgroup: true };
  return [
    squaredDiffPartials(false, perInvocation),
    squaredDiffPartials(true, perWorkgroup),
    tvPartials(perWorkgroup),
    tvGrad(true),
    contentGrad(true, true),
    contentGrad(false, false),
    lossTotal(256),
    lossTotal(4096),
    l1Partials(perInvocation),
    l1Finalize(1024),
    normalizedAccumulate(true, true),
    normalizedAccumulate(false, false),
  ];
}

function optimizerKernels(): ComputeProgram[] {
  const lbfgs = [
    { invocations: 256, perWorkgroup: false },
    { invocations: 4096, perWorkgroup: true },
  ].flatMap((sums): ComputeProgram[] => {
    const r = lbfgsReduction(5, sums);
    return [
      lbfgsFirst(r),
      lbfgsPush(r),
      lbfgsLoop1(r),
      lbfgsLoop1Last(r),
      lbfgsLoop2(r),
      lbfgsProbe(r),
      ...(['first', 'probe', 'push', 'alpha', 'beta'] as const).map((op) => lbfgsScalar(op, r)),
    ];
  });
  return [...lbfgs, lbfgsLoop2Last(), scaledAdd(0), adamStep(), adamUpdate()];
}

const kernels: ComputeProgram[] = [
  ...convVariants(),
  conv3x3ImageForward({ channelGroupsPerLane: 2, pixelsPerWorkgroup: 16, cout4: 16 }),
  imageGradientGather(),
  conv3x3ImageForward({ channelGroupsPerLane: 2, pixelsPerWorkgroup: 16, cout4: 16, reflect: true }),
  imageGradientGather(64, true),
  reflectPadAdjoint({ outputPlanar3: false, mask: true }),
  reflectPadAdjoint({ outputPlanar3: false, mask: false, weightsF16: true }),
  reflectPadAdjoint({ outputPlanar3: true, mask: false }),
  scalePixels(false),
  scalePixels(true),
  winogradInputTransform(),
  winogradOutputTransform({ biasRelu: true, accumulate: false, mask: false }),
  winogradOutputTransform({ biasRelu: false, accumulate: true, mask: true }),
  winogradOutputTransform({ biasRelu: false, accumulate: false, mask: false }),
  poolForward('max'),
  poolForward('avg', 32),
  poolBackward({ kind: 'max', accumulate: true, mask: false }),
  poolBackward({ kind: 'avg', accumulate: false, mask: false }),
  poolBackward({ kind: 'avg', accumulate: false, mask: true }),
  gramPartial(),
  gramReduce(),
  gramReduce(64, true),
  cropPlanar(),
  addPlanar(),
  maskOutside(),
  extractOwned(),
  placeOwned(),
  preprocessImage(),
  deprocessImage(),
  matmulProgram(MATMUL_VARIANTS[0]),
  ...lossKernels(),
  ...optimizerKernels(),
];
const programs: Described[] = kernels.map((p) => ({ label: p.label, code: p.code, bindings: p.bindings, invocations: p.workgroupSize }));
const preview = previewToTexture();
programs.push({ label: preview.label, code: preview.code, bindings: preview.bindings, invocations: preview.tile * preview.tile });

describe('kernel declarations read back by wgsl_reflect', () => {
  it.each(programs.map((p) => [p.label, p] as const))('%s', (_, program) => {
    const reflected = new WgslReflect(program.code);
    const found = new Map<string, { binding: number; group: number; kind: string }>();
    for (const u of reflected.uniforms) found.set(u.name, { binding: u.binding, group: u.group, kind: 'uniform' });
    for (const s of reflected.storage) found.set(s.name, { binding: s.binding, group: s.group, kind: s.type.name.startsWith('texture_storage') ? 'storage_texture' : s.access });
    for (const t of reflected.textures) found.set(t.name, { binding: t.binding, group: t.group, kind: 'storage_texture' });
    const declared = declaredBindings(program.bindings);
    expect(found.size).toBe(declared.length);
    declared.forEach(([name, d], index) => {
      expect(found.get(name), `${program.label} ${name}`).toEqual({ binding: index, group: 0, kind: d.kind });
      if (d.kind !== 'uniform') return;
      const uniform = reflected.uniforms.find((u) => u.name === name)!;
      const fields = Object.entries(d.struct.fields);
      // The packer writes field i at byte 4 i; the struct fits in the packed size, which is rounded up to 16.
      expect(uniform.members?.map((m) => [m.name, m.offset, m.type.name])).toEqual(fields.map(([field, type], i) => [field, 4 * i, type]));
      expect(uniform.size).toBeLessThanOrEqual(d.struct.byteSize);
      expect(d.struct.byteSize - uniform.size).toBeLessThan(16);
    });
    const entry = reflected.entry.compute;
    expect(entry.map((e) => e.name)).toEqual(['main']);
    const size = entry[0].workgroupSize;
    expect(size ? size[0] * size[1] * size[2] : 0).toBe(program.invocations);
  });
});
