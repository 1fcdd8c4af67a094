/**
 * The browser bench page (dist/demo/bench.html) in Chromium on SwiftShader, under the strict CSP, at a phone's
 * width (390 px): the URL's parameters run the same measurements as `npm run bench`; `window.styleTransferBench`
 * resolves to a report that passes the BenchReport check, with forward and backward times for every conv layer of
 * the loss (to conv5_1), an evaluation time and the TensorFlow.js peer with its guard passing; "Download JSON" saves
 * exactly that report; "Copy as Markdown" holds renderMarkdown's text; axe-core finds nothing serious and nothing
 * scrolls the page sideways. The text report is saved to test/browser/artifacts/bench-page.txt (and .json).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { AXE_DIR, axeViolations, expectNoSeriousViolations } from './axe.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBenchReport, renderMarkdown, type BenchReport } from '../../bench/report.js';
import { DEFAULT_LOSS, lossDepth } from '../../src/net/loss.js';
import { VGG19 } from '../../src/net/vgg19.js';
import { artifactsDir, BROWSER_SKIP_REASON, distDir, ensureBuilt, launchChromium, logPageErrors, startServer, STRICT_CSP, type TestBrowser, type TestServer } from './harness.js';

const QUERY = 'sizes=24&layer-size=24&reps=1&layer-reps=1&matmul-size=128&no-optim&no-f16&autorun';

function recordCsp(): void {
  const w = window as unknown as { cspViolations: string[] };
  w.cspViolations = [];
  document.addEventListener('securitypolicyviolation', (event) => w.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
}

const statusText = (page: Page) => page.evaluate(() => document.getElementById('status')?.textContent ?? '');

/** Whether anything makes the document wider than the viewport (a page-wide horizontal scroll). */
const horizontalOverflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

