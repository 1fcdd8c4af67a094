/**
 * Draws into the element's <canvas> through a WebGPU canvas context: the evolving x straight from its GPU buffer
 * (shaders/preview.ts, no readback), and the final RGBA8 image (which may differ from x: original colours).
 * The canvas keeps the last frame, so it is also where `toBlob()` takes "the current image" from.
 */
import { PREVIEW_PARAMS, previewToTexture, type TextureProgram } from '../../shaders/preview.js';
import { bindGroupEntries, bindGroupLayoutEntries, checkProgram } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import type { RgbaImage } from '../io/rgbaImage.js';

interface PreviewPipeline {
  program: TextureProgram;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

// One pipeline per device, shared by every element on the page.
const pipelines = new WeakMap<GPUDevice, PreviewPipeline>();

function previewPipeline(device: GPUDevice): PreviewPipeline {
  let entry = pipelines.get(device);
  if (!entry) {
    const program = previewToTexture();
    checkProgram(program);
    const layout = device.createBindGroupLayout({ label: program.label, entries: bindGroupLayoutEntries(program.bindings) });
    const module = device.createShaderModule({ label: program.label, code: program.code });
    const pipeline = device.createComputePipeline({
      label: program.label,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    entry = { program, pipeline, layout };
    pipelines.set(device, entry);
  }
  return entry;
}

export class PreviewRenderer {
  private context: GPUCanvasContext | undefined;
  private gpu: GpuRuntime | undefined;
  private params: GPUBuffer | undefined;
  private drawn = false;

  constructor(private readonly canvas: HTMLCanvasElement) {}

  /** Whether anything has been drawn since the element was created (toBlob needs an image). */
  get hasImage(): boolean {
    return this.drawn;
  }

  /** Binds the canvas to `gpu`'s device (once; again only if the device changed, e.g. after a device loss). */
  attach(gpu: GpuRuntime): void {
    if (this.gpu === gpu) return;
    this.release();
    const context = this.canvas.getContext('webgpu');
    if (!context) throw new Error('This browser could not create a WebGPU context for the canvas.');
    context.configure({
      device: gpu.device,
      format: previewPipeline(gpu.device).program.format,
      // STORAGE_BINDING: the preview kernel writes the canvas texture directly; COPY_DST: the final image upload.
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST,
      alphaMode: 'opaque',
    });
    this.context = context;
    this.gpu = gpu;
    this.params = gpu.buffers.uniform(PREVIEW_PARAMS.byteSize, 'preview params');
  }

  /** Dispatches the preview kernel on `x` (planar BGR, width x height); called after each iteration's submission. */
  drawX(x: GPUBuffer, width: number, height: number): void {
    const { gpu, context, params } = this.requireAttached();
    this.resize(width, height);
    const { device } = gpu;
    const { pipeline, layout, program } = previewPipeline(device);
    device.queue.writeBuffer(params, 0, PREVIEW_PARAMS.pack({ width, height }));
    const image = context.getCurrentTexture().createView();
    const entries = bindGroupEntries(program, { params, x, image }, () => {
      throw new Error('the preview uniform is made once per canvas');
    });
    const bindGroup = device.createBindGroup({ label: 'preview', layout, entries });
    const encoder = device.createCommandEncoder({ label: 'preview' });
    const pass = encoder.beginComputePass({ label: 'preview' });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(width / program.tile), Math.ceil(height / program.tile));
    pass.end();
    device.queue.submit([encoder.finish()]);
    this.drawn = true;
  }

  /** Uploads an RGBA8 image (the run's final result) into the canvas. */
  drawImage(image: RgbaImage): void {
    const { gpu, context } = this.requireAttached();
    this.resize(image.width, image.height);
    gpu.device.queue.writeTexture(
      { texture: context.getCurrentTexture() },
      // RgbaImage allows a SharedArrayBuffer in its type; the engine's images never live in one.
      image.data as Uint8ClampedArray<ArrayBuffer>,
      { bytesPerRow: image.width * 4, rowsPerImage: image.height },
      [image.width, image.height],
    );
    this.drawn = true;
  }

  /** The canvas as an encoded image (PNG unless `type` names another format the browser encodes). */
  toBlob(type = 'image/png', quality?: number): Promise<Blob> {
    if (!this.drawn) return Promise.reject(new Error('There is no image yet: call start() first.'));
    return new Promise((resolve, reject) => {
      this.canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error(`The browser could not encode the image as ${type}.`))), type, quality);
    });
  }

  /** Unconfigures the canvas (which clears it) and frees the uniform buffer: only when the device changes. */
  private release(): void {
    if (this.gpu && this.params) this.gpu.buffers.release(this.params);
    this.context?.unconfigure();
    this.context = undefined;
    this.gpu = undefined;
    this.params = undefined;
    this.drawn = false;
  }

  private requireAttached(): { gpu: GpuRuntime; context: GPUCanvasContext; params: GPUBuffer } {
    if (!this.gpu || !this.context || !this.params) throw new Error('PreviewRenderer.attach() was not called.');
    return { gpu: this.gpu, context: this.context, params: this.params };
  }

  // Changing the canvas size replaces its texture; the context needs no reconfiguring.
  private resize(width: number, height: number): void {
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
  }
}
