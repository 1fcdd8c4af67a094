/**
 * The peer: TensorFlow.js 4.x with its WebGPU backend, on the same Dawn instance (so the same adapter) as the
 * engine, computing the same loss and gradient w.r.t. x with tf.valueAndGrad:
 *
 *   VGG-19 up to the deepest loss layer: tf.conv2d (NHWC, the HWIO weights as shipped, 'same' padding) + bias,
 *   tf.relu, tf.maxPool 2x2 stride 2 ('valid', floors like the engine);
 *   content = cw * mean((F - F_c)^2); style = sum_l sw w_l mean((G - G_s)^2), G = F^T F / (C H W) with F the
 *   (H W) x C matrix of a layer; tv = tvw * sum of squared vertical and horizontal neighbour differences of x.
 *
 * tfjs registers its 'webgpu' backend at import time only when navigator.gpu exists, so open() first installs
 * navigator = { gpu } (Node 20 has no navigator) and then imports the backend. tfjs is a devDependency used only
 * here.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { QueueWaiter } from '../src/gpu/queueWait.js';
import type { LossConfig } from '../src/net/loss.js';
import { lossDepth } from '../src/net/loss.js';
import { featureIndex, VGG19 } from '../src/net/vgg19.js';
import { getTensor, type WeightTensors } from '../src/net/weights.js';
import { nhwcToPlanar, planarToNhwc, type BenchInputs } from './inputs.js';
import { registerLossGradients } from './tfjsGradients.js';

type Tf = typeof TF;

/** The parts of tfjs-backend-webgpu's WebGPUBackend the benchmark uses. */
interface WebGpuBackendLike {
  device: GPUDevice;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

export interface PeerMemory {
  /** Peak of tf.memory().numBytes (all live tensors, weights included) over one valueAndGrad, from tf.profile. */
  peakTensorBytes: number | null;
  /** tf.memory().numBytesInGPU right after an evaluation, before its results are disposed. */
  numBytesInGPU: number | null;
  /** tf.memory().numBytesAllocatedInGPU: every GPU buffer tfjs holds, its free pool included. */
  numBytesAllocatedInGPU: number | null;
}

export interface PeerEvaluation {
  loss: number;
  /** d(loss)/dx converted to the engine's planar [3][H][W] layout. */
  grad: Float32Array;
  memory: PeerMemory;
  /** Wall time of this first (warm-up) evaluation, pipeline compilation included. */
  firstMs: number;
}

function unwrap<T>(ns: T): T {
  const d = (ns as { default?: T }).default;
  return d && typeof d === 'object' && 'valueAndGrad' in (d as object) ? d : ns;
}

export class TfjsPeer {
  readonly version: string;
  private readonly convs = new Map<number, { kernel: TF.Tensor4D; bias: TF.Tensor1D }>();
  private readonly depth: number;
  private readonly contentLayers: number[];
  private readonly styleLayers: number[];
  private readonly styleWeights: number[];
  private state: { size: number; x: TF.Tensor4D; content: TF.Tensor[]; style: TF.Tensor[] } | undefined;
  private readonly valueAndGrad: (x: TF.Tensor4D) => { value: TF.Scalar; grad: TF.Tensor4D };

  private constructor(
    readonly tf: Tf,
    private readonly backend: WebGpuBackendLike,
    weights: WeightTensors,
    private readonly config: Required<LossConfig>,
  ) {
    this.version = tf.version_core;
    this.depth = lossDepth(config);
    this.contentLayers = config.contentLayers.map(featureIndex);
    this.styleLayers = config.styleLayers.map(featureIndex);
    this.styleWeights = config.styleLayerWeights.map((w) => w * config.styleWeight);
    for (let i = 0; i < this.depth; i++) {
      const layer = VGG19[i];
      if (layer.kind !== 'conv') continue;
      const kernel = tf.tensor4d(getTensor(weights, `${layer.name}/kernel`, [3, 3, layer.inChannels, layer.outChannels]), [3, 3, layer.inChannels, layer.outChannels]);
      const bias = tf.tensor1d(getTensor(weights, `${layer.name}/bias`, [layer.outChannels]));
      this.convs.set(i, { kernel, bias });
    }
    this.valueAndGrad = tf.valueAndGrad((x: TF.Tensor4D) => this.loss(x));
  }

