/**
 * What the browser tests share: building dist/ when it is missing or older than its sources, a local static server
 * (node:http on 127.0.0.1, port 0: a secure context, so WebGPU and Cache Storage exist), and headless Chromium
 * with WebGPU on SwiftShader.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { serveDirectory, type Middleware } from '../../demo/serve-directory.js';
import { WEIGHTS_PRECISIONS, weightsFileName } from '../../src/net/weightsFormat.js';
import { repoRoot, weightsDir } from '../helpers/env.js';

export { repoRoot, weightsDir };

let converted: Promise<string> | undefined;

/**
 * The directory the element's weights are served from: weightsDir when it already holds the safetensors files,
 * else the f32/f16/int8 files `npm run weights -- --from weightsDir` writes, made once into the system's temp
 * directory (keyed by the source's size and time, so a new source is converted again).
 */
export function servedWeightsDir(): Promise<string> {
  converted ??= (async () => {
    const source = weightsDir!;
    if (existsSync(join(source, weightsFileName('f16')))) return source;
    const stamp =
      statSync(source).mtimeMs.toFixed(0) +
      '-' +
      readdirSync(source)
        .map((n) => statSync(join(source, n)).size)
        .join('-');
    const out = join(tmpdir(), `style-transfer-weights-${stamp}`);
    if (WEIGHTS_PRECISIONS.every((p) => existsSync(join(out, weightsFileName(p))))) return out;
    const { main } = await import('../../scripts/weights.js');
    const messages: string[] = [];
    const sink = { write: (text: string) => messages.push(text) };
    if ((await main(['--from', source, '--out', out], { stdout: sink, stderr: sink })) !== 0) throw new Error(`converting the weights failed: ${messages.join('')}`);
    return out;
  })();
  return converted;
}

const CHROMIUM = process.env.STYLE_TRANSFER_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser suite does not run here, or undefined when it can. */
export const BROWSER_SKIP_REASON = !existsSync(CHROMIUM)
  ? `SKIPPED: no Chromium at ${CHROMIUM} (set STYLE_TRANSFER_CHROMIUM)`
  : !weightsDir
    ? 'SKIPPED: the real VGG-19 weights are missing (set STYLE_TRANSFER_WEIGHTS to the directory holding vgg19_conv_hwio_f32.json/.bin, or run npm run weights)'
    : undefined;

/** The strict policy every test page is served under: the bundle must run without eval or inline scripts. */
export const STRICT_CSP = { 'content-security-policy': "default-src 'self'; script-src 'self'" };

export const distDir = join(repoRoot, 'dist');
export const artifactsDir = join(repoRoot, 'test/browser/artifacts');

const BUILT = [join(distDir, 'style-transfer.js'), join(distDir, 'demo/index.html'), join(distDir, 'demo/bench.html')];
const SOURCES = ['src', 'shaders', 'demo', 'bench', 'vite.config.ts', 'vite.demo.config.ts', 'package.json'];

function newestMtime(path: string): number {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (!stats) return 0;
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stats.mtimeMs);
}

/** Runs the two vite builds (library, then demo) unless dist/ is newer than every source. */
export async function ensureBuilt(): Promise<void> {
  const sources = Math.max(...SOURCES.map((p) => newestMtime(join(repoRoot, p))));
  const built = Math.min(...BUILT.map((p) => statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? 0));
  if (built > sources) return;
  const { build } = await import('vite');
  const started = performance.now();
  // As `vite build` does: vitest sets NODE_ENV=test, which would select lit's development build.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    for (const config of ['vite.config.ts', 'vite.demo.config.ts']) {
      await build({ configFile: join(repoRoot, config), logLevel: 'warn' });
    }
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  console.log(`built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

export interface TestServer {
  /** http://127.0.0.1:port */
  origin: string;
  /** Paths of every request so far, in order. */
  requests: string[];
  /** Body bytes sent so far for requests whose path starts with `prefix` (counted as the server writes them). */
  sentBytes(prefix: string): number;
  close(): Promise<void>;
}

/**
 * A page served from memory at `path`, with optional extra headers (e.g. a CSP). `body` serves any other bytes
 * instead of `html` (give its content-type in `headers`).
 */
export interface InlinePage {
  path: string;
  html?: string;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
}

/** Serves `pages`, then each mount (URL prefix -> directory) in order; anything else is a 404. */
export async function startServer(mounts: Array<[string, string]>, pages: InlinePage[] = [], headers: Record<string, string> = {}): Promise<TestServer> {
  const handlers: Middleware[] = mounts.map(([prefix, dir]) => serveDirectory(prefix, dir, headers));
  const requests: string[] = [];
  const sent: Array<{ path: string; bytes: number }> = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    requests.push(path);
    // Count the body bytes the server writes (a response cancelled by the client stops being written).
    const record = { path, bytes: 0 };
    sent.push(record);
    const count = (chunk: unknown) => {
      if (typeof chunk === 'string') record.bytes += Buffer.byteLength(chunk);
      else if (chunk instanceof Uint8Array) record.bytes += chunk.byteLength;
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      count(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') count(chunk);
      return end(chunk, ...rest);
    }) as typeof res.end;
    const page = pages.find((p) => p.path === path);
    if (page) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', ...page.headers });
      return void res.end(page.body ?? page.html ?? '');
    }
    const next = (i: number): void => {
      if (i >= handlers.length) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return void res.end('not found');
      }
      handlers[i](req, res, () => next(i + 1));
    };
    next(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the test server has no port');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    requests,
    sentBytes: (prefix) => sent.filter((r) => r.path.startsWith(prefix)).reduce((n, r) => n + r.bytes, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Chromium flags. WebGPU on SwiftShader, found by experiment with Debian's Chromium 156 headless:
 * - --enable-unsafe-webgpu alone gives an adapter ("google / swiftshader") and compute works, but the first
 *   getCurrentTexture() of a WebGPU canvas crashes the GPU process ("Could not find SharedImageBackingFactory ...
 *   WebgpuStorageTexture", then "A valid external Instance reference no longer exists"); --use-angle=swiftshader or
 *   --use-webgpu-adapter=swiftshader do not change that.
 * - --enable-features=Vulkan --use-angle=swiftshader: no crash, but canvas frames are never presented (blank
 *   screenshots, toBlob of an invalid texture).
 * - adding --use-vulkan=swiftshader makes canvas presentation work: screenshots and canvas.toBlob() show the
 *   frames, for a canvas configured 'rgba8unorm' with STORAGE_BINDING usage as well as through a texture copy.
 *   (drawImage of the WebGPU canvas into a 2D canvas still reads zeros there; the tests use toBlob.)
 */
const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader'];

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile (so Cache Storage starts empty). */
export async function launchChromium(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'style-transfer-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      `--user-data-dir=${profile}`,
      ...WEBGPU_FLAGS,
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Forwards the page's console errors and uncaught exceptions to the test output (they explain failures). */
export function logPageErrors(page: Page, label: string): void {
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn') console.log(`[${label}] console.${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => console.log(`[${label}] page error: ${String(error)}`));
}

