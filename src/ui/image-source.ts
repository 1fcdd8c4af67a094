/**
 * Browser image input: a URL, Blob/File, ImageBitmap or <img> -> RgbaImage, with one clear sentence for every way
 * it can fail (unreachable, HTTP error, no CORS, not an image, too large). The browser's own codecs decode (EXIF
 * orientation applied); src/io/rgbaImage.ts does the exact resizing later.
 */
import { DEFAULT_MAX_PIXELS, type RgbaImage } from '../io/rgbaImage.js';

/** What `content-src` / `style-src` accept as properties (attributes are URLs). */
export type ImageSource = string | Blob | ImageBitmap | HTMLImageElement;

/** An image that cannot be used; `message` is meant for the user as is. */
export class ImageSourceError extends Error {
  override name = 'ImageSourceError';
}

type Drawable = ImageBitmap | HTMLImageElement;

/**
 * Decodes `source` into RGBA8. `what` names it in messages ("content image"). Images whose longer side exceeds
 * `maxSide` are downscaled while drawing (the exact area-averaged resize to the run's size follows in stylize).
 */
export async function loadRgbaImage(source: ImageSource, what: string, maxSide: number, signal?: AbortSignal): Promise<RgbaImage> {
  if (typeof source === 'string') return fromUrl(source, what, maxSide, signal);
  if (source instanceof Blob) {
    const name = source instanceof File && source.name ? ` (${JSON.stringify(source.name)})` : '';
    return fromBitmap(await decodeBlob(source, `The ${what}${name}`), what, maxSide);
  }
  if (typeof ImageBitmap !== 'undefined' && source instanceof ImageBitmap) return fromBitmap(source, what, maxSide, false);
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) return fromImgElement(source, what, maxSide);
  throw new ImageSourceError(`The ${what} must be a URL, a Blob or File, an ImageBitmap or an <img> element.`);
}

async function fromUrl(src: string, what: string, maxSide: number, signal?: AbortSignal): Promise<RgbaImage> {
  if (!src.trim()) throw new ImageSourceError(`The ${what} URL is empty.`);
  const url = new URL(src, document.baseURI).href;
  let response: Response;
  try {
    response = await fetch(url, { mode: 'cors', credentials: 'same-origin', signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    // fetch reports CORS refusals and unreachable servers alike; an <img> without CORS tells them apart.
    const why = (await loadsWithoutCors(url))
      ? 'its server does not allow cross-origin reads (CORS): serve it with an Access-Control-Allow-Origin header or from this page\'s origin'
      : 'the server could not be reached';
    throw new ImageSourceError(`Could not load the ${what} from ${url}: ${why}.`, { cause: e });
  }
  if (!response.ok) {
    throw new ImageSourceError(`Could not load the ${what} from ${url}: the server answered ${response.status} ${response.statusText}`.trim() + '.');
  }
  const blob = await response.blob();
  return fromBitmap(await decodeBlob(blob, `The ${what} at ${url}`), what, maxSide);
}

function loadsWithoutCors(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(true);
    img.onerror = () => resolve(false);
    img.src = url;
  });
}

async function decodeBlob(blob: Blob, subject: string): Promise<ImageBitmap> {
  if (blob.size === 0) throw new ImageSourceError(`${subject} is empty (0 bytes).`);
  try {
    return await createImageBitmap(blob);
  } catch (e) {
    const type = blob.type ? ` (${blob.type})` : '';
    throw new ImageSourceError(`${subject}${type} is not an image this browser can decode.`, { cause: e });
  }
}

async function fromImgElement(img: HTMLImageElement, what: string, maxSide: number): Promise<RgbaImage> {
  const where = img.currentSrc || img.src || 'an <img> element';
  try {
    await img.decode();
  } catch (e) {
    throw new ImageSourceError(`The ${what} (${where}) did not load or is not an image this browser can decode.`, { cause: e });
  }
  return fromBitmap(img, what, maxSide);
}

function fromBitmap(image: Drawable, what: string, maxSide: number, owned = true): RgbaImage {
  const width = image instanceof HTMLImageElement ? image.naturalWidth : image.width;
  const height = image instanceof HTMLImageElement ? image.naturalHeight : image.height;
  try {
    if (width < 1 || height < 1) throw new ImageSourceError(`The ${what} has no pixels (${width}x${height}; a closed ImageBitmap?).`);
    if (width * height > DEFAULT_MAX_PIXELS) {
      throw new ImageSourceError(`The ${what} has ${width}x${height} pixels; the limit is ${DEFAULT_MAX_PIXELS / 1e6} megapixels.`);
    }
    const scale = Math.min(1, maxSide / Math.max(width, height));
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (!context) throw new ImageSourceError('This browser could not create a 2D canvas to read the image.');
    // The network ignores alpha: composite transparent images over white rather than over undefined colours.
    context.fillStyle = '#fff';
    context.fillRect(0, 0, w, h);
    context.imageSmoothingQuality = 'high';
    context.drawImage(image, 0, 0, w, h);
    try {
      return { width: w, height: h, data: context.getImageData(0, 0, w, h).data };
    } catch (e) {
      throw new ImageSourceError(
        `The ${what} comes from another origin without CORS, so its pixels cannot be read: give the <img> crossorigin="anonymous" and serve it with Access-Control-Allow-Origin, or pass its URL.`,
        { cause: e },
      );
    }
  } finally {
    if (owned && image instanceof ImageBitmap) image.close();
  }
}
