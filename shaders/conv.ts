/**
 * Convolution kernels (3x3 stride 1 zero-padding 1, and 1x1), as register-blocked direct convolution.
 *
 * What: out[p][co] = epilogue(scale * sum_{tap, ci} in[p + offset(tap)][ci] * w[tap][ci][co]).
 * - conv3x3Forward: epilogue = ReLU(acc + bias). The ReLU output is the only activation stored.
 * - conv3x3BackwardInput: the same loop over weights repacked as w'[tap][co][ci] = w[8 - tap][ci][co] (flipped,
 *   transposed; see src/net/weights.ts), then optionally `+= out` (gradient from a sibling loss) and the ReLU mask
 *   of the layer below (`out *= act > 0`), so the gradient leaves already w.r.t. the pre-activation below.
 * - conv1x1: the same kernel with one tap; the style-loss gradient uses it as X * D (pixels x C times C x C).
 * - conv3x3ImageForward, imageGradientGather (end of file): the first layer, whose 3 input channels leave the
 *   register-blocked loop starved of work; see their comments.
 * - Reflect padding (`reflect`, forward only; PyTorch's padding_mode='reflect'): a tap outside the image reads the
 *   pixel mirrored about the edge row/column (index -1 reads 1, index n reads n - 2). Its input gradient is the
 *   zero-padded one above (the gradient w.r.t. the padded input's interior) plus reflectPadAdjoint (end of file),
 *   which adds the gradient of the padding ring into the mirrored pixels.
 *
 * Layout: activations are HWC with channels padded to a multiple of 4, stored as array<vec4f>
 * (index = pixel * C/4 + c4). Weights are [tap][ci][co] as array<vec4f> over co, or array<vec4<f16>> with
 * `weightsF16` (shader-f16 storage: half the bytes, widened to f32 on load; all arithmetic stays f32). The image x
 * and its gradient are planar [3][H][W] f32 (B, G, R planes): `inputPlanar3` / `outputPlanar3` read or write that
 * layout, padding the channel to 4 with zero.
 *
 * Tiling: one invocation computes `pixelsPerThread` horizontally adjacent pixels x `channelGroupsPerThread` x 4
 * output channels, accumulating in registers; each input vec4 is reused across the channel block and each weight
 * vec4 across the pixel block. No workgroup memory and no barriers (costly on CPU Vulkan). Invocation order puts
 * the output-channel block fastest, so neighbouring invocations share input loads.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { DispatchSize } from '../src/gpu/passes.js';
import { computeProgram, read, readWrite, uniform, uniformStruct, type StructValues } from '../src/gpu/program.js';
import { linearId, mainSignature, unroll } from './common.js';

export interface ConvKernelOptions {
  /** 9 for a 3x3 kernel, 1 for 1x1. */
  taps: 1 | 9;
  /** Adjacent output pixels per invocation (1..8). */
  pixelsPerThread: number;
  /** Output channel groups of 4 per invocation (1..8); must divide C_out / 4. */
  channelGroupsPerThread: number;
  /**
   * Take the output-channel block from workgroup_id.y, so every invocation of a workgroup reads the same weights:
   * a CPU Vulkan (lavapipe) then loads them once as uniform values instead of gathering per lane. Dispatch with
   * `convDispatchSize`. Otherwise the channel block varies fastest across invocations.
   */
  channelBlockPerWorkgroup?: boolean;
  /** 3x3 only: load pixels x0-1 .. x0+bp once per kernel row for all three horizontal taps. */
  reuseRowLoads?: boolean;
  /** Read the input as planar [3][H][W] f32 (the image) instead of HWC vec4. */
  inputPlanar3: boolean;
  /** Write the output as planar [3][H][W] f32 (the image gradient); requires C_out = 4 (3 padded). */
  outputPlanar3: boolean;
  /** Add the bias and apply ReLU (forward). */
  biasRelu: boolean;
  /** Add the output buffer's current contents (gradient accumulation). */
  accumulate: boolean;
  /** Zero the result where the mask activation (same layout as the output) is <= 0: ReLU backward. */
  mask: boolean;
  /** Weights stored as f16 (needs the device feature shader-f16). */
  weightsF16?: boolean;
  /** 3x3 forward only: reflect padding instead of zero padding (taps outside the image read the mirrored pixel). */
  reflect?: boolean;
  /**
   * 1x1 only: the batched matrix product of a Winograd layer (shaders/winograd.ts). Row y of the input/output is
   * the Winograd position xi = y (0..15), and each row has its own matrix from U [16][C][K] (src/net/weights.ts
   * packWinogradKernel): 'forward' multiplies by U[xi] (C_in = C, C_out = K); 'backward' (the input gradient,
   * C_in = K, C_out = C) by U[flip(xi)] read transposed, which is the transform of the flipped kernel.
   */
  winogradBatch?: 'forward' | 'backward';
  workgroupSize: number;
}

