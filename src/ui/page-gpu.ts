/**
 * The page's one GPU runtime, shared by every <style-transfer> element: a device per element would repeat the
 * pipeline compilation and hold the weights once per element. A lost device is forgotten, so the next run opens a
 * new one (the runtime itself turns the loss into GpuDeviceLostError for the run in progress).
 */
import { GpuUnavailableError, openBrowserGpu } from '../gpu/device.js';
import { GpuRuntime } from '../gpu/runtime.js';

export interface PageGpu {
  runtime: GpuRuntime;
  /** The first uncaptured GPU error since `takeError()` was last called (a kernel or binding bug), if any. */
  takeError(): string | undefined;
}

let shared: Promise<PageGpu> | undefined;
/** The opened, not lost runtime (what `shared` resolved to), for synchronous reads such as buffer statistics. */
let current: GpuRuntime | undefined;

/** Why WebGPU is needed and where it exists, appended to "no WebGPU" messages. */
const WEBGPU_HINT = 'style-transfer needs WebGPU: a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled, on a page served over https or from localhost.';

export function pageGpu(): Promise<PageGpu> {
  shared ??= open().catch((e: unknown) => {
    shared = undefined;
    if (e instanceof GpuUnavailableError) throw new GpuUnavailableError(`${e.message} ${WEBGPU_HINT}`);
    throw e;
  });
  return shared;
}

/** The page's runtime if it is open and not lost (opens nothing). */
export function currentPageRuntime(): GpuRuntime | undefined {
  return current;
}

async function open(): Promise<PageGpu> {
  if (typeof isSecureContext !== 'undefined' && !isSecureContext) {
    throw new GpuUnavailableError('WebGPU is not available on this page because it is not a secure context.');
  }
  // Timestamps are for benchmarks only.
  const runtime = new GpuRuntime(await openBrowserGpu({ timestamps: false }));
  current = runtime;
  void runtime.lost.then(() => {
    shared = undefined;
    if (current === runtime) current = undefined;
  });
  let firstError: string | undefined;
  runtime.device.addEventListener('uncapturederror', (event) => {
    const message = event.error.message;
    console.error(`style-transfer: GPU error: ${message}`);
    firstError ??= message;
  });
  return {
    runtime,
    takeError: () => {
      const error = firstError;
      firstError = undefined;
      return error;
    },
  };
}
