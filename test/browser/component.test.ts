/**
 * <style-transfer> in real Chromium (headless, WebGPU on SwiftShader: ~0.2 GFLOP/s, so 24 px images and a few
 * iterations). Pages load the built dist/style-transfer.js from a local server, under a CSP that forbids eval.
 */
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BROWSER_SKIP_REASON,
  STRICT_CSP,
  elementEvents,
  elementImageStats,
  ensureBuilt,
  launchChromium,
  logPageErrors,
  recordEvents,
  repoRoot,
  startServer,
  waitForEnd,
  servedWeightsDir,
  type LoggedEvent,
  type TestBrowser,
  type TestServer,
} from './harness.js';
import type { StyleTransferCompleteEvent, StyleTransferErrorEvent } from '../../src/ui/events.js';

if (BROWSER_SKIP_REASON) console.warn(BROWSER_SKIP_REASON);

/** A 24-bit bottom-up BMP, width x height, a colour gradient (rows padded to 4 bytes). */
function makeBmp(width: number, height: number): Buffer {
  const row = Math.ceil((width * 3) / 4) * 4;
  const b = Buffer.alloc(54 + row * height);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) b.set([(x * 5) % 256, (y * 7) % 256, ((x + y) * 3) % 256], 54 + (height - 1 - y) * row + x * 3); // BGR
  }
  return b;
}

/** A page holding nothing but the bundle and one element with `attributes`. */
function elementPage(attributes: string): string {
  return `<!doctype html>
<script type="module" src="dist/style-transfer.js"></script>
<style-transfer ${attributes}></style-transfer>
`;
}

const SAMPLES = 'content-src="samples/chelsea.png" style-src="samples/starry_night.jpg"';

/** Text shown inside the element's shadow root (status, message, controls). */
function shadowText(page: Page): Promise<string> {
  return page.evaluate(() => document.querySelector('style-transfer')?.shadowRoot?.textContent?.replace(/\s+/g, ' ').trim() ?? '');
}