/** The conv uniform block (convParams fills it). */
export const CONV_PARAMS = uniformStruct('Params', {
  width: 'u32',
  height: 'u32',
  cin4: 'u32', // input channel groups of 4
  cout4: 'u32', // output channel groups of 4
  blocksPerRow: 'u32', // ceil(width / pixelsPerThread)
  coBlocks: 'u32', // cout4 / channelGroupsPerThread
  total: 'u32', // height * blocksPerRow * coBlocks
  scale: 'f32',
});

/** The bindings of a conv variant, in @binding order: bias (forward) or maskActivation (mask) only where used. */
function convBindings(o: ConvKernelOptions) {
  return {
    params: uniform(CONV_PARAMS),
    input: read(o.inputPlanar3 ? 'array<f32>' : 'array<vec4f>'),
    weights: read(o.weightsF16 ? 'array<vec4<f16>>' : 'array<vec4f>'),
    bias: o.biasRelu ? read('array<vec4f>') : undefined,
    maskActivation: !o.biasRelu && o.mask ? read('array<vec4f>') : undefined,
    output: readWrite(o.outputPlanar3 ? 'array<f32>' : 'array<vec4f>'),
  };
}

function convWgsl(o: ConvKernelOptions): string {
  const bp = o.pixelsPerThread;
  const bc = o.channelGroupsPerThread;
  const pairs = blockPairs(o);
  return wgsl`
// ${o.taps === 9 ? '3x3' : '1x1'} convolution, ${bp} pixel(s) x ${bc * 4} output channels per invocation.
#if ${o.winogradBatch === 'backward'}
// The flipped kernel's transform is U with positions 0 and 3 swapped along both axes (G J = P G, P swapping rows 0, 3).
fn flipPosition(xi: u32) -> u32 {
  let i = xi / 4u;
  let j = xi % 4u;
  return select(i, 3u - i, i == 0u || i == 3u) * 4u + select(j, 3u - j, j == 0u || j == 3u);
}
#endif

#if ${!!o.reflect}
${REFLECT_INDEX}
#endif

// Zero padding: out-of-image pixels read as 0 (the index is clamped so the load itself stays in bounds).
fn loadInput(pixel: u32, c4: u32, valid: bool) -> vec4f {
#if ${o.inputPlanar3}
  let plane = params.width * params.height;
  let p = select(0u, pixel, valid);
  let v = vec4f(input[p], input[p + plane], input[p + 2u * plane], 0.0);
#else
  let v = input[select(0u, pixel * params.cin4 + c4, valid)];
#endif
  return select(vec4f(0.0), v, valid);
}

${o.winogradBatch ? winogradBatchPrologue(o) : convPrologue(o)}
  let cout4 = params.cout4;
${unroll(pairs.length, (k) => `  var acc${pairs[k][0]}_${pairs[k][1]} = vec4f(0.0);`)}
${o.taps === 9 && o.reuseRowLoads ? rowReuseLoop(o) : tapLoop(o)}
${unroll(
  bp,
  (i) => `  if (x0 + ${i}u < params.width) {
    let p = y * params.width + x0 + ${i}u;
${unroll(bc, (j) => storeBlock(o, i, j))}
  }`,
)}
}
`;
}

/** Entry point and this invocation's row y, first pixel x0 and first output channel group co4. */
function convPrologue(o: ConvKernelOptions): string {
  const bp = o.pixelsPerThread;
  const bc = o.channelGroupsPerThread;
  return wgsl`#if ${!!o.channelBlockPerWorkgroup}
@compute @workgroup_size(${o.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let pixelBlock = wid.x * ${o.workgroupSize}u + lid;
  if (pixelBlock >= params.height * params.blocksPerRow) { return; }
  let co4 = wid.y * ${bc}u;
#else
${mainSignature(o.workgroupSize)} {
  ${linearId(o.workgroupSize)}
  if (id >= params.total) { return; }
  let co4 = (id % params.coBlocks) * ${bc}u;
  let pixelBlock = id / params.coBlocks;
#endif
  let y = pixelBlock / params.blocksPerRow;
  let x0 = (pixelBlock % params.blocksPerRow) * ${bp}u;`;
}

/**
 * The Winograd product's entry point: the position (row y) comes from workgroup_id.y, so the weight matrix it picks
 * is the same in every lane (a CPU Vulkan then loads weights once per workgroup, not per lane). With
 * channelBlockPerWorkgroup the channel block is uniform too (workgroup_id.y = y * coBlocks + block) and the lanes
 * walk pixel blocks; otherwise the lanes walk (pixel block, channel block) of one row, channel block fastest.
 * Dispatch: convDispatchSize with winogradBatch.
 */
