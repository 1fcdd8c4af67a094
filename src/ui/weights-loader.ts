/**
 * Loading the VGG-19 weights in the browser: only the conv layers a run needs, from one safetensors file of the
 * chosen precision under `weights-src` (vgg19_conv_hwio_<precision>.safetensors, src/net/weightsFormat.ts).
 *
 * - The header (a few KB) is read with one HTTP Range request on every page load (so a changed file is noticed);
 *   when the server cannot be reached, the header kept from the last visit is used with the cached layers.
 * - Each layer's tensors are contiguous in the file; the layers not yet held are fetched with one Range request
 *   per contiguous run (a first visit: one request for conv1_1..conv5_1), checked against the SHA-256 the header
 *   records for the layer, and kept in Cache Storage one entry per layer (keyed by that hash), so a later run
 *   that goes deeper fetches only the deeper layers. A server that ignores Range answers with the whole file:
 *   the stream is read up to the last byte needed and then cancelled.
 * - Progress counts the bytes actually received (or, when everything comes from the cache, the bytes read there).
 * - Layers are shared per file and layer within the page, so several elements fetch and hold a layer once.
 */
import { parseSafetensorsHeader, safetensorsHeaderLength, type SafetensorsHeader } from '../net/safetensors.js';
import type { WeightTensors } from '../net/weights.js';
import { isWeightsPrecision, sha256Hex, spanRecords, vggLayerSpans, WEIGHTS_PRECISIONS, weightsFileName, type LayerSpan, type WeightsPrecision } from '../net/weightsFormat.js';
import { VGG19_CONV_LAYERS } from '../net/weightsManifest.js';

export interface WeightsProgress {
  loaded: number;
  total: number;
  /** 'cache' when every layer came from Cache Storage (or was already in memory). */
  source: 'network' | 'cache';
}

export interface WeightsRequest {
  /** The file's precision (the element's weights-precision; default f16). */
  precision?: string;
  /** The conv layers the run needs, by name (src/net/weightsFormat.ts, convLayersForDepth). */
  layers: readonly string[];
}

/** Weights that cannot be used; `message` is meant for the user as is. */
export class WeightsLoadError extends Error {
  override name = 'WeightsLoadError';
}

/** The server could not be reached (or refused a cross-origin read): no HTTP answer at all. */
class WeightsUnreachableError extends WeightsLoadError {
  override name = 'WeightsUnreachableError';
}

const WEIGHTS_CACHE_NAME = 'style-transfer-weights-v2';
/** Caches of earlier versions (the whole 80 MB f32 .bin), deleted when this one is opened. */
const OLD_CACHE_NAMES = ['style-transfer-weights-v1'];
/** The first request for a header asks for this many bytes (headers of the project's files are 4-6 KB). */
const HEADER_PROBE_BYTES = 16_384;

const HINT = 'weights-src must be the URL of the directory written by `npm run weights`';

interface RemoteFile {
  url: string;
  header: SafetensorsHeader;
  spans: Map<string, LayerSpan>;
}

interface FileState {
  header: Promise<RemoteFile>;
  layers: Map<string, Promise<ArrayBuffer>>;
}

const files = new Map<string, FileState>();

function fileUrl(base: string, precision: WeightsPrecision): string {
  // (document is absent in Node, where the loader also runs: base is then an absolute URL.)
  const dir = new URL(base.endsWith('/') ? base : `${base}/`, globalThis.document?.baseURI);
  return new URL(weightsFileName(precision), dir).href;
}

/**
 * The tensors of `request.layers` from the file of `request.precision` under `base` (a directory URL).
 * `onProgress` hears the bytes as they arrive; a failed load is forgotten so that a later call retries.
 */
