/**
 * VGG-19 on the GPU: weights uploaded once (forward and backward layouts, or one Winograd-transformed array), and
 * per image size a `FeatureMaps` holding every activation up to the deepest layer a loss needs. Recording into a
 * PassList is separate from running, so a whole evaluation can be one submission.
 */
import {
  conv1x1,
  conv3x3BackwardInput,
  conv3x3Forward,
  conv3x3ImageForward,
  convDispatchSize,
  convParams,
  IMAGE_GRADIENT_COLUMNS,
  imageGradientGather,
  reflectAdjointParams,
  reflectPadAdjoint,
} from '../../shaders/conv.js';
import { poolBackward, poolBackwardReadsInput, poolForward, poolParams, type PoolingKind } from '../../shaders/pool.js';
import { WINOGRAD_POSITIONS, winogradInputTransform, winogradOutputTransform, winogradParams } from '../../shaders/winograd.js';
import { pooledBytes } from '../gpu/buffers.js';
import type { PassList } from '../gpu/passes.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import {
  CONV_ALGORITHMS,
  convAlgorithmFor,
  convTuningFor,
  imageLayerTuning,
  wantsImageLayerKernels,
  winogradProductTiling,
  type ConvAlgorithm,
  type ConvTuning,
} from './tiling.js';
import { convFlops, featureSizes, VGG19, type ConvLayer } from './vgg19.js';
import { packConvLayer, pad4, type WeightTensors } from './weights.js';
import { toFloat16Array } from '../util/float16.js';
import { isWinogradLayer, winogradBands, winogradFlops, winogradScratchBytes } from './winograd.js';

/** How the conv weights are stored on the GPU (arithmetic is f32 either way). */
export type WeightStorage = 'f32' | 'f16';

/**
 * How every 3x3 conv pads the image border: 'zero' (VGG's own), or 'reflect' (PyTorch's padding_mode='reflect': the
 * row/column next to the edge mirrored), which avoids the bright frame zero padding leaves along the borders.
 */
export type Padding = 'zero' | 'reflect';

export class PaddingError extends Error {
  override name = 'PaddingError';
}

export class WeightStorageError extends Error {
  override name = 'WeightStorageError';
}

interface UploadedConvBase {
  layer: ConvLayer;
  /** Weights stored as f16. */
  f16: boolean;
  bias: GPUBuffer;
}

type UploadedConv =
  | (UploadedConvBase & {
      algorithm: 'direct';
      forward: GPUBuffer;
      /** Input-gradient weights (see PackedConv.backward; for the image layer, the 1x1 matrix to tap columns). */
      backward: GPUBuffer;
    })
  | (UploadedConvBase & { algorithm: 'winograd'; /** U [16][ci][co], both directions. */ winograd: GPUBuffer });

export interface Vgg19Options {
  /** Number of layers of VGG19 to load (index of the deepest needed layer + 1). Default: all. */
  depth?: number;
  pooling?: PoolingKind;
  /** Conv register blocks per layer shape; default: tiling.ts convTuningFor(the adapter's parallelism). */
  tuning?: ConvTuning;
  /** The first layer's own kernels (tiling.ts); default: where wantsImageLayerKernels says so for the adapter. */
  imageLayerKernels?: boolean;
  /**
   * 'f16': conv weights in f16 storage buffers (needs the device feature shader-f16), half their bytes; widened to
   * f32 at each load. The first layer (3 input channels, 7 KB) stays f32. Default 'f32'.
   */
  weightStorage?: WeightStorage;
  /** How the 3x3 layers past the first are computed (tiling.ts); default convAlgorithmFor(the adapter's parallelism, the padding). */
  convAlgorithm?: ConvAlgorithm;
  /** Border padding of every 3x3 conv; default 'zero'. 'reflect' computes every layer directly (see convAlgorithmFor). */
  padding?: Padding;
}

/** What decides the bytes of a network's weights. */
export interface NetworkWeightsShape {
  depth: number;
  weightStorage: WeightStorage;
  convAlgorithm: ConvAlgorithm;
  imageLayerKernels: boolean;
}

/**
 * Bytes (as the pool allocates them) of the weight buffers a Vgg19Net uploads, and its largest buffer: per conv
 * layer the bias and either the forward and backward 9-tap layouts (the first layer's backward is its HW x 28 tap
 * matrix with its own kernels) or one Winograd array; f16 storage halves all but the first layer's.
 */