function winogradBatchPrologue(o: ConvKernelOptions): string {
  const bp = o.pixelsPerThread;
  const bc = o.channelGroupsPerThread;
  return wgsl`@compute @workgroup_size(${o.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
#if ${!!o.channelBlockPerWorkgroup}
  let y = wid.y / params.coBlocks;
  let co4 = (wid.y % params.coBlocks) * ${bc}u;
  let blockInRow = wid.x * ${o.workgroupSize}u + lid;
  if (blockInRow >= params.blocksPerRow) { return; }
#else
  let y = wid.y;
  let id = wid.x * ${o.workgroupSize}u + lid;
  if (id >= params.blocksPerRow * params.coBlocks) { return; }
  let co4 = (id % params.coBlocks) * ${bc}u;
  let blockInRow = id / params.coBlocks;
#endif
  let x0 = blockInRow * ${bp}u;`;
}

function tapLoop(o: ConvKernelOptions): string {
  const bp = o.pixelsPerThread;
  const bc = o.channelGroupsPerThread;
  const pairs = blockPairs(o);
  const tapOffsets = o.taps === 9 ? 'let dy = i32(tap / 3u) - 1; let dx = i32(tap % 3u) - 1;' : 'let dy = 0; let dx = 0;';
  return `  for (var tap = 0u; tap < ${o.taps}u; tap++) {
    ${tapOffsets}
${rowOf(o, 'i32(y) + dy')}
${unroll(bp, (i) => columnOf(o, i, `i32(x0) + ${i} + dx`))}
${winogradMatrixBase(o)}
    for (var c4 = 0u; c4 < params.cin4; c4++) {
${unroll(bp, (i) => `      let a${i} = loadInput(p${i}, c4, ok${i});`)}
${
  o.winogradBatch === 'backward'
    ? transposedWeightLoads(o)
    : `      let w0 = ${o.winogradBatch ? 'matrix + ' : ''}((tap * params.cin4 + c4) * 4u) * cout4 + co4;
${unroll(4, (r) => unroll(bc, (j) => `      let w${r}_${j} = ${weightLoad(o, `w0 + ${r}u * cout4 + ${j}u`)};`))}`
}
${unroll(pairs.length, (k) => {
  const [i, j] = pairs[k];
  return `      acc${i}_${j} = fma(vec4f(a${i}.x), w0_${j}, fma(vec4f(a${i}.y), w1_${j}, fma(vec4f(a${i}.z), w2_${j}, fma(vec4f(a${i}.w), w3_${j}, acc${i}_${j}))));`;
})}
    }
  }`;
}

/**
 * 3x3 variant that loads each input row segment once per (ky, c4): pixels x0-1 .. x0+bp serve all three kx taps,
 * so bp + 2 input loads replace 3 bp.
 */
function rowReuseLoop(o: ConvKernelOptions): string {
  const bp = o.pixelsPerThread;
  const bc = o.channelGroupsPerThread;
  const pairs = blockPairs(o);
  return `  for (var ky = 0u; ky < 3u; ky++) {
${rowOf(o, 'i32(y) + i32(ky) - 1')}
${unroll(bp + 2, (q) => columnOf(o, q, `i32(x0) + ${q - 1}`))}
    for (var c4 = 0u; c4 < params.cin4; c4++) {
${unroll(bp + 2, (q) => `      let a${q} = loadInput(p${q}, c4, ok${q});`)}
${unroll(
  3,
  (kx) => `      {
        let w0 = (((ky * 3u + ${kx}u) * params.cin4 + c4) * 4u) * cout4 + co4;
${unroll(4, (r) => unroll(bc, (j) => `        let w${r}_${j} = ${weightLoad(o, `w0 + ${r}u * cout4 + ${j}u`)};`))}
${unroll(pairs.length, (k) => {
  const [i, j] = pairs[k];
  const a = `a${i + kx}`;
  return `        acc${i}_${j} = fma(vec4f(${a}.x), w0_${j}, fma(vec4f(${a}.y), w1_${j}, fma(vec4f(${a}.z), w2_${j}, fma(vec4f(${a}.w), w3_${j}, acc${i}_${j}))));`;
})}
      }`,
)}
    }
  }`;
}

/**
 * WGSL `reflectIndex(i, n)`: index i of a line of n >= 2 pixels with reflect padding (-1 -> 1, n -> n - 2), clamped
 * into the line so that the pixels past the image a register block computes and discards still load in bounds.
 */
export const REFLECT_INDEX = `fn reflectIndex(i: i32, n: i32) -> u32 {
  let r = select(i, -i, i < 0);
  return u32(clamp(select(r, 2 * n - 2 - r, r >= n), 0, n - 1));
}`;

/** The input row `iy` and its start `rowStart` for the row expression `row`: skipped outside (zero) or mirrored. */
function rowOf(o: ConvKernelOptions, row: string): string {
  if (o.reflect) return `    let rowStart = reflectIndex(${row}, i32(params.height)) * params.width;`;
  return `    let iy = ${row};
    if (iy < 0 || iy >= i32(params.height)) { continue; }
    let rowStart = u32(iy) * params.width;`;
}

