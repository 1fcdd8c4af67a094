/**
 * Every WGSL kernel against the float64 reference in test/reference/cpu.ts, on seeded random tensors with awkward
 * shapes: the planar 3-channel image, 7x5 (odd both ways), widths that are not a multiple of the pixel block,
 * channel counts with C/4 odd, 1x1 spatial after pooling, and several register tilings.
 *
 * Tolerances: relative L2 error < 1e-5 for f32 arithmetic against float64 (stated per test, some tighter);
 * exact equality where the f32 result is exact (pooling on quantized values, preprocess, deprocess, differences).
 * Also checks the generated WGSL (bindings, unrolled accumulators) and pipeline-cache keys.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  conv1x1,
  conv3x3BackwardInput,
  conv3x3Forward,
  conv3x3ImageForward,
  convDispatchSize,
  convParams,
  convProgram,
  IMAGE_GRADIENT_COLUMNS,
  imageGradientGather,
  type ConvKernelOptions,
} from '../shaders/conv.js';
import { gramPartial, gramPartialParams, gramReduce, gramReduceParams, gramSplits } from '../shaders/gram.js';
import { storedSums, type PartialSums } from '../shaders/common.js';
import { deprocessImage, preprocessImage } from '../shaders/image.js';
import { contentGrad, LOSS_HEADER, lossTotal, squaredDiffPartials, tvGrad, tvPartials } from '../shaders/loss.js';
import { poolBackward, poolBackwardReadsInput, poolForward, poolParams, type PoolingKind } from '../shaders/pool.js';
import { checkProgram, declaredBindings, type BindingDeclarations, type BindingValues, type ComputeProgram } from '../src/gpu/program.js';
import { PassList, type DispatchSize } from '../src/gpu/passes.js';
import { CPU_PARTIALS, FILL_INVOCATIONS } from '../src/gpu/parallelism.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { packBackwardKernel, packForwardKernel, packImageGradientMatrix, packWinogradKernel, pad4 } from '../src/net/weights.js';
import { winogradInputTransform, winogradOutputTransform, winogradParams } from '../shaders/winograd.js';
import { convAlgorithmFor, convInvocations, convTuningFor, defaultConvTuning, imageLayerTuning, winogradProductTiling } from '../src/net/tiling.js';
import { isWinogradLayer, winogradBands, winogradScratchBytes } from '../src/net/winograd.js';
import { VGG19, type ConvLayer } from '../src/net/vgg19.js';
import { roundToFloat16, toFloat16Array } from '../src/util/float16.js';
import { randomArray, relativeError, testGpu } from './helpers/env.js';
import * as ref from './reference/cpu.js';

/** Partial sums as a CPU adapter makes them (src/gpu/parallelism.ts). */
const cpuSums = { invocations: CPU_PARTIALS, perWorkgroup: false };

let gpu: GpuRuntime;
const errors: string[] = [];
const live: GPUBuffer[] = [];

beforeAll(async () => {
  gpu = await testGpu();
});

afterEach(() => {
  for (const b of live.splice(0)) gpu.buffers.release(b);
});

afterAll(() => {
  console.log(`kernel relative L2 errors (f32 GPU vs float64 reference):\n  ${errors.join('\n  ')}`);
});

/** Uint32Array and Uint16Array (packed f16) go up as they are; anything else as f32. */
function upload(data: ArrayLike<number> | Uint32Array | Uint16Array): GPUBuffer {
  const array = data instanceof Uint32Array || data instanceof Uint16Array ? data : Float32Array.from(data);
  const b = array.length ? gpu.upload(array) : gpu.buffers.storage(16);
  live.push(b);
  return b;
}

function zeros(count: number): GPUBuffer {
  return upload(new Float32Array(Math.max(4, count)));
}

/** Runs `program` once; the uniforms it made are released after the submission (the pool reuses them later). */
function run<B extends BindingDeclarations>(program: ComputeProgram<B>, bindings: BindingValues<B>, invocations: DispatchSize): void {
  const passes = new PassList(gpu);
  passes.add(program, bindings, invocations);
  passes.submit();
  passes.dispose();
}

async function read(buffer: GPUBuffer, count: number): Promise<Float32Array> {
  return gpu.readFloat32(buffer, count);
}

/** Seeded values k/4 in [-4, 4]: sums of a few of them are exact in f32, and ties are common. */
function quantized(n: number, seed: number, lo = -4, hi = 4): Float32Array {
  return randomArray(n, seed, lo, hi).map((v) => Math.round(v * 4) / 4);
}

function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) expect(actual[i], `${what}[${i}]`).toBe(expected[i]);
  }
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  const err = relativeError(actual, expected);
  errors.push(`${what}: ${err.toExponential(2)}`);
  expect(err, what).toBeLessThan(tolerance);
}

// ---------------------------------------------------------------------------------------------------------------

interface ConvCase {
  /** Channel block from workgroup_id.y (uniform weight loads). */
  wgco?: boolean;
  /** 3x3 row-segment reuse across the horizontal taps. */
  rows?: boolean;
  width: number;
  height: number;
  /** 3 = the planar image. */
  cin: number;
  cout: number;
  p: number;
  c: number;
  wg?: number;
}

const caseName = (k: ConvCase) => `${k.cin}->${k.cout} ${k.width}x${k.height} p${k.p} c${k.c}${k.wg ? ` wg${k.wg}` : ''}${k.wgco ? ' wgco' : ''}${k.rows ? ' rows' : ''}`;

/** The tiling of a case and its dispatch size. */
function tilingOf(k: ConvCase, cout4: number) {
  const tiling = { pixelsPerThread: k.p, channelGroupsPerThread: k.c, workgroupSize: k.wg ?? 64, channelBlockPerWorkgroup: k.wgco, reuseRowLoads: k.rows };
  return { tiling, size: convDispatchSize(tiling, k.width, k.height, cout4) };
}

describe('conv3x3Forward (rel L2 < 1e-5)', () => {
  const cases: ConvCase[] = [
    { width: 7, height: 5, cin: 3, cout: 12, p: 1, c: 1 },
    { width: 7, height: 5, cin: 3, cout: 12, p: 3, c: 1 },
    { width: 7, height: 5, cin: 3, cout: 8, p: 4, c: 2 },
    { width: 7, height: 5, cin: 12, cout: 20, p: 3, c: 1 },
    { width: 7, height: 5, cin: 20, cout: 8, p: 4, c: 2 },
    { width: 5, height: 7, cin: 12, cout: 24, p: 1, c: 2, wg: 32 },
    { width: 1, height: 1, cin: 4, cout: 12, p: 4, c: 1 },
    { width: 2, height: 3, cin: 8, cout: 4, p: 3, c: 1 },
    { width: 7, height: 5, cin: 3, cout: 16, p: 4, c: 2, wgco: true, rows: true },
    { width: 7, height: 5, cin: 12, cout: 24, p: 3, c: 3, wgco: true },
    { width: 9, height: 5, cin: 20, cout: 8, p: 8, c: 2, rows: true },
    { width: 1, height: 1, cin: 4, cout: 8, p: 2, c: 1, wgco: true, rows: true },
  ];
  it.each(cases.map((k) => [caseName(k), k] as const))('%s', async (_, k) => {
    const pixels = k.width * k.height;
    const planar = k.cin === 3;
    const input = randomArray(pixels * (planar ? 3 : k.cin), 11 + k.cin + k.cout);
    const hwio = randomArray(9 * k.cin * k.cout, 12 + k.cout, -0.5, 0.5);
    const bias = randomArray(k.cout, 13, -0.5, 0.5);
    const params = convParams(k.width, k.height, pad4(k.cin) / 4, k.cout / 4, k.p, k.c);
    const out = zeros(pixels * k.cout);
    const { tiling, size } = tilingOf(k, k.cout / 4);
    const program = conv3x3Forward({ ...tiling, inputPlanar3: planar });
    run(program, { params: params.values, input: upload(input), weights: upload(packForwardKernel(hwio, k.cin, k.cout)), bias: upload(bias), output: out }, size);
    const inputHwc = planar ? ref.planarToHwc(input, 3, k.height, k.width) : input;
    const expected = ref.conv3x3(inputHwc, k.height, k.width, k.cin, k.cout, hwio, bias, true);
    expectClose(await read(out, pixels * k.cout), expected, 1e-5, `conv forward ${caseName(k)}`);
  });
});

