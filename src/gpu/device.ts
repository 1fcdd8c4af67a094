/**
 * Getting a GPUDevice: in the browser from `navigator.gpu`, in Node from the `webgpu` package (Dawn).
 * Both paths end in `openGpu`, which checks the adapter's limits against what the engine needs and asks for the
 * largest buffers the adapter allows (the defaults cap storage bindings at 128 MiB, too small for 512 px).
 */

/** Raised when no usable WebGPU exists; `message` is meant for the user as is. */
export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

/** What the engine needs at least; every WebGPU adapter offers this, so failing here means a broken setup. */
const REQUIRED_LIMITS = {
  maxStorageBuffersPerShaderStage: 6,
  maxComputeInvocationsPerWorkgroup: 64,
  maxComputeWorkgroupSizeX: 64,
  maxStorageBufferBindingSize: 16 * 1024 * 1024,
} as const;

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: AdapterDescription;
  /** Whether timestamp queries were granted (per-pass GPU timing). */
  timestamps: boolean;
  /** Whether `shader-f16` was granted. */
  f16: boolean;
  /**
   * Whether awaiting the queue keeps a CPU core busy that the shaders themselves need: Dawn's Node binding polls
   * with back-to-back setImmediate ticks while any of its promises is pending, and on a CPU adapter (lavapipe) the
   * shaders run on the same cores. Waits then sleep through most of the expected time first (src/gpu/queueWait.ts).
   */
  waitsCompeteWithShaders: boolean;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
  limits: Record<string, number>;
}

export interface OpenGpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Ask for timestamp queries when the adapter has them (default true). */
  timestamps?: boolean;
  /** The WebGPU implementation polls on the JS thread while a promise is pending (Dawn's Node binding). */
  pollingWaits?: boolean;
}

function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const limits: Record<string, number> = {};
  // GPUSupportedLimits keeps its values as prototype getters, so Object.keys sees nothing.
  for (const key in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') limits[key] = value;
  }
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    features: [...adapter.features].sort(),
    limits,
  };
}

/** Whether the adapter is Mesa's lavapipe (llvmpipe under Vulkan). */
export function isLavapipe(d: Pick<AdapterDescription, 'device' | 'description'>): boolean {
  return /llvmpipe|lavapipe/i.test(`${d.device} ${d.description}`);
}

/** Whether the adapter runs shaders on the CPU (Mesa lavapipe/llvmpipe, SwiftShader). */
export function isCpuAdapter(d: AdapterDescription): boolean {
  return d.architecture === 'software' || isLavapipe(d) || /swiftshader/i.test(`${d.device} ${d.description}`);
}

/** A one-line name for logs and benchmark tables. */
export function adapterName(d: AdapterDescription): string {
  const parts = [d.vendor, d.architecture, d.device, d.description].filter((s) => s.length > 0);
  return parts.length > 0 ? [...new Set(parts)].join(' / ') : 'unknown adapter';
}

export async function openGpu(gpu: GPU | undefined, options: OpenGpuOptions = {}): Promise<GpuContext> {
  if (!gpu) throw new GpuUnavailableError('WebGPU is not available here (no navigator.gpu).');
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new GpuUnavailableError('WebGPU is available but no GPU adapter was found.');
  const have = adapter.limits;
  for (const [name, need] of Object.entries(REQUIRED_LIMITS)) {
    const got = (have as unknown as Record<string, number>)[name];
    if (got < need) {
      throw new GpuUnavailableError(`The GPU adapter's ${name} is ${got}; style-transfer needs at least ${need}.`);
    }
  }
  const wantTimestamps = options.timestamps !== false && adapter.features.has('timestamp-query');
  const f16 = adapter.features.has('shader-f16');
  const requiredFeatures: GPUFeatureName[] = [];
  if (wantTimestamps) requiredFeatures.push('timestamp-query');
  if (f16) requiredFeatures.push('shader-f16');
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: have.maxStorageBufferBindingSize,
      maxBufferSize: have.maxBufferSize,
      maxStorageBuffersPerShaderStage: have.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: have.maxComputeWorkgroupsPerDimension,
    },
  });
  const adapterInfo = describeAdapter(adapter);
  const waitsCompeteWithShaders = options.pollingWaits === true && isCpuAdapter(adapterInfo);
  return { device, adapterInfo, timestamps: wantTimestamps, f16, waitsCompeteWithShaders };
}

/** Browser entry: the page's own WebGPU. */
export function openBrowserGpu(options?: OpenGpuOptions): Promise<GpuContext> {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  return openGpu(gpu, options);
}
