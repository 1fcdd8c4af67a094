/**
 * Named bindings (src/gpu/program.ts): a kernel's bindings are declared once and bound by name. A wrong, missing
 * or extra binding, a wrong uniform field and a wrongly sized uniform buffer throw BindingError naming the program
 * and the binding; WGSL that disagrees with the declarations (a hand-written @binding, a declared binding the code
 * never uses) fails when its pipeline is made.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linearId, mainSignature } from '../shaders/common.js';
import { createDispatch, PassList, releaseDispatch } from '../src/gpu/passes.js';
import { BindingError, computeProgram, read, readWrite, uniform, uniformStruct, type BindingDeclarations } from '../src/gpu/program.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { testGpu } from './helpers/env.js';

const AXPY_PARAMS = uniformStruct('Params', { count: 'u32', scale: 'f32' });

const axpyBody = (extra = '') => `${extra}
${mainSignature(64)} {
  ${linearId(64)}
  if (id >= params.count) { return; }
  y[id] = params.scale * x[id] + y[id];
}
`;

/** y += scale x over count floats. Bindings: params {count, scale}, x, y. */
function axpy() {
  return computeProgram({
    key: 'test_program_axpy',
    label: 'test_axpy',
    workgroupSize: 64,
    bindings: { params: uniform(AXPY_PARAMS), x: read('array<f32>'), y: readWrite('array<f32>') },
    body: axpyBody(),
  });
}

let gpu: GpuRuntime;
let x: GPUBuffer;
let y: GPUBuffer;
const n = 100;
const xs = Float32Array.from({ length: n }, (_, i) => i - 40);
const ys = Float32Array.from({ length: n }, (_, i) => 0.5 * i);

beforeAll(async () => {
  gpu = await testGpu();
  x = gpu.upload(xs, 'test x');
  y = gpu.upload(ys, 'test y');
});

afterAll(() => {
  gpu.buffers.release(x);
  gpu.buffers.release(y);
});

/** Buffers in use (live ones not back in the pool's free list). */
function inUse(): number {
  const stats = gpu.buffers.getStats();
  return stats.live - stats.pooled;
}

/** Runs `f` and returns the BindingError it throws. */
function bindingError(f: () => unknown): BindingError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(BindingError);
    return error as BindingError;
  }
  throw new Error('expected a BindingError');
}