export function networkWeightBytes(o: NetworkWeightsShape): { total: number; largest: number } {
  let total = 0;
  let largest = 0;
  for (let i = 0; i < o.depth; i++) {
    const layer = VGG19[i];
    if (layer.kind !== 'conv') continue;
    const bytesPerWeight = o.weightStorage === 'f16' && layer.inChannels > 3 ? 2 : 4;
    const buffers = isWinogradLayer(i, o.convAlgorithm)
      ? [WINOGRAD_POSITIONS * layer.inChannels * layer.outChannels * bytesPerWeight]
      : [
          9 * pad4(layer.inChannels) * layer.outChannels * bytesPerWeight,
          layer.inChannels === 3 && o.imageLayerKernels ? layer.outChannels * IMAGE_GRADIENT_COLUMNS * 4 : 9 * pad4(layer.inChannels) * layer.outChannels * bytesPerWeight,
        ];
    for (const bytes of [...buffers, layer.outChannels * 4].map(pooledBytes)) {
      total += bytes;
      largest = Math.max(largest, bytes);
    }
  }
  return { total, largest };
}

export class Vgg19Net {
  readonly depth: number;
  readonly pooling: PoolingKind;
  readonly tuning: ConvTuning;
  readonly imageLayerKernels: boolean;
  readonly weightStorage: WeightStorage;
  readonly convAlgorithm: ConvAlgorithm;
  readonly padding: Padding;
  private readonly convs = new Map<number, UploadedConv>();

  constructor(
    readonly gpu: GpuRuntime,
    weights: WeightTensors,
    options: Vgg19Options = {},
  ) {
    this.depth = options.depth ?? VGG19.length;
    this.pooling = options.pooling ?? 'max';
    this.tuning = options.tuning ?? convTuningFor(gpu.parallelism);
    this.imageLayerKernels = options.imageLayerKernels ?? wantsImageLayerKernels(gpu.context.adapterInfo);
    this.weightStorage = options.weightStorage ?? 'f32';
    this.padding = options.padding ?? 'zero';
    if (this.padding !== 'zero' && this.padding !== 'reflect') throw new PaddingError(`padding must be zero or reflect, got "${String(this.padding)}".`);
    this.convAlgorithm = options.convAlgorithm ?? convAlgorithmFor(gpu.parallelism, this.padding);
    if (!CONV_ALGORITHMS.includes(this.convAlgorithm)) {
      throw new Error(`conv algorithm must be ${CONV_ALGORITHMS.join(' or ')}, got "${String(this.convAlgorithm)}".`);
    }
    if (this.padding === 'reflect' && this.convAlgorithm !== 'direct') {
      throw new PaddingError('reflect padding runs the direct convolution (its input gradient needs the plain 3x3 taps at the border); use convAlgorithm direct.');
    }
    if (this.weightStorage !== 'f32' && this.weightStorage !== 'f16') {
      throw new WeightStorageError(`weight storage must be f32 or f16, got "${String(this.weightStorage)}".`);
    }
    if (this.weightStorage === 'f16' && !gpu.context.f16) {
      throw new WeightStorageError('f16 weight storage needs the GPU feature shader-f16, which this adapter does not offer; use f32.');
    }
    for (let i = 0; i < this.depth; i++) {
      const layer = VGG19[i];
      if (layer.kind !== 'conv') continue;
      const algorithm = isWinogradLayer(i, this.convAlgorithm) ? 'winograd' : 'direct';
      const packed = packConvLayer(weights, layer, { imageGradientMatrix: this.imageLayerKernels, algorithm });
      const f16 = this.weightStorage === 'f16' && layer.inChannels > 3;
      const store = (data: Float32Array) => (f16 ? toFloat16Array(data) : data);
      const bias = gpu.upload(packed.bias, `${layer.name} bias`);
      this.convs.set(
        i,
        packed.algorithm === 'winograd'
          ? { layer, f16, bias, algorithm: 'winograd', winograd: gpu.upload(store(packed.winograd), `${layer.name} weights (Winograd)`) }
          : {
              layer,
              f16,
              bias,
              algorithm: 'direct',
              forward: gpu.upload(store(packed.forward), `${layer.name} weights`),
              backward: gpu.upload(store(packed.backward), `${layer.name} weights (backward)`),
            },
      );
    }
  }

