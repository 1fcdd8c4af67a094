/**
 * The pass scheduler. A plan records its dispatches once (pipelines and bind groups made up front); `submit`
 * encodes all of them into a single command buffer, so one loss+gradient evaluation is one queue submission.
 * With timing on, each dispatch gets its own compute pass bracketed by timestamp writes.
 */
import { bindGroupEntries, workgroupGrid, type BindingDeclarations, type BindingValues, type ComputeProgram } from './program.js';
import type { GpuRuntime } from './runtime.js';
import type { QueueWaiter } from './queueWait.js';

/** Which network layer a dispatch belongs to, so timings map to layers whatever kernels a layer uses. */
export interface DispatchTag {
  layer: string;
  role: 'forward' | 'backward';
}

export interface Dispatch {
  label: string;
  tag?: DispatchTag;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number];
  /** Floating-point operations the dispatch performs (for GFLOP/s in benchmarks); 0 when not meaningful. */
  flops: number;
  /** Uniform buffers made from field values for this dispatch: its owner releases them (releaseDispatch). */
  uniforms: GPUBuffer[];
}

/** Invocations (1-D, folded into a 2-D grid) or an explicit [x, y] workgroup grid. */
export type DispatchSize = number | { grid: [number, number] };

export interface PassTiming {
  label: string;
  tag?: DispatchTag;
  ms: number;
  flops: number;
}

/** How per-dispatch times were taken: GPU timestamp queries, or each dispatch submitted alone and waited for. */
export type PerDispatchTiming = 'timestamp-query' | 'submit-and-wait';

export class PassList {
  readonly dispatches: Dispatch[] = [];
  /** Waits of submitTimed: a series of its own, so on a CPU adapter the wait sleeps instead of polling. */
  private timedWaiter: QueueWaiter | undefined;

  constructor(readonly gpu: GpuRuntime) {}

  /**
   * Records `program` with its bindings given by name, over `invocations` invocations (a 1-D count folded into a
   * grid) or an explicit workgroup grid (kernels that derive indices from workgroup_id). Uniforms given as field
   * values become buffers this list owns until `dispose`.
   */
  add<B extends BindingDeclarations>(program: ComputeProgram<B>, bindings: BindingValues<B>, invocations: DispatchSize, flops = 0, tag?: DispatchTag): void {
    const dispatch = createDispatch(this.gpu, program, bindings, invocations, flops);
    this.dispatches.push(tag ? { ...dispatch, tag } : dispatch);
  }

  /** Releases the uniform buffers the recorded dispatches made; the list must not be submitted afterwards. */
  dispose(): void {
    for (const d of this.dispatches) releaseDispatch(this.gpu, d);
    this.dispatches.length = 0;
  }

  /** Records every dispatch into `encoder` in one compute pass. */
  encode(encoder: GPUCommandEncoder): void {
    const pass = encoder.beginComputePass();
    for (const d of this.dispatches) encodeDispatch(pass, d);
    pass.end();
  }