describe('conv3x3BackwardInput (rel L2 < 1e-5)', () => {
  // cin/cout are the forward layer's: the kernel maps gradOut [H][W][cout] to gradIn [H][W][pad4(cin)].
  const cases: Array<ConvCase & { accumulate: boolean; mask: boolean }> = [
    { width: 7, height: 5, cin: 12, cout: 20, p: 1, c: 1, accumulate: false, mask: false },
    { width: 7, height: 5, cin: 12, cout: 20, p: 3, c: 1, accumulate: true, mask: true },
    { width: 7, height: 5, cin: 20, cout: 12, p: 4, c: 1, accumulate: false, mask: true },
    { width: 7, height: 5, cin: 24, cout: 12, p: 4, c: 2, accumulate: true, mask: false },
    { width: 5, height: 7, cin: 8, cout: 20, p: 3, c: 2, accumulate: false, mask: true, wg: 32 },
    { width: 1, height: 1, cin: 8, cout: 4, p: 1, c: 2, accumulate: true, mask: true },
    // The image gradient: planar [3][H][W] output.
    { width: 7, height: 5, cin: 3, cout: 12, p: 1, c: 1, accumulate: false, mask: false },
    { width: 7, height: 5, cin: 3, cout: 8, p: 3, c: 1, accumulate: true, mask: false },
    { width: 5, height: 7, cin: 3, cout: 20, p: 4, c: 1, accumulate: true, mask: false },
    { width: 7, height: 5, cin: 16, cout: 12, p: 4, c: 2, accumulate: true, mask: true, wgco: true, rows: true },
    { width: 7, height: 5, cin: 3, cout: 8, p: 3, c: 1, accumulate: true, mask: false, wgco: true, rows: true },
  ];
  it.each(cases.map((k) => [`${caseName(k)}${k.accumulate ? ' acc' : ''}${k.mask ? ' mask' : ''}`, k] as const))('%s', async (name, k) => {
    const pixels = k.width * k.height;
    const planar = k.cin === 3;
    const cinPad = pad4(k.cin);
    const gradOut = randomArray(pixels * k.cout, 21 + k.cin);
    const hwio = randomArray(9 * k.cin * k.cout, 22 + k.cout, -0.5, 0.5);
    // Existing output contents (in the output's own layout) and the mask activation (HWC cinPad, with zeros).
    const existing = randomArray(pixels * cinPad, 23);
    const activation = quantized(pixels * cinPad, 24, -1, 2);
    const params = convParams(k.width, k.height, k.cout / 4, cinPad / 4, k.p, k.c);
    const out = upload(k.accumulate ? existing : new Float32Array(pixels * cinPad));
    const { tiling, size } = tilingOf(k, cinPad / 4);
    const program = conv3x3BackwardInput({
      ...tiling,
      outputPlanar3: planar,
      accumulate: k.accumulate,
      mask: k.mask,
    });
    const weights = upload(packBackwardKernel(hwio, k.cin, k.cout));
    const maskActivation = k.mask ? upload(activation) : undefined;
    run(program, { params: params.values, input: upload(gradOut), weights, maskActivation, output: out }, size);

    let expected: Float64Array;
    const gradIn = ref.conv3x3InputGrad(gradOut, k.height, k.width, k.cin, k.cout, hwio);
    if (planar) {
      expected = ref.hwcToPlanar(gradIn, 3, k.height, k.width);
      if (k.accumulate) expected = expected.map((v, i) => v + existing[i]);
      expectClose(await read(out, 3 * pixels), expected, 1e-5, `conv backward ${name}`);
      // The fourth plane's worth of the buffer (beyond 3 planes) is untouched.
      const tail = await read(out, pixels * cinPad);
      expectExact(tail.subarray(3 * pixels), k.accumulate ? existing.subarray(3 * pixels) : new Float32Array(pixels), 'beyond the planes');
    } else {
      expected = ref.padChannels(gradIn, pixels, k.cin, cinPad);
      if (k.accumulate) expected = expected.map((v, i) => v + existing[i]);
      if (k.mask) expected = ref.reluMask(expected, activation);
      expectClose(await read(out, pixels * cinPad), expected, 1e-5, `conv backward ${name}`);
    }
  });
});

describe('conv with f16 weight storage (shader-f16): exact to f32 against the f16-rounded weights', () => {
  // The kernel widens each f16 weight to f32, so against a float64 reference fed the same rounded weights it is as
  // close as the f32 kernel; against the unrounded weights it is off by the rounding (about 2^-12 relative).
  const cases: ConvCase[] = [
    { width: 7, height: 5, cin: 12, cout: 20, p: 3, c: 1 },
    { width: 7, height: 5, cin: 16, cout: 24, p: 4, c: 2, wgco: true, rows: true },
  ];
  it.for(cases.map((k) => [caseName(k), k] as const))('forward %s', async ([, k], ctx) => {
    if (!gpu.context.f16) ctx.skip();
    const pixels = k.width * k.height;
    const input = randomArray(pixels * k.cin, 31 + k.cin);
    const hwio = randomArray(9 * k.cin * k.cout, 32 + k.cout, -0.5, 0.5);
    const bias = randomArray(k.cout, 33, -0.5, 0.5);
    const params = convParams(k.width, k.height, k.cin / 4, k.cout / 4, k.p, k.c);
    const out = zeros(pixels * k.cout);
    const { tiling, size } = tilingOf(k, k.cout / 4);
    const weights = upload(toFloat16Array(packForwardKernel(hwio, k.cin, k.cout)));
    run(conv3x3Forward({ ...tiling, weightsF16: true }), { params: params.values, input: upload(input), weights, bias: upload(bias), output: out }, size);
    const got = await read(out, pixels * k.cout);
    expectClose(got, ref.conv3x3(input, k.height, k.width, k.cin, k.cout, roundToFloat16(hwio), bias, true), 1e-5, `conv forward f16 weights ${caseName(k)}`);
    const unrounded = relativeError(got, ref.conv3x3(input, k.height, k.width, k.cin, k.cout, hwio, bias, true));
    expect(unrounded).toBeGreaterThan(1e-5);
    expect(unrounded).toBeLessThan(2e-3);
  });
  it.for(cases.map((k) => [caseName(k), k] as const))('backward with mask %s', async ([, k], ctx) => {
    if (!gpu.context.f16) ctx.skip();
    const pixels = k.width * k.height;
    const gradOut = randomArray(pixels * k.cout, 41 + k.cin);
    const hwio = randomArray(9 * k.cin * k.cout, 42 + k.cout, -0.5, 0.5);
    const activation = quantized(pixels * k.cin, 44, -1, 2);
    const params = convParams(k.width, k.height, k.cout / 4, k.cin / 4, k.p, k.c);
    const out = zeros(pixels * k.cin);
    const { tiling, size } = tilingOf(k, k.cin / 4);
    const program = conv3x3BackwardInput({ ...tiling, accumulate: false, mask: true, weightsF16: true });
    const weights = upload(toFloat16Array(packBackwardKernel(hwio, k.cin, k.cout)));
    run(program, { params: params.values, input: upload(gradOut), weights, maskActivation: upload(activation), output: out }, size);
    const expected = ref.reluMask(ref.conv3x3InputGrad(gradOut, k.height, k.width, k.cin, k.cout, roundToFloat16(hwio)), activation);
    expectClose(await read(out, pixels * k.cin), expected, 1e-5, `conv backward f16 weights ${caseName(k)}`);
  });
});