  conv(index: number): UploadedConv {
    const c = this.convs.get(index);
    if (!c) throw new Error(`layer ${index} is not a loaded conv layer`);
    return c;
  }

  /** Layer `index`'s weights, which must be in `algorithm`'s layout. */
  convAs<A extends ConvAlgorithm>(index: number, algorithm: A): Extract<UploadedConv, { algorithm: A }> {
    const c = this.conv(index);
    if (c.algorithm !== algorithm) throw new Error(`layer ${c.layer.name} is computed by ${c.algorithm}, not ${algorithm}`);
    return c as Extract<UploadedConv, { algorithm: A }>;
  }

  /** Bytes of the weight buffers held (what networkWeightBytes counts). */
  get heldBytes(): number {
    let bytes = 0;
    for (const c of this.convs.values()) for (const b of c.algorithm === 'direct' ? [c.forward, c.backward, c.bias] : [c.winograd, c.bias]) bytes += b.size;
    return bytes;
  }

  dispose(): void {
    for (const c of this.convs.values()) {
      for (const b of c.algorithm === 'direct' ? [c.forward, c.backward, c.bias] : [c.winograd, c.bias]) this.gpu.buffers.release(b);
    }
    this.convs.clear();
  }
}

export interface FeatureShape {
  width: number;
  height: number;
  channels: number;
}

/** Bytes of the activation of a feature shape (HWC f32). */
const activationBytes = (s: FeatureShape) => s.width * s.height * s.channels * 4;
/** Bytes of the first layer's tap-column scratch (HW x 28 f32) for the image gradient. */
const imageColumnsBytes = (width: number, height: number) => width * height * IMAGE_GRADIENT_COLUMNS * 4;

/**
 * Bytes (as the pool allocates them) a FeatureMaps of this size holds once recorded: its activations, the Winograd
 * V and M when a layer runs as Winograd, and, with `imageGradientColumns`, the tap columns a backward step through
 * the first layer's own kernels makes. The constructor and the recording allocate exactly these.
 */
export function featureMapsBytes(width: number, height: number, depth: number, o: { convAlgorithm: ConvAlgorithm; imageGradientColumns: boolean }): number {
  const activations = featureSizes(width, height, depth).reduce((sum, s) => sum + pooledBytes(activationBytes(s)), 0);
  const winograd = winogradScratchBytes(width, height, depth, o.convAlgorithm);
  return activations + (winograd > 0 ? 2 * pooledBytes(winograd) : 0) + (o.imageGradientColumns ? pooledBytes(imageColumnsBytes(width, height)) : 0);
}

/** Activations of one image size, layers [0, depth). Buffers are HWC vec4 (channels are multiples of 4). */
export class FeatureMaps {
  readonly shapes: FeatureShape[];
  readonly buffers: GPUBuffer[];
  /** Scratch made while recording (image gradient columns, Winograd V and M), released with the maps. */
  private readonly owned: GPUBuffer[] = [];
  /** Scratch of the image gradient (HW x 28 f32), made when a backward step through the first layer is recorded. */
  private imageColumns: GPUBuffer | undefined;
  /** Winograd V and M (shaders/winograd.ts), made when the first Winograd layer is recorded. */
  private winogradScratch: { transformed: GPUBuffer; products: GPUBuffer; bytes: number } | undefined;

  constructor(
    readonly net: Vgg19Net,
    readonly width: number,
    readonly height: number,
    readonly depth: number = net.depth,
    /**
     * Maps at least as large in every layer whose buffers these use instead of their own (tiles of one image, which
     * run one after another): nothing is allocated, and nothing is released on dispose.
     */
    private readonly lender?: FeatureMaps,
  ) {
    if (depth > net.depth) throw new Error(`features up to layer ${depth} need a network loaded that deep`);
    this.shapes = featureSizes(width, height, depth);
    this.shapes.forEach((s, i) => {
      // Reflect padding mirrors the row next to the edge, so a conv's input needs 2 rows and columns.
      const least = net.padding === 'reflect' && VGG19[i].kind === 'conv' ? 2 : 1;
      const input = i === 0 ? { width, height } : this.shapes[i - 1];
      if (s.width < 1 || s.height < 1 || Math.min(input.width, input.height) < least) {
        throw new Error(
          `A ${width}x${height} image is too small for layer ${VGG19[i].feature} (pooling leaves nothing). ` +
            `Use at least ${minimumSizeFor(depth, net.padding)} px on the shorter side.`,
        );
      }
    });
    if (lender) {
      if (lender.net !== net || lender.depth < depth || width > lender.width || height > lender.height) {
        throw new Error(`${width}x${height} feature maps cannot borrow the buffers of ${lender.width}x${lender.height} ones`);
      }
      this.buffers = lender.buffers;
    } else {
      this.buffers = this.shapes.map((s, i) => net.gpu.buffers.storage(activationBytes(s), VGG19[i].feature));
    }
  }