describe('named bindings', () => {
  it('generates the struct and one @binding line per declared binding, dense past a binding a variant lacks', () => {
    expect(AXPY_PARAMS.byteSize).toBe(16);
    expect(AXPY_PARAMS.wgsl).toBe('struct Params { count: u32, scale: f32 }');
    const code = axpy().code;
    expect(code).toContain('struct Params { count: u32, scale: f32 }');
    expect(code).toContain('@group(0) @binding(0) var<uniform> params: Params;');
    expect(code).toContain('@group(0) @binding(1) var<storage, read> x: array<f32>;');
    expect(code).toContain('@group(0) @binding(2) var<storage, read_write> y: array<f32>;');
    const variant = computeProgram({
      key: 'test_program_variant',
      label: 'test_variant',
      workgroupSize: 64,
      bindings: { params: uniform(AXPY_PARAMS), mask: undefined, x: read('array<f32>'), y: readWrite('array<f32>') },
      body: axpyBody(),
    });
    expect(variant.code).toContain('@group(0) @binding(1) var<storage, read> x: array<f32>;');
    expect(variant.code).toContain('@group(0) @binding(2) var<storage, read_write> y: array<f32>;');
    expect(variant.code).not.toContain('mask');
  });

  it('runs with the uniform given as field values or as a buffer of the struct size; dispose releases made uniforms', async () => {
    const before = inUse();
    const passes = new PassList(gpu);
    passes.add(axpy(), { params: { count: n, scale: 2 }, x, y }, n);
    expect(inUse()).toBe(before + 1);
    const params = gpu.uniform(new Uint8Array(AXPY_PARAMS.pack({ count: n, scale: -0.5 })), 'test axpy params');
    const dispatch = createDispatch(gpu, axpy(), { params, x, y }, n);
    expect(dispatch.uniforms).toEqual([]);
    passes.submit((encoder) => {
      const pass = encoder.beginComputePass();
      pass.setPipeline(dispatch.pipeline);
      pass.setBindGroup(0, dispatch.bindGroup);
      pass.dispatchWorkgroups(...dispatch.grid);
      pass.end();
    });
    const got = await gpu.readFloat32(y, n);
    passes.dispose();
    releaseDispatch(gpu, dispatch); // made no uniform: the buffer is the caller's
    expect(inUse()).toBe(before + 1);
    gpu.buffers.release(params);
    expect(inUse()).toBe(before);
    // y + 2x - 0.5x, each step exact in f32 for these values.
    expect(Array.from(got)).toEqual(Array.from(ys, (v, i) => v + 2 * xs[i] - 0.5 * xs[i]));
    gpu.device.queue.writeBuffer(y, 0, ys);
  });

  it('a binding of a wrong name throws, naming the program and the binding', () => {
    const passes = new PassList(gpu);
    // @ts-expect-error: 'output' is not a binding of test_axpy
    const error = bindingError(() => passes.add(axpy(), { params: { count: n, scale: 1 }, x, output: y }, n));
    expect(error.message).toBe("test_axpy: 'output' is not one of its bindings (params, x, y)");
  });

  it('an omitted binding throws, naming the program and the binding', () => {
    const passes = new PassList(gpu);
    // @ts-expect-error: y is not given
    const error = bindingError(() => passes.add(axpy(), { params: { count: n, scale: 1 }, x }, n));
    expect(error.message).toBe("test_axpy binding 'y' is not given (bindings: params, x, y)");
  });

  it('an unknown uniform field throws, naming the program, the binding and the field', () => {
    const passes = new PassList(gpu);
    // @ts-expect-error: offset is not a field of Params
    const error = bindingError(() => passes.add(axpy(), { params: { count: n, scale: 1, offset: 3 }, x, y }, n));
    expect(error.message).toBe("test_axpy binding 'params': 'offset' is not a field of Params (fields: count, scale)");
  });

  it('a missing uniform field throws, naming the program, the binding and the field', () => {
    const passes = new PassList(gpu);
    // @ts-expect-error: scale is missing
    const error = bindingError(() => passes.add(axpy(), { params: { count: n }, x, y }, n));
    expect(error.message).toBe("test_axpy binding 'params': field 'scale' (f32) is not given");
  });

  it('a non-integer (or negative) u32 field throws, naming the program, the binding and the field', () => {
    const passes = new PassList(gpu);
    const fraction = bindingError(() => passes.add(axpy(), { params: { count: 1.5, scale: 1 }, x, y }, n));
    expect(fraction.message).toBe("test_axpy binding 'params': field 'count' is u32 but got 1.5");
    const negative = bindingError(() => passes.add(axpy(), { params: { count: -1, scale: 1 }, x, y }, n));
    expect(negative.message).toBe("test_axpy binding 'params': field 'count' is u32 but got -1");
  });

  it('a uniform buffer of the wrong size throws, naming the program, the binding, the buffer and both sizes', () => {
    const wrong = gpu.uniform(new Uint8Array(32), 'test wrong params');
    try {
      const error = bindingError(() => createDispatch(gpu, axpy(), { params: wrong, x, y }, n));
      expect(error.message).toBe("test_axpy binding 'params': buffer 'test wrong params' is 32 bytes, struct Params is 16");
    } finally {
      gpu.buffers.release(wrong);
    }
  });

  it('nothing is created when a binding is wrong: no uniform buffer is left behind', () => {
    const before = inUse();
    const passes = new PassList(gpu);
    // A uniform made from values before the missing binding is found goes back too.
    // @ts-expect-error: y is not given
    bindingError(() => passes.add(axpy(), { params: { count: n, scale: 1 }, x }, n));
    bindingError(() => passes.add(axpy(), { params: { count: 0.5, scale: 1 }, x, y }, n));
    expect(passes.dispatches).toHaveLength(0);
    expect(inUse()).toBe(before);
  });
});

describe('WGSL that disagrees with the declarations fails at pipeline creation', () => {
  const program = <B extends BindingDeclarations>(key: string, bindings: B, body: string) => computeProgram({ key, label: key, workgroupSize: 64, bindings, body });

  it('an extra hand-written @binding', () => {
    const extra = program(
      'test_program_extra_binding',
      { params: uniform(AXPY_PARAMS), x: read('array<f32>'), y: readWrite('array<f32>') },
      axpyBody('@group(0) @binding(3) var<storage, read> z: array<f32>;'),
    );
    const compiled = gpu.pipelines.compiled;
    const error = bindingError(() => gpu.pipelines.get(extra));
    expect(error.message).toBe('test_program_extra_binding: the WGSL has 4 @binding declarations, the program declares 3 (params, x, y)');
    expect(gpu.pipelines.compiled).toBe(compiled);
    // Recording it fails the same way, and the uniform made for it goes back.
    const before = inUse();
    expect(() => new PassList(gpu).add(extra, { params: { count: n, scale: 1 }, x, y }, n)).toThrow(error.message);
    expect(inUse()).toBe(before);
  });

  it('a declared binding the WGSL never uses', () => {
    const unused = program(
      'test_program_unused_binding',
      { params: uniform(AXPY_PARAMS), x: read('array<f32>'), bias: read('array<f32>'), y: readWrite('array<f32>') },
      axpyBody(),
    );
    const compiled = gpu.pipelines.compiled;
    const error = bindingError(() => gpu.pipelines.get(unused));
    expect(error.message).toBe("test_program_unused_binding: binding 'bias' is declared but the WGSL never uses it");
    expect(gpu.pipelines.compiled).toBe(compiled);
  });
});