  /** Encodes and submits everything as one command buffer. */
  submit(extra?: (encoder: GPUCommandEncoder) => void): void {
    const encoder = this.gpu.device.createCommandEncoder();
    this.encode(encoder);
    extra?.(encoder);
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /**
   * Runs every dispatch with GPU timestamps around it and returns the per-dispatch times. Needs the
   * 'timestamp-query' feature; slower than `submit` (one pass per dispatch), so only benchmarks use it.
   */
  async submitTimed(): Promise<PassTiming[]> {
    const { device, buffers } = this.gpu;
    if (!this.gpu.context.timestamps) throw new Error('This device has no timestamp queries.');
    const count = this.dispatches.length * 2;
    const querySet = device.createQuerySet({ type: 'timestamp', count });
    const resolve = buffers.acquire(count * 8, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'timestamps');
    try {
      const encoder = device.createCommandEncoder();
      this.dispatches.forEach((d, i) => {
        const pass = encoder.beginComputePass({
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.grid[0], d.grid[1]);
        pass.end();
      });
      encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
      device.queue.submit([encoder.finish()]);
      // Wait first (QueueWaiter: sleeping, not polling, where polling would take a core from a CPU adapter's
      // shaders), then map the results: a map awaited at once would poll for the whole run. A sleep that overshoots
      // (after a first run that compiled) costs wall time only, never the timestamps: sleep from the second run on.
      await (this.timedWaiter ??= this.gpu.queueWaiter({ knownBeforeSleep: 1 })).wait();
      const times = new BigUint64Array(await this.gpu.read(resolve, count * 8));
      return this.dispatches.map((d, i) => ({
        label: d.label,
        tag: d.tag,
        ms: Number(times[2 * i + 1] - times[2 * i]) / 1e6,
        flops: d.flops,
      }));
    } finally {
      buffers.release(resolve);
      querySet.destroy();
    }
  }
  /**
   * Per-dispatch times where the device has no timestamp queries: each dispatch submitted alone and waited for
   * (onSubmittedWorkDone), its wall time taken. Includes the submission and the wait, so short dispatches read long;
   * benchmarks say which method they used (`perDispatchTiming`).
   */
  async submitWaited(): Promise<PassTiming[]> {
    const { device } = this.gpu;
    const out: PassTiming[] = [];
    for (const d of this.dispatches) {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      encodeDispatch(pass, d);
      pass.end();
      const commands = encoder.finish();
      const started = performance.now();
      device.queue.submit([commands]);
      await device.queue.onSubmittedWorkDone();
      out.push({ label: d.label, tag: d.tag, ms: performance.now() - started, flops: d.flops });
    }
    return out;
  }

  /** How `submitPerDispatch` times: GPU timestamps where the device has them, else submit-and-wait per dispatch. */
  get perDispatchTiming(): PerDispatchTiming {
    return this.gpu.context.timestamps ? 'timestamp-query' : 'submit-and-wait';
  }

  /** `submitTimed` where the device has timestamp queries, else `submitWaited`. */
  submitPerDispatch(): Promise<PassTiming[]> {
    return this.gpu.context.timestamps ? this.submitTimed() : this.submitWaited();
  }
}

/**
 * Makes one dispatch of `program` over `invocations` invocations with its bindings given by name (what
 * `PassList.add` records). For callers that precreate several dispatches and choose among them per step; uniforms
 * given as field values become buffers in `dispatch.uniforms`, released by `releaseDispatch`.
 */
export function createDispatch<B extends BindingDeclarations>(
  gpu: GpuRuntime,
  program: ComputeProgram<B>,
  bindings: BindingValues<B>,
  invocations: DispatchSize,
  flops = 0,
): Dispatch {
  const uniforms: GPUBuffer[] = [];
  try {
    const entries = bindGroupEntries(program, bindings, (data, label) => {
      const buffer = gpu.uniform(new Uint8Array(data), label);
      uniforms.push(buffer);
      return buffer;
    });
    const { pipeline, layout } = gpu.pipelines.get(program);
    const bindGroup = gpu.device.createBindGroup({ label: program.label, layout, entries });
    const max = gpu.maxWorkgroupsPerDimension;
    const grid = typeof invocations === 'number' ? workgroupGrid(invocations, program.workgroupSize, max) : invocations.grid;
    if (grid[0] > max || grid[1] > max) throw new Error(`${program.label}: workgroup grid ${grid.join(' x ')} exceeds ${max} per dimension`);
    return { label: program.label, pipeline, bindGroup, grid, flops, uniforms };
  } catch (error) {
    // A binding error after a uniform was made (a later binding missing or wrong), or a pipeline that fails its
    // checks: the uniforms made so far belong to no dispatch, so they go back now.
    for (const b of uniforms) gpu.buffers.release(b);
    throw error;
  }
}

/** Releases the uniform buffers `d` made. */
export function releaseDispatch(gpu: GpuRuntime, d: Dispatch): void {
  for (const b of d.uniforms) gpu.buffers.release(b);
  d.uniforms.length = 0;
}

/** Records one prebuilt dispatch into an open compute pass. */
export function encodeDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.grid[0], d.grid[1]);
}