describe.skipIf(!!BROWSER_SKIP_REASON)('<style-transfer> in Chromium (WebGPU on SwiftShader)', () => {
  let server: TestServer;
  let crossOrigin: TestServer;
  let chromium: TestBrowser;
  const timings: string[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    // Another origin without CORS headers, for the image whose pixels cannot be read.
    crossOrigin = await startServer([['/', join(repoRoot, 'samples')]]);
    const pages = [
      { path: '/acceptance.html', html: elementPage(`${SAMPLES} weights-src="/weights/" size="24" iterations="3" autostart`), headers: STRICT_CSP },
      { path: '/order.html', html: elementPage(`${SAMPLES} weights-src="/weights/" size="24" iterations="6" optimizer="adam" autostart`), headers: STRICT_CSP },
      { path: '/stop.html', html: elementPage(`${SAMPLES} weights-src="/weights/" size="24" iterations="40" optimizer="adam" autostart controls`), headers: STRICT_CSP },
      {
        path: '/broken-image.html',
        html: elementPage(`content-src="samples/missing.png" style-src="samples/starry_night.jpg" weights-src="/weights/" size="24" iterations="3" autostart controls`),
        headers: STRICT_CSP,
      },
      { path: '/broken-weights.html', html: elementPage(`${SAMPLES} weights-src="/no-weights-here/" size="24" iterations="3" autostart`), headers: STRICT_CSP },
      {
        path: '/no-cors.html',
        html: elementPage(`content-src="${crossOrigin.origin}/chelsea.png" style-src="samples/starry_night.jpg" weights-src="/weights/" size="24" iterations="3" autostart`),
        headers: { 'content-security-policy': `default-src 'self' ${crossOrigin.origin}; script-src 'self'` },
      },
      { path: '/bad-option.html', html: elementPage(`${SAMPLES} weights-src="/weights/" size="24" iterations="3" style-weight="abc" autostart`), headers: STRICT_CSP },
      { path: '/eta.html', html: elementPage(`${SAMPLES} weights-src="/weights/" size="32" iterations="12" optimizer="adam" controls`), headers: STRICT_CSP },
      { path: '/stop64.html', html: elementPage(`${SAMPLES} weights-src="/weights/" size="64" iterations="30" autostart controls`), headers: STRICT_CSP },
      { path: '/gradient.bmp', body: makeBmp(48, 32), headers: { 'content-type': 'image/bmp' } },
      {
        path: '/bmp.html',
        html: elementPage(`content-src="/gradient.bmp" style-src="test/fixtures/formats/chelsea-64.webp" weights-src="/weights/" size="24" iterations="1" autostart`),
        headers: STRICT_CSP,
      },
      {
        path: '/formats.html',
        html: elementPage(
          `content-src="test/fixtures/formats/chelsea-64.webp" style-src="test/fixtures/formats/chelsea-64.avif" weights-src="/weights/" size="24" iterations="2" autostart`,
        ),
        headers: STRICT_CSP,
      },
    ];
    // Weights first: the repository's own weights/ holds only a README.
    server = await startServer(
      [
        ['/weights/', await servedWeightsDir()],
        ['/', repoRoot],
      ],
      pages,
    );
    chromium = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    await crossOrigin?.close();
    if (timings.length) console.log(`SwiftShader timings:\n  ${timings.join('\n  ')}`);
  });

  async function openPage(path: string, setup?: (page: Page) => Promise<void>): Promise<Page> {
    const page = await chromium.browser.newPage();
    logPageErrors(page, path);
    await page.evaluateOnNewDocument(recordEvents);
    await setup?.(page);
    await page.goto(`${server.origin}${path}`);
    return page;
  }

  it('acceptance: a bare page with autostart emits 3 progress events with finite losses, then complete; toBlob() is an image', async () => {
    const started = performance.now();
    const page = await openPage('/acceptance.html');
    const events = await waitForEnd(page, 240_000);
    const seconds = (performance.now() - started) / 1000;
    timings.push(`acceptance (24 px, 3 L-BFGS iterations, first weights download): ${seconds.toFixed(1)} s`);

    const progress = events.filter((e) => e.type === 'style-transfer-progress');
    const complete = events.filter((e) => e.type === 'style-transfer-complete');
    expect(events.filter((e) => e.type === 'style-transfer-error')).toEqual([]);
    expect(events.filter((e) => e.type === 'csp-violation')).toEqual([]);
    expect(progress.map((e) => e.detail.iteration)).toEqual([1, 2, 3]);
    for (const { detail } of progress) {
      for (const key of ['content', 'style', 'tv', 'total']) expect(Number.isFinite(detail[key]), `${key} of ${JSON.stringify(detail)}`).toBe(true);
    }
    expect(complete).toHaveLength(1);
    expect(complete[0].detail).toMatchObject({ iterations: 3, stopped: false });
    expect(elementEvents(events).at(-1)?.type).toBe('style-transfer-complete');
    // Default L-BFGS (strong-Wolfe line search): no blow-up (torch's LBFGS without one reaches 1e21 at iteration 3 here).
    const totals = progress.map((e) => e.detail.total as number);
    expect(Math.max(...totals) / totals[0], totals.join(', ')).toBeLessThanOrEqual(10);

    const image = await elementImageStats(page);
    expect(image.type).toBe('image/png');
    expect([image.width, image.height]).toEqual([24, 16]); // chelsea.png is 451x300
    expect(image.mean).toBeGreaterThan(10);
    expect(image.mean).toBeLessThan(245);
    expect(image.std).toBeGreaterThan(5);
    await page.close();
  }, 300_000);

  it('sends progress events in order, one per iteration, complete last; the canvas changes between iterations; the weights come from the cache', async () => {
    const started = performance.now();
    const page = await openPage('/order.html');
    const events = await waitForEnd(page, 240_000);
    const progress = events.filter((e) => e.type === 'style-transfer-progress');
    timings.push(`6 Adam iterations at 24 px (weights cached): ${((performance.now() - started) / 1000).toFixed(1)} s, ${iterationSeconds(progress)}`);

    const sequence = elementEvents(events);
    expect(sequence.map((e) => e.type)).toEqual([...Array<string>(6).fill('style-transfer-progress'), 'style-transfer-complete']);
    expect(progress.map((e) => e.detail.iteration)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sequence[6].detail).toMatchObject({ iterations: 6, stopped: false });
    expect(events.filter((e) => e.type === 'preview')).toHaveLength(6);
    const snapshots = await page.evaluate(() => Promise.all((window as unknown as { snapshots: Array<Promise<string>> }).snapshots));
    expect(snapshots).toHaveLength(6);
    // Each snapshot is the canvas when that progress event fired (the preview may already be an iteration or two
    // ahead of the losses): the image must have moved between the first and the last.
    expect(new Set(snapshots).size, `distinct canvas snapshots: ${snapshots.join(', ')}`).toBeGreaterThanOrEqual(2);
    expect(snapshots[0]).not.toBe(snapshots[5]);

    // Every page of this file shares one browser profile: the first page read the header and one range of layers,
    // later visits (this one included) read the layers from Cache Storage and ask the server for the header only.
    expect(server.requests.filter((path) => path.endsWith('.safetensors'))).toEqual(Array(3).fill('/weights/vgg19_conv_hwio_f16.safetensors'));
    expect(await page.evaluate(() => caches.has('style-transfer-weights-v2'))).toBe(true);
    await page.close();
  }, 300_000);

  it('stop() ends the run within one iteration; complete says stopped; the button is back to Start', async () => {
    const stopAt = 2;
    const page = await openPage('/stop.html', async (p) => {
      await p.evaluateOnNewDocument((at) => void ((window as unknown as { stopAtIteration: number }).stopAtIteration = at), stopAt);
    });
    const events = await waitForEnd(page, 240_000);
    const progress = events.filter((e) => e.type === 'style-transfer-progress');
    const stopCalled = events.find((e) => e.type === 'stop-called')!;
    const complete = events.find((e) => e.type === 'style-transfer-complete')!;
    timings.push(`stop(): complete ${((complete.at - stopCalled.at) / 1000).toFixed(2)} s after stop() (${iterationSeconds(progress)})`);

    expect(events.filter((e) => e.type === 'style-transfer-error')).toEqual([]);
    expect(complete.detail.stopped).toBe(true);
    const ran = complete.detail.iterations as number;
    // Losses are read back asynchronously, so progress k arrives after the GPU has moved on: iterations already
    // submitted finish (and report), but at most one more starts after stop().
    const previews = events.filter((e) => e.type === 'preview');
    const startedAfterStop = previews.filter((e) => e.at > stopCalled.at).length;
    timings.push(`stop() at progress ${stopAt}: ${previews.length - startedAfterStop} iterations had started, ${startedAfterStop} started after, ${ran} ran`);
    expect(startedAfterStop).toBeLessThanOrEqual(1);
    expect(ran).toBe(previews.length);
    expect(ran).toBeLessThan(40);
    expect(progress.map((e) => e.detail.iteration)).toEqual(Array.from({ length: ran }, (_, i) => i + 1));
    expect(elementEvents(events).at(-1)).toEqual(complete);
    const text = await shadowText(page);
    expect(text).toContain('Start');
    expect(text).toContain(`${ran} / 40`);
    await page.close();
  }, 300_000);

  it('phases arrive in order from Start and show on screen; etaMs after 5 iterations is within 30 % of the time that was left', async () => {
    const page = await openPage('/eta.html', async (p) => {
      // What the element shows at each phase event (after it rendered).
      await p.evaluateOnNewDocument(() => {
        const w = window as unknown as { shown: string[] };
        w.shown = [];
        document.addEventListener('style-transfer-phase', (event) => {
          const element = event.target as HTMLElement & { updateComplete: Promise<boolean> };
          void element.updateComplete.then(() =>
            w.shown.push(`${(event as CustomEvent<{ phase: string }>).detail.phase}: ${element.shadowRoot!.textContent.replace(/\s+/g, ' ').trim()}`),
          );
        });
      });
    });
    await page.waitForFunction(() => !!customElements.get('style-transfer'));
    const pressed = await page.evaluate(() => {
      const button = document.querySelector('style-transfer')!.shadowRoot!.querySelector<HTMLButtonElement>('[part="button"]')!;
      button.click();
      return performance.now();
    });
    const events = await waitForEnd(page, 240_000);
    const phases = events.filter((e) => e.type === 'style-transfer-phase');
    expect(phases.map((e) => e.detail.phase)).toEqual(['loading-weights', 'compiling', 'style-targets', 'optimizing']);
    expect(phases[0].at - pressed, 'loading-weights as Start is pressed').toBeLessThan(100);
    for (let k = 1; k < phases.length; k++) expect(phases[k].detail.elapsedMs as number).toBeGreaterThanOrEqual(phases[k - 1].detail.elapsedMs as number);
    const shown = await page.evaluate(() => (window as unknown as { shown: string[] }).shown);
    console.log(`on screen at each phase:\n  ${shown.join('\n  ')}`);
    // Building the network is synchronous (pipelines compile at first use, during the targets), so the next phase
    // may already show when the element renders for 'compiling'.
    expect(shown.find((t) => t.startsWith('compiling'))).toMatch(/Preparing the GPU programs|Measuring the style and content targets/);
    expect(shown.find((t) => t.startsWith('style-targets'))).toMatch(/Measuring the style and content targets/);
    expect(shown.find((t) => t.startsWith('optimizing'))).toMatch(/Running the first iteration|elapsed/);

    const progress = events.filter((e) => e.type === 'style-transfer-progress');
    const complete = events.find((e) => e.type === 'style-transfer-complete')!;
    expect(progress).toHaveLength(12);
    const fifth = progress[4];
    const eta = fifth.detail.etaMs as number;
    const actual = complete.at - fifth.at;
    timings.push(`ETA after 5 of 12 Adam iterations at 32 px: ${(eta / 1000).toFixed(2)} s estimated, ${(actual / 1000).toFixed(2)} s actual (${iterationSeconds(progress)})`);
    expect(Math.abs(eta - actual) / actual).toBeLessThanOrEqual(0.3);
    for (const { detail } of progress) expect(detail.elapsedMs as number).toBeGreaterThan(0);
    expect(progress.at(-1)!.detail.etaMs).toBe(0);
    const text = await shadowText(page);
    expect(text).toMatch(/12 \/ 12/);
    expect(text).toMatch(/\d+:\d\d in all/);
    await page.close();
  }, 300_000);

  it('default L-BFGS at 64 px: stop() shows "Stopping…" and ends within one iteration keeping the result; continue() goes on from it', async () => {
    const stopAt = 2;
    const page = await openPage('/stop64.html', async (p) => {
      await p.evaluateOnNewDocument((at) => {
        const w = window as unknown as { stopAtIteration: number; buttonAfterStop?: string };
        w.stopAtIteration = at;
        document.addEventListener('style-transfer-phase', (event) => {
          if ((event as CustomEvent<{ phase: string }>).detail.phase !== 'stopping') return;
          const element = event.target as HTMLElement & { updateComplete: Promise<boolean> };
          void element.updateComplete.then(() => {
            const button = element.shadowRoot!.querySelector<HTMLButtonElement>('[part="button"]')!;
            w.buttonAfterStop = `${button.textContent.trim()} disabled=${button.disabled}`;
          });
        });
      }, stopAt);
    });
    const events = await waitForEnd(page, 290_000);
    const progress = events.filter((e) => e.type === 'style-transfer-progress');
    const stopCalled = events.find((e) => e.type === 'stop-called')!;
    const complete = events.find((e) => e.type === 'style-transfer-complete')!;
    const previews = events.filter((e) => e.type === 'preview');
    const startedAfterStop = previews.filter((e) => e.at > stopCalled.at).length;
    const iterationMs = progress.slice(1).map((e, k) => e.at - progress[k].at);
    timings.push(
      `stop() at 64 px (L-BFGS, line search): complete ${((complete.at - stopCalled.at) / 1000).toFixed(2)} s after stop(); ${startedAfterStop} iterations started after it; ` +
        `iterations took ${iterationMs.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s`,
    );
    expect(events.filter((e) => e.type === 'style-transfer-error')).toEqual([]);
    expect(events.filter((e) => e.type === 'style-transfer-phase').map((e) => e.detail.phase)).toEqual(['loading-weights', 'compiling', 'style-targets', 'optimizing', 'stopping']);
    expect(await page.evaluate(() => (window as unknown as { buttonAfterStop?: string }).buttonAfterStop)).toBe('Stopping… disabled=true');
    expect(complete.detail.stopped).toBe(true);
    expect(startedAfterStop).toBeLessThanOrEqual(1);
    const ran = complete.detail.iterations as number;
    expect(ran).toBeLessThanOrEqual(stopAt + 1);
    expect(progress.map((e) => e.detail.iteration)).toEqual(Array.from({ length: ran }, (_, i) => i + 1));

    // The result stays; continue() resumes from it with the same settings, numbering on, and can be stopped again.
    const resumed = await page.evaluate(async (first) => {
      const w = window as unknown as { events: LoggedEvent[]; stopAtIteration: number };
      const element = document.querySelector('style-transfer')!;
      const before = await element.toBlob();
      w.events.length = 0;
      w.stopAtIteration = first + 2;
      const canContinue = element.canContinue;
      await element.continue();
      return { canContinue, resultBytes: before.size, events: w.events.filter((e) => e.type.startsWith('style-transfer-')) };
    }, ran);
    expect(resumed.canContinue).toBe(true);
    expect(resumed.resultBytes).toBeGreaterThan(1000);
    const again = resumed.events.filter((e) => e.type === 'style-transfer-progress').map((e) => e.detail.iteration);
    expect(again.slice(0, 2)).toEqual([ran + 1, ran + 2]);
    const totals = [...progress, ...resumed.events.filter((e) => e.type === 'style-transfer-progress')].map((e) => e.detail.total as number);
    // Going on from the stopped image, not from the photo again: the loss carries on from where it was.
    expect(totals[ran]).toBeLessThan(totals[0]);
    expect(resumed.events.at(-1)).toMatchObject({ type: 'style-transfer-complete', detail: { stopped: true } });
    const text = await shadowText(page);
    expect(text).toContain(`/ 30`);
    expect(text).toContain('Continue');
    await page.close();
  }, 300_000);

  it('WebP, AVIF and BMP inputs run (the browser decodes them; the header gives their size first)', async () => {
    const page = await openPage('/formats.html');
    const events = await waitForEnd(page, 240_000);
    expect(events.filter((e) => e.type === 'style-transfer-error')).toEqual([]);
    expect(elementEvents(events).filter((e) => e.type === 'style-transfer-progress')).toHaveLength(2);
    const image = await page.evaluate(async () => {
      const bitmap = await createImageBitmap(await document.querySelector('style-transfer')!.toBlob());
      return [bitmap.width, bitmap.height];
    });
    expect(image).toEqual([24, 16]); // 64x43 at 24 px
    await page.close();

    const bmp = await openPage('/bmp.html');
    const bmpEvents = await waitForEnd(bmp, 240_000);
    expect(elementEvents(bmpEvents).map((e) => e.type)).toEqual(['style-transfer-progress', 'style-transfer-complete']);
    await bmp.close();
  }, 300_000);

  it('a lost GPU device ends the run with one error event; the next start() opens a new device and completes', async () => {
    const page = await openPage('/stop.html', async (p) => {
      // Keep a handle on the element's device (page-gpu.ts does not expose it) and destroy it at progress 2.
      await p.evaluateOnNewDocument(() => {
        const w = window as unknown as { devices: GPUDevice[] };
        w.devices = [];
        const requestDevice = GPUAdapter.prototype.requestDevice;
        GPUAdapter.prototype.requestDevice = async function (this: GPUAdapter, descriptor?: GPUDeviceDescriptor) {
          const device = await requestDevice.call(this, descriptor);
          w.devices.push(device);
          return device;
        };
        document.addEventListener('style-transfer-progress', (event) => {
          if ((event as CustomEvent<{ iteration: number }>).detail.iteration === 2) w.devices[0].destroy();
        });
      });
    });
    const events = await waitForEnd(page, 240_000);
    const sequence = elementEvents(events);
    expect(sequence.at(-1)?.type).toBe('style-transfer-error');
    expect(sequence.filter((e) => e.type === 'style-transfer-complete')).toEqual([]);
    const message = sequence.at(-1)!.detail.message as string;
    expect(message).toMatch(/GPU device was lost/);
    expect(message).toMatch(/Start again/);
    console.log(`device lost: ${message}`);

    const rerun = await page.evaluate(async () => {
      const element = document.querySelector('style-transfer')!;
      element.iterations = 2;
      const ended = new Promise<string>((resolve) => {
        element.addEventListener('style-transfer-complete', () => resolve('complete'), { once: true });
        element.addEventListener('style-transfer-error', (e) => resolve(`error: ${e.detail.message}`), { once: true });
      });
      await element.start();
      return { outcome: await ended, devices: (window as unknown as { devices: GPUDevice[] }).devices.length };
    });
    expect(rerun).toEqual({ outcome: 'complete', devices: 2 });
    await page.close();
  }, 300_000);

  async function expectError(path: string, expected: RegExp[], setup?: (page: Page) => Promise<void>): Promise<string> {
    const page = await openPage(path, setup);
    const events = await waitForEnd(page, 120_000);
    // Let a late, wrong second event show up before asserting there is none.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const all = await page.evaluate(() => (window as unknown as { events: LoggedEvent[] }).events);
    expect(elementEvents(all).map((e) => e.type)).toEqual(['style-transfer-error']);
    const message = elementEvents(events)[0].detail.message as string;
    for (const pattern of expected) expect(message).toMatch(pattern);
    // The same sentence is shown inside the element.
    const shown = await page.evaluate(() => document.querySelector('style-transfer')?.shadowRoot?.querySelector('[part="message"]')?.textContent ?? '');
    expect(shown.trim()).toBe(message);
    await page.close();
    return message;
  }

  it('a broken image URL: one error event and the message inside the element', async () => {
    const message = await expectError('/broken-image.html', [/content image/, /missing\.png/, /404/]);
    console.log(`broken image: ${message}`);
  }, 180_000);

  it('weights that fail to load: one error event and the message inside the element', async () => {
    const message = await expectError('/broken-weights.html', [/weights/, /no-weights-here/, /404/, /npm run weights/]);
    console.log(`broken weights: ${message}`);
  }, 180_000);

  it('an image from another origin without CORS: the message says so', async () => {
    const message = await expectError('/no-cors.html', [/content image/, /CORS/]);
    console.log(`no CORS: ${message}`);
  }, 180_000);

  it("a bad option attribute: one error event whose detail is { message }, the engine's sentence naming the attribute", async () => {
    const message = await expectError('/bad-option.html', []);
    expect(message).toBe('style-weight must be a number >= 0, got "abc".');
    // More attributes on one page, each on its own (the OptionError's option -> the attribute, not the text).
    const page = await openPage('/bad-option.html');
    await waitForEnd(page, 120_000);
    const outcomes = await page.evaluate(
      async (cases) => {
        const element = document.querySelector('style-transfer')!;
        element.removeAttribute('style-weight');
        const results: Array<{ keys: string[]; message: string }> = [];
        for (const [name, value] of cases) {
          element.setAttribute(name, value);
          const ended = new Promise<StyleTransferCompleteEvent | StyleTransferErrorEvent>((resolve) => {
            element.addEventListener('style-transfer-complete', (e) => resolve(e), { once: true });
            element.addEventListener('style-transfer-error', (e) => resolve(e), { once: true });
          });
          await element.start();
          const event = await ended;
          results.push({ keys: Object.keys(event.detail), message: `${event.type}: ${'message' in event.detail ? event.detail.message : undefined}` });
          element.removeAttribute(name);
        }
        return results;
      },
      [
        ['content-weight', '-1'],
        ['tv-weight', '1e'],
        ['iterations', '2.5'],
        ['optimizer', 'sgd'],
        ['preset', 'fast'],
        ['style-layer-weights', '1 2'],
        ['style-layer-weights', '1,-2,1,1,1'],
      ],
    );
    expect(outcomes).toEqual([
      { keys: ['message'], message: 'style-transfer-error: content-weight must be a number >= 0, got -1.' },
      { keys: ['message'], message: 'style-transfer-error: tv-weight must be a number >= 0, got "1e".' },
      { keys: ['message'], message: 'style-transfer-error: iterations must be a whole number >= 0, got 2.5.' },
      { keys: ['message'], message: 'style-transfer-error: optimizer must be lbfgs or adam, got "sgd".' },
      { keys: ['message'], message: 'style-transfer-error: preset must be neural-style or course, got "fast".' },
      { keys: ['message'], message: 'style-transfer-error: 2 style layer weights given for 5 style layers.' },
      { keys: ['message'], message: 'style-transfer-error: style-layer-weights must be numbers >= 0, got [1, -2, 1, 1, 1].' },
    ]);
    await page.close();
  }, 180_000);

  it('no WebGPU: the message says what is needed', async () => {
    const hideWebGpu = (page: Page) =>
      page.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true })).then(() => undefined);
    const message = await expectError('/acceptance.html', [/WebGPU is not available/, /needs WebGPU/], hideWebGpu);
    console.log(`no WebGPU: ${message}`);
  }, 180_000);
});

/** "s per iteration" from the spacing of progress events. */
function iterationSeconds(progress: LoggedEvent[]): string {
  if (progress.length < 2) return 'too few iterations to time';
  const seconds = (progress[progress.length - 1].at - progress[0].at) / 1000 / (progress.length - 1);
  return `${seconds.toFixed(2)} s per iteration`;
}