  /** Records the forward pass from planar image x [3][H][W]. */
  encodeForward(passes: PassList, x: GPUBuffer): void {
    for (let i = 0; i < this.depth; i++) {
      const layer = VGG19[i];
      const input = i === 0 ? x : this.buffers[i - 1];
      const shape = this.shapes[i];
      if (layer.kind === 'conv' && i === 0 && this.net.imageLayerKernels) {
        // The image layer: lanes over output channels, pixels shared (see conv3x3ImageForward).
        const conv = this.net.convAs(i, 'direct');
        const { pixelsPerWorkgroup, channelGroupsPerLane } = imageLayerTuning.forward;
        const program = conv3x3ImageForward({ pixelsPerWorkgroup, channelGroupsPerLane, cout4: layer.outChannels / 4, reflect: this.net.padding === 'reflect' });
        const params = { width: shape.width, height: shape.height, cout4: layer.outChannels / 4 };
        const flops = convFlops(layer, shape.width, shape.height);
        const size = { grid: [Math.ceil(shape.width / pixelsPerWorkgroup), shape.height] as [number, number] };
        const bindings = { params, image: input, weights: conv.forward, bias: conv.bias, output: this.buffers[i] };
        passes.add(program, bindings, size, flops, { layer: layer.name, role: 'forward' });
      } else if (layer.kind === 'conv' && isWinogradLayer(i, this.net.convAlgorithm)) {
        this.encodeWinograd(passes, i, input, this.buffers[i], { role: 'forward' });
      } else if (layer.kind === 'conv') {
        const conv = this.net.convAs(i, 'direct');
        const tiling = this.net.tuning({ width: shape.width, height: shape.height, outChannels: layer.outChannels, taps: 9 });
        const params = convParams(shape.width, shape.height, pad4(layer.inChannels) / 4, layer.outChannels / 4, tiling.pixelsPerThread, tiling.channelGroupsPerThread);
        const program = conv3x3Forward({ ...tiling, inputPlanar3: i === 0, weightsF16: conv.f16, reflect: this.net.padding === 'reflect' });
        const flops = convFlops(layer, shape.width, shape.height);
        const size = convDispatchSize(tiling, shape.width, shape.height, layer.outChannels / 4);
        const bindings = { params: params.values, input, weights: conv.forward, bias: conv.bias, output: this.buffers[i] };
        passes.add(program, bindings, size, flops, { layer: layer.name, role: 'forward' });
      } else {
        const prev = this.shapes[i - 1];
        const params = poolParams(prev.width, prev.height, prev.channels / 4, true);
        passes.add(poolForward(this.net.pooling), { params: params.values, input, output: this.buffers[i] }, params.invocations);
      }
    }
  }

