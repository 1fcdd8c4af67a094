/**
 * What a page's visitors download for the weights, counted on the server side (a static server answering Range
 * requests, as real ones do): the acceptance page (size 24, 3 iterations, default attributes: f16, layers up to
 * relu5_1) on a first visit, again in the same profile (Cache Storage), and with weights-precision="int8" and "f32"
 * in a fresh profile; a missing variant gives one error event.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weightsFileName } from '../../src/net/weightsFormat.js';
import {
  BROWSER_SKIP_REASON,
  STRICT_CSP,
  ensureBuilt,
  launchChromium,
  logPageErrors,
  recordEvents,
  repoRoot,
  servedWeightsDir,
  startServer,
  waitForEnd,
  type LoggedEvent,
  type TestBrowser,
  type TestServer,
} from './harness.js';

if (BROWSER_SKIP_REASON) console.warn(BROWSER_SKIP_REASON);

const page = (attributes: string) => `<!doctype html>
<script type="module" src="dist/style-transfer.js"></script>
<style-transfer content-src="samples/chelsea.png" style-src="samples/starry_night.jpg" size="24" iterations="3" autostart ${attributes}></style-transfer>
`;

const MB = 1e6;

describe.skipIf(!!BROWSER_SKIP_REASON)('weights a page can afford (bytes counted by the server)', () => {
  let server: TestServer;
  let onlyInt8: string;
  const browsers: TestBrowser[] = [];
  const figures: string[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    const weights = await servedWeightsDir();
    // A directory holding only the int8 file, for the missing-variant page.
    onlyInt8 = mkdtempSync(join(tmpdir(), 'style-transfer-only-int8-'));
    symlinkSync(join(weights, weightsFileName('int8')), join(onlyInt8, weightsFileName('int8')));
    server = await startServer(
      [
        ['/weights/', weights],
        ['/only-int8/', onlyInt8],
        ['/', repoRoot],
      ],
      [
        { path: '/acceptance.html', html: page('weights-src="/weights/"'), headers: STRICT_CSP },
        { path: '/int8.html', html: page('weights-src="/weights/" weights-precision="int8"'), headers: STRICT_CSP },
        { path: '/f32.html', html: page('weights-src="/weights/" weights-precision="f32"'), headers: STRICT_CSP },
        { path: '/missing.html', html: page('weights-src="/only-int8/" weights-precision="f32"'), headers: STRICT_CSP },
      ],
    );
  }, 600_000);

  afterAll(async () => {
    for (const b of browsers) await b.close();
    await server?.close();
    if (onlyInt8) rmSync(onlyInt8, { recursive: true, force: true });
    if (figures.length) console.log(`weight bytes sent by the server:\n  ${figures.join('\n  ')}`);
  });

  async function visit(browser: TestBrowser, path: string): Promise<{ events: LoggedEvent[]; bytes: number }> {
    const before = server.sentBytes('/weights/') + server.sentBytes('/only-int8/');
    const tab: Page = await browser.browser.newPage();
    logPageErrors(tab, path);
    await tab.evaluateOnNewDocument(recordEvents);
    await tab.goto(`${server.origin}${path}`);
    const events = await waitForEnd(tab, 300_000);
    await tab.close();
    return { events, bytes: server.sentBytes('/weights/') + server.sentBytes('/only-int8/') - before };
  }

  function expectCompleted(events: LoggedEvent[]): void {
    expect(events.filter((e) => e.type === 'style-transfer-error')).toEqual([]);
    expect(events.filter((e) => e.type === 'style-transfer-progress').map((e) => e.detail.iteration)).toEqual([1, 2, 3]);
    expect(events.filter((e) => e.type === 'style-transfer-complete')).toHaveLength(1);
  }

  it('default attributes (f16): at most 27 MB on a first visit, at most 1 MB on a second visit in the same profile', async () => {
    const browser = await launchChromium();
    browsers.push(browser);
    const first = await visit(browser, '/acceptance.html');
    expectCompleted(first.events);
    figures.push(`f16 (default), first visit: ${first.bytes} bytes (${(first.bytes / MB).toFixed(2)} MB)`);
    expect(first.bytes).toBeLessThanOrEqual(27 * MB);
    expect(first.bytes).toBeGreaterThan(25 * MB); // the layers up to conv5_1 in f16 really came over the network

    const second = await visit(browser, '/acceptance.html');
    expectCompleted(second.events);
    figures.push(`f16 (default), second visit: ${second.bytes} bytes`);
    expect(second.bytes).toBeLessThanOrEqual(1 * MB);
  }, 900_000);

  it('weights-precision="int8": at most 14 MB on a first visit; "f32" in the same profile fetches its own file', async () => {
    const browser = await launchChromium();
    browsers.push(browser);
    const int8 = await visit(browser, '/int8.html');
    expectCompleted(int8.events);
    figures.push(`int8, first visit: ${int8.bytes} bytes (${(int8.bytes / MB).toFixed(2)} MB)`);
    expect(int8.bytes).toBeLessThanOrEqual(14 * MB);
    expect(int8.bytes).toBeGreaterThan(12 * MB);

    const f32 = await visit(browser, '/f32.html');
    expectCompleted(f32.events);
    figures.push(`f32, first visit: ${f32.bytes} bytes (${(f32.bytes / MB).toFixed(2)} MB)`);
    expect(f32.bytes).toBeGreaterThan(51 * MB);
    expect(f32.bytes).toBeLessThan(53 * MB);
  }, 900_000);

  it('a precision whose file is missing under weights-src: one error event naming the file', async () => {
    const { events } = await visit(browsers[0], '/missing.html');
    const errors = events.filter((e) => e.type === 'style-transfer-error');
    expect(errors).toHaveLength(1);
    expect(String(errors[0].detail.message)).toContain('weights-src has no vgg19_conv_hwio_f32.safetensors (the file weights-precision="f32" needs)');
    expect(String(errors[0].detail.message)).toContain('/only-int8/vgg19_conv_hwio_f32.safetensors: the server answered 404');
    // Phase events may come first; the outcome is that one error (no progress, no complete).
    expect(events.filter((e) => ['style-transfer-progress', 'style-transfer-complete', 'style-transfer-error'].includes(e.type))).toHaveLength(1);
  }, 300_000);
});