/** Column q of a row: its pixel p{q} and whether it is read (ok{q}; zero padding), or the mirrored pixel. */
function columnOf(o: ConvKernelOptions, q: number, column: string): string {
  if (o.reflect) {
    return `    let ok${q} = true;
    let p${q} = rowStart + reflectIndex(${column}, i32(params.width));`;
  }
  return `    let ix${q} = ${column};
    let ok${q} = ix${q} >= 0 && ix${q} < i32(params.width);
    let p${q} = rowStart + u32(max(ix${q}, 0));`;
}

/** Where row y's Winograd matrix starts (vec4 index; both layouts hold cin4 * 4 * cout4 vec4 per position). */
function winogradMatrixBase(o: ConvKernelOptions): string {
  if (!o.winogradBatch) return '';
  const position = o.winogradBatch === 'backward' ? 'flipPosition(y)' : 'y';
  return `    let matrix = ${position} * params.cin4 * 4u * cout4;`;
}

/**
 * The weight block of the backward Winograd product: U[flip(xi)] is stored [C][K] (vec4 over K = this kernel's
 * C_in), so each output channel co's row gives a vec4 over 4 input channels; w{r}_{j} (vec4 over 4 output channels
 * for input channel 4 c4 + r) is assembled from four such rows. On a CPU Vulkan the components are separate
 * registers, so the transpose costs no instructions.
 */
function transposedWeightLoads(o: ConvKernelOptions): string {
  const bc = o.channelGroupsPerThread;
  const comp = ['x', 'y', 'z', 'w'];
  return `      let t0 = matrix + (co4 * 4u) * params.cin4 + c4;
${unroll(bc, (j) => unroll(4, (s) => `      let t${j}_${s} = ${weightLoad(o, `t0 + ${j * 4 + s}u * params.cin4`)};`))}
${unroll(4, (r) => unroll(bc, (j) => `      let w${r}_${j} = vec4f(t${j}_0.${comp[r]}, t${j}_1.${comp[r]}, t${j}_2.${comp[r]}, t${j}_3.${comp[r]});`))}`;
}

/** A weight vec4 as f32, widened from f16 storage when the weights are f16. */
function weightLoad(o: ConvKernelOptions, index: string): string {
  return o.weightsF16 ? `vec4f(weights[${index}])` : `weights[${index}]`;
}

function blockPairs(o: ConvKernelOptions): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < o.pixelsPerThread; i++) for (let j = 0; j < o.channelGroupsPerThread; j++) pairs.push([i, j]);
  return pairs;
}

function storeBlock(o: ConvKernelOptions, i: number, j: number): string {
  const acc = `acc${i}_${j}`;
  if (o.outputPlanar3) {
    // Only channel group 0 exists (3 real channels + 1 pad); write the three planes.
    return wgsl`    {
      let plane = params.width * params.height;
      var v = ${acc} * params.scale;
#if ${o.accumulate}
      v += vec4f(output[p], output[p + plane], output[p + 2u * plane], 0.0);
#endif
      output[p] = v.x; output[p + plane] = v.y; output[p + 2u * plane] = v.z;
    }`;
  }
  return `    {
      let o = p * cout4 + co4 + ${j}u;
      var v = ${acc} * params.scale;
${storeWithEpilogue(o, `co4 + ${j}u`, '      ')}
    }`;
}

/**
 * Stores the result vec4 `v` at output[o] after the conv epilogues: bias[biasIndex] + ReLU (forward), or `+= output`
 * and the ReLU mask of the layer below (input gradient). Shared with the Winograd output transform.
 */
export function storeWithEpilogue(o: Pick<ConvKernelOptions, 'biasRelu' | 'accumulate' | 'mask'>, biasIndex: string, indent: string): string {
  return wgsl`#if ${o.biasRelu}
${indent}v = max(v + bias[${biasIndex}], vec4f(0.0));
#endif
#if ${o.accumulate}
${indent}v += output[o];
#endif
#if ${o.mask}
${indent}v = select(vec4f(0.0), v, maskActivation[o] > vec4f(0.0));
#endif
${indent}output[o] = v;`;
}