  /**
   * Records the backward step through layer `i`: from the gradient w.r.t. its output (`gradOut`, already
   * masked by its ReLU where layer i is a conv) to the gradient w.r.t. its input (`gradIn`). `maskBelow` applies
   * the ReLU mask of layer i-1; for i = 0, `gradIn` is the planar image gradient.
   */
  encodeBackwardStep(passes: PassList, i: number, gradOut: GPUBuffer, gradIn: GPUBuffer, opts: { maskBelow: boolean; accumulate: boolean }): void {
    const layer = VGG19[i];
    if (opts.maskBelow && (i === 0 || VGG19[i - 1].kind !== 'conv')) throw new Error(`no ReLU below layer ${layer.name}`);
    if (layer.kind === 'conv' && i === 0 && this.net.imageLayerKernels) {
      this.encodeImageGradient(passes, gradOut, gradIn, opts.accumulate);
    } else if (layer.kind === 'conv' && isWinogradLayer(i, this.net.convAlgorithm)) {
      this.encodeWinograd(passes, i, gradOut, gradIn, { role: 'backward', ...opts });
    } else if (layer.kind === 'conv') {
      const conv = this.net.convAs(i, 'direct');
      const shape = this.shapes[i];
      const cinPad = pad4(layer.inChannels);
      const tiling = this.net.tuning({ width: shape.width, height: shape.height, outChannels: cinPad, taps: 9 });
      const planar = i === 0;
      const channelGroups = planar ? 1 : tiling.channelGroupsPerThread;
      const params = convParams(shape.width, shape.height, layer.outChannels / 4, cinPad / 4, tiling.pixelsPerThread, channelGroups);
      const program = conv3x3BackwardInput({
        ...tiling,
        channelGroupsPerThread: channelGroups,
        outputPlanar3: planar,
        accumulate: opts.accumulate,
        mask: opts.maskBelow,
        weightsF16: conv.f16,
      });
      const bindings = {
        params: params.values,
        input: gradOut,
        weights: conv.backward,
        maskActivation: opts.maskBelow ? this.buffers[i - 1] : undefined,
        output: gradIn,
      };
      const flops = convFlops(layer, shape.width, shape.height);
      const size = convDispatchSize({ ...tiling, channelGroupsPerThread: channelGroups }, shape.width, shape.height, cinPad / 4);
      passes.add(program, bindings, size, flops, { layer: layer.name, role: 'backward' });
      if (this.net.padding === 'reflect') {
        // The padding ring's gradient into the pixels it mirrors (the gradient above is the zero-padded one's).
        const adjoint = reflectAdjointParams(shape.width, shape.height, layer.outChannels / 4, cinPad / 4);
        const program = reflectPadAdjoint({ outputPlanar3: planar, mask: opts.maskBelow, weightsF16: conv.f16 });
        passes.add(program, { ...bindings, params: adjoint.values }, adjoint.invocations, 0, { layer: layer.name, role: 'backward' });
      }
    } else {
      const prev = this.shapes[i - 1];
      const params = poolParams(prev.width, prev.height, prev.channels / 4, false);
      const variant = { kind: this.net.pooling, accumulate: opts.accumulate, mask: opts.maskBelow };
      const poolInput = poolBackwardReadsInput(variant) ? this.buffers[i - 1] : undefined;
      passes.add(poolBackward(variant), { params: params.values, poolInput, gradOut, gradIn }, params.invocations);
    }
  }

  /**
   * The image gradient through the first conv (gradOut: its pre-activation gradient, HWC): T = gradOut M as a 1x1
   * conv into the tap-column scratch, then each pixel gathers its nine taps into planar [3][H][W].
   */
  private encodeImageGradient(passes: PassList, gradOut: GPUBuffer, gradIn: GPUBuffer, accumulate: boolean): void {
    if (accumulate) throw new Error('the image gradient is written, not accumulated');
    const layer = VGG19[0] as ConvLayer;
    const { width, height } = this.shapes[0];
    const columns = this.columns();
    const cout4 = IMAGE_GRADIENT_COLUMNS / 4;
    const tiling = imageLayerTuning.gradient(width, height);
    const params = convParams(width, height, layer.outChannels / 4, cout4, tiling.pixelsPerThread, tiling.channelGroupsPerThread);
    const flops = convFlops(layer, width, height);
    passes.add(
      conv1x1({ ...tiling, accumulate: false, mask: false }),
      { params: params.values, input: gradOut, weights: this.net.convAs(0, 'direct').backward, output: columns },
      convDispatchSize(tiling, width, height, cout4),
      flops,
      { layer: layer.name, role: 'backward' },
    );
    passes.add(imageGradientGather(64, this.net.padding === 'reflect'), { params: { width, height }, columns, output: gradIn }, width * height, 0, {
      layer: layer.name,
      role: 'backward',
    });
  }

