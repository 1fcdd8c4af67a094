/**
 * The element's weights loader (src/ui/weights-loader.ts) in Node against a local server that counts the bytes it
 * sends: only the layers asked for are fetched (one Range request per run of adjacent layers), deeper layers later
 * cost only themselves, a server without Range support still works, and a missing variant, a truncated file or a
 * corrupt layer each give one clear WeightsLoadError. (Cache Storage is the browser's: test/browser/weights.test.ts.)
 */
import { promises as fsp } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDirectory } from '../demo/serve-directory.js';
import { readSafetensors } from '../src/net/safetensors.js';
import { getTensor } from '../src/net/weights.js';
import { decodeWeightsFile, encodeWeightsFile, weightsFileName } from '../src/net/weightsFormat.js';
import { VGG19_CONV_LAYERS } from '../src/net/weightsManifest.js';
import { loadWeights, WeightsLoadError, type WeightsProgress } from '../src/ui/weights-loader.js';
import { realWeights, weightsDir } from './helpers/env.js';

/** Element-wise equality (vitest's toEqual walks millions of elements far too slowly). */
const sameValues = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);

describe.skipIf(!weightsDir)('weights loader: only the layers a run needs', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  let file: Uint8Array<ArrayBuffer>;
  const sent = new Map<string, number>();
  const requests: Array<{ path: string; range?: string }> = [];

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'weights-loader-'));
    file = (await encodeWeightsFile(realWeights(), 'int8')) as Uint8Array<ArrayBuffer>;
    for (const sub of ['ranged', 'deeper', 'plain', 'corrupt', 'truncated']) await fsp.mkdir(path.join(dir, sub));
    for (const sub of ['ranged', 'deeper', 'plain']) await fsp.writeFile(path.join(dir, sub, weightsFileName('int8')), file);
    const corrupt = file.slice();
    const header = readSafetensors(file);
    corrupt[header.dataStart + 10] ^= 1; // inside conv1_1
    await fsp.writeFile(path.join(dir, 'corrupt', weightsFileName('int8')), corrupt);
    await fsp.writeFile(path.join(dir, 'truncated', weightsFileName('int8')), file.subarray(0, 1_000_000));
    const serve = serveDirectory('/', dir);
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push({ path: url.pathname, range: req.headers.range });
      // /plain/ plays a server without Range support: the header is dropped, the whole file comes back.
      if (url.pathname.startsWith('/plain/')) delete req.headers.range;
      const write = res.write.bind(res) as (chunk: Uint8Array, ...rest: unknown[]) => boolean;
      res.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
        sent.set(url.pathname.split('/')[1], (sent.get(url.pathname.split('/')[1]) ?? 0) + chunk.byteLength);
        return write(chunk, ...rest);
      }) as typeof res.write;
      serve(req, res, () => {
        res.writeHead(404);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const names = (count: number) => VGG19_CONV_LAYERS.slice(0, count).map((l) => l.name);
  const spanBytes = (from: number, to: number) => {
    const header = readSafetensors(file);
    const inLayers = header.tensors.filter((t) => names(to).slice(from).includes(t.name.split('/')[0]));
    return inLayers.reduce((n, t) => n + t.end - t.begin, 0);
  };

  it('fetches the header and one range for the layers asked for; the tensors are the file’s', async () => {
    const progress: WeightsProgress[] = [];
    const weights = await loadWeights(`${origin}/ranged/`, { precision: 'int8', layers: names(13) }, (p) => progress.push(p));
    const layerBytes = spanBytes(0, 13);
    expect(readSafetensors(file).dataStart + layerBytes).toBeLessThan(13_000_000); // conv1_1..conv5_1 in int8
    expect(requests.filter((r) => r.path.startsWith('/ranged/')).map((r) => r.range)).toEqual(['bytes=0-16383', expect.stringMatching(/^bytes=\d+-\d+$/)]);
    expect(sent.get('ranged')).toBe(16_384 + layerBytes);
    expect(progress.at(-1)).toEqual({ loaded: layerBytes, total: layerBytes, source: 'network' });
    const whole = decodeWeightsFile(file).weights;
    for (const layer of VGG19_CONV_LAYERS.slice(0, 13)) {
      const shape = [3, 3, layer.inChannels, layer.outChannels];
      expect(sameValues(getTensor(weights, `${layer.name}/kernel`, shape), getTensor(whole, `${layer.name}/kernel`, shape)), layer.name).toBe(true);
    }
    expect(weights.tensors.some((t) => t.name.startsWith('conv5_2'))).toBe(false);
  });

  it('a later, deeper run fetches only the deeper layers', async () => {
    await loadWeights(`${origin}/deeper/`, { precision: 'int8', layers: names(4) });
    const before = sent.get('deeper')!;
    expect(before).toBe(16_384 + spanBytes(0, 4));
    const progress: WeightsProgress[] = [];
    const weights = await loadWeights(`${origin}/deeper/`, { precision: 'int8', layers: names(16) }, (p) => progress.push(p));
    expect(sent.get('deeper')! - before).toBe(spanBytes(4, 16));
    expect(progress.at(-1)).toMatchObject({ loaded: spanBytes(4, 16), total: spanBytes(4, 16) });
    expect(weights.tensors.filter((t) => t.name.endsWith('/kernel'))).toHaveLength(16);
  });

  it('a server that ignores Range: the whole-file answers are read only as far as needed', async () => {
    const weights = await loadWeights(`${origin}/plain/`, { precision: 'int8', layers: names(2) });
    expect(weights.tensors.filter((t) => t.name.endsWith('/kernel'))).toHaveLength(2);
    const whole = decodeWeightsFile(file).weights;
    expect(sameValues(getTensor(weights, 'conv1_2/kernel', [3, 3, 64, 64]), getTensor(whole, 'conv1_2/kernel', [3, 3, 64, 64]))).toBe(true);
  });

  it('a missing variant, a truncated file and a corrupt layer each give one clear message', async () => {
    const failure = (base: string, precision: string, count = 13) =>
      loadWeights(`${origin}/${base}/`, { precision, layers: names(count) }).then(
        () => new Error('loaded'),
        (e: unknown) => e as Error,
      );
    const missing = await failure('ranged', 'f16');
    expect(missing).toBeInstanceOf(WeightsLoadError);
    expect(missing.message).toBe(
      `Could not load the weights ${origin}/ranged/vgg19_conv_hwio_f16.safetensors: the server answered 404 Not Found: weights-src has no vgg19_conv_hwio_f16.safetensors (the file weights-precision="f16" needs); weights-src must be the URL of the directory written by \`npm run weights\` (\`npm run weights -- --from DIR\` converts older weights).`,
    );
    const bad = await failure('ranged', 'f8');
    expect(bad.message).toBe('weights-precision must be f16, int8, f32, got "f8".');
    const truncated = await failure('truncated', 'int8');
    expect(truncated).toBeInstanceOf(WeightsLoadError);
    expect(truncated.message).toMatch(
      /^The weights at .*truncated\/vgg19_conv_hwio_int8\.safetensors are not usable: its tensors need 200685\d\d bytes but the file has 1000000 \(truncated, or data_offsets out of range\)\.$/,
    );
    const corrupt = await failure('corrupt', 'int8', 2);
    expect(corrupt).toBeInstanceOf(WeightsLoadError);
    expect(corrupt.message).toMatch(/^Layer conv1_1 of the weights .*corrupt\/vgg19_conv_hwio_int8\.safetensors does not match the SHA-256 in their header/);
  });
});
