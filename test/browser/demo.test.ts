/**
 * The built demo (dist/demo/) in real Chromium, served under `Content-Security-Policy: default-src 'self';
 * script-src 'self'`, with the weights in weights/ beside the page: automated accessibility checks with axe-core in
 * light and dark mode, presets that run with their exact values, size limits, the layout at phone and desktop
 * widths, a short run driven from the keyboard with no CSP violation, and a screenshot saved to
 * test/browser/artifacts/demo.png.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StyleTransferElement } from '../../src/ui/style-transfer.js';
import { axeViolations, expectNoSeriousViolations } from './axe.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  artifactsDir,
  BROWSER_SKIP_REASON,
  elementEvents,
  launchChromium,
  logPageErrors,
  recordEvents,
  waitForEnd,
  type LoggedEvent,
  type TestBrowser,
  type TestServer,
  typeInto,
} from './harness.js';
import { startDemoServer } from './demo-server.js';

describe.skipIf(!!BROWSER_SKIP_REASON)('demo page in Chromium', () => {
  let server: TestServer;
  let chromium: TestBrowser;

  beforeAll(async () => {
    server = await startDemoServer();
    chromium = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
  });

  it('has no serious or critical axe violations, runs from the keyboard, and is captured in a screenshot', async () => {
    const page = await chromium.browser.newPage();
    logPageErrors(page, 'demo');
    await page.setViewport({ width: 880, height: 900 });
    await page.evaluateOnNewDocument(recordEvents);
    await page.goto(`${server.origin}/demo/`, { waitUntil: 'load' });
    await page.waitForFunction(
      () => !!customElements.get('style-transfer') && ['content-image', 'style-image'].every((id) => (document.getElementById(id) as HTMLImageElement).naturalWidth > 0),
    );

    expectNoSeriousViolations(await axeViolations(page), 'on load (light)');
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    const darkBackground = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    expect(darkBackground).toBe('rgb(20, 20, 26)');
    expectNoSeriousViolations(await axeViolations(page), 'on load (dark)');
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);

    // Before the first Start: the download size from the server, no WebGPU banner (SwiftShader has an adapter).
    await page.waitForFunction(() => /\(\d+ MB\)/.test(document.getElementById('weights-note')?.textContent ?? ''));
    expect(await page.$eval('#weights-note', (e) => e.textContent)).toMatch(/\(26 MB\)/);
    expect(await page.$eval('#gpu-banner', (e) => (e as HTMLElement).hidden)).toBe(true);

    // Presets run with their exact values: the number fields and the element's properties hold them unrounded.
    const exact = async (name: string) => {
      await page.select('#preset', name);
      return page.evaluate(() => {
        const element = document.getElementById('stylizer') as StyleTransferElement;
        const field = (id: string) => (document.getElementById(id) as HTMLInputElement).value;
        return {
          fields: [field('content-weight-number'), field('style-weight-number'), field('tv-weight-number')],
          element: [element.contentWeight, element.styleWeight, element.tvWeight, element.optimizer],
          sliders: [field('content-weight'), field('style-weight')].map(Number),
        };
      });
    };
    const course = await exact('course');
    expect(course.fields).toEqual(['2.5', '40', '0']);
    expect(course.element).toEqual([2.5, 40, 0, 'adam']);
    expect(course.sliders[0]).toBeCloseTo(Math.log10(2.5), 2);
    const defaults = await exact('');
    expect(defaults.fields).toEqual(['5', '100', '0.001']);
    expect(defaults.element).toEqual([5, 100, 0.001, 'lbfgs']);

    // Size limits from the adapter, enforced with plain sentences.
    await page.waitForFunction(() => Number((document.getElementById('size') as HTMLInputElement).max) > 0);
    const limits = await page.$eval('#size', (e) => ({ min: Number((e as HTMLInputElement).min), max: Number((e as HTMLInputElement).max) }));
    expect(limits.min).toBe(24); // chelsea.png is 451x300: a 16 px shorter side for relu5_1
    expect(limits.max).toBeGreaterThan(256);
    await typeInto(page, '#size', '16');
    expect(await page.$eval('#size', (e) => (e as HTMLInputElement).value)).toBe('24');
    expect(await page.$eval('#size-note', (e) => e.textContent)).toMatch(/smallest size the network can work with for this photo is 24 px/);
    await typeInto(page, '#size', '100000');
    expect(await page.$eval('#size', (e) => (e as HTMLInputElement).value)).toBe(String(limits.max));
    expect(await page.$eval('#size-note', (e) => e.textContent)).toMatch(new RegExp(`largest size that fits this GPU's memory for these images is ${limits.max} px`));
    console.log(`demo size limits on SwiftShader: ${limits.min}..${limits.max} px`);

    // Layout: nothing wider than the window on a phone or a desktop.
    for (const width of [390, 1280]) {
      await page.setViewport({ width, height: 900 });
      // The loss plot follows its box through a ResizeObserver: let it run.
      await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `horizontal overflow at ${width} px`).toBeLessThanOrEqual(0);
      expectNoSeriousViolations(await axeViolations(page), `at ${width} px`);
    }
    await page.setViewport({ width: 880, height: 900 });

    // A short run at 32 px, set up and started from the keyboard only.
    await typeInto(page, '#size', '32');
    await typeInto(page, '#iterations', '10');
    const start = await page.waitForSelector('style-transfer >>> button[part="button"]');
    await start!.focus();
    await page.keyboard.press('Enter');
    const started = performance.now();
    const events = await waitForEnd(page, 240_000);
    const seconds = (performance.now() - started) / 1000;
    console.log(`demo run (32 px, 10 L-BFGS iterations, first weights download): ${seconds.toFixed(1)} s`);
    const sequence = elementEvents(events);
    expect(sequence.at(-1)?.type).toBe('style-transfer-complete');
    expect(sequence.filter((e) => e.type === 'style-transfer-progress')).toHaveLength(10);

    // The plot got every point and the download button is enabled.
    const state = await page.evaluate(() => ({
      download: (document.getElementById('download') as HTMLButtonElement).disabled,
      note: document.getElementById('run-note')?.textContent ?? '',
    }));
    expect(state.download).toBe(false);
    expect(state.note).toMatch(/Done: 10 steps/);
    // The before/after comparison shows the result.
    await page.waitForFunction(() => !(document.getElementById('compare-section') as HTMLElement).hidden);
    expect(await page.$eval('#after-canvas', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])).toEqual([32, 22]); // decoded at 64x43 (twice the size), then 32 px

    expectNoSeriousViolations(await axeViolations(page), 'after a run');
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    expectNoSeriousViolations(await axeViolations(page), 'after a run (dark)');
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);

    // The whole visit, run included, under the CSP: nothing was blocked.
    const all = await page.evaluate(() => (window as unknown as { events: LoggedEvent[] }).events);
    expect(all.filter((e) => e.type === 'csp-violation')).toEqual([]);

    mkdirSync(artifactsDir, { recursive: true });
    const file = join(artifactsDir, 'demo.png');
    writeFileSync(file, await page.screenshot({ fullPage: true }));
    console.log(`screenshot: ${file} (${(statSync(file).size / 1024).toFixed(0)} KiB)`);
    await page.close();
  }, 300_000);

  it('without WebGPU the page says so on load, with what to do in this browser, before any Start', async () => {
    const page = await chromium.browser.newPage();
    logPageErrors(page, 'demo without WebGPU');
    await page.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    await page.goto(`${server.origin}/demo/`, { waitUntil: 'load' });
    await page.waitForFunction(() => !(document.getElementById('gpu-banner') as HTMLElement).hidden);
    const banner = await page.$eval('#gpu-banner', (e) => e.textContent ?? '');
    console.log(`no-WebGPU banner: ${banner}`);
    // Headless Chromium identifies as Chrome: the advice is Chrome's.
    expect(banner).toMatch(/^This browser has no WebGPU, which the demo needs\. In Chrome, use version 113 or later .*chrome:\/\/flags\/#enable-unsafe-webgpu/);
    expect(await page.$eval('#gpu-banner', (e) => e.getAttribute('role'))).toBe('alert');
    await page.close();
  }, 60_000);
});