export function convProgram(o: ConvKernelOptions) {
  if (o.outputPlanar3 && (o.channelGroupsPerThread !== 1 || o.biasRelu || o.mask)) {
    throw new Error('planar output supports only one channel group, no bias/ReLU and no mask');
  }
  if (o.biasRelu && o.mask) throw new Error('bias+ReLU (forward) and mask (backward) are exclusive');
  if (o.reflect && (o.taps !== 9 || !o.biasRelu)) throw new Error('reflect padding is a 3x3 forward variant (its adjoint is reflectPadAdjoint)');
  if (o.winogradBatch && (o.taps !== 1 || o.inputPlanar3 || o.outputPlanar3 || o.biasRelu || o.reuseRowLoads)) {
    throw new Error('the Winograd product is a plain 1x1 conv (HWC in and out, no bias)');
  }
  const flags = [
    o.inputPlanar3 && 'in3',
    o.outputPlanar3 && 'out3',
    o.biasRelu && 'biasrelu',
    o.accumulate && 'acc',
    o.mask && 'mask',
    o.channelBlockPerWorkgroup && 'wgco',
    o.taps === 9 && o.reuseRowLoads && 'rows',
    o.weightsF16 && 'wf16',
    o.reflect && 'reflect',
    o.winogradBatch && `wino${o.winogradBatch === 'forward' ? 'fwd' : 'bwd'}`,
  ].filter(Boolean);
  const name = `conv${o.taps === 9 ? '3x3' : '1x1'}_p${o.pixelsPerThread}c${o.channelGroupsPerThread * 4}_wg${o.workgroupSize}${flags.length ? '_' + flags.join('_') : ''}`;
  return computeProgram({
    key: name,
    label: name,
    workgroupSize: o.workgroupSize,
    bindings: convBindings(o),
    body: convWgsl(o),
    enable: o.weightsF16 ? ['f16'] : [],
  });
}

export type ConvVariant = Omit<ConvKernelOptions, 'taps' | 'biasRelu' | 'accumulate' | 'mask' | 'inputPlanar3' | 'outputPlanar3'> &
  Partial<Pick<ConvKernelOptions, 'inputPlanar3' | 'outputPlanar3'>>;

/** 3x3 conv + bias + ReLU. Bindings: params, input, weights [tap][ci][co], bias, output. */
export function conv3x3Forward(v: ConvVariant) {
  return convProgram({ inputPlanar3: false, outputPlanar3: false, ...v, taps: 9, biasRelu: true, accumulate: false, mask: false });
}

/**
 * Input gradient of a 3x3 conv (weights repacked flipped/transposed). Bindings: params, input (the output
 * gradient), weights (flipped, transposed), [maskActivation], output (the input gradient).
 */
export function conv3x3BackwardInput(v: ConvVariant & { accumulate: boolean; mask: boolean }) {
  return convProgram({ inputPlanar3: false, outputPlanar3: false, ...v, taps: 9, biasRelu: false });
}

/** 1x1 conv = pixels x C matrix times a C x C' matrix, scaled. Bindings: params, input, matrix, [mask], output. */
export function conv1x1(v: ConvVariant & { accumulate: boolean; mask: boolean }) {
  return convProgram({ inputPlanar3: false, outputPlanar3: false, ...v, taps: 1, biasRelu: false });
}

/**
 * The dispatch for a conv program: a folded 1-D count, or [pixel-block workgroups, channel blocks]; the Winograd
 * product: [workgroups per row, rows x channel blocks] or [workgroups per row, rows] (see winogradBatchPrologue).
 */
export function convDispatchSize(
  o: Pick<ConvKernelOptions, 'workgroupSize' | 'pixelsPerThread' | 'channelGroupsPerThread' | 'channelBlockPerWorkgroup' | 'winogradBatch'>,
  width: number,
  height: number,
  cout4: number,
): DispatchSize {
  const blocksPerRow = Math.ceil(width / o.pixelsPerThread);
  const pixelBlocks = height * blocksPerRow;
  const coBlocks = cout4 / o.channelGroupsPerThread;
  if (o.winogradBatch) {
    return o.channelBlockPerWorkgroup
      ? { grid: [Math.ceil(blocksPerRow / o.workgroupSize), height * coBlocks] }
      : { grid: [Math.ceil((blocksPerRow * coBlocks) / o.workgroupSize), height] };
  }
  return o.channelBlockPerWorkgroup ? { grid: [Math.ceil(pixelBlocks / o.workgroupSize), coBlocks] } : pixelBlocks * coBlocks;
}

/** Packs the conv uniform block. */
export function convParams(
  width: number,
  height: number,
  cin4: number,
  cout4: number,
  pixelsPerThread: number,
  channelGroupsPerThread: number,
  scale = 1,
): { values: StructValues<typeof CONV_PARAMS.fields>; invocations: number } {
  if (cout4 % channelGroupsPerThread !== 0) throw new Error(`cout4 ${cout4} not divisible by ${channelGroupsPerThread}`);
  const blocksPerRow = Math.ceil(width / pixelsPerThread);
  const coBlocks = cout4 / channelGroupsPerThread;
  const total = height * blocksPerRow * coBlocks;
  return { values: { width, height, cin4, cout4, blocksPerRow, coBlocks, total, scale }, invocations: total };
}

/** Options of `conv3x3ImageForward`. */
export interface ImageConvOptions {
  /** Output channel groups of 4 per invocation (lane); the workgroup has C_out / 4 / this many lanes. */
  channelGroupsPerLane: number;
  /** Reflect padding instead of zero padding (see the header). */
  reflect?: boolean;
  /** Output pixels (one row segment) per workgroup, walked in turn by every lane. */
  pixelsPerWorkgroup: number;
  /** C_out / 4. */
  cout4: number;
}