describe.skipIf(!!BROWSER_SKIP_REASON)('bench page in Chromium', () => {
  let server: TestServer;
  let chromium: TestBrowser;
  let downloads: string;

  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer(
      [
        ['/vendor/axe-core/', AXE_DIR],
        ['/', distDir],
      ],
      [],
      STRICT_CSP,
    );
    chromium = await launchChromium();
    downloads = mkdtempSync(join(tmpdir(), 'style-transfer-downloads-'));
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    if (downloads) rmSync(downloads, { recursive: true, force: true });
  });

  it('runs the bench from its URL: the report, the JSON download, Markdown, axe and a phone-width layout', async () => {
    const page = await chromium.browser.newPage();
    logPageErrors(page, 'bench');
    await page.setViewport({ width: 390, height: 844 });
    await page.evaluateOnNewDocument(recordCsp);
    const cdp = await chromium.browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    const started = performance.now();
    await page.goto(`${server.origin}/demo/bench.html?${QUERY}`, { waitUntil: 'load' });
    expect(await page.evaluate(() => typeof (window as unknown as { styleTransferBench?: unknown }).styleTransferBench)).toBe('object');
    await page.waitForFunction(() => /^(Done|Failed|Stopped)/.test(document.getElementById('status')?.textContent ?? ''), { timeout: 300_000, polling: 1000 });
    const seconds = (performance.now() - started) / 1000;
    console.log(`bench page (${QUERY}): ${seconds.toFixed(1)} s; ${await statusText(page)}`);
    const report = await page.evaluate(() => (window as unknown as { styleTransferBench: Promise<BenchReport> }).styleTransferBench);
    const text = await page.evaluate(() => document.getElementById('report')?.textContent ?? '');
    mkdirSync(artifactsDir, { recursive: true });
    writeFileSync(join(artifactsDir, 'bench-page.txt'), `${text}\n`);
    writeFileSync(join(artifactsDir, 'bench-page.json'), `${JSON.stringify(report, null, 2)}\n`);

    // The same type as npm run bench --json, checked by the same code.
    expect(checkBenchReport(report)).toEqual([]);
    expect(report.errors).toEqual([]);
    expect([report.node, typeof report.browser]).toEqual([null, 'string']);
    const convs = VGG19.slice(0, lossDepth(DEFAULT_LOSS))
      .filter((l) => l.kind === 'conv')
      .map((l) => l.name);
    expect(convs.at(-1)).toBe('conv5_1');
    expect(report.layers?.rows.map((r) => r.layer)).toEqual(convs);
    for (const row of report.layers!.rows) expect([row.layer, row.forward!.bestMs > 0, row.backward!.bestMs > 0]).toEqual([row.layer, true, true]);
    expect(report.sizes[0].ours!.ms).toBeGreaterThan(0);
    expect(report.sizes[0].peer?.ms).toBeGreaterThan(0);
    expect(report.guard).toMatchObject({ size: 24, ok: true });
    expect(text).toMatch(/correctness guard at 24x24: .*: ok/);

    // "Download JSON": the file is the resolved report, byte for byte as JSON.stringify(report, null, 2) writes it.
    await page.click('#download-json');
    let saved: string | undefined;
    for (let i = 0; i < 100 && !saved; i++) {
      const file = readdirSync(downloads).find((f) => f.endsWith('.json'));
      if (file) saved = readFileSync(join(downloads, file), 'utf8');
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(saved).toBeDefined();
    expect(JSON.parse(saved!)).toEqual(report);
    expect(saved).toBe(`${JSON.stringify(report, null, 2)}\n`);

    // "Copy as Markdown" copies renderMarkdown's text (kept on the button; the clipboard may be refused headless).
    expect(await page.$eval('#copy-markdown', (b) => (b as HTMLElement).dataset.markdown)).toBe(renderMarkdown(report));
    await page.click('#copy-markdown');
    await page.waitForFunction(() => (document.getElementById('copy-note')?.textContent ?? '') !== '');

    // The chart: one group of bars per layer, with a text alternative.
    expect(await page.$$eval('#chart svg rect', (r) => r.length)).toBe(2 + 2 * convs.length);
    expect(await page.$eval('#chart-table tbody', (b) => b.children.length)).toBe(convs.length);

    expectNoSeriousViolations(await axeViolations(page), 'after a run, 390 px');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    // Under the strict CSP nothing is blocked but one probe: tfjs-core bundles long.js, which tries to instantiate a
    // tiny WebAssembly module for 64-bit multiplication inside a try/catch and falls back to plain JS when it may not.
    const csp = await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    expect(csp.filter((v) => v !== 'script-src wasm-eval')).toEqual([]);
    await page.screenshot({ path: join(artifactsDir, 'bench-page.png'), fullPage: true });
    await page.close();
  }, 360_000);

  it('names an unknown parameter, and Stop ends a run', async () => {
    const page = await chromium.browser.newPage();
    logPageErrors(page, 'bench-stop');
    await page.setViewport({ width: 390, height: 844 });
    await page.goto(`${server.origin}/demo/bench.html?frobnicate=1&autorun`, { waitUntil: 'load' });
    await page.waitForFunction(() => (document.getElementById('options-note')?.textContent ?? '') !== '');
    expect(await page.$eval('#options-note', (n) => n.textContent)).toMatch(/unknown parameter "frobnicate"/);
    const rejected = await page.evaluate(() =>
      (window as unknown as { styleTransferBench: Promise<unknown> }).styleTransferBench.then(
        () => 'resolved',
        (e: unknown) => String(e),
      ),
    );
    expect(rejected).toMatch(/frobnicate/);

    // A valid run, stopped at once: the page says so and can run again.
    await page.$eval('#params', (input) => ((input as HTMLInputElement).value = 'sizes=24&layer-size=24&reps=1&no-peer&no-f16&no-optim&matmul-size=128'));
    await page.click('#run');
    await page.click('#stop');
    await page.waitForFunction(() => /^(Done|Failed|Stopped)/.test(document.getElementById('status')?.textContent ?? ''), { timeout: 120_000, polling: 250 });
    expect(await statusText(page)).toMatch(/^Stopped/);
    expect(await page.$eval('#run', (b) => (b as HTMLButtonElement).disabled)).toBe(false);
    expectNoSeriousViolations(await axeViolations(page), 'stopped, 390 px');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await page.close();
  }, 180_000);
});