export async function loadWeights(base: string, request: WeightsRequest, onProgress?: (p: WeightsProgress) => void): Promise<WeightTensors> {
  if (!base.trim()) throw new WeightsLoadError(`No weights-src is set: ${HINT}.`);
  const precision = request.precision || 'f16';
  if (!isWeightsPrecision(precision)) throw new WeightsLoadError(`weights-precision must be ${WEIGHTS_PRECISIONS.join(', ')}, got "${precision}".`);
  const url = fileUrl(base, precision);
  let state = files.get(url);
  if (!state) {
    const fresh: FileState = { header: fetchHeader(url, precision), layers: new Map() };
    fresh.header.catch(() => files.delete(url));
    files.set(url, fresh);
    state = fresh;
  }
  const remote = await state.header;
  const spans = request.layers.map((name) => {
    const span = remote.spans.get(name);
    if (!span) throw new WeightsLoadError(`The weights at ${url} have no layer ${name}.`);
    return span;
  });
  const buffers = await loadLayers(state, remote, spans, onProgress ?? (() => undefined));
  const data = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of buffers) {
    data.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return { tensors: spanRecords(spans), data: data.buffer };
}

async function loadLayers(state: FileState, remote: RemoteFile, spans: LayerSpan[], onProgress: (p: WeightsProgress) => void): Promise<ArrayBuffer[]> {
  const cache = await openCache();
  const fromCache = await Promise.all(spans.map((span) => (state.layers.has(span.layer) ? Promise.resolve(undefined) : readCached(cache, remote.url, span))));
  spans.forEach((span, i) => {
    const cached = fromCache[i];
    if (cached) state.layers.set(span.layer, Promise.resolve(cached));
  });
  const missing = spans.filter((span) => !state.layers.has(span.layer));
  const total = missing.reduce((n, s) => n + s.end - s.begin, 0);
  if (missing.length === 0) {
    const bytes = spans.reduce((n, s) => n + s.end - s.begin, 0);
    onProgress({ loaded: bytes, total: bytes, source: 'cache' });
  } else {
    let loaded = 0;
    onProgress({ loaded, total, source: 'network' });
    // Runs of adjacent layers, one Range request each.
    const runs: LayerSpan[][] = [];
    for (const span of missing) {
      const last = runs.at(-1);
      if (last && last[last.length - 1].end === span.begin) last.push(span);
      else runs.push([span]);
    }
    for (const run of runs) {
      const fetched = fetchRun(remote, run, (n) => {
        loaded += n;
        onProgress({ loaded, total, source: 'network' });
      });
      run.forEach((span, i) => {
        const layer = fetched.then(async (parts) => {
          await verifyLayer(remote.url, span, parts[i]);
          void writeCached(cache, remote.url, span, parts[i]);
          return parts[i];
        });
        layer.catch(() => state.layers.delete(span.layer));
        state.layers.set(span.layer, layer);
      });
    }
  }
  return Promise.all(spans.map((span) => state.layers.get(span.layer)!));
}

/** Fetches `run` (adjacent layers) with one Range request and splits it per layer. */
async function fetchRun(remote: RemoteFile, run: LayerSpan[], onBytes: (n: number) => void): Promise<ArrayBuffer[]> {
  const begin = remote.header.dataStart + run[0].begin;
  const end = remote.header.dataStart + run[run.length - 1].end;
  const { bytes } = await fetchRange(remote.url, begin, end, onBytes);
  if (bytes.byteLength !== end - begin) {
    throw new WeightsLoadError(`The weights ${remote.url} end after ${begin + bytes.byteLength} bytes although their header places layer data up to byte ${end} (truncated file).`);
  }
  return run.map((span) => bytes.slice(span.begin - run[0].begin, span.end - run[0].begin).buffer);
}

async function verifyLayer(url: string, span: LayerSpan, data: ArrayBuffer): Promise<void> {
  // Insecure contexts have no SubtleCrypto (and no WebGPU either).
  if (!span.sha256 || typeof crypto === 'undefined' || !crypto.subtle) return;
  if ((await sha256Hex(new Uint8Array(data))) !== span.sha256) {
    throw new WeightsLoadError(`Layer ${span.layer} of the weights ${url} does not match the SHA-256 in their header (corrupt download or a file changed while loading).`);
  }
}

