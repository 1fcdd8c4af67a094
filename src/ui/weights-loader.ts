/**
 * Loading the VGG-19 weights in the browser: the directory written by `npm run weights` (manifest .json + .bin).
 *
 * The 80 MB .bin is downloaded once (streamed, with progress), checked against the manifest (parseManifest) and its
 * SHA-256, and kept in Cache Storage for later visits. The small manifest is always asked for first: its sha256
 * says whether the cached .bin is still the right one, and without a network the cached manifest is used.
 * Downloads are shared per URL, so several elements on a page fetch and hold the weights once.
 */
import { parseManifest, WEIGHTS_BIN_FILE, WEIGHTS_MANIFEST_FILE, type WeightsManifest } from '../net/weightsManifest.js';
import type { WeightTensors } from '../net/weights.js';

export interface WeightsProgress {
  loaded: number;
  total: number;
  /** 'cache' when the .bin came from Cache Storage. */
  source: 'network' | 'cache';
}

/** Weights that cannot be used; `message` is meant for the user as is. */
class WeightsLoadError extends Error {
  override name = 'WeightsLoadError';
}

const WEIGHTS_CACHE_NAME = 'style-transfer-weights-v1';
/** Header under which a cached .bin remembers the SHA-256 it was verified against. */
const SHA_HEADER = 'x-style-transfer-sha256';

const HINT = 'weights-src must be the URL of the directory written by `npm run weights`';

function weightsUrls(base: string): { manifest: string; bin: string } {
  const dir = new URL(base.endsWith('/') ? base : `${base}/`, document.baseURI);
  return { manifest: new URL(WEIGHTS_MANIFEST_FILE, dir).href, bin: new URL(WEIGHTS_BIN_FILE, dir).href };
}

interface SharedLoad {
  promise: Promise<WeightTensors>;
  listeners: Set<(p: WeightsProgress) => void>;
  last?: WeightsProgress;
}

const loads = new Map<string, SharedLoad>();

/**
 * The weights under `base` (a directory URL). `onProgress` hears the download (or the cache hit); a failed load is
 * forgotten so that a later call retries.
 */
export function loadWeights(base: string, onProgress?: (p: WeightsProgress) => void): Promise<WeightTensors> {
  if (!base.trim()) return Promise.reject(new WeightsLoadError(`No weights-src is set: ${HINT}.`));
  const urls = weightsUrls(base);
  let load = loads.get(urls.bin);
  if (!load) {
    const shared = { listeners: new Set() } as SharedLoad;
    shared.promise = fetchWeights(urls, (p) => {
      shared.last = p;
      for (const listener of shared.listeners) listener(p);
    }).catch((e: unknown) => {
      loads.delete(urls.bin);
      throw e;
    });
    loads.set(urls.bin, shared);
    load = shared;
  }
  if (onProgress) {
    const shared = load;
    shared.listeners.add(onProgress);
    if (shared.last) onProgress(shared.last);
    const unsubscribe = () => shared.listeners.delete(onProgress);
    shared.promise.then(unsubscribe, unsubscribe);
  }
  return load.promise;
}

async function openCache(): Promise<Cache | undefined> {
  try {
    // Cache Storage exists only in secure contexts and may be refused (private windows, storage policies).
    return typeof caches === 'undefined' ? undefined : await caches.open(WEIGHTS_CACHE_NAME);
  } catch {
    return undefined;
  }
}

