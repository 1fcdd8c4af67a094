/**
 * The built demo (dist/demo/) in real Chromium, served under `Content-Security-Policy: default-src 'self';
 * script-src 'self'`: an automated accessibility check with axe-core, driven from the keyboard through a short run
 * with no CSP violation, and a screenshot saved to test/browser/artifacts/demo.png.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { AXE_DIR, axeViolations, expectNoSeriousViolations } from './axe.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  artifactsDir,
  BROWSER_SKIP_REASON,
  STRICT_CSP,
  distDir,
  elementEvents,
  ensureBuilt,
  launchChromium,
  logPageErrors,
  recordEvents,
  startServer,
  waitForEnd,
  servedWeightsDir,
  type LoggedEvent,
  type TestBrowser,
  type TestServer,
} from './harness.js';

/** Replaces a number input's value by typing, as a keyboard user would. */
async function typeInto(page: Page, selector: string, value: string): Promise<void> {
  await page.focus(selector);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.type(value);
  await page.keyboard.press('Tab');
}

describe.skipIf(!!BROWSER_SKIP_REASON)('demo page in Chromium', () => {
  let server: TestServer;
  let chromium: TestBrowser;

  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer(
      [
        ['/weights/', await servedWeightsDir()],
        ['/vendor/axe-core/', AXE_DIR],
        ['/', distDir],
      ],
      [],
      STRICT_CSP,
    );
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
    await page.waitForFunction(() => !!customElements.get('style-transfer') && [...document.images].every((img) => img.complete && img.naturalWidth > 0));

    expectNoSeriousViolations(await axeViolations(page), 'on load');

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
    expect(state.note).toMatch(/Done: 10 iterations/);

    expectNoSeriousViolations(await axeViolations(page), 'after a run');

    // The whole visit, run included, under the CSP: nothing was blocked.
    const all = await page.evaluate(() => (window as unknown as { events: LoggedEvent[] }).events);
    expect(all.filter((e) => e.type === 'csp-violation')).toEqual([]);

    mkdirSync(artifactsDir, { recursive: true });
    const file = join(artifactsDir, 'demo.png');
    writeFileSync(file, await page.screenshot({ fullPage: true }));
    console.log(`screenshot: ${file} (${(statSync(file).size / 1024).toFixed(0)} KiB)`);
    await page.close();
  }, 300_000);
});
