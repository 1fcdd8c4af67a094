/**
 * Browser image input: a URL, Blob/File, ImageBitmap or <img> -> RgbaImage, with one clear sentence for every way
 * it can fail. URLs and Blobs: the format comes from the magic bytes (PNG, JPEG, WebP, AVIF, GIF or BMP: what
 * createImageBitmap decodes everywhere WebGPU exists), and the header's declared size is read and checked
 * (src/ui/image-header.ts; PNG and JPEG with the CLI's own reader and messages, truncation included) before the
 * browser's codec sees a byte, so a decompression bomb is refused without decoding. The browser then decodes (EXIF
 * orientation applied; an animated GIF or WebP gives its first frame), and the pixels are read back through the GPU
 * as straight (not premultiplied) RGBA: like the CLI, the engine ignores alpha and sees the colour stored in
 * transparent pixels. src/io/rgbaImage.ts does the exact resizing later.
 */
import type { GpuRuntime } from '../gpu/runtime.js';
import { checkDeclaredSize, DEFAULT_MAX_PIXELS, ImageInputError, quoteSource, readImageHeader, type RgbaImage } from '../io/rgbaImage.js';
import { readBrowserImageHeader, type BrowserImageHeader } from './image-header.js';

/** What `content-src` / `style-src` accept as properties (attributes are URLs). */
export type ImageSource = string | Blob | ImageBitmap | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas;

/** An image that cannot be used; `message` is meant for the user as is. (Decoding failures are ImageInputError.) */
class ImageSourceError extends Error {
  override name = 'ImageSourceError';
}

/** Decoded as stored: no premultiplication (transparent pixels keep their colour), no colour-profile conversion. */
const STRAIGHT: ImageBitmapOptions = { premultiplyAlpha: 'none', colorSpaceConversion: 'none' };

/**
 * Decodes `source` into RGBA8 on `gpu`'s device. `what` names it in messages ("content image"). Images whose longer
 * side exceeds `maxSide` are downscaled while decoding (the exact area-averaged resize to the run's size follows in
 * stylize).
 */
export async function loadRgbaImage(source: ImageSource, what: string, maxSide: number, gpu: GpuRuntime, signal?: AbortSignal): Promise<RgbaImage> {
  if (typeof source === 'string') return fromUrl(source, what, maxSide, gpu, signal);
  if (source instanceof Blob) {
    const name = source instanceof File && source.name ? source.name : `${what} (${source.type || 'Blob'})`;
    return fromBytes(new Uint8Array(await source.arrayBuffer()), name, what, maxSide, gpu);
  }
  if (typeof ImageBitmap !== 'undefined' && source instanceof ImageBitmap) return fromBitmap(source, what, maxSide, gpu, false);
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) return fromImgElement(source, what, maxSide, gpu);
  if ((typeof HTMLCanvasElement !== 'undefined' && source instanceof HTMLCanvasElement) || (typeof OffscreenCanvas !== 'undefined' && source instanceof OffscreenCanvas)) {
    // A canvas (a painted mask): its pixels as they are now.
    return fromBitmap(await createImageBitmap(source, STRAIGHT), what, maxSide, gpu, true);
  }
  throw new ImageSourceError(`The ${what} must be a URL, a Blob or File, an ImageBitmap, an <img> element or a canvas.`);
}

async function fromUrl(src: string, what: string, maxSide: number, gpu: GpuRuntime, signal?: AbortSignal): Promise<RgbaImage> {
  if (!src.trim()) throw new ImageSourceError(`The ${what} URL is empty.`);
  const url = new URL(src, document.baseURI).href;
  let response: Response;
  try {
    response = await fetch(url, { mode: 'cors', credentials: 'same-origin', signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    // fetch reports CORS refusals and unreachable servers alike; an <img> without CORS tells them apart.
    const why = (await loadsWithoutCors(url))
      ? "its server does not allow cross-origin reads (CORS): serve it with an Access-Control-Allow-Origin header or from this page's origin"
      : 'the server could not be reached';
    throw new ImageSourceError(`Could not load the ${what} from ${url}: ${why}.`, { cause: e });
  }
  if (!response.ok) {
    throw new ImageSourceError(`Could not load the ${what} from ${url}: the server answered ${response.status} ${response.statusText}`.trim() + '.');
  }
  return fromBytes(new Uint8Array(await response.arrayBuffer()), url, what, maxSide, gpu);
}

function loadsWithoutCors(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(true);
    img.onerror = () => resolve(false);
    img.src = url;
  });
}

/**
 * The checks made before decoding: empty, not an image format the element reads, truncated or broken header,
 * declared size above the pixel limit; for PNG and JPEG also truncated data, with the CLI's messages
 * (src/io/image.ts decodeImageBytes). `name` is the URL or file name the messages quote.
 */
function checkImageBytes(bytes: Uint8Array, name: string): BrowserImageHeader {
  const header = readBrowserImageHeader(bytes, name);
  checkDeclaredSize(header, name);
  const truncated =
    header.format === 'png'
      ? !pngIsComplete(bytes) && 'the file is truncated'
      : header.format === 'jpeg' && readImageHeader(bytes, name).jpeg?.truncated && 'the file is truncated (there is no end-of-image marker after the image data)';
  if (truncated) throw new ImageInputError(`Image file ${quoteSource(name)} could not be decoded: ${truncated}.`, name, 'corrupt');
  return header;
}