describe('the image layer: conv3x3ImageForward and the two-pass image gradient (rel L2 < 1e-5)', () => {
  const shapes = [
    { width: 7, height: 5, cout: 8 },
    { width: 33, height: 3, cout: 16 },
    { width: 1, height: 1, cout: 12 },
    { width: 16, height: 17, cout: 64 },
  ];
  const forwardTilings = [
    { channelGroupsPerLane: 1, pixelsPerWorkgroup: 1 },
    { channelGroupsPerLane: 2, pixelsPerWorkgroup: 16 },
    { channelGroupsPerLane: 1, pixelsPerWorkgroup: 5 },
  ];
  for (const t of forwardTilings) {
    it.each(shapes.filter((s) => (s.cout / 4) % t.channelGroupsPerLane === 0).map((s) => [`${s.width}x${s.height} 3->${s.cout}`, s] as const))(
      `forward c${t.channelGroupsPerLane * 4} p${t.pixelsPerWorkgroup} %s`,
      async (_, s) => {
        const pixels = s.width * s.height;
        const image = randomArray(3 * pixels, 31 + s.cout, -100, 100);
        const hwio = randomArray(27 * s.cout, 32, -0.5, 0.5);
        const bias = randomArray(s.cout, 33, -20, 20);
        const out = zeros(pixels * s.cout);
        const program = conv3x3ImageForward({ ...t, cout4: s.cout / 4 });
        const bindings = {
          params: { width: s.width, height: s.height, cout4: s.cout / 4 },
          image: upload(image),
          weights: upload(packForwardKernel(hwio, 3, s.cout)),
          bias: upload(bias),
          output: out,
        };
        run(program, bindings, { grid: [Math.ceil(s.width / t.pixelsPerWorkgroup), s.height] });
        const expected = ref.conv3x3(ref.planarToHwc(image, 3, s.height, s.width), s.height, s.width, 3, s.cout, hwio, bias, true);
        expectClose(await read(out, pixels * s.cout), expected, 1e-5, 'image forward');
      },
    );
  }

  it.each(shapes.map((s) => [`${s.width}x${s.height} ${s.cout}->3`, s] as const))('gradient (1x1 to tap columns + gather) %s', async (_, s) => {
    const pixels = s.width * s.height;
    const gradOut = randomArray(pixels * s.cout, 41 + s.cout);
    const hwio = randomArray(27 * s.cout, 42, -0.5, 0.5);
    const tiling = imageLayerTuning.gradient(s.width, s.height);
    const cout4 = IMAGE_GRADIENT_COLUMNS / 4;
    const columns = zeros(pixels * IMAGE_GRADIENT_COLUMNS);
    const out = upload(randomArray(3 * pixels, 43));
    const params = convParams(s.width, s.height, s.cout / 4, cout4, tiling.pixelsPerThread, tiling.channelGroupsPerThread);
    const passes = new PassList(gpu);
    const weights = upload(packImageGradientMatrix(hwio, s.cout));
    passes.add(
      conv1x1({ ...tiling, accumulate: false, mask: false }),
      { params: params.values, input: upload(gradOut), weights, output: columns },
      convDispatchSize(tiling, s.width, s.height, cout4),
    );
    passes.add(imageGradientGather(), { params: { width: s.width, height: s.height }, columns, output: out }, pixels);
    passes.submit();
    passes.dispose();
    const expected = ref.hwcToPlanar(ref.conv3x3InputGrad(gradOut, s.height, s.width, 3, s.cout, hwio), 3, s.height, s.width);
    expectClose(await read(out, 3 * pixels), expected, 1e-5, 'image gradient');
  });
});

// Winograd F(2x2, 3x3): input transform, the batched product (conv1x1 with winogradBatch), output transform, run
// per band of tiles as network.ts does, against the float64 direct convolution and its input gradient.
describe('Winograd F(2x2,3x3) conv, forward and input gradient (rel L2 < 1e-5)', () => {
  interface WinogradCase {
    width: number;
    height: number;
    cin: number;
    cout: number;
    /** Tiles per band (the last band takes the rest). */
    bandTiles: number;
    p: number;
    c: number;
    wgco: boolean;
    accumulate?: boolean;
    mask?: boolean;
    f16?: boolean;
  }
  const cases: WinogradCase[] = [
    { width: 8, height: 6, cin: 8, cout: 12, bandTiles: 12, p: 8, c: 1, wgco: true },
    // Odd sides: the last tile row and column hang over the image (zero input, outputs not stored).
    { width: 7, height: 5, cin: 8, cout: 24, bandTiles: 12, p: 4, c: 2, wgco: false, accumulate: true, mask: true },
    // Several bands, the last one short; one pixel.
    { width: 9, height: 7, cin: 16, cout: 32, bandTiles: 7, p: 3, c: 4, wgco: true, mask: true },
    { width: 9, height: 7, cin: 16, cout: 8, bandTiles: 5, p: 8, c: 2, wgco: false, accumulate: true },
    { width: 1, height: 1, cin: 4, cout: 4, bandTiles: 1, p: 8, c: 1, wgco: false, mask: true },
    { width: 6, height: 4, cin: 8, cout: 8, bandTiles: 6, p: 2, c: 2, wgco: false, f16: true },
  ];
  const name = (k: WinogradCase) =>
    `${k.cin}->${k.cout} ${k.width}x${k.height}, ${k.bandTiles} tiles per band, p${k.p} c${k.c}${k.wgco ? ' wgco' : ''}${k.accumulate ? ' acc' : ''}${k.mask ? ' mask' : ''}${k.f16 ? ' f16' : ''}`;

  /** Runs one Winograd conv from `source` (C_in channels) into `target` (C_out), as network.ts records it. */
  function runWinograd(
    k: WinogradCase,
    role: 'forward' | 'backward',
    source: GPUBuffer,
    weights: GPUBuffer,
    epilogue: { bias?: GPUBuffer; maskActivation?: GPUBuffer },
    target: GPUBuffer,
  ) {
    const cin4 = (role === 'forward' ? k.cin : k.cout) / 4;
    const cout4 = (role === 'forward' ? k.cout : k.cin) / 4;
    const tiles = Math.ceil(k.width / 2) * Math.ceil(k.height / 2);
    const transformed = zeros(16 * k.bandTiles * cin4 * 4);
    const products = zeros(16 * k.bandTiles * cout4 * 4);
    const output = winogradOutputTransform(
      role === 'forward' ? { biasRelu: true, accumulate: false, mask: false } : { biasRelu: false, accumulate: !!k.accumulate, mask: !!k.mask },
    );
    for (let start = 0; start < tiles; start += k.bandTiles) {
      const band = Math.min(k.bandTiles, tiles - start);
      const inParams = winogradParams(k.width, k.height, cin4, start, band);
      run(winogradInputTransform(), { params: inParams.values, input: source, transformed }, inParams.invocations);
      const tiling = { pixelsPerThread: k.p, channelGroupsPerThread: k.c, workgroupSize: 64, channelBlockPerWorkgroup: k.wgco, winogradBatch: role };
      const params = convParams(band, 16, cin4, cout4, k.p, k.c);
      run(
        conv1x1({ ...tiling, accumulate: false, mask: false, weightsF16: k.f16 }),
        { params: params.values, input: transformed, weights, output: products },
        convDispatchSize(tiling, band, 16, cout4),
      );
      const outParams = winogradParams(k.width, k.height, cout4, start, band);
      run(output, { params: outParams.values, products, ...epilogue, output: target }, outParams.invocations);
    }
  }

  it.each(cases.map((k) => [name(k), k] as const))('%s', async (label, k) => {
    if (k.f16 && !gpu.context.f16) {
      console.warn(`${label}: not run, the adapter has no shader-f16`);
      return;
    }
    const pixels = k.width * k.height;
    const hwio = randomArray(9 * k.cin * k.cout, 31 + k.cout, -0.5, 0.5);
    const transformed = packWinogradKernel(hwio, k.cin, k.cout);
    const weights = upload(k.f16 ? toFloat16Array(transformed) : transformed);
    const input = randomArray(pixels * k.cin, 32 + k.cin);
    const bias = randomArray(k.cout, 33, -0.5, 0.5);
    const forwardOut = zeros(pixels * k.cout);
    runWinograd(k, 'forward', upload(input), weights, { bias: upload(bias) }, forwardOut);

    const gradOut = randomArray(pixels * k.cout, 34);
    const existing = randomArray(pixels * k.cin, 35);
    const activation = quantized(pixels * k.cin, 36, -1, 2);
    const gradIn = upload(k.accumulate ? existing : new Float32Array(pixels * k.cin));
    runWinograd(k, 'backward', upload(gradOut), weights, { maskActivation: k.mask ? upload(activation) : undefined }, gradIn);

    // f16 storage rounds the transformed kernel (2^-11 relative), which the float64 reference does not: a looser bound.
    const tolerance = k.f16 ? 2e-3 : 1e-5;
    const expected = ref.conv3x3(input, k.height, k.width, k.cin, k.cout, hwio, bias, true);
    expectClose(await read(forwardOut, pixels * k.cout), expected, tolerance, `winograd forward ${label}`);
    let expectedGrad = ref.conv3x3InputGrad(gradOut, k.height, k.width, k.cin, k.cout, hwio);
    if (k.accumulate) expectedGrad = expectedGrad.map((v, i) => v + existing[i]);
    if (k.mask) expectedGrad = ref.reluMask(expectedGrad, activation);
    expectClose(await read(gradIn, pixels * k.cin), expectedGrad, tolerance, `winograd input gradient ${label}`);
  });

  it('the kernel transform U = G g G^T, in float64 then rounded once', () => {
    const cin = 4;
    const cout = 4;
    const hwio = randomArray(9 * cin * cout, 37);
    const u = packWinogradKernel(hwio, cin, cout);
    const G = [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ];
    for (let ci = 0; ci < cin; ci++) {
      for (let co = 0; co < cout; co++) {
        for (let i = 0; i < 4; i++) {
          for (let j = 0; j < 4; j++) {
            let sum = 0;
            for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) sum += G[i][a] * hwio[((3 * a + b) * cin + ci) * cout + co] * G[j][b];
            expect(u[((4 * i + j) * cin + ci) * cout + co]).toBeCloseTo(Math.fround(sum), 6);
          }
        }
      }
    }
    expect(() => packWinogradKernel(randomArray(27 * 4, 1), 3, 4)).toThrow(/input channels in fours/);
  });
});

