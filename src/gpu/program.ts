/**
 * One description per kernel variant (as tfjs-backend-webgpu does): the WGSL source, the binding kinds, the
 * workgroup size and how many invocations a dispatch needs. The algorithm choice (which variant, which tile
 * sizes) lives in src/net; the kernels live in shaders/; this file only turns descriptions into pipelines.
 */

export type BindingKind = 'uniform' | 'read' | 'read_write';

export interface ComputeProgram {
  /** Unique per distinct WGSL source: pipelines are cached under it. */
  key: string;
  /** Human-readable label for GPU debuggers and timing tables. */
  label: string;
  code: string;
  /** Binding kinds in @binding order, all in @group(0). */
  bindings: readonly BindingKind[];
  /** Invocations per workgroup (1-D; kernels use @workgroup_size(workgroupSize)). */
  workgroupSize: number;
}

/** Caches shader modules and pipelines by program key, so each variant compiles once per device. */
export class PipelineCache {
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  compiled = 0;

  constructor(private readonly device: GPUDevice) {}

  get(program: ComputeProgram): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    let entry = this.pipelines.get(program.key);
    if (!entry) {
      const layout = this.device.createBindGroupLayout({
        label: program.label,
        entries: program.bindings.map((kind, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: kind === 'uniform' ? 'uniform' : kind === 'read' ? 'read-only-storage' : 'storage' },
        })),
      });
      const module = this.device.createShaderModule({ label: program.label, code: program.code });
      const pipeline = this.device.createComputePipeline({
        label: program.label,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      entry = { pipeline, layout };
      this.pipelines.set(program.key, entry);
      this.compiled++;
    }
    return entry;
  }

  get size(): number {
    return this.pipelines.size;
  }
}

/**
 * Splits a 1-D invocation count into a 2-D workgroup grid that respects maxComputeWorkgroupsPerDimension.
 * Kernels rebuild the linear index from @builtin(num_workgroups) (see shaders/common.ts).
 */
export function workgroupGrid(invocations: number, workgroupSize: number, maxPerDimension = 65535): [number, number] {
  const groups = Math.max(1, Math.ceil(invocations / workgroupSize));
  if (groups <= maxPerDimension) return [groups, 1];
  const y = Math.ceil(groups / maxPerDimension);
  return [Math.ceil(groups / y), y];
}