/** Whether the PNG's chunks all fit in `bytes` up to IEND (browsers would show a truncated PNG half drawn). */
function pngIsComplete(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let pos = 8; pos + 8 <= bytes.length;) {
    const end = pos + 12 + view.getUint32(pos);
    if (end > bytes.length) return false;
    if (view.getUint32(pos + 4) === 0x49454e44 /* IEND */) return true;
    pos = end;
  }
  return false;
}

async function fromBytes(bytes: Uint8Array<ArrayBuffer>, name: string, what: string, maxSide: number, gpu: GpuRuntime): Promise<RgbaImage> {
  const header = checkImageBytes(bytes, name);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type: header.mimeType }), STRAIGHT);
  } catch (e) {
    throw new ImageInputError(
      `Image file ${quoteSource(name)} could not be decoded: this browser's ${header.format.toUpperCase()} decoder refused it (corrupt image data).`,
      name,
      'corrupt',
      { cause: e },
    );
  }
  return fromBitmap(bitmap, what, maxSide, gpu, true);
}

async function fromImgElement(img: HTMLImageElement, what: string, maxSide: number, gpu: GpuRuntime): Promise<RgbaImage> {
  const where = img.currentSrc || img.src || 'an <img> element';
  let bitmap: ImageBitmap;
  try {
    await img.decode();
    bitmap = await createImageBitmap(img, STRAIGHT);
  } catch (e) {
    throw new ImageSourceError(`The ${what} (${where}) did not load or is not an image this browser can decode.`, { cause: e });
  }
  return fromBitmap(bitmap, what, maxSide, gpu, true);
}

async function fromBitmap(image: ImageBitmap, what: string, maxSide: number, gpu: GpuRuntime, owned: boolean): Promise<RgbaImage> {
  const { width, height } = image;
  let scaled: ImageBitmap | undefined;
  try {
    if (width < 1 || height < 1) throw new ImageSourceError(`The ${what} has no pixels (${width}x${height}; a closed ImageBitmap?).`);
    if (width * height > DEFAULT_MAX_PIXELS) {
      throw new ImageSourceError(`The ${what} has ${width}x${height} pixels; the limit is ${DEFAULT_MAX_PIXELS / 1e6} megapixels.`);
    }
    const side = Math.min(maxSide, gpu.device.limits.maxTextureDimension2D);
    const scale = Math.min(1, side / Math.max(width, height));
    if (scale < 1) {
      const resizeWidth = Math.max(1, Math.round(width * scale));
      const resizeHeight = Math.max(1, Math.round(height * scale));
      scaled = await createImageBitmap(image, { ...STRAIGHT, resizeWidth, resizeHeight, resizeQuality: 'high' });
    }
    return await readPixels(gpu, scaled ?? image, what);
  } finally {
    scaled?.close();
    if (owned) image.close();
  }
}

/**
 * The bitmap's pixels as straight RGBA8: copyExternalImageToTexture (premultipliedAlpha false), then a readback.
 * A 2D canvas would premultiply and lose the colour of transparent pixels. The texture and buffer are the
 * device's own (not the engine's pool) and destroyed here.
 */
async function readPixels(gpu: GpuRuntime, bitmap: ImageBitmap, what: string): Promise<RgbaImage> {
  const { device } = gpu;
  const { width, height } = bitmap;
  const bytesPerRow = Math.ceil((width * 4) / 256) * 256;
  const texture = device.createTexture({
    label: `${what} upload`,
    size: [width, height],
    format: 'rgba8unorm',
    usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.RENDER_ATTACHMENT,
  });
  const buffer = device.createBuffer({ label: `${what} readback`, size: bytesPerRow * height, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  try {
    try {
      device.queue.copyExternalImageToTexture({ source: bitmap }, { texture, premultipliedAlpha: false }, [width, height]);
    } catch (e) {
      if (e instanceof DOMException && e.name === 'SecurityError') {
        throw new ImageSourceError(
          `The ${what} comes from another origin without CORS, so its pixels cannot be read: give the <img> crossorigin="anonymous" and serve it with Access-Control-Allow-Origin, or pass its URL.`,
          { cause: e },
        );
      }
      throw e;
    }
    const encoder = device.createCommandEncoder({ label: `${what} readback` });
    encoder.copyTextureToBuffer({ texture }, { buffer, bytesPerRow }, [width, height]);
    device.queue.submit([encoder.finish()]);
    await gpu.unlessLost(buffer.mapAsync(GPUMapMode.READ));
    const mapped = new Uint8Array(buffer.getMappedRange());
    const data = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y++) data.set(mapped.subarray(y * bytesPerRow, y * bytesPerRow + width * 4), y * width * 4);
    return { width, height, data };
  } finally {
    if (buffer.mapState === 'mapped') buffer.unmap();
    buffer.destroy();
    texture.destroy();
  }
}