export interface LoggedEvent {
  type: string;
  detail: Record<string, unknown>;
  at: number;
}

/**
 * Installed before any page script: records the element's events (they bubble and are composed, so the document
 * hears them), CSP violations, a toBlob() snapshot of the canvas at every progress event, and every preview
 * dispatch (one per iteration, right after the iteration's submission: what shows when iterations start).
 */
export function recordEvents(): void {
  const w = window as unknown as { events: LoggedEvent[]; snapshots: Array<Promise<string>>; stopAtIteration?: number };
  w.events = [];
  w.snapshots = [];
  if (typeof GPUDevice !== 'undefined') {
    const createCommandEncoder = GPUDevice.prototype.createCommandEncoder;
    GPUDevice.prototype.createCommandEncoder = function (this: GPUDevice, descriptor?: GPUCommandEncoderDescriptor) {
      if (descriptor?.label === 'preview') w.events.push({ type: 'preview', detail: {}, at: performance.now() });
      return createCommandEncoder.call(this, descriptor);
    };
  }
  const toHex = async (blob: Blob) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer())), (b) => b.toString(16).padStart(2, '0')).join('');
  for (const type of ['style-transfer-progress', 'style-transfer-complete', 'style-transfer-error', 'style-transfer-phase']) {
    document.addEventListener(type, (event) => {
      const detail = (event as CustomEvent).detail as Record<string, unknown>;
      w.events.push({ type, detail, at: performance.now() });
      if (type !== 'style-transfer-progress') return;
      const element = event.target as HTMLElement & { toBlob(): Promise<Blob>; stop(): void };
      w.snapshots.push(element.toBlob().then(toHex));
      if (w.stopAtIteration === detail.iteration) {
        w.events.push({ type: 'stop-called', detail: {}, at: performance.now() });
        element.stop();
      }
    });
  }
  document.addEventListener('securitypolicyviolation', (event) =>
    w.events.push({ type: 'csp-violation', detail: { directive: event.violatedDirective, blocked: event.blockedURI }, at: performance.now() }),
  );
}

/** The run's outcome events: progress, complete and error (phase events left out; tests that want them filter for them). */
export const elementEvents = (events: LoggedEvent[]) => events.filter((e) => e.type.startsWith('style-transfer-') && e.type !== 'style-transfer-phase');

export async function waitForEnd(page: Page, timeout: number): Promise<LoggedEvent[]> {
  await page.waitForFunction(() => (window as unknown as { events: LoggedEvent[] }).events.some((e) => e.type === 'style-transfer-complete' || e.type === 'style-transfer-error'), {
    timeout,
    polling: 200,
  });
  return page.evaluate(() => (window as unknown as { events: LoggedEvent[] }).events);
}

/** The element's toBlob() on `page` decoded in the page: its type, size, and the mean and spread of its luma. */
export function elementImageStats(page: Page): Promise<{ type: string; width: number; height: number; mean: number; std: number }> {
  return page.evaluate(async () => {
    const blob = await document.querySelector('style-transfer')!.toBlob();
    const bitmap = await createImageBitmap(blob);
    const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    let sum = 0;
    let sumSquares = 0;
    for (let i = 0; i < data.length; i += 4) {
      const luma = (data[i] + data[i + 1] + data[i + 2]) / 3;
      sum += luma;
      sumSquares += luma * luma;
    }
    const n = data.length / 4;
    return { type: blob.type, width: bitmap.width, height: bitmap.height, mean: sum / n, std: Math.sqrt(sumSquares / n - (sum / n) ** 2) };
  });
}

/** Replaces an input's value by typing, as a keyboard user would (select all, type, Tab away). */
export async function typeInto(page: Page, selector: string, value: string): Promise<void> {
  await page.focus(selector);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.type(value);
  await page.keyboard.press('Tab');
}
