/**
 * <style-transfer> against bad input, cancellation and leaks, in real Chromium (WebGPU on SwiftShader), on one page
 * under `Content-Security-Policy: default-src 'self'; script-src 'self'`:
 * - every bad input ends in one error event whose message is the CLI's (or resolveOptions') sentence, shown in the
 *   element, and the previous result stays on the canvas;
 * - PNGs of every colour type are read as the CLI reads them (alpha ignored, transparent pixels keep their colour);
 * - stop() and 20 start/stop cycles leave the page's GPU buffers at their baseline (gpuStats());
 * - the page requests nothing but itself, the bundle, the given images and the weights.
 * (Device loss is covered in component.test.ts: device.destroy() resolves device.lost, the one path GpuRuntime
 * listens to for every kind of loss.)
 */
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageBytes, resizeTo } from '../../src/io/image.js';
import { resolveOptions } from '../../src/net/options.js';
import type { ImageSource } from '../../src/ui/image-source.js';
import type { GpuBufferStats } from '../../src/ui/style-transfer.js';
import {
  BROWSER_SKIP_REASON,
  STRICT_CSP,
  ensureBuilt,
  launchChromium,
  logPageErrors,
  recordEvents,
  repoRoot,
  startServer,
  servedWeightsDir,
  type InlinePage,
  type LoggedEvent,
  type TestBrowser,
  type TestServer,
} from './harness.js';
import { badImages, pngVariants } from './images.js';

if (BROWSER_SKIP_REASON) console.warn(BROWSER_SKIP_REASON);

const GOOD = {
  'content-src': 'samples/chelsea.png',
  'style-src': 'samples/starry_night.jpg',
  'weights-src': '/weights/',
  size: '24',
  iterations: '2',
  optimizer: 'adam',
  'style-weight': '100',
};

const PAGE = `<!doctype html>
<script type="module" src="dist/style-transfer.js"></script>
<style-transfer ${Object.entries(GOOD)
  .map(([k, v]) => `${k}="${v}"`)
  .join(' ')} controls></style-transfer>
`;

interface RunOutcome {
  /** The element's events of this run. */
  events: LoggedEvent[];
  /** The message part's text ('' when none). */
  shown: string;
  canvas: [number, number];
  /** SHA-256 of toBlob()'s pixels, or the rejection. */
  image: string;
  stats: GpuBufferStats;
  /** Sizes of the Blobs given to createImageBitmap during the run. */
  decodedBlobSizes: number[];
}

/** Sets `attributes` (GOOD for the rest), awaits start(), and reports. */
function run(page: Page, attributes: Record<string, string> = {}): Promise<RunOutcome> {
  return page.evaluate(
    async (attrs) => {
      const w = window as unknown as { events: LoggedEvent[]; decodedBlobSizes: number[] };
      const element = document.querySelector('style-transfer')!;
      for (const { name } of [...element.attributes]) if (!(name in attrs) && name !== 'controls') element.removeAttribute(name);
      for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
      const from = w.events.length;
      w.decodedBlobSizes = [];
      await element.start();
      await element.updateComplete;
      const canvas = element.shadowRoot!.querySelector('canvas')!;
      let image: string;
      try {
        const bitmap = await createImageBitmap(await element.toBlob());
        const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
        context.drawImage(bitmap, 0, 0);
        const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', pixels));
        image = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
      } catch (e) {
        image = `toBlob failed: ${String(e)}`;
      }
      return {
        events: w.events.slice(from).filter((e) => e.type.startsWith('style-transfer-') && e.type !== 'style-transfer-phase'),
        shown: element.shadowRoot!.querySelector('[part="message"]')?.textContent?.trim() ?? '',
        canvas: [canvas.width, canvas.height] as [number, number],
        image,
        stats: element.gpuStats(),
        decodedBlobSizes: w.decodedBlobSizes,
      };
    },
    { ...GOOD, ...attributes },
  );
}

/** The current canvas as RGB triples (run with iterations="0", the result is the content as the engine read it). */
function canvasRgb(page: Page): Promise<number[]> {
  return page.evaluate(async () => {
    const bitmap = await createImageBitmap(await document.querySelector('style-transfer')!.toBlob());
    const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
    context.drawImage(bitmap, 0, 0);
    const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
    return Array.from(rgba).filter((_, i) => i % 4 !== 3);
  });
}