  /**
   * A Winograd layer (shaders/winograd.ts), forward (`source` = its input, `target` = its ReLU output) or input
   * gradient (`source` = the gradient w.r.t. its pre-activation, `target` = the gradient w.r.t. its input, with the
   * ReLU mask of the layer below and accumulation as in the direct kernel): per band of tiles, input transform,
   * the 16 GEMMs as one batched 1x1 conv, output transform.
   */
  private encodeWinograd(
    passes: PassList,
    i: number,
    source: GPUBuffer,
    target: GPUBuffer,
    direction: { role: 'forward' } | { role: 'backward'; maskBelow: boolean; accumulate: boolean },
  ): void {
    const conv = this.net.convAs(i, 'winograd');
    const { layer } = conv;
    const { width, height } = this.shapes[i];
    const forward = direction.role === 'forward';
    const cin4 = (forward ? layer.inChannels : layer.outChannels) / 4;
    const cout4 = (forward ? layer.outChannels : layer.inChannels) / 4;
    const scratch = this.winograd();
    const tag = { layer: layer.name, role: direction.role };
    const output = forward
      ? winogradOutputTransform({ biasRelu: true, accumulate: false, mask: false })
      : winogradOutputTransform({ biasRelu: false, accumulate: direction.accumulate, mask: direction.maskBelow });
    const epilogue = forward ? { bias: conv.bias } : { maskActivation: direction.maskBelow ? this.buffers[i - 1] : undefined };
    for (const band of winogradBands(layer, width, height, scratch.bytes)) {
      const inputParams = winogradParams(width, height, cin4, band.tileStart, band.tiles);
      passes.add(winogradInputTransform(), { params: inputParams.values, input: source, transformed: scratch.transformed }, inputParams.invocations, 0, tag);
      // The product: a 1x1 conv over an image 16 rows (the positions) by band.tiles wide.
      const tiling = winogradProductTiling(this.net.tuning, band.tiles, cout4 * 4);
      const params = convParams(band.tiles, WINOGRAD_POSITIONS, cin4, cout4, tiling.pixelsPerThread, tiling.channelGroupsPerThread);
      passes.add(
        conv1x1({ ...tiling, accumulate: false, mask: false, winogradBatch: direction.role, weightsF16: conv.f16 }),
        { params: params.values, input: scratch.transformed, weights: conv.winograd, output: scratch.products },
        convDispatchSize({ ...tiling, winogradBatch: direction.role }, band.tiles, WINOGRAD_POSITIONS, cout4),
        winogradFlops(cin4 * 4, cout4 * 4, band.tiles),
        tag,
      );
      const outputParams = winogradParams(width, height, cout4, band.tileStart, band.tiles);
      passes.add(output, { params: outputParams.values, products: scratch.products, ...epilogue, output: target }, outputParams.invocations, 0, tag);
    }
  }

  /** The image gradient's tap-column scratch (HW x 28 f32), made at first use (the lender's when borrowing). */
  private columns(): GPUBuffer {
    if (this.lender) return this.lender.columns();
    return (this.imageColumns ??= this.own(this.net.gpu.buffers.storage(imageColumnsBytes(this.width, this.height), 'image gradient columns')));
  }

  private winograd(): { transformed: GPUBuffer; products: GPUBuffer; bytes: number } {
    if (this.lender) return this.lender.winograd();
    if (!this.winogradScratch) {
      const bytes = winogradScratchBytes(this.width, this.height, this.depth, this.net.convAlgorithm);
      const { buffers } = this.net.gpu;
      this.winogradScratch = {
        transformed: this.own(buffers.storage(bytes, 'Winograd transformed input (V)')),
        products: this.own(buffers.storage(bytes, 'Winograd products (M)')),
        bytes,
      };
    }
    return this.winogradScratch;
  }

  /** Bytes of the activation of layer i. */
  bytes(i: number): number {
    return activationBytes(this.shapes[i]);
  }

  /** Bytes of every buffer these maps hold now (what featureMapsBytes counts once recording is done). */
  get heldBytes(): number {
    return this.lender ? 0 : [...this.buffers, ...this.owned].reduce((sum, b) => sum + b.size, 0);
  }

  own(buffer: GPUBuffer): GPUBuffer {
    this.owned.push(buffer);
    return buffer;
  }

  dispose(): void {
    if (this.lender) return; // the lender's buffers: its own dispose releases them
    for (const b of [...this.buffers, ...this.owned]) this.net.gpu.buffers.release(b);
    this.buffers.length = 0;
    this.owned.length = 0;
  }
}

/**
 * Smallest shorter side for which every feature up to `depth` layers is at least 1x1 and, with reflect padding,
 * every conv's input at least 2x2 (the row next to the edge must exist to be mirrored).
 */
export function minimumSizeFor(depth: number, padding: Padding = 'zero'): number {
  let pools = 0;
  let convPools = -1;
  for (let i = 0; i < depth; i++) {
    if (VGG19[i].kind === 'pool') pools++;
    else convPools = pools;
  }
  return padding === 'reflect' && convPools >= 0 ? Math.max(2 ** pools, 2 ** (convPools + 1)) : 2 ** pools;
}