async function fetchWeights(urls: { manifest: string; bin: string }, onProgress: (p: WeightsProgress) => void): Promise<WeightTensors> {
  const cache = await openCache();
  const manifestText = await fetchManifestText(urls.manifest, cache);
  // Validate the manifest's own structure against the size it declares before downloading anything.
  const declared = declaredTotalBytes(manifestText);
  const manifest = checkManifest(manifestText, declared, urls.manifest);

  const cached = await cache?.match(urls.bin).catch(() => undefined);
  if (cached && cached.headers.get(SHA_HEADER) === manifest.sha256.toLowerCase()) {
    const data = await cached.arrayBuffer();
    if (data.byteLength === manifest.total_bytes) {
      onProgress({ loaded: data.byteLength, total: data.byteLength, source: 'cache' });
      return { tensors: checkManifest(manifestText, data.byteLength, urls.manifest).tensors, data };
    }
  }

  const data = await download(urls.bin, manifest.total_bytes, onProgress);
  checkManifest(manifestText, data.byteLength, urls.manifest);
  await verifySha256(data, manifest.sha256, urls.bin);
  if (cache) {
    // Stored only once verified. A full disk or quota refusal costs the next visit a download, nothing more.
    const headers = { 'content-type': 'application/octet-stream', [SHA_HEADER]: manifest.sha256.toLowerCase() };
    await Promise.all([
      cache.put(urls.bin, new Response(data, { headers })),
      cache.put(urls.manifest, new Response(manifestText, { headers: { 'content-type': 'application/json' } })),
    ]).catch((e: unknown) => console.warn(`style-transfer: could not cache the weights (${String(e)}).`));
  }
  return { tensors: manifest.tensors, data };
}

async function fetchManifestText(url: string, cache: Cache | undefined): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-cache' });
  } catch (e) {
    const cached = await cache?.match(url).catch(() => undefined);
    if (cached) return cached.text();
    throw new WeightsLoadError(`Could not load the weights manifest ${url}: the server could not be reached or does not allow cross-origin reads (CORS).`, { cause: e });
  }
  if (!response.ok) {
    throw new WeightsLoadError(`Could not load the weights manifest ${url}: the server answered ${response.status} ${response.statusText}`.trim() + ` (${HINT}).`);
  }
  return response.text();
}

function declaredTotalBytes(text: string): number {
  try {
    const value = (JSON.parse(text) as { total_bytes?: unknown }).total_bytes;
    return typeof value === 'number' ? value : -1;
  } catch {
    return -1; // parseManifest reports the JSON error
  }
}

function checkManifest(text: string, binByteLength: number, url: string): WeightsManifest {
  try {
    return parseManifest(text, binByteLength);
  } catch (e) {
    throw new WeightsLoadError(`The weights at ${url} are not usable: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

async function download(url: string, total: number, onProgress: (p: WeightsProgress) => void): Promise<ArrayBuffer> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new WeightsLoadError(`Could not download the weights ${url}: the server could not be reached or does not allow cross-origin reads (CORS).`, { cause: e });
  }
  if (!response.ok || !response.body) {
    throw new WeightsLoadError(`Could not download the weights ${url}: the server answered ${response.status} ${response.statusText}`.trim() + '.');
  }
  // The manifest gives the exact size, so the bytes go straight into one buffer (no chunk list, no second copy).
  const bytes = new Uint8Array(total);
  let loaded = 0;
  onProgress({ loaded, total, source: 'network' });
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (loaded + value.byteLength > total) {
        throw new WeightsLoadError(`The weights ${url} are larger than the ${total} bytes their manifest declares (mismatched files).`);
      }
      bytes.set(value, loaded);
      loaded += value.byteLength;
      onProgress({ loaded, total, source: 'network' });
    }
  } catch (e) {
    reader.cancel().catch(() => undefined);
    if (e instanceof WeightsLoadError) throw e;
    throw new WeightsLoadError(`The download of the weights ${url} broke off after ${loaded} of ${total} bytes.`, { cause: e });
  } finally {
    reader.releaseLock();
  }
  if (loaded !== total) {
    throw new WeightsLoadError(`The weights ${url} are ${loaded} bytes but their manifest declares ${total} (truncated or mismatched files).`);
  }
  return bytes.buffer;
}

async function verifySha256(data: ArrayBuffer, expected: string, url: string): Promise<void> {
  if (typeof crypto === 'undefined' || !crypto.subtle) return; // insecure contexts have no SubtleCrypto (and no WebGPU)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  if (hex !== expected.toLowerCase()) {
    throw new WeightsLoadError(`The weights ${url} do not match their manifest's SHA-256 (corrupt download or mismatched files).`);
  }
}