/** Installed before the page's scripts: which Blobs reach the browser's decoder, and gpuStats() at progress 1. */
function instrument(): void {
  const w = window as unknown as { decodedBlobSizes: number[]; statsAtProgress1?: unknown };
  w.decodedBlobSizes = [];
  const createImageBitmapOriginal = window.createImageBitmap;
  window.createImageBitmap = function (source: ImageBitmapSource, ...rest: unknown[]) {
    if (source instanceof Blob) w.decodedBlobSizes.push(source.size);
    return (createImageBitmapOriginal as (...args: unknown[]) => Promise<ImageBitmap>).call(window, source, ...rest);
  };
  document.addEventListener('style-transfer-progress', (event) => {
    if ((event as CustomEvent<{ iteration: number }>).detail.iteration === 1) w.statsAtProgress1 = (event.target as HTMLElement & { gpuStats(): unknown }).gpuStats();
  });
}

describe.skipIf(!!BROWSER_SKIP_REASON)('<style-transfer> robustness in Chromium', () => {
  let server: TestServer;
  let chromium: TestBrowser;
  let page: Page;
  /** Every URL the page asked for, in order. */
  const requests: string[] = [];
  /** What a run leaves behind: gpuStats() after the first complete run. */
  let baseline: GpuBufferStats;
  /** SHA-256 of the first run's result. */
  let firstImage: string;
  const timings: string[] = [];
  const bad = badImages();
  const variants = pngVariants();

  beforeAll(async () => {
    await ensureBuilt();
    const files: InlinePage[] = [...Object.entries(bad), ...Object.entries(variants)].map(([name, body]) => ({
      path: `/img/${name}`,
      body,
      headers: { 'content-type': name.endsWith('.jpg') ? 'image/jpeg' : 'image/png' },
    }));
    server = await startServer(
      [
        ['/weights/', await servedWeightsDir()],
        ['/', repoRoot],
      ],
      [{ path: '/robust.html', html: PAGE, headers: STRICT_CSP }, ...files],
    );
    chromium = await launchChromium();
    page = await chromium.browser.newPage();
    logPageErrors(page, 'robust');
    // Chromium itself probes /favicon.ico for a page without an icon link: not a request of the page. (An icon link
    // would not do: a data: icon breaks the CSP, and a same-origin one is just another request.)
    page.on('request', (request) => {
      if (new URL(request.url()).pathname !== '/favicon.ico') requests.push(request.url());
    });
    await page.evaluateOnNewDocument(recordEvents);
    await page.evaluateOnNewDocument(instrument);
    await page.goto(`${server.origin}/robust.html`);
    await page.waitForFunction(() => !!customElements.get('style-transfer'));
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    if (timings.length) console.log(`robustness timings:\n  ${timings.join('\n  ')}`);
  });

  const url = (path: string) => `${server.origin}/${path.replace(/^\//, '')}`;
  /** What a good run may request: the page, the bundle, the given images and the weights. */
  const runRequests = () => [url('robust.html'), url('dist/style-transfer.js'), url(GOOD['content-src']), url(GOOD['style-src']), url('weights/vgg19_conv_hwio_f16.safetensors')];

  it('a run: only the page, the bundle, the given images and the weights are requested; afterwards the GPU buffers are back to the preview uniform', async () => {
    expect(await page.evaluate(() => document.querySelector('style-transfer')!.gpuStats())).toEqual({ live: 0, liveBytes: 0 });
    const started = performance.now();
    const outcome = await run(page);
    timings.push(`first run (weights download, 2 Adam iterations at 24 px): ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(outcome.events.map((e) => e.type)).toEqual(['style-transfer-progress', 'style-transfer-progress', 'style-transfer-complete']);
    expect(outcome.canvas).toEqual([24, 16]);
    expect(outcome.image).toMatch(/^[0-9a-f]{64}$/);
    firstImage = outcome.image;
    baseline = outcome.stats;

    // The page's requests: nothing else (no fonts, no analytics, no CDN, no source maps).
    expect(new Set(requests)).toEqual(new Set(runRequests()));

    const during = await page.evaluate(() => (window as unknown as { statsAtProgress1: GpuBufferStats }).statsAtProgress1);
    expect(during.live).toBeGreaterThan(50);
    expect(during.liveBytes).toBeGreaterThan(80e6); // the VGG-19 weights alone
    // Between runs: only the element's 16-byte preview uniform (every pooled buffer was destroyed).
    expect(baseline).toEqual({ live: 1, liveBytes: 16 });
    timings.push(`GPU buffers at iteration 1: ${during.live} (${(during.liveBytes / 1e6).toFixed(1)} MB); after the run: ${baseline.live} (${baseline.liveBytes} B)`);
  }, 240_000);

  /** The CLI's message for these bytes at this URL (src/io/image.ts, the CLI's decoder). */
  function cliMessage(name: string): string {
    try {
      decodeImageBytes(bad[name], url(`img/${name}`));
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error(`the CLI accepts ${name}`);
  }

  function optionMessage(options: Parameters<typeof resolveOptions>[0]): string {
    try {
      resolveOptions(options);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error(`resolveOptions accepts ${JSON.stringify(options)}`);
  }

  it("bad input: one error event with the CLI's message, shown in the element; the previous result stays", async () => {
    const cases: Array<{ what: string; attributes: Record<string, string>; message: string | RegExp }> = [
      // The element reads more formats than the CLI, and says which.
      {
        what: 'a text file named .png',
        attributes: { 'content-src': 'img/notes.png' },
        message: `Image file "${url('img/notes.png')}" is not an image this element reads (PNG, JPEG, WebP, AVIF, GIF or BMP).`,
      },
      { what: 'a truncated PNG', attributes: { 'style-src': 'img/truncated.png' }, message: cliMessage('truncated.png') },
      { what: 'a truncated JPEG', attributes: { 'content-src': 'img/truncated.jpg' }, message: cliMessage('truncated.jpg') },
      { what: 'a PNG declaring 60000x60000', attributes: { 'content-src': 'img/bomb.png' }, message: cliMessage('bomb.png') },
      {
        what: 'an image too thin for the layers',
        attributes: { 'content-src': 'img/thin.png' },
        message: /^At 24x2 the image is too small for the chosen layers: the shorter side must be at least 16 px\b/,
      },
      { what: 'size="0"', attributes: { size: '0' }, message: optionMessage({ size: 0 }) },
      { what: 'size="-5"', attributes: { size: '-5' }, message: optionMessage({ size: -5 }) },
      { what: 'iterations="-1"', attributes: { iterations: '-1' }, message: optionMessage({ iterations: -1 }) },
      // resolveOptions' sentence, naming the attribute and its text instead of "styleWeight ... got NaN".
      { what: 'style-weight="abc"', attributes: { 'style-weight': 'abc' }, message: 'style-weight must be a number >= 0, got "abc".' },
      { what: 'size="abc"', attributes: { size: 'abc' }, message: 'size must be a whole number of at least 1, got "abc".' },
      { what: 'weight-storage="f8"', attributes: { 'weight-storage': 'f8' }, message: 'weight-storage must be f32 or f16, got "f8".' },
      { what: 'style-layer-weights="1 x 1 1 1"', attributes: { 'style-layer-weights': '1 x 1 1 1' }, message: 'style-layer-weights must be numbers >= 0, got "1 x 1 1 1".' },
    ];
    // The CLI's own sentences, for the record.
    expect(cliMessage('notes.png')).toMatch(/is not a PNG or JPEG image\.$/);
    expect(cliMessage('truncated.png')).toMatch(/could not be decoded: the file is truncated\.$/);
    expect(cliMessage('truncated.jpg')).toMatch(/could not be decoded: the file is truncated \(there is no end-of-image marker/);
    expect(cliMessage('bomb.png')).toMatch(/declares 60000x60000 pixels; the limit is 50000000 pixels \(50 megapixels\)\.$/);
    expect(optionMessage({ size: 0 })).toBe('size must be a whole number of at least 1, got 0.');

    for (const { what, attributes, message } of cases) {
      const started = performance.now();
      const outcome = await run(page, attributes);
      timings.push(`${what}: ${((performance.now() - started) / 1000).toFixed(2)} s -> ${outcome.events.at(-1)?.detail.message as string | undefined}`);
      expect(
        outcome.events.map((e) => e.type),
        what,
      ).toEqual(['style-transfer-error']);
      const got = outcome.events[0].detail.message as string;
      if (typeof message === 'string') expect(got, what).toBe(message);
      else expect(got, what).toMatch(message);
      expect(outcome.shown, what).toBe(got);
      // Nothing is lost: the last result is still on the canvas and what toBlob() returns.
      expect(outcome.canvas, what).toEqual([24, 16]);
      expect(outcome.image, what).toBe(firstImage);
      expect(outcome.stats, what).toEqual(baseline);
      if (what.includes('60000')) {
        // Refused from the header: the browser's decoder never saw the bomb.
        expect(outcome.decodedBlobSizes).not.toContain(bad['bomb.png'].length);
      }
    }
  }, 240_000);

  it('PNGs of every kind (gray+alpha, palette+tRNS, 16-bit RGBA, a transparent 1x1) are read as the CLI reads them', async () => {
    for (const [name, bytes] of Object.entries(variants)) {
      const started = performance.now();
      // No iterations: the result is the content image exactly as the engine received it.
      const outcome = await run(page, { 'content-src': `img/${name}`, 'style-src': 'img/palette-trns.png', size: '16', iterations: '0' });
      timings.push(`${name} (no iterations, 16 px): ${((performance.now() - started) / 1000).toFixed(2)} s`);
      expect(
        outcome.events.map((e) => e.type),
        name,
      ).toEqual(['style-transfer-complete']);
      expect(outcome.stats, name).toEqual(baseline);
      // The CLI decodes, ignores alpha, and the engine resizes to 16 px (the 1x1 is upscaled).
      const cli = resizeTo(decodeImageBytes(bytes, name), 16, 16);
      const expected = Array.from(cli.data).filter((_, i) => i % 4 !== 3);
      const got = await canvasRgb(page);
      expect(got.length, name).toBe(expected.length);
      const worst = Math.max(...got.map((v, i) => Math.abs(v - expected[i])));
      expect(worst, `${name}: largest channel difference from the CLI's decode`).toBeLessThanOrEqual(1);
    }
  }, 240_000);

  it("a File, a Blob and an <img> take the same path: the CLI's messages, the CLI's pixels", async () => {
    const outcome = await page.evaluate(
      async (attrs) => {
        const element = document.querySelector('style-transfer')!;
        for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
        const messageOf = async (content: ImageSource) => {
          element.contentSrc = content;
          const ended = new Promise<string>((resolve) => {
            element.addEventListener('style-transfer-complete', () => resolve('complete'), { once: true });
            element.addEventListener('style-transfer-error', (e) => resolve(e.detail.message), { once: true });
          });
          await element.start();
          return ended;
        };
        const text = await messageOf(new File(['hello, this is not an image'], 'notes.png', { type: 'image/png' }));
        const truncated = await messageOf((await (await fetch('img/truncated.png')).blob()).slice(0, 100, 'image/png'));
        const img = new Image();
        img.src = 'img/tiny-1x1.png';
        const fromImg = await messageOf(img);
        if (fromImg !== 'complete') return { text, truncated, fromImg, pixel: [] };
        const bitmap = await createImageBitmap(await element.toBlob());
        const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
        context.drawImage(bitmap, 0, 0);
        const pixel = Array.from(context.getImageData(0, 0, 1, 1).data);
        element.contentSrc = attrs['content-src'];
        return { text, truncated, fromImg, pixel };
      },
      { ...GOOD, 'style-src': 'img/palette-trns.png', size: '16', iterations: '0' },
    );
    expect(outcome.text).toBe('Image file "notes.png" is not an image this element reads (PNG, JPEG, WebP, AVIF, GIF or BMP).');
    expect(outcome.truncated).toBe('Image file "content image (image/png)" could not be decoded: the file is truncated.');
    expect(outcome.fromImg).toBe('complete');
    // The transparent 1x1 (30, 160, 90, alpha 0), upscaled: its stored colour, as the CLI reads it.
    expect(outcome.pixel.slice(0, 3)).toEqual([30, 160, 90]);
  }, 120_000);

  it('stop() gives every GPU buffer of the run back', async () => {
    await page.evaluate(() => void ((window as unknown as { stopAtIteration: number }).stopAtIteration = 1));
    const outcome = await run(page, { iterations: '40' });
    await page.evaluate(() => void delete (window as unknown as { stopAtIteration?: number }).stopAtIteration);
    const complete = outcome.events.at(-1)!;
    expect(complete.type).toBe('style-transfer-complete');
    expect(complete.detail.stopped).toBe(true);
    const during = await page.evaluate(() => (window as unknown as { statsAtProgress1: GpuBufferStats }).statsAtProgress1);
    expect(during.liveBytes).toBeGreaterThan(80e6);
    expect(outcome.stats).toEqual(baseline);
  }, 240_000);

  it('20 start/stop cycles (stopped at once, while loading, after the first iteration, at the first progress) leave the GPU buffers at their baseline', async () => {
    const started = performance.now();
    const cycles = await page.evaluate(
      async (attrs) => {
        const w = window as unknown as { events: LoggedEvent[] };
        const element = document.querySelector('style-transfer')!;
        for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
        const until = async (predicate: () => boolean) => {
          while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 5));
        };
        const results: Array<{ mode: number; events: string[]; stopped: unknown; peak: number; after: GpuBufferStats }> = [];
        for (let i = 0; i < 20; i++) {
          const mode = i % 4;
          const from = w.events.length;
          const seen = (type: string) => w.events.slice(from).some((e) => e.type === type);
          let peak = 0;
          const ended = element.start();
          if (mode === 0) element.stop();
          else if (mode === 1) await new Promise((resolve) => setTimeout(resolve, 20));
          else if (mode === 2) await until(() => seen('preview') || !element.running);
          else await until(() => seen('style-transfer-progress') || !element.running);
          peak = element.gpuStats().live;
          element.stop();
          await ended;
          const events = w.events.slice(from).filter((e) => e.type.startsWith('style-transfer-') && e.type !== 'style-transfer-phase');
          results.push({ mode, events: events.map((e) => e.type), stopped: events.at(-1)?.detail.stopped, peak, after: element.gpuStats() });
        }
        return results;
      },
      { ...GOOD, 'content-src': 'img/rgba16.png', 'style-src': 'img/gray-alpha.png', size: '16', iterations: '40' },
    );
    timings.push(`20 start/stop cycles: ${((performance.now() - started) / 1000).toFixed(1)} s; live buffers when stopped: ${cycles.map((c) => c.peak).join(', ')}`);
    for (const [i, cycle] of cycles.entries()) {
      expect(cycle.events.at(-1), `cycle ${i}`).toBe('style-transfer-complete');
      expect(
        cycle.events.filter((e) => e !== 'style-transfer-progress'),
        `cycle ${i}`,
      ).toEqual(['style-transfer-complete']);
      expect(cycle.stopped, `cycle ${i}`).toBe(true);
      expect(cycle.after, `cycle ${i}`).toEqual(baseline);
    }
    // The cycles stopped after the first iteration did hold the run's buffers when stop() was called.
    for (const cycle of cycles.filter((c) => c.mode >= 2)) expect(cycle.peak).toBeGreaterThan(50);
  }, 300_000);

  it('over the whole session: no CSP violation, and no request but the page, the bundle, the given images and the weights', async () => {
    const events = await page.evaluate(() => (window as unknown as { events: LoggedEvent[] }).events);
    expect(events.filter((e) => e.type === 'csp-violation')).toEqual([]);
    const given = new Set([...runRequests(), ...[...Object.keys(bad), ...Object.keys(variants)].map((name) => url(`img/${name}`))]);
    expect(requests.filter((r) => !given.has(r))).toEqual([]);
    // The weights file twice: its header once per page, its layers once (then the page's shared load).
    expect(requests.filter((r) => r.endsWith('.safetensors'))).toHaveLength(2);
  });
});
