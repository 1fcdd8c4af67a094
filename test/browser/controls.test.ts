/**
 * <style-transfer> with the creative controls of issue 17 in real Chromium (WebGPU on SwiftShader, so 24 px and two
 * iterations): two styles (a URL and a painted canvas) with two masks (a canvas and an ImageBitmap) and colour
 * matching complete a short run; a mask count that differs from the styles and an unknown padding each end in one
 * error event with one clear message.
 */
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BROWSER_SKIP_REASON,
  ensureBuilt,
  launchChromium,
  logPageErrors,
  recordEvents,
  repoRoot,
  startServer,
  waitForEnd,
  servedWeightsDir,
  type TestBrowser,
  type TestServer,
} from './harness.js';

if (BROWSER_SKIP_REASON) console.warn(BROWSER_SKIP_REASON);

/**
 * A page whose module script builds the element: two styles (starry_night.jpg and a canvas painted with stripes),
 * `masks` of them (left half / right half), the given attributes, then start().
 */
function page(attributes: string, masks: 'two' | 'one'): string {
  return `<!doctype html>
<script type="module" src="dist/style-transfer.js"></script>
<script type="module">
  await customElements.whenDefined('style-transfer');
  const paint = (draw) => {
    const canvas = document.createElement('canvas');
    canvas.width = 48;
    canvas.height = 32;
    draw(canvas.getContext('2d'));
    return canvas;
  };
  const stripes = paint((g) => {
    for (let x = 0; x < 48; x += 8) { g.fillStyle = x % 16 ? '#e0b020' : '#2040c0'; g.fillRect(x, 0, 8, 32); }
  });
  const left = paint((g) => { g.fillStyle = '#000'; g.fillRect(0, 0, 48, 32); g.fillStyle = '#fff'; g.fillRect(0, 0, 24, 32); });
  const right = await createImageBitmap(paint((g) => { g.fillStyle = '#000'; g.fillRect(0, 0, 48, 32); g.fillStyle = '#fff'; g.fillRect(24, 0, 24, 32); }));
  const element = document.createElement('style-transfer');
  for (const [name, value] of Object.entries(${JSON.stringify(Object.fromEntries(attributes.split(' ').map((a) => a.split('='))))})) element.setAttribute(name, value ?? '');
  element.styles = ['samples/starry_night.jpg', stripes];
  element.styleMasks = ${masks === 'two' ? '[left, right]' : '[left]'};
  document.body.append(element);
  element.start();
</script>
`;
}

describe.skipIf(!!BROWSER_SKIP_REASON)('<style-transfer> style regions and colour matching in Chromium (WebGPU on SwiftShader)', () => {
  let server: TestServer;
  let chromium: TestBrowser;

  beforeAll(async () => {
    await ensureBuilt();
    const common = 'content-src=samples/chelsea.png weights-src=/weights/ size=24 iterations=2 optimizer=adam';
    server = await startServer(
      [
        ['/weights/', await servedWeightsDir()],
        ['/', repoRoot],
      ],
      [
        { path: '/two-masks.html', html: page(`${common} match-style-colors=`, 'two') },
        { path: '/one-mask-two-styles.html', html: page(common, 'one') },
        { path: '/bad-padding.html', html: page(`${common} padding=mirror`, 'two') },
      ],
    );
    chromium = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
  });

  async function open(path: string): Promise<Page> {
    const p = await chromium.browser.newPage();
    logPageErrors(p, path);
    await p.evaluateOnNewDocument(recordEvents);
    await p.goto(`${server.origin}${path}`);
    return p;
  }

  it('two styles with two masks (canvas, ImageBitmap) and colour matching complete a 2-iteration run with finite losses', async () => {
    const started = performance.now();
    const p = await open('/two-masks.html');
    const events = await waitForEnd(p, 400_000);
    console.log(`two styles, two masks, colour matching (24 px, 2 Adam iterations): ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(events.filter((e) => e.type === 'style-transfer-error')).toEqual([]);
    const progress = events.filter((e) => e.type === 'style-transfer-progress');
    expect(progress.map((e) => e.detail.iteration)).toEqual([1, 2]);
    for (const { detail } of progress) for (const key of ['content', 'style', 'tv', 'total']) expect(Number.isFinite(detail[key]), key).toBe(true);
    expect(events.filter((e) => e.type === 'style-transfer-complete').map((e) => e.detail)).toMatchObject([{ iterations: 2, stopped: false }]);
    await p.close();
  }, 420_000);

  it.each([
    ['/one-mask-two-styles.html', /1 style masks given for 2 style images/],
    ['/bad-padding.html', /padding must be zero or reflect, got "mirror"\./],
  ])('%s: one error event with one clear message', async (path, message) => {
    const p = await open(path);
    const events = await waitForEnd(p, 120_000);
    const errors = events.filter((e) => e.type === 'style-transfer-error');
    expect(errors).toHaveLength(1);
    expect(String(errors[0].detail.message)).toMatch(message);
    await p.close();
  });
});