/**
 * The first layer's forward conv (3 input channels): planar [3][H][W] image in, HWC vec4 out, bias + ReLU.
 *
 * With 3 input channels the register-blocked kernel above spends most of its time on per-lane (gathered) image loads
 * and stores for only 27 multiply-adds per output. Here the lanes of a workgroup split the output channels instead
 * and share one row segment of pixels: every image load has the same address in all lanes (a CPU Vulkan loads it
 * once and broadcasts it), each lane keeps its 27 x 4 x `channelGroupsPerLane` weights in registers for the whole
 * segment, and the only per-lane memory traffic left is the store.
 *
 * Dispatch: [ceil(W / pixelsPerWorkgroup), H] workgroups of cout4 / channelGroupsPerLane invocations.
 * Bindings: params {width, height, cout4}, image, weights [tap][ci (4)][co] as vec4 over co, bias, output.
 */
export const IMAGE_CONV_PARAMS = uniformStruct('Params', { width: 'u32', height: 'u32', cout4: 'u32' });

export function conv3x3ImageForward(o: ImageConvOptions) {
  const bc = o.channelGroupsPerLane;
  const lanes = o.cout4 / bc;
  if (!Number.isInteger(lanes) || lanes < 1) throw new Error(`cout4 ${o.cout4} is not a multiple of ${bc}`);
  const body = wgsl`
// conv3x3 on the planar 3-channel image, ${lanes} lanes x ${bc * 4} output channels, ${o.pixelsPerWorkgroup} pixels per workgroup.
#if ${!!o.reflect}
${REFLECT_INDEX}
#endif

@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let width = params.width;
  let height = params.height;
  let cout4 = params.cout4;
  let plane = width * height;
  let y = wid.y;
  let x0 = wid.x * ${o.pixelsPerWorkgroup}u;
  let co4 = lane * ${bc}u;
  // This lane's weights w{tap}_{image channel}_{group}, loaded once for the whole row segment and kept as values:
  // the same weights in a private array ran at half the speed on lavapipe.
${unroll(bc, (j) => unroll(9, (t) => unroll(3, (c) => `  let w${t}_${c}_${j} = weights[${t * 4 + c}u * cout4 + co4 + ${j}u];`)))}
${unroll(bc, (j) => `  let b${j} = bias[co4 + ${j}u];`)}
  for (var p = 0u; p < ${o.pixelsPerWorkgroup}u; p++) {
    let x = x0 + p;
    if (x >= width) { break; }
${unroll(bc, (j) => `    var acc${j} = b${j};`)}
${unroll(9, (t) => {
  const dy = Math.floor(t / 3) - 1;
  const dx = (t % 3) - 1;
  const load = o.reflect
    ? `      let q = reflectIndex(i32(y) + ${dy}, i32(height)) * width + reflectIndex(i32(x) + ${dx}, i32(width));
      let v = vec3f(image[q], image[q + plane], image[q + 2u * plane]);`
    : `      let iy = i32(y) + ${dy};
      let ix = i32(x) + ${dx};
      let ok = iy >= 0 && iy < i32(height) && ix >= 0 && ix < i32(width);
      let q = select(0u, u32(iy) * width + u32(ix), ok);
      let v = select(vec3f(0.0), vec3f(image[q], image[q + plane], image[q + 2u * plane]), ok);`;
  return `    {
      // Same address in every lane: loaded once and broadcast on a CPU Vulkan. Zero or reflect padding outside the image.
${load}
${unroll(bc, (j) => `      acc${j} = fma(vec4f(v.x), w${t}_0_${j}, fma(vec4f(v.y), w${t}_1_${j}, fma(vec4f(v.z), w${t}_2_${j}, acc${j})));`)}
    }`;
})}
    let o = (y * width + x) * cout4 + co4;
${unroll(bc, (j) => `    output[o + ${j}u] = max(acc${j}, vec4f(0.0));`)}
  }
}
`;
  const name = `conv3x3_image_l${lanes}c${bc * 4}_p${o.pixelsPerWorkgroup}_biasrelu${o.reflect ? '_reflect' : ''}`;
  return computeProgram({
    key: name,
    label: name,
    workgroupSize: lanes,
    bindings: { params: uniform(IMAGE_CONV_PARAMS), image: read('array<f32>'), weights: read('array<vec4f>'), bias: read('array<vec4f>'), output: readWrite('array<vec4f>') },
    body,
  });
}

/** Columns of the first layer's gradient matrix: 9 taps x 3 image channels, padded to a whole vec4. */
export const IMAGE_GRADIENT_COLUMNS = 28;

