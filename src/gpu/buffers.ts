/**
 * GPU buffer allocation with reuse and accounting. Plans acquire every buffer they need once per image size and
 * release them when disposed; evaluations allocate nothing. The live count and bytes are what the leak tests and
 * the benchmark's memory column read.
 */

export interface BufferStats {
  live: number;
  liveBytes: number;
  peakBytes: number;
  /** Buffers held in the free list for reuse (counted in liveBytes: they still hold GPU memory). */
  pooled: number;
  created: number;
  /** Of liveBytes, the uniform blocks (one small buffer per recorded dispatch; memory estimates leave them out). */
  uniformBytes: number;
}

/** Bytes the pool allocates for a request of `size` bytes (rounded up to 16, at least 16). */
export function pooledBytes(size: number): number {
  return Math.max(16, Math.ceil(size / 16) * 16);
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly sizes = new Map<GPUBuffer, string>();
  private stats: BufferStats = { live: 0, liveBytes: 0, peakBytes: 0, pooled: 0, created: 0, uniformBytes: 0 };

  constructor(private readonly device: GPUDevice) {}

  /** A buffer of at least `size` bytes (rounded up to 16) with exactly `usage`; reused when one is free. */
  acquire(size: number, usage: GPUBufferUsageFlags, label = 'buffer'): GPUBuffer {
    const bytes = pooledBytes(size);
    const key = `${bytes}:${usage}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) {
      this.stats.pooled--;
      reused.label = label;
      return reused;
    }
    const buffer = this.device.createBuffer({ size: bytes, usage, label });
    this.sizes.set(buffer, key);
    this.stats.live++;
    this.stats.liveBytes += bytes;
    if (usage & GPUBufferUsage.UNIFORM) this.stats.uniformBytes += bytes;
    this.stats.created++;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.liveBytes);
    return buffer;
  }

  /** Storage buffer usable as kernel input/output and copy source/destination. */
  storage(size: number, label?: string): GPUBuffer {
    return this.acquire(size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label);
  }

  uniform(size: number, label?: string): GPUBuffer {
    return this.acquire(size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label);
  }

  /** Returns a buffer to the free list; it keeps its memory until `trim()` or `destroy()`. */
  release(buffer: GPUBuffer): void {
    const key = this.sizes.get(buffer);
    if (key === undefined) throw new Error(`release() of a buffer this pool did not create (${buffer.label})`);
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    if (list.includes(buffer)) throw new Error(`buffer ${buffer.label} released twice`);
    list.push(buffer);
    this.stats.pooled++;
  }

  /**
   * Destroys a buffer at once instead of pooling it: for a one-off upload (an image's RGBA) whose size no later
   * buffer shares, which the pool would otherwise hold (and count) until trim(). Valid after a submission that
   * uses it: WebGPU frees the memory once that work is done.
   */
  discard(buffer: GPUBuffer): void {
    if (!this.sizes.has(buffer)) throw new Error(`discard() of a buffer this pool did not create (${buffer.label})`);
    this.forget(buffer);
  }

  /** Destroys the free buffers, giving their memory back to the GPU. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const buffer of list) this.forget(buffer);
    }
    this.free.clear();
    this.stats.pooled = 0;
  }

  /** Destroys every buffer this pool made, free or in use. */
  destroy(): void {
    for (const buffer of [...this.sizes.keys()]) this.forget(buffer);
    this.free.clear();
    this.stats.pooled = 0;
  }

  getStats(): BufferStats {
    return { ...this.stats };
  }

  private forget(buffer: GPUBuffer): void {
    const key = this.sizes.get(buffer);
    if (key === undefined) return;
    this.sizes.delete(buffer);
    const [bytes, usage] = key.split(':').map(Number);
    this.stats.live--;
    this.stats.liveBytes -= bytes;
    if (usage & GPUBufferUsage.UNIFORM) this.stats.uniformBytes -= bytes;
    buffer.destroy();
  }
}