describe('conv1x1 with scale (rel L2 < 1e-5)', () => {
  const cases: Array<ConvCase & { accumulate: boolean; mask: boolean; scale: number }> = [
    { width: 7, height: 5, cin: 12, cout: 20, p: 3, c: 1, accumulate: false, mask: false, scale: 0.37 },
    { width: 7, height: 5, cin: 8, cout: 8, p: 4, c: 2, accumulate: true, mask: true, scale: -2.5e-3 },
    { width: 5, height: 7, cin: 20, cout: 8, p: 1, c: 2, accumulate: false, mask: true, scale: 3 },
    { width: 1, height: 1, cin: 12, cout: 12, p: 4, c: 1, accumulate: true, mask: false, scale: 1.5 },
    { width: 7, height: 5, cin: 8, cout: 16, p: 4, c: 2, accumulate: true, mask: true, scale: 0.5, wgco: true },
  ];
  it.each(cases.map((k) => [`${caseName(k)}${k.accumulate ? ' acc' : ''}${k.mask ? ' mask' : ''} scale ${k.scale}`, k] as const))('%s', async (name, k) => {
    const pixels = k.width * k.height;
    const input = randomArray(pixels * k.cin, 31 + k.cin);
    const matrix = randomArray(k.cin * k.cout, 32 + k.cout);
    const existing = randomArray(pixels * k.cout, 33);
    const activation = quantized(pixels * k.cout, 34, -1, 2);
    const params = convParams(k.width, k.height, k.cin / 4, k.cout / 4, k.p, k.c, k.scale);
    const out = upload(k.accumulate ? existing : new Float32Array(pixels * k.cout));
    const { tiling, size } = tilingOf(k, k.cout / 4);
    const program = conv1x1({ ...tiling, accumulate: k.accumulate, mask: k.mask });
    const maskActivation = k.mask ? upload(activation) : undefined;
    run(program, { params: params.values, input: upload(input), weights: upload(matrix), maskActivation, output: out }, size);
    let expected = ref.conv1x1(input, pixels, k.cin, k.cout, matrix, Math.fround(k.scale));
    if (k.accumulate) expected = expected.map((v, i) => v + existing[i]);
    if (k.mask) expected = ref.reluMask(expected, activation);
    expectClose(await read(out, pixels * k.cout), expected, 1e-5, `conv1x1 ${name}`);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('2x2 pooling (exact on quantized values with ties)', () => {
  const shapes = [
    { width: 7, height: 5, channels: 12 },
    { width: 3, height: 2, channels: 20 },
    { width: 2, height: 3, channels: 8 },
    { width: 4, height: 4, channels: 4 },
  ];

  /** Quantized input (ReLU-like when `relu`) with planted ties: an all-zero window and windows with equal maxima. */
  function poolInput(width: number, height: number, channels: number, seed: number, relu: boolean): Float32Array {
    const data = quantized(width * height * channels, seed, relu ? -2 : -4, 4).map((v) => (relu ? Math.max(v, 0) : v));
    const at = (y: number, x: number, c: number) => (y * width + x) * channels + c;
    for (let c = 0; c < channels; c++) {
      // Window (0,0): all zero for c % 3 == 0; the maximum tied between (0,1) and (1,0) for c % 3 == 1; all equal else.
      const v = c % 3 === 0 ? [0, 0, 0, 0] : c % 3 === 1 ? [1, 3, 3, 2] : [2.5, 2.5, 2.5, 2.5];
      data[at(0, 0, c)] = v[0];
      data[at(0, 1, c)] = v[1];
      data[at(1, 0, c)] = v[2];
      data[at(1, 1, c)] = v[3];
    }
    return data;
  }

  for (const kind of ['max', 'avg'] as PoolingKind[]) {
    it.each(shapes.map((s) => [`${s.width}x${s.height}x${s.channels}`, s] as const))(`${kind} forward %s`, async (_, s) => {
      const input = poolInput(s.width, s.height, s.channels, 41 + s.channels, false);
      const params = poolParams(s.width, s.height, s.channels / 4, true);
      const outCount = Math.floor(s.width / 2) * Math.floor(s.height / 2) * s.channels;
      const out = upload(new Float32Array(outCount).fill(-99));
      run(poolForward(kind), { params: params.values, input: upload(input), output: out }, params.invocations);
      expectExact(await read(out, outCount), ref.pool2x2(kind, input, s.height, s.width, s.channels), `${kind} pool forward`);
    });

    for (const accumulate of [false, true]) {
      for (const mask of [false, true]) {
        const flags = `${accumulate ? ' acc' : ''}${mask ? ' mask' : ''}`;
        it.each(shapes.map((s) => [`${s.width}x${s.height}x${s.channels}`, s] as const))(`${kind} backward${flags} %s`, async (_, s) => {
          const count = s.width * s.height * s.channels;
          const input = poolInput(s.width, s.height, s.channels, 51 + s.channels, mask);
          const outCount = Math.floor(s.width / 2) * Math.floor(s.height / 2) * s.channels;
          const gradOut = quantized(outCount, 52);
          const existing = quantized(count, 53);
          const params = poolParams(s.width, s.height, s.channels / 4, false);
          const out = upload(accumulate ? existing : new Float32Array(count).fill(-99));
          const variant = { kind, accumulate, mask };
          const readsInput = poolBackwardReadsInput(variant) ? upload(input) : undefined;
          run(poolBackward(variant), { params: params.values, poolInput: readsInput, gradOut: upload(gradOut), gradIn: out }, params.invocations);
          let expected = ref.pool2x2Backward(kind, input, s.height, s.width, s.channels, gradOut);
          if (accumulate) expected = expected.map((v, i) => v + existing[i]);
          if (mask) expected = ref.reluMask(expected, input);
          expectExact(await read(out, count), expected, `${kind} pool backward${flags}`);
        });
      }
    }
  }

  it('max backward follows the first-maximum rule on planted ties', () => {
    // The reference itself: window [1, 3, 3, 2] routes to (0,1); [2.5 x 4] to (0,0); all-zero to (0,0).
    const input = new Float64Array([1, 3, 3, 2]); // 2x2, 1 channel, HWC
    expect(Array.from(ref.pool2x2Backward('max', input, 2, 2, 1, [1]))).toEqual([0, 1, 0, 0]);
    expect(Array.from(ref.pool2x2Backward('max', [2.5, 2.5, 2.5, 2.5], 2, 2, 1, [1]))).toEqual([1, 0, 0, 0]);
    expect(Array.from(ref.pool2x2Backward('max', [0, 0, 0, 0], 2, 2, 1, [1]))).toEqual([1, 0, 0, 0]);
    expect(Array.from(ref.pool2x2Backward('max', [0, 0, 0, 1e-30], 2, 2, 1, [1]))).toEqual([0, 0, 0, 1]);
  });

  it('max forward and backward on random (unquantized) values: exact', async () => {
    const s = { width: 7, height: 5, channels: 20 };
    const count = s.width * s.height * s.channels;
    const input = randomArray(count, 61);
    const outCount = 3 * 2 * s.channels;
    const gradOut = randomArray(outCount, 62);
    const fwd = poolParams(s.width, s.height, s.channels / 4, true);
    const bwd = poolParams(s.width, s.height, s.channels / 4, false);
    const out = zeros(outCount);
    const gradIn = zeros(count);
    const inBuf = upload(input);
    const passes = new PassList(gpu);
    passes.add(poolForward('max'), { params: fwd.values, input: inBuf, output: out }, fwd.invocations);
    passes.add(poolBackward({ kind: 'max', accumulate: false, mask: false }), { params: bwd.values, poolInput: inBuf, gradOut: upload(gradOut), gradIn }, bwd.invocations);
    passes.submit();
    passes.dispose();
    expectExact(await read(out, outCount), ref.pool2x2('max', input, s.height, s.width, s.channels), 'max forward');
    expectExact(await read(gradIn, count), ref.pool2x2Backward('max', input, s.height, s.width, s.channels, gradOut), 'max backward');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('gram (split-K partials + reduce, rel L2 < 1e-5)', () => {
  const cases = [
    { width: 40, height: 30, channels: 8, splits: undefined as number | undefined },
    { width: 7, height: 5, channels: 12, splits: undefined },
    { width: 7, height: 5, channels: 12, splits: 4 },
    { width: 13, height: 11, channels: 20, splits: undefined },
    { width: 9, height: 7, channels: 20, splits: 7 },
    { width: 1, height: 1, channels: 4, splits: undefined },
  ];
  it('gramSplits gives more than one split for the large case', () => {
    expect(gramSplits(40 * 30, 8, FILL_INVOCATIONS.cpu)).toBeGreaterThan(1);
    expect(gramSplits(13 * 11, 20, FILL_INVOCATIONS.cpu)).toBeGreaterThan(1);
    expect(gramSplits(7 * 5, 12, FILL_INVOCATIONS.cpu)).toBe(1);
  });
  it.each(
    cases.map((k) => [`${k.width}x${k.height}x${k.channels} splits ${k.splits ?? `auto (${gramSplits(k.width * k.height, k.channels, FILL_INVOCATIONS.cpu)})`}`, k] as const),
  )('%s', async (name, k) => {
    const pixels = k.width * k.height;
    const splits = k.splits ?? gramSplits(pixels, k.channels, FILL_INVOCATIONS.cpu);
    const features = randomArray(pixels * k.channels, 71 + k.channels, -1, 3);
    const partial = gramPartialParams(pixels, k.channels, splits);
    const reduce = gramReduceParams(pixels, k.channels, splits);
    const scratch = upload(new Float32Array(splits * k.channels * k.channels).fill(NaN));
    const out = zeros(k.channels * k.channels);
    const passes = new PassList(gpu);
    passes.add(gramPartial(), { params: partial.values, features: upload(features), partials: scratch }, partial.invocations);
    passes.add(gramReduce(), { params: reduce.values, partials: scratch, gram: out }, reduce.invocations);
    passes.submit();
    passes.dispose();
    const g = await read(out, k.channels * k.channels);
    expectClose(g, ref.gram(features, pixels, k.channels), 1e-5, `gram ${name}`);
    for (let a = 0; a < k.channels; a++) {
      for (let b = 0; b < a; b++) expect(g[a * k.channels + b]).toBe(g[b * k.channels + a]);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('loss kernels', () => {
  const SENTINEL = 7.5;

  // Partial sums: the CPU choice (256 invocations, each storing its share), more invocations (not always a multiple
  // of 64 or 256), and the GPU choice (each workgroup of 64 storing the tree sum of its invocations' shares).
  /** Expected stored sums: invocation k adds elements k, k + P, ...; per workgroup, 64 invocations' shares added. */
  const expectedSums = (sums: PartialSums, elements: number, term: (i: number) => number) => {
    const shares = new Float64Array(sums.invocations);
    for (let i = 0; i < elements; i++) shares[i % sums.invocations] += term(i);
    if (!sums.perWorkgroup) return shares;
    const stored = new Float64Array(sums.invocations / 64);
    shares.forEach((v, k) => (stored[Math.floor(k / 64)] += v));
    return stored;
  };
  it.each([
    [5, 0, false, cpuSums],
    [5, 256, true, cpuSums],
    [300, 256, true, cpuSums],
    [1025, 0, false, cpuSums],
    [1025, 100, true, { invocations: 1000, perWorkgroup: false }],
    [3000, 0, false, { invocations: 4096, perWorkgroup: false }],
    [3000, 10, true, { invocations: 4096, perWorkgroup: true }],
    [20, 0, false, { invocations: 256, perWorkgroup: true }],
  ] as const)('squaredDiffPartials count %i vec4 offset %i difference %s, sums %o (per sum rel L2 < 1e-5, difference exact)', async (count, offset, withDiff, sums) => {
    const a = randomArray(4 * count, 81 + count);
    const b = randomArray(4 * count, 82 + count, -2, 1);
    const stored = storedSums(sums, 64);
    const partialsLength = offset + 2 * stored;
    const partials = upload(new Float32Array(partialsLength).fill(SENTINEL));
    const diff = zeros(4 * count);
    run(squaredDiffPartials(withDiff, sums), { params: { count, offset }, a: upload(a), b: upload(b), partials, difference: withDiff ? diff : undefined }, sums.invocations);
    const got = await read(partials, partialsLength);
    const expected = expectedSums(sums, count, (v) => [0, 1, 2, 3].reduce((s, c) => s + (a[4 * v + c] - b[4 * v + c]) ** 2, 0));
    expectClose(got.subarray(offset, offset + stored), expected, 1e-5, `sqdiff partials count ${count} offset ${offset}`);
    for (let i = 0; i < partialsLength; i++) if (i < offset || i >= offset + stored) expect(got[i], `slot ${i}`).toBe(SENTINEL);
    if (withDiff)
      expectExact(
        await read(diff, 4 * count),
        a.map((v, i) => v - b[i]),
        'difference',
      );
    const total = got.subarray(offset, offset + stored).reduce((s, v) => s + v, 0);
    expect(Math.abs(total - ref.meanSquaredDiff(a, b) * 4 * count) / total).toBeLessThan(1e-5);
  });

  // 256 partials: one invocation adds them in order; 300 and 4096: 256 lanes and a workgroup tree.
  it.each([CPU_PARTIALS, 300, 4096])('lossTotal sums, scales and categorises the terms, %i partials each (rel < 1e-5 per value)', async (P) => {
    // Terms: content, style, style, tv, content.
    const terms = [
      { scale: 0.25, category: 0 },
      { scale: 3.5e-4, category: 1 },
      { scale: 12, category: 1 },
      { scale: 1e-3, category: 2 },
      { scale: 0.7, category: 0 },
    ];
    const table = new Float32Array(terms.length * 4);
    terms.forEach((t, k) => table.set([t.scale, t.category, k * P, 0], 4 * k));
    const partials = randomArray(terms.length * P, 91, 0, 10);
    const losses = upload(new Float32Array(LOSS_HEADER + terms.length).fill(SENTINEL));
    run(lossTotal(P), { params: { terms: terms.length }, table: upload(table), partials: upload(partials), losses }, 1);
    const got = await read(losses, LOSS_HEADER + terms.length);
    const values = terms.map((t, k) => Math.fround(t.scale) * partials.subarray(k * P, (k + 1) * P).reduce((s, v) => s + v, 0));
    const byCategory = [0, 1, 2].map((c) => values.filter((_, k) => terms[k].category === c).reduce((s, v) => s + v, 0));
    const expected = [...byCategory, byCategory[0] + byCategory[1] + byCategory[2], ...values];
    expected.forEach((e, i) => expect(Math.abs(got[i] - e) / Math.abs(e), `losses[${i}]`).toBeLessThan(1e-5));
  });

  it('reductions finish in one invocation up to 256 partials and in a 256-lane tree beyond (WGSL)', () => {
    const serial = lossTotal(CPU_PARTIALS);
    expect(serial.workgroupSize).toBe(1);
    expect(serial.code).not.toContain('workgroupBarrier');
    expect(serial.code).toContain('for (var k = lane; k < 256u; k += 1u) { acc = acc + partials[first + k]; }');
    const tree = lossTotal(4096);
    expect(tree.workgroupSize).toBe(256);
    expect(tree.code).toContain('var<workgroup> shares: array<f32, 256>;');
    expect(tree.code).toContain('for (var k = lane; k < 4096u; k += 256u) { acc = acc + partials[first + k]; }');
    expect(tree.code).toContain('for (var w = 128u; w > 0u; w = w / 2u)');
    expect(new Set([serial.key, tree.key, lossTotal(300).key]).size).toBe(3);
    const perInvocation = tvPartials({ invocations: 1024, perWorkgroup: false });
    expect(perInvocation.code).toContain('if (id >= 1024u) { return; }');
    expect(perInvocation.code).toContain('partials[params.offset + id] = sum;');
    const perWorkgroup = tvPartials({ invocations: 1024, perWorkgroup: true });
    expect(perWorkgroup.code).not.toContain('return;');
    expect(perWorkgroup.code).toContain('@builtin(local_invocation_index) lid: u32');
    expect(perWorkgroup.code).toContain('if (lid == 0u) { partials[params.offset + id / 64u] = partialShares[0]; }');
    expect(perWorkgroup.key).not.toBe(perInvocation.key);
  });

  for (const accumulate of [false, true]) {
    for (const mask of [false, true]) {
      it(`contentGrad${accumulate ? ' acc' : ''}${mask ? ' mask' : ''} (rel L2 < 1e-6)`, async () => {
        const count = (7 * 5 * 12) / 4;
        const features = quantized(4 * count, 101, -1, 3);
        const target = randomArray(4 * count, 102, 0, 2);
        const existing = randomArray(4 * count, 103);
        // The ReLU mask comes from its own binding (a tile's features are masked to its own positions, the ReLU not).
        const activation = quantized(4 * count, 104, -1, 3);
        const scale = 0.123;
        const grad = upload(accumulate ? existing : new Float32Array(4 * count).fill(SENTINEL));
        const maskActivation = mask ? upload(activation) : undefined;
        run(contentGrad(accumulate, mask), { params: { count, scale }, features: upload(features), targetFeatures: upload(target), maskActivation, grad }, count);
        let expected: Float64Array = Float64Array.from(features, (f, i) => Math.fround(scale) * (f - target[i]));
        if (accumulate) expected = expected.map((v, i) => v + existing[i]);
        if (mask) expected = ref.reluMask(expected, activation);
        expectClose(await read(grad, 4 * count), expected, 1e-6, `contentGrad acc=${accumulate} mask=${mask}`);
        // The documented loss normalisation: with scale = 2 w / N this is the gradient of w * mean((F - T)^2).
        const w = 3;
        const direct = ref.contentGradRef(features, target, w);
        const viaScale = Float64Array.from(features, (f, i) => ((2 * w) / (4 * count)) * (f - target[i]));
        expect(relativeError(direct, viaScale)).toBeLessThan(1e-14);
      });
    }
  }

  const tvShapes = [
    { width: 7, height: 5 },
    { width: 1, height: 1 },
    { width: 23, height: 17 },
    { width: 1, height: 9 },
    { width: 9, height: 1 },
  ];
  const tvSums = [cpuSums, { invocations: 1024, perWorkgroup: false }, { invocations: 1024, perWorkgroup: true }];
  it.each(tvShapes.flatMap((s) => tvSums.map((sums) => [`${s.width}x${s.height}`, sums, s] as const)))('tvPartials %s, sums %o (sum rel < 1e-5)', async (_, sums, s) => {
    const n = 3 * s.width * s.height;
    const x = randomArray(n, 111 + n, -100, 100);
    const stored = storedSums(sums, 64);
    const offset = stored;
    const partials = upload(new Float32Array(3 * stored).fill(SENTINEL));
    run(tvPartials(sums), { params: { width: s.width, height: s.height, offset }, x: upload(x), partials }, sums.invocations);
    const got = await read(partials, 3 * stored);
    for (let i = 0; i < 3 * stored; i++) if (i < offset || i >= offset + stored) expect(got[i]).toBe(SENTINEL);
    const sum = got.subarray(offset, offset + stored).reduce((a, v) => a + v, 0);
    const expected = ref.tvLossRef(x, s.height, s.width);
    if (expected === 0) expect(sum).toBe(0);
    else expect(Math.abs(sum - expected) / expected).toBeLessThan(1e-5);
  });

  for (const accumulate of [false, true]) {
    it.each(tvShapes.map((s) => [`${s.width}x${s.height}`, s] as const))(`tvGrad${accumulate ? ' acc' : ''} %s (rel L2 < 1e-6)`, async (_, s) => {
      const n = 3 * s.width * s.height;
      const x = randomArray(n, 121 + n, -100, 100);
      const existing = randomArray(n, 122, -10, 10);
      const scale = 0.7;
      const grad = upload(accumulate ? existing : new Float32Array(n).fill(SENTINEL));
      run(tvGrad(accumulate), { params: { width: s.width, height: s.height, scale }, x: upload(x), grad }, n);
      const g = ref.tvGradRef(x, s.height, s.width);
      const expected = g.map((v, i) => Math.fround(scale) * v + (accumulate ? existing[i] : 0));
      expectClose(await read(grad, n), expected, 1e-6, `tvGrad ${s.width}x${s.height} acc=${accumulate}`);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------

describe('image conversion (exact)', () => {
  const meanF32 = ref.VGG_MEAN_BGR_REF.map(Math.fround);

  function testImage(): Uint8Array {
    // 256 pixels covering every byte value in every channel, with arbitrary alpha.
    const rgba = new Uint8Array(256 * 4);
    for (let i = 0; i < 256; i++) rgba.set([i, 255 - i, (i * 7) % 256, (i * 13) % 256], 4 * i);
    return rgba;
  }

  it('preprocess: RGBA8 -> planar BGR minus mean, exactly the f32 subtraction', async () => {
    const rgba = testImage();
    const pixels = 256;
    const x = zeros(3 * pixels);
    run(preprocessImage(), { params: { pixels }, rgba: upload(new Uint32Array(rgba.buffer)), x }, pixels);
    const got = await read(x, 3 * pixels);
    // b - f32(mean) is exact in float64 here, so rounding it once to f32 is the correctly rounded f32 result.
    expectExact(got, Float32Array.from(ref.preprocessRef(rgba, pixels, meanF32)), 'preprocess');
    // And within half an f32 ulp-ish of the float64 definition.
    expect(relativeError(got, ref.preprocessRef(rgba, pixels))).toBeLessThan(1e-7);
  });

  it('deprocess: planar x -> RGBA8, round half to even, clamped, alpha 255', async () => {
    const rgba = testImage();
    const pixels = 256;
    const roundTrip = Float32Array.from(ref.preprocessRef(rgba, pixels, meanF32));
    const random = randomArray(3 * pixels, 131, -200, 200);
    // Values whose sum with the mean lands at (or next to) k + 0.5.
    const ties = new Float32Array(3 * pixels);
    for (let i = 0; i < 3 * pixels; i++) ties[i] = Math.fround((i % 300) - 20 + 0.5 - meanF32[Math.floor(i / pixels)]);
    for (const [what, x] of [
      ['round trip', roundTrip],
      ['random', random],
      ['ties', ties],
    ] as const) {
      const out = upload(new Uint32Array(pixels));
      run(deprocessImage(), { params: { pixels }, x: upload(x), rgba: out }, pixels);
      const got = new Uint8Array(await gpu.read(out, 4 * pixels));
      expectExact(got, ref.deprocessRef(x, pixels, meanF32, Math.fround), `deprocess ${what}`);
      if (what === 'round trip') {
        const expected = Uint8Array.from(rgba, (v, i) => (i % 4 === 3 ? 255 : v));
        expectExact(got, expected, 'round trip bytes');
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('conv register blocks by adapter (tiling.ts)', () => {
  const block = (t: { pixelsPerThread: number; channelGroupsPerThread: number }) => `${t.pixelsPerThread}x${t.channelGroupsPerThread}`;
  it('a CPU adapter keeps 8x4 everywhere; a GPU gets the largest of 8x4, 4x4, 2x4, 2x2 with 32768 invocations', () => {
    const cpu = convTuningFor('cpu');
    const gpu = convTuningFor('gpu');
    const shape = (side: number, outChannels: number) => ({ width: side, height: side, outChannels, taps: 9 as const });
    expect(block(cpu(shape(32, 512)))).toBe('8x4');
    expect(cpu(shape(16, 512))).toEqual(defaultConvTuning(shape(16, 512)));
    // VGG-19 at 512 px (the H200 sweep): 8x4 down to 128x128, 4x4 at 64x64, 2x2 at 32x32.
    expect([shape(512, 64), shape(256, 128), shape(128, 256), shape(64, 512), shape(32, 512)].map((s) => block(gpu(s)))).toEqual(['8x4', '8x4', '8x4', '4x4', '2x2']);
    // 128 px: 2x4 at 128x128 x 64, 2x2 below; nothing reaches 32768 at 8x8: the smallest block.
    expect([shape(128, 64), shape(64, 128), shape(8, 512)].map((s) => block(gpu(s)))).toEqual(['2x4', '2x2', '2x2']);
    expect(convInvocations(gpu(shape(64, 512)), shape(64, 512))).toBe(32768);
  });

  it("Winograd on a CPU adapter, direct on a GPU; the product's channel block per workgroup only when every lane has a pixel block", () => {
    expect([convAlgorithmFor('cpu'), convAlgorithmFor('gpu')]).toEqual(['winograd', 'direct']);
    // Not the 3-channel image layer (0), nor a pool (2); every other conv.
    expect([0, 1, 2, 3].map((i) => isWinogradLayer(i, 'winograd'))).toEqual([false, true, false, true]);
    expect(isWinogradLayer(1, 'direct')).toBe(false);
    const cpu = convTuningFor('cpu');
    // 8-tile pixel blocks: 512 tiles fill 64 lanes, 256 do not.
    expect(winogradProductTiling(cpu, 512, 64)).toMatchObject({ pixelsPerThread: 8, channelGroupsPerThread: 4, channelBlockPerWorkgroup: true });
    expect(winogradProductTiling(cpu, 256, 256).channelBlockPerWorkgroup).toBe(false);
  });

  it('Winograd scratch: capped at the largest activation, layers past it in even bands', () => {
    const conv12 = VGG19[1] as ConvLayer;
    const conv21 = VGG19[3] as ConvLayer;
    // 128 px: conv1_2 needs 4096 tiles x 16 x 64 floats = 4 x relu1_1; the cap is relu1_1 (4 MiB).
    expect(winogradScratchBytes(128, 128, 13, 'winograd')).toBe(128 * 128 * 64 * 4);
    expect(winogradScratchBytes(128, 128, 13, 'direct')).toBe(0);
    expect(winogradBands(conv12, 128, 128, 128 * 128 * 64 * 4)).toEqual([0, 1024, 2048, 3072].map((tileStart) => ({ tileStart, tiles: 1024 })));
    // 7x5 -> 4x3 = 12 tiles; room for 5 per band: 3 even bands of 4.
    expect(winogradBands(conv21, 7, 5, 5 * 16 * 128 * 4)).toEqual([0, 4, 8].map((tileStart) => ({ tileStart, tiles: 4 })));
    // A tiny image: never less than one tile of the widest layer.
    expect(winogradScratchBytes(1, 1, 2, 'winograd')).toBe(16 * 64 * 4);
    expect(() => winogradBands(conv21, 8, 8, 100)).toThrow(/holds no tile/);
  });
});

describe('generated WGSL and program keys', () => {
  const base: ConvKernelOptions = {
    taps: 9,
    pixelsPerThread: 3,
    channelGroupsPerThread: 2,
    inputPlanar3: false,
    outputPlanar3: false,
    biasRelu: true,
    accumulate: false,
    mask: false,
    workgroupSize: 64,
  };
  const count = (code: string, re: RegExp) => (code.match(re) ?? []).length;

  it('forward conv: bindings, unrolled accumulators and weight loads', () => {
    const code = convProgram({ ...base, inputPlanar3: true }).code;
    expect(code).toContain('@group(0) @binding(0) var<uniform> params: Params;');
    expect(code).toContain('@group(0) @binding(1) var<storage, read> input: array<f32>;');
    expect(code).toContain('@group(0) @binding(2) var<storage, read> weights: array<vec4f>;');
    expect(code).toContain('@group(0) @binding(3) var<storage, read> bias: array<vec4f>;');
    expect(code).toContain('@group(0) @binding(4) var<storage, read_write> output: array<vec4f>;');
    expect(code).not.toContain('maskActivation');
    expect(code).not.toMatch(/^\s*#(if|elif|else|endif)/m);
    expect(code).toContain('@workgroup_size(64)');
    expect(count(code, /var acc\d+_\d+ = vec4f\(0\.0\);/g)).toBe(6);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) expect(code).toContain(`var acc${i}_${j} = vec4f(0.0);`);
    expect(count(code, /let w\d_\d = weights\[/g)).toBe(8);
    expect(count(code, /let a\d = loadInput\(/g)).toBe(3);
    expect(count(code, /max\(v \+ bias\[/g)).toBe(6);
    expect(code).toContain('for (var tap = 0u; tap < 9u; tap++)');

    const hwc = convProgram(base).code;
    expect(hwc).toContain('@group(0) @binding(1) var<storage, read> input: array<vec4f>;');
  });

  it('f16 weight storage: the extension enabled, vec4<f16> weights widened at each load, its own key', () => {
    const program = convProgram({ ...base, weightsF16: true });
    const code = program.code;
    expect(code.trimStart().startsWith('enable f16;')).toBe(true);
    expect(code).toContain('@group(0) @binding(2) var<storage, read> weights: array<vec4<f16>>;');
    expect(count(code, /let w\d_\d = vec4f\(weights\[/g)).toBe(8);
    expect(count(code, /= weights\[/g)).toBe(0);
    expect(program.key).toMatch(/_wf16$/);
    expect(program.key).not.toBe(convProgram(base).key);
    expect(convProgram(base).code).not.toContain('f16');
  });

  it('image-layer forward: lanes over output channels, image loads with the same address in every lane', () => {
    const program = conv3x3ImageForward({ channelGroupsPerLane: 4, pixelsPerWorkgroup: 16, cout4: 16 });
    const code = program.code;
    expect(program.workgroupSize).toBe(4);
    expect(code).toContain('@workgroup_size(4)');
    expect(code).not.toMatch(/^\s*#(if|elif|else|endif)/m);
    // 27 weights (9 taps x 3 image channels) x 4 channel groups per lane, loaded once per workgroup.
    expect(count(code, /let w\d_\d_\d = weights\[/g)).toBe(108);
    // Image addresses depend on the workgroup and the pixel loop only (never on the lane), so they stay uniform.
    const imageLoads = code.split('\n').filter((line) => line.includes('image['));
    expect(imageLoads).toHaveLength(9);
    for (const line of imageLoads) expect(line).not.toMatch(/\blane\b|\bco4\b/);
    expect(count(code, /output\[o \+ \du\] = max\(acc\d, vec4f\(0\.0\)\);/g)).toBe(4);
    expect(() => conv3x3ImageForward({ channelGroupsPerLane: 3, pixelsPerWorkgroup: 16, cout4: 16 })).toThrow(/not a multiple/);
  });

  it('Winograd product: the position (row) and its matrix from the workgroup; the input gradient reads U[flip] transposed', () => {
    const product = { ...base, taps: 1 as const, biasRelu: false, pixelsPerThread: 8, channelGroupsPerThread: 2 };
    const forward = convProgram({ ...product, winogradBatch: 'forward', channelBlockPerWorkgroup: true });
    expect(forward.key).toBe('conv1x1_p8c8_wg64_wgco_winofwd');
    expect(forward.code).toContain('let y = wid.y / params.coBlocks;');
    expect(forward.code).toContain('let co4 = (wid.y % params.coBlocks) * 2u;');
    expect(forward.code).toContain('let matrix = y * params.cin4 * 4u * cout4;');
    expect(forward.code).toContain('let w0 = matrix + ((tap * params.cin4 + c4) * 4u) * cout4 + co4;');
    expect(forward.code).not.toContain('flipPosition');
    expect(forward.code).not.toMatch(/let y = .*lid/);

    const backward = convProgram({ ...product, winogradBatch: 'backward', channelBlockPerWorkgroup: false });
    expect(backward.code).toContain('let y = wid.y;');
    expect(backward.code).toContain('let matrix = flipPosition(y) * params.cin4 * 4u * cout4;');
    // 2 channel groups: 8 rows of U (output channels) loaded as vec4 over input channels, 8 weight vec4 assembled.
    expect(count(backward.code, /let t\d_\d = weights\[t0 \+ \d+u \* params\.cin4\];/g)).toBe(8);
    expect(count(backward.code, /let w\d_\d = vec4f\(t\d_0\.[xyzw], t\d_1\.[xyzw], t\d_2\.[xyzw], t\d_3\.[xyzw]\);/g)).toBe(8);
    expect(backward.code).toContain('let w2_1 = vec4f(t1_0.z, t1_1.z, t1_2.z, t1_3.z);');
    expect(() => convProgram({ ...base, winogradBatch: 'forward' })).toThrow(/plain 1x1 conv/);
    // Dispatch: [workgroups per row, rows x channel blocks] or [workgroups over row x channel blocks, rows].
    expect(convDispatchSize({ ...product, channelBlockPerWorkgroup: true, winogradBatch: 'forward' }, 1000, 16, 8)).toEqual({ grid: [2, 64] });
    expect(convDispatchSize({ ...product, channelBlockPerWorkgroup: false, winogradBatch: 'forward' }, 1000, 16, 8)).toEqual({ grid: [8, 16] });
  });

  it('Winograd transforms: 16 patch loads and 16 stores in; 16 loads and 4 guarded stores with the epilogue out', () => {
    const input = winogradInputTransform().code;
    expect(count(input, /= patchValue\(y0 \+ \d, x0 \+ \d, c4\);/g)).toBe(16);
    expect(count(input, /transformed\[\(\d+u \* params\.bandTiles \+ tb\) \* params\.channels4 \+ c4\] = /g)).toBe(16);
    const forward = winogradOutputTransform({ biasRelu: true, accumulate: false, mask: false });
    const kinds = (p: { bindings: BindingDeclarations }) => declaredBindings(p.bindings).map(([name, d]) => `${name}:${d.kind}`);
    expect(kinds(forward)).toEqual(['params:uniform', 'products:read', 'bias:read', 'output:read_write']);
    expect(count(forward.code, /= products\[/g)).toBe(16);
    expect(count(forward.code, /v = max\(v \+ bias\[c4\], vec4f\(0\.0\)\);/g)).toBe(4);
    expect(count(forward.code, /if \(py < params\.height && px < params\.width\)/g)).toBe(4);
    const backward = winogradOutputTransform({ biasRelu: false, accumulate: true, mask: true });
    expect(backward.key).toBe('winograd_output_wg64_acc_mask');
    expect(count(backward.code, /v \+= output\[o\];/g)).toBe(4);
    expect(count(backward.code, /maskActivation\[o\] > vec4f\(0\.0\)/g)).toBe(4);
    expect(kinds(backward)).toEqual(['params:uniform', 'products:read', 'maskActivation:read', 'output:read_write']);
    expect(kinds(winogradOutputTransform({ biasRelu: false, accumulate: false, mask: false }))).toEqual(['params:uniform', 'products:read', 'output:read_write']);
    expect(() => winogradOutputTransform({ biasRelu: true, accumulate: true, mask: false })).toThrow(/excludes/);
    for (const code of [input, forward.code, backward.code]) expect(code).not.toMatch(/^\s*#(if|elif|else|endif)/m);
  });

  it('backward conv: mask binding replaces bias, planar output, accumulate', () => {
    const masked = convProgram({ ...base, biasRelu: false, mask: true, accumulate: true, pixelsPerThread: 4, channelGroupsPerThread: 1 }).code;
    expect(masked).toContain('@group(0) @binding(3) var<storage, read> maskActivation: array<vec4f>;');
    expect(masked).toContain('@group(0) @binding(4) var<storage, read_write> output: array<vec4f>;');
    expect(masked).not.toContain('bias');
    expect(count(masked, /var acc\d+_\d+ = vec4f\(0\.0\);/g)).toBe(4);
    expect(count(masked, /v \+= output\[o\];/g)).toBe(4);
    expect(count(masked, /maskActivation\[o\] > vec4f\(0\.0\)/g)).toBe(4);

    const planar = convProgram({ ...base, biasRelu: false, outputPlanar3: true, accumulate: true, pixelsPerThread: 2, channelGroupsPerThread: 1 }).code;
    expect(planar).toContain('@group(0) @binding(3) var<storage, read_write> output: array<f32>;');
    expect(planar).not.toContain('@binding(4)');
    expect(count(planar, /var acc\d+_\d+ = vec4f\(0\.0\);/g)).toBe(2);
    expect(planar).toContain('v += vec4f(output[p], output[p + plane], output[p + 2u * plane], 0.0);');

    const plain = convProgram({ ...base, taps: 1, biasRelu: false, pixelsPerThread: 1, channelGroupsPerThread: 1 }).code;
    expect(plain).toContain('@group(0) @binding(3) var<storage, read_write> output: array<vec4f>;');
    expect(plain).toContain('let dy = 0; let dx = 0;');
    expect(plain).toContain('tap < 1u');
    expect(plain).not.toContain('v += output');
    expect(count(plain, /var acc\d+_\d+ = vec4f\(0\.0\);/g)).toBe(1);
  });

  it('conv program keys are one-to-one with the generated source; declared bindings match the WGSL', () => {
    const byKey = new Map<string, string>();
    const byCode = new Map<string, string>();
    let variants = 0;
    for (const taps of [1, 9] as const)
      for (const p of [1, 3, 4])
        for (const c of [1, 2])
          for (const flags of Array.from({ length: 32 }, (_, m) => m))
            for (const wg of [32, 64]) {
              const o: ConvKernelOptions = {
                taps,
                pixelsPerThread: p,
                channelGroupsPerThread: c,
                inputPlanar3: !!(flags & 1),
                outputPlanar3: !!(flags & 2),
                biasRelu: !!(flags & 4),
                accumulate: !!(flags & 8),
                mask: !!(flags & 16),
                workgroupSize: wg,
              };
              let program: ReturnType<typeof convProgram>;
              try {
                program = convProgram(o);
              } catch {
                continue; // invalid combination
              }
              variants++;
              const again = convProgram({ ...o });
              expect(again.key).toBe(program.key);
              expect(again.code).toBe(program.code);
              expect(byKey.get(program.key) ?? program.code).toBe(program.code);
              expect(byCode.get(program.code) ?? program.key).toBe(program.key);
              byKey.set(program.key, program.code);
              byCode.set(program.code, program.key);
              // The declarations the WGSL holds are the program's, by name, kind and @binding index, in order.
              const declared = [...program.code.matchAll(/@binding\((\d+)\) var<(uniform|storage, read|storage, read_write)> (\w+)/g)];
              const expected = declaredBindings(program.bindings);
              expect(declared.map((m) => [Number(m[1]), m[3], m[2] === 'uniform' ? 'uniform' : m[2] === 'storage, read' ? 'read' : 'read_write'])).toEqual(
                expected.map(([name, d], i) => [i, name, d.kind]),
              );
              expect(() => checkProgram(program)).not.toThrow();
            }
    expect(variants).toBeGreaterThan(200);
    expect(byKey.size).toBe(variants);
  });

  it('other kernel families: flags give distinct keys, equal options equal keys', () => {
    const programs = [
      poolForward('max'),
      poolForward('avg'),
      ...(['max', 'avg'] as const).flatMap((kind) => [false, true].flatMap((accumulate) => [false, true].map((mask) => poolBackward({ kind, accumulate, mask })))),
      squaredDiffPartials(false, cpuSums),
      squaredDiffPartials(true, cpuSums),
      squaredDiffPartials(true, { invocations: 4096, perWorkgroup: false }),
      squaredDiffPartials(true, { invocations: 4096, perWorkgroup: true }),
      tvGrad(false),
      tvGrad(true),
      ...[false, true].flatMap((a) => [false, true].map((m) => contentGrad(a, m))),
      tvPartials(cpuSums),
      tvPartials({ invocations: 4096, perWorkgroup: true }),
      lossTotal(CPU_PARTIALS),
      lossTotal(4096),
      gramPartial(),
      gramReduce(),
      preprocessImage(),
      deprocessImage(),
      poolForward('max', 32),
    ];
    expect(new Set(programs.map((p) => p.key)).size).toBe(programs.length);
    expect(new Set(programs.map((p) => p.code)).size).toBe(programs.length);
    expect(poolBackward({ kind: 'max', accumulate: true, mask: false }).key).toBe(poolBackward({ kind: 'max', accumulate: true, mask: false, workgroupSize: 64 }).key);
    expect(contentGrad(true, true).key).toBe(contentGrad(true, true).key);
  });

  it('the pipeline cache compiles a variant once', () => {
    const cache = gpu.pipelines;
    // A variant no other test uses, so the first add compiles it.
    const options = { pixelsPerThread: 2, channelGroupsPerThread: 1, workgroupSize: 16, accumulate: true, mask: false };
    const params = convParams(3, 2, 1, 1, 2, 1);
    const buffers = { params: params.values, input: zeros(24), weights: zeros(16), output: zeros(24) };
    const before = cache.compiled;
    const passes = new PassList(gpu);
    passes.add(conv1x1(options), buffers, params.invocations);
    expect(cache.compiled).toBe(before + 1);
    passes.add(conv1x1(options), buffers, params.invocations);
    passes.add(conv1x1({ ...options }), buffers, params.invocations);
    expect(cache.compiled).toBe(before + 1);
    passes.add(conv1x1({ ...options, accumulate: false }), buffers, params.invocations);
    expect(cache.compiled).toBe(before + 2);
    expect(cache.size).toBe(cache.compiled);
    passes.submit();
    passes.dispose();
  });
});