/**
 * The image gradient of the first layer, second half: after `conv1x1` has turned the layer's output gradient G
 * (HWC, C channels) into T = G M (HWC, 28 channels: T[p][3 tap + k] = sum_c G[p][c] w[tap][k][c]), each image pixel
 * gathers its nine contributions: dx[k][q] = sum_tap T[q - offset(tap)][3 tap + k] (neighbours outside the image
 * contribute nothing), written as planar [3][H][W] (B, G, R). One invocation per pixel.
 *
 * Why two passes: with only 3 outputs per pixel, the direct input-gradient conv loads 64 gradient channels per tap
 * and pixel for 3 multiply-adds each; as a 1x1 conv every loaded vec4 feeds 28 outputs.
 * Bindings: params {width, height}, columns (T, array<f32>), output (planar f32).
 */
export const IMAGE_SIZE_PARAMS = uniformStruct('Params', { width: 'u32', height: 'u32' });

export function imageGradientGather(workgroupSize = 64, reflect = false) {
  const body = wgsl`
// Image gradient: gather the 9 tap columns of T into planar [3][H][W]${reflect ? ', reflect padding' : ''}.
${PADDED_PREIMAGE}

${mainSignature(workgroupSize)} {
  ${linearId(workgroupSize)}
  let width = params.width;
  let height = params.height;
  if (id >= width * height) { return; }
  let y = i32(id / width);
  let x = i32(id % width);
  var sum = vec3f(0.0);
  // With reflect padding, the padded positions mirrored onto (y, x) pass their gradient on to it (the padding's
  // adjoint); with zero padding only (y, x) itself.
  for (var a = 0; a < ${reflect ? 3 : 1}; a++) {
    let qy = paddedPreimage(a, y, i32(height));
    if (qy == NO_PREIMAGE) { continue; }
    for (var b = 0; b < ${reflect ? 3 : 1}; b++) {
      let qx = paddedPreimage(b, x, i32(width));
      if (qx == NO_PREIMAGE) { continue; }
      for (var tap = 0; tap < 9; tap++) {
        // The forward conv read q = p + offset(tap) for output p, so q receives from p = q - offset(tap).
        let py = qy - (tap / 3 - 1);
        let px = qx - (tap % 3 - 1);
        if (py < 0 || py >= i32(height) || px < 0 || px >= i32(width)) { continue; }
        let base = (u32(py) * width + u32(px)) * ${IMAGE_GRADIENT_COLUMNS}u + u32(tap) * 3u;
        sum += vec3f(columns[base], columns[base + 1u], columns[base + 2u]);
      }
    }
  }
  let plane = width * height;
  output[id] = sum.x;
  output[id + plane] = sum.y;
  output[id + 2u * plane] = sum.z;
}
`;
  return computeProgram({
    key: `image_gradient_gather_wg${workgroupSize}${reflect ? '_reflect' : ''}`,
    label: 'image_gradient_gather',
    workgroupSize,
    bindings: { params: uniform(IMAGE_SIZE_PARAMS), columns: read('array<f32>'), output: readWrite('array<f32>') },
    body,
  });
}

/**
 * WGSL `paddedPreimage(k, i, n)`: the k-th position (k = 0, 1, 2) of the 1-pixel padded line [-1, n] that reflect
 * padding reads as pixel i of a line of n: k = 0 is i itself, k = 1 is -1 (when i = 1), k = 2 is n (when
 * i = n - 2); NO_PREIMAGE where there is none.
 */
const PADDED_PREIMAGE = `const NO_PREIMAGE = -1000000;
fn paddedPreimage(k: i32, i: i32, n: i32) -> i32 {
  if (k == 0) { return i; }
  if (k == 1) { return select(NO_PREIMAGE, -1, i == 1); }
  return select(NO_PREIMAGE, n, i == n - 2);
}`;

/** Uniforms of reflectPadAdjoint: the layer's size, its gradient's channel groups (in) and the input's (out). */
export const REFLECT_ADJOINT_PARAMS = uniformStruct('Params', { width: 'u32', height: 'u32', cin4: 'u32', cout4: 'u32', total: 'u32' });

export interface ReflectAdjointOptions {
  /** Output planar [3][H][W] (the image gradient of the first layer); cout4 = 1. */
  outputPlanar3: boolean;
  /** The ReLU mask of the layer below, as the input gradient kernel applied it (the mask is linear, so it applies to this share alone). */
  mask: boolean;
  weightsF16?: boolean;
  workgroupSize?: number;
}

/**
 * The second half of a reflect-padded 3x3 conv's input gradient: conv3x3BackwardInput (zero padding) gives the
 * gradient w.r.t. the padded input at the image's own pixels; this adds the padding ring's share. The ring position
 * q' (a row -1 or H, or a column -1 or W) has the gradient sum_tap gradOut[q' + offset(tap)] w'[tap] over the taps
 * that land inside the image (w' the backward weights [tap][co][ci], as the input-gradient kernel reads them), and
 * reflect padding read q' from the pixel mirrored about the edge, so that pixel receives it: rows -1 and H go to
 * rows 1 and H - 2, columns likewise, corners to both mirrors at once. Gather form, no atomics: one invocation per
 * (receiving pixel, channel group of 4), the receivers being rows 1 and H - 2 and columns 1 and W - 2 (each pixel
 * once), each summing every ring position mirrored onto it, then `output += mask(sum)`.
 *
 * Dispatch: (2 W + 2 H) * cout4 invocations (duplicates return at once). Layout as conv3x3BackwardInput:
 * input HWC vec4 (cin4 groups), output HWC vec4 (cout4 groups) or planar [3][H][W].
 */
