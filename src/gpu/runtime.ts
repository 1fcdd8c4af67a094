/**
 * The GPU runtime shared by every plan: device, pipeline cache, buffer pool. Also the small helpers to write
 * uniforms and read buffers back.
 */
import type { GpuContext } from './device.js';
import { BufferPool } from './buffers.js';
import { parallelismOf, type Parallelism } from './parallelism.js';
import { PipelineCache } from './program.js';
import { QueueWaiter, type QueueWaiterOptions } from './queueWait.js';

/** Readbacks above this size (bytes) are destroyed after use instead of pooled (GpuRuntime.read). */
const LARGE_READBACK_BYTES = 1 << 20;

/** The device went away (driver reset, tab backgrounded, device.destroy()); `message` is meant for the user. */
export class GpuDeviceLostError extends Error {
  override name = 'GpuDeviceLostError';
}

export class GpuRuntime {
  readonly device: GPUDevice;
  /** Set once the device is lost; long waits race against `lost` so they end instead of hanging. */
  lostInfo?: { reason: string; message: string };
  readonly lost: Promise<GpuDeviceLostError>;
  readonly pipelines: PipelineCache;
  readonly buffers: BufferPool;
  /** How wide split-up work must be to fill this adapter (src/gpu/parallelism.ts). */
  readonly parallelism: Parallelism;
  /** Number of buffer mappings made through `read` (progress must not map every iteration: tests count these). */
  mappings = 0;

  /** @param options.parallelism overrides the adapter's (tests run the GPU-sized reductions on a CPU adapter). */
  constructor(
    readonly context: GpuContext,
    options: { parallelism?: Parallelism } = {},
  ) {
    this.device = context.device;
    this.pipelines = new PipelineCache(this.device);
    this.buffers = new BufferPool(this.device);
    this.parallelism = options.parallelism ?? parallelismOf(context.adapterInfo);
    this.lost = this.device.lost.then((info) => {
      this.lostInfo = { reason: String(info.reason), message: info.message };
      return this.lostError();
    });
  }

  lostError(): GpuDeviceLostError {
    const info = this.lostInfo;
    const detail = info?.message ? `: ${info.message}` : '';
    const text = `The GPU device was lost (${info?.reason ?? 'unknown'})${detail}`.trimEnd();
    return new GpuDeviceLostError(/[.!?]$/.test(text) ? text : `${text}.`);
  }

  /** Resolves with `work`, or rejects with GpuDeviceLostError as soon as the device is lost. */
  async unlessLost<T>(work: Promise<T>): Promise<T> {
    // Once the loss has won the race, `work` may still reject (Dawn aborts pending callbacks): already reported.
    work.catch(() => undefined);
    if (this.lostInfo) throw this.lostError();
    return Promise.race([work, this.lost.then((error) => Promise.reject(error))]);
  }

  /** A waiter for one series of similar submissions (see QueueWaiter); ends with GpuDeviceLostError on loss. */
  queueWaiter(options?: QueueWaiterOptions): QueueWaiter {
    return new QueueWaiter(this.device.queue, this.context.waitsCompeteWithShaders, (work) => this.unlessLost(work), options);
  }

  get maxWorkgroupsPerDimension(): number {
    return this.device.limits.maxComputeWorkgroupsPerDimension;
  }

  /** A uniform buffer holding `words` (u32/f32/i32 mixed: pass an ArrayBuffer view). */
  uniform(data: ArrayBufferView, label = 'uniforms'): GPUBuffer {
    const buffer = this.buffers.uniform(data.byteLength, label);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /** A storage buffer initialised from `data` (Uint16Array: packed f16, an even number of them). */
  upload(data: Float32Array | Uint32Array | Uint16Array, label = 'data'): GPUBuffer {
    if (data.byteLength % 4 !== 0) throw new Error(`${label}: ${data.byteLength} bytes is not a multiple of 4`);
    const buffer = this.buffers.storage(data.byteLength, label);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /** Copies `byteLength` bytes of `source` to the CPU. Waits for all submitted work touching it. */
  async read(source: GPUBuffer, byteLength = source.size, byteOffset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.buffers.acquire(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    const encoder = this.device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(source, byteOffset, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    this.mappings++;
    try {
      await this.unlessLost(staging.mapAsync(GPUMapMode.READ, 0, size));
      return staging.getMappedRange(0, size).slice(0, byteLength);
    } finally {
      if (staging.mapState === 'mapped') staging.unmap();
      // Small readbacks (losses, Grams) recur and are pooled; a large one (an image, a gradient) is one-off and is
      // destroyed, so the pool does not hold it, uncounted by the memory estimates, through the rest of the run.
      if (size > LARGE_READBACK_BYTES) this.buffers.discard(staging);
      else this.buffers.release(staging);
    }
  }

  async readFloat32(source: GPUBuffer, count?: number, offsetElements = 0): Promise<Float32Array> {
    const n = count ?? source.size / 4 - offsetElements;
    return new Float32Array(await this.read(source, n * 4, offsetElements * 4));
  }

  /** Destroys every buffer and the device. */
  destroy(): void {
    this.buffers.destroy();
    this.device.destroy();
  }
}