async function fetchHeader(url: string, precision: WeightsPrecision): Promise<RemoteFile> {
  let json: Uint8Array;
  let fileLength: number | undefined;
  try {
    ({ json, fileLength } = await fetchHeaderBytes(url, precision));
    void writeCachedHeader(url, json);
  } catch (e) {
    // Offline (the server cannot be reached): the header kept from the last visit, if any, with its cached layers.
    const cached = e instanceof WeightsUnreachableError ? await readCachedHeader(url) : undefined;
    if (!cached) throw e;
    json = cached;
  }
  try {
    const header = parseSafetensorsHeader(json, fileLength);
    const names = new Set(header.tensors.map((t) => t.name.split('/')[0]));
    const spans = vggLayerSpans(
      header,
      VGG19_CONV_LAYERS.filter((l) => names.has(l.name)),
    );
    return { url, header, spans: new Map(spans.map((s) => [s.layer, s])) };
  } catch (e) {
    throw new WeightsLoadError(`The weights at ${url} are not usable: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** The JSON header bytes of `url` (one Range request, two when the header is longer than the probe). */
async function fetchHeaderBytes(url: string, precision: WeightsPrecision): Promise<{ json: Uint8Array; fileLength?: number }> {
  const probe = await fetchRange(url, 0, HEADER_PROBE_BYTES, () => undefined, precision);
  let length: number;
  try {
    length = safetensorsHeaderLength(probe.bytes.subarray(0, 8));
  } catch (e) {
    throw new WeightsLoadError(`The weights at ${url} are not usable: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const json = probe.bytes.subarray(8, 8 + length);
  if (json.byteLength === length) return { json, fileLength: probe.fileLength };
  const rest = await fetchRange(url, 8 + json.byteLength, 8 + length, () => undefined, precision);
  if (json.byteLength + rest.bytes.byteLength < length) throw new WeightsLoadError(`The weights ${url} end inside their header (truncated file).`);
  const joined = new Uint8Array(length);
  joined.set(json);
  joined.set(rest.bytes, json.byteLength);
  return { json: joined, fileLength: probe.fileLength };
}

const headerKey = (url: string) => {
  const key = new URL(url);
  key.searchParams.set('header', '');
  return key.href;
};

async function readCachedHeader(url: string): Promise<Uint8Array | undefined> {
  try {
    const hit = await (await openCache())?.match(headerKey(url));
    return hit ? new Uint8Array(await hit.arrayBuffer()) : undefined;
  } catch {
    return undefined;
  }
}

async function writeCachedHeader(url: string, json: Uint8Array): Promise<void> {
  try {
    await (await openCache())?.put(headerKey(url), new Response(json.slice(), { headers: { 'content-type': 'application/json' } }));
  } catch {
    // Costs only the offline fallback.
  }
}

/**
 * Bytes [begin, end) of `url` (fewer when the file is shorter), with the file's length when the server says it.
 * A 206 answer holds the range; a 200 answer (a server without Range support) the whole file, read only as far as
 * needed.
 */
async function fetchRange(
  url: string,
  begin: number,
  end: number,
  onBytes: (n: number) => void,
  precision?: WeightsPrecision,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; fileLength?: number }> {
  let response: Response;
  try {
    // no-store: Cache Storage keeps the layers; the header is read fresh on each page load.
    response = await fetch(url, { headers: { Range: `bytes=${begin}-${end - 1}` }, cache: 'no-store' });
  } catch (e) {
    throw new WeightsUnreachableError(`Could not load the weights ${url}: the server could not be reached or does not allow cross-origin reads (CORS).`, { cause: e });
  }
  if (response.status === 404 && precision) {
    throw new WeightsLoadError(
      `Could not load the weights ${url}: the server answered 404 Not Found: weights-src has no ${weightsFileName(precision)} (the file weights-precision="${precision}" needs); ${HINT} (\`npm run weights -- --from DIR\` converts older weights).`,
    );
  }
  if (response.status === 416) return { bytes: new Uint8Array(0) };
  if (!response.ok || !response.body) {
    throw new WeightsLoadError(`Could not load the weights ${url}: the server answered ${response.status} ${response.statusText}`.trim() + '.');
  }
  let skip = 0;
  let fileLength: number | undefined;
  if (response.status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
    if (range && Number(range[1]) !== begin) throw new WeightsLoadError(`The server sent bytes ${range[1]}.. of ${url} when ${begin}.. were asked for.`);
    if (range && range[3] !== '*') fileLength = Number(range[3]);
  } else {
    skip = begin;
    const length = response.headers.get('content-length');
    if (length && /^\d+$/.test(length)) fileLength = Number(length);
  }
  const want = fileLength === undefined ? end - begin : Math.max(0, Math.min(end, fileLength) - begin);
  const out = new Uint8Array(want);
  let filled = 0;
  const reader = response.body.getReader();
  try {
    while (filled < want) {
      const { done, value } = await reader.read();
      if (done) break;
      let chunk = value;
      if (skip > 0) {
        const drop = Math.min(skip, chunk.byteLength);
        skip -= drop;
        chunk = chunk.subarray(drop);
      }
      const take = Math.min(chunk.byteLength, want - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      onBytes(value.byteLength);
    }
  } catch (e) {
    throw new WeightsLoadError(`The download of the weights ${url} broke off after ${filled} of ${want} bytes.`, { cause: e });
  } finally {
    // Stops a full-file answer once the range is in; nothing is left to read otherwise.
    reader.cancel().catch(() => undefined);
  }
  return { bytes: filled === want ? out : out.slice(0, filled), fileLength };
}

async function openCache(): Promise<Cache | undefined> {
  try {
    // Cache Storage exists only in secure contexts and may be refused (private windows, storage policies).
    if (typeof caches === 'undefined') return undefined;
    for (const old of OLD_CACHE_NAMES) void caches.delete(old).catch(() => undefined);
    return await caches.open(WEIGHTS_CACHE_NAME);
  } catch {
    return undefined;
  }
}

/** Cache key of a layer: the file URL plus the layer and its hash (a changed layer is a new entry). */
function cacheKey(url: string, span: LayerSpan): string | undefined {
  if (!span.sha256) return undefined; // without a recorded hash a cached layer could not be told from a stale one
  const key = new URL(url);
  key.searchParams.set('layer', span.layer);
  key.searchParams.set('sha256', span.sha256);
  return key.href;
}

async function readCached(cache: Cache | undefined, url: string, span: LayerSpan): Promise<ArrayBuffer | undefined> {
  const key = cacheKey(url, span);
  if (!cache || !key) return undefined;
  try {
    const hit = await cache.match(key);
    const data = await hit?.arrayBuffer();
    return data && data.byteLength === span.end - span.begin ? data : undefined;
  } catch {
    return undefined;
  }
}

async function writeCached(cache: Cache | undefined, url: string, span: LayerSpan, data: ArrayBuffer): Promise<void> {
  const key = cacheKey(url, span);
  if (!cache || !key) return;
  try {
    // Entries of this layer with another hash (an older file) are dropped first.
    for (const old of await cache.keys(url, { ignoreSearch: true })) {
      const params = new URL(old.url).searchParams;
      if (params.get('layer') === span.layer && params.get('sha256') !== span.sha256) await cache.delete(old);
    }
    await cache.put(key, new Response(data, { headers: { 'content-type': 'application/octet-stream' } }));
  } catch (e) {
    // A full disk or quota refusal costs the next visit a download, nothing more.
    console.warn(`style-transfer: could not cache weights layer ${span.layer} (${String(e)}).`);
  }
}