  /** Installs navigator.gpu = `gpu`, loads tfjs-core and tfjs-backend-webgpu, selects the 'webgpu' backend. */
  static async open(gpu: GPU, weights: WeightTensors, config: Required<LossConfig>): Promise<TfjsPeer> {
    const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    else if (g.navigator.gpu !== gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    const tf = unwrap(await import('@tensorflow/tfjs-core'));
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialise its webgpu backend');
    await tf.ready();
    registerLossGradients(tf);
    const backend = tf.backend() as unknown as WebGpuBackendLike;
    if (
      !backend.device ||
      ['ensureCommandEncoderReady', 'endComputePassEncoder', 'submitQueue'].some((m) => typeof (backend as unknown as Record<string, unknown>)[m] !== 'function')
    ) {
      throw new Error('unexpected tfjs webgpu backend (no device / submitQueue)');
    }
    return new TfjsPeer(tf, backend, weights, config);
  }

  /** Activations of layers [0, depth) for x (NHWC). */
  features(x: TF.Tensor4D): TF.Tensor4D[] {
    const tf = this.tf;
    const out: TF.Tensor4D[] = [];
    let h = x;
    for (let i = 0; i < this.depth; i++) {
      const conv = this.convs.get(i);
      h = conv ? tf.relu(tf.add<TF.Tensor4D>(tf.conv2d(h, conv.kernel, 1, 'same'), conv.bias)) : tf.maxPool(h, 2, 2, 'valid');
      out.push(h);
    }
    return out;
  }

  gram(f: TF.Tensor4D): TF.Tensor2D {
    const tf = this.tf;
    const [, height, width, channels] = f.shape;
    const m = tf.reshape<TF.Rank.R2>(f, [height * width, channels]);
    return tf.div(tf.matMul(m, m, true, false), channels * height * width);
  }

  loss(x: TF.Tensor4D): TF.Scalar {
    const tf = this.tf;
    const s = this.state!;
    const f = this.features(x);
    let total: TF.Tensor = tf.scalar(0);
    this.contentLayers.forEach((l, k) => {
      total = tf.add(total, tf.mul(tf.mean(tf.squaredDifference(f[l], s.content[k])), this.config.contentWeight));
    });
    this.styleLayers.forEach((l, k) => {
      total = tf.add(total, tf.mul(tf.mean(tf.squaredDifference(this.gram(f[l]), s.style[k])), this.styleWeights[k]));
    });
    if (this.config.tvWeight > 0) {
      const [, height, width] = x.shape;
      const dy = tf.sub(tf.slice(x, [0, 1, 0, 0], [1, height - 1, width, 3]), tf.slice(x, [0, 0, 0, 0], [1, height - 1, width, 3]));
      const dx = tf.sub(tf.slice(x, [0, 0, 1, 0], [1, height, width - 1, 3]), tf.slice(x, [0, 0, 0, 0], [1, height, width - 1, 3]));
      total = tf.add(total, tf.mul(tf.add(tf.sum(tf.square(dy)), tf.sum(tf.square(dx))), this.config.tvWeight));
    }
    return total as TF.Scalar;
  }

  /** Uploads the inputs of one size and computes the targets (content features, style Grams). */
  async prepare(inputs: BenchInputs): Promise<void> {
    this.release();
    const tf = this.tf;
    const n = inputs.size;
    const tensor = (planar: Float32Array) => tf.tensor4d(planarToNhwc(planar, n, n), [1, n, n, 3]);
    const targets = tf.tidy(() => {
      const fc = this.features(tensor(inputs.content));
      const fs = this.features(tensor(inputs.style));
      return { content: this.contentLayers.map((l) => fc[l]), style: this.styleLayers.map((l) => this.gram(fs[l])) };
    });
    this.state = { size: n, x: tensor(inputs.x), ...targets };
    await Promise.all([...targets.content, ...targets.style].map((t) => t.data()));
  }

  /**
   * The first evaluation (it compiles the pipelines, so it is the warm-up): run under tf.profile for the peak
   * tensor bytes, then the loss, the gradient and tf.memory() read back.
   */
  async firstEvaluation(): Promise<PeerEvaluation> {
    const tf = this.tf;
    const s = this.state!;
    const started = performance.now();
    let result: { value: TF.Scalar; grad: TF.Tensor4D } | undefined;
    let peakTensorBytes: number | null = null;
    try {
      const info = await tf.profile(() => {
        result = this.valueAndGrad(s.x);
        return [result.value, result.grad];
      });
      peakTensorBytes = info.peakBytes;
    } catch {
      // tf.profile needs kernel timing support; without it, evaluate plainly (peak tensor bytes then unknown).
      result?.value.dispose();
      result?.grad.dispose();
      result = this.valueAndGrad(s.x);
    }
    const { value, grad } = result!;
    const loss = (await value.data())[0];
    const nhwc = (await grad.data()) as Float32Array;
    const firstMs = performance.now() - started;
    const mem = tf.memory() as { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
    value.dispose();
    grad.dispose();
    return {
      loss,
      grad: nhwcToPlanar(nhwc, s.size, s.size),
      firstMs,
      memory: { peakTensorBytes, numBytesInGPU: mem.numBytesInGPU ?? null, numBytesAllocatedInGPU: mem.numBytesAllocatedInGPU ?? null },
    };
  }

  /**
   * One timed evaluation: valueAndGrad, then flush tfjs's batched commands the way its own readback does
   * (end the open compute pass, submit) and wait for the GPU; nothing is read back.
   */
  async timedEvaluation(waiter: QueueWaiter): Promise<number> {
    const s = this.state!;
    const started = performance.now();
    const { value, grad } = this.valueAndGrad(s.x);
    this.backend.ensureCommandEncoderReady();
    this.backend.endComputePassEncoder();
    this.backend.submitQueue();
    await waiter.wait();
    const ms = performance.now() - started;
    value.dispose();
    grad.dispose();
    return ms;
  }

  /** The queue tfjs submits to. */
  get queue(): GPUQueue {
    return this.backend.device.queue;
  }

  get numTensors(): number {
    return this.tf.memory().numTensors;
  }

  memory(): { numBytes: number; numBytesInGPU: number | null; numBytesAllocatedInGPU: number | null } {
    const m = this.tf.memory() as { numBytes: number; numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
    return { numBytes: m.numBytes, numBytesInGPU: m.numBytesInGPU ?? null, numBytesAllocatedInGPU: m.numBytesAllocatedInGPU ?? null };
  }

  release(): void {
    if (!this.state) return;
    this.tf.dispose([this.state.x, ...this.state.content, ...this.state.style]);
    this.state = undefined;
  }

  /** Releases the inputs and the weights (a page may run the benchmark again in the same tfjs). */
  dispose(): void {
    this.release();
    for (const { kernel, bias } of this.convs.values()) this.tf.dispose([kernel, bias]);
    this.convs.clear();
  }
}