export function reflectPadAdjoint(o: ReflectAdjointOptions) {
  const wg = o.workgroupSize ?? 64;
  const load = (i: string) => (o.weightsF16 ? `vec4f(weights[${i}])` : `weights[${i}]`);
  const body = wgsl`
// Reflect padding's adjoint: the padding ring's input gradient added into the pixels it mirrors.
${PADDED_PREIMAGE}

// Receiver k of the list: rows 1 and H - 2 (all columns), then columns 1 and W - 2 (rows not already listed);
// x < 0 marks a duplicate.
fn receiver(k: i32, w: i32, h: i32) -> vec2i {
  if (k < w) { return vec2i(k, 1); }
  if (k < 2 * w) { return select(vec2i(k - w, h - 2), vec2i(-1), h - 2 == 1); }
  let j = k - 2 * w;
  let y = j % h;
  let x = select(w - 2, 1, j < h);
  let duplicate = y == 1 || y == h - 2 || (j >= h && w - 2 == 1);
  return select(vec2i(x, y), vec2i(-1), duplicate);
}

${mainSignature(wg)} {
  ${linearId(wg)}
  if (id >= params.total) { return; }
  let w = i32(params.width);
  let h = i32(params.height);
  let cin4 = params.cin4;
  let cout4 = params.cout4;
  let c4 = id % cout4;
  let r = receiver(i32(id / cout4), w, h);
  if (r.x < 0) { return; }
  var acc = vec4f(0.0);
  for (var a = 0; a < 3; a++) {
    let qy = paddedPreimage(a, r.y, h);
    if (qy == NO_PREIMAGE) { continue; }
    for (var b = 0; b < 3; b++) {
      let qx = paddedPreimage(b, r.x, w);
      if (qx == NO_PREIMAGE || (a == 0 && b == 0)) { continue; }
      for (var tap = 0u; tap < 9u; tap++) {
        let py = qy + i32(tap / 3u) - 1;
        let px = qx + i32(tap % 3u) - 1;
        if (py < 0 || py >= h || px < 0 || px >= w) { continue; }
        let pin = u32(py * w + px) * cin4;
        for (var co4 = 0u; co4 < cin4; co4++) {
          let g = input[pin + co4];
          let w0 = ((tap * cin4 + co4) * 4u) * cout4 + c4;
          acc = fma(vec4f(g.x), ${load('w0')}, fma(vec4f(g.y), ${load('w0 + cout4')}, fma(vec4f(g.z), ${load('w0 + 2u * cout4')}, fma(vec4f(g.w), ${load('w0 + 3u * cout4')}, acc))));
        }
      }
    }
  }
  let p = u32(r.y * w + r.x);
#if ${o.outputPlanar3}
  let plane = params.width * params.height;
  output[p] += acc.x;
  output[p + plane] += acc.y;
  output[p + 2u * plane] += acc.z;
#else
  let o = p * cout4 + c4;
#if ${o.mask}
  acc = select(vec4f(0.0), acc, maskActivation[o] > vec4f(0.0));
#endif
  output[o] += acc;
#endif
}
`;
  if (o.outputPlanar3 && o.mask) throw new Error('the planar image gradient has no ReLU mask');
  const flags = [o.outputPlanar3 && 'out3', o.mask && 'mask', o.weightsF16 && 'wf16'].filter(Boolean);
  const name = `reflect_pad_adjoint_wg${wg}${flags.length ? '_' + flags.join('_') : ''}`;
  return computeProgram({
    key: name,
    label: name,
    workgroupSize: wg,
    bindings: {
      params: uniform(REFLECT_ADJOINT_PARAMS),
      input: read('array<vec4f>'),
      weights: read(o.weightsF16 ? 'array<vec4<f16>>' : 'array<vec4f>'),
      maskActivation: o.mask ? read('array<vec4f>') : undefined,
      output: readWrite(o.outputPlanar3 ? 'array<f32>' : 'array<vec4f>'),
    },
    body,
    enable: o.weightsF16 ? ['f16'] : [],
  });
}

/** Uniforms and invocation count of reflectPadAdjoint for a width x height layer. */
export function reflectAdjointParams(
  width: number,
  height: number,
  cin4: number,
  cout4: number,
): { values: StructValues<typeof REFLECT_ADJOINT_PARAMS.fields>; invocations: number } {
  const total = (2 * width + 2 * height) * cout4;
  return { values: { width, height, cin4, cout4, total }, invocations: total };
}
