/**
 * The demo's style regions in real Chromium under the strict CSP (dist/demo/, weights beside the page): painting
 * the mask over the photo with a mouse, with touch (pointer events of pointerType touch) and from the keyboard
 * (region presets, invert, clear), each read back from the mask canvas's pixels; a second painting, the
 * colour-matching and reflect-padding toggles reaching the element; a short two-style two-mask run from the page
 * whose progress events carry one style loss per style, plotted as one curve each; axe-core clean.
 */
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import type { StyleTransferElement } from '../../src/ui/style-transfer.js';
import { axeViolations, expectNoSeriousViolations } from './axe.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BROWSER_SKIP_REASON,
  elementEvents,
  launchChromium,
  logPageErrors,
  recordEvents,
  repoRoot,
  waitForEnd,
  type LoggedEvent,
  type TestBrowser,
  type TestServer,
  typeInto,
} from './harness.js';
import { startDemoServer } from './demo-server.js';

/** The mask's alpha (0..255) at points given as fractions of its width and height. */
function alphaAt(page: Page, points: Array<[number, number]>): Promise<number[]> {
  return page.evaluate((points) => {
    const canvas = document.getElementById('mask-canvas') as HTMLCanvasElement;
    const context = canvas.getContext('2d')!;
    return points.map(
      ([fx, fy]) => context.getImageData(Math.min(canvas.width - 1, Math.floor(fx * canvas.width)), Math.min(canvas.height - 1, Math.floor(fy * canvas.height)), 1, 1).data[3],
    );
  }, points);
}

/** The share of the mask painted (mean alpha / 255). */
function paintedShare(page: Page): Promise<number> {
  return page.evaluate(() => {
    const canvas = document.getElementById('mask-canvas') as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 3; i < data.length; i += 4) sum += data[i];
    return sum / 255 / (data.length / 4);
  });
}

/** A page point at fractions of the mask canvas's box as shown. */
async function canvasPoint(page: Page, fx: number, fy: number): Promise<{ x: number; y: number }> {
  const box = (await (await page.$('#mask-canvas'))!.boundingBox())!;
  return { x: box.x + fx * box.width, y: box.y + fy * box.height };
}

/** Activates a button from the keyboard. */
async function pressButton(page: Page, selector: string): Promise<void> {
  await page.focus(selector);
  await page.keyboard.press('Enter');
}

describe.skipIf(!!BROWSER_SKIP_REASON)('demo style regions in Chromium', () => {
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

  it('paints the mask with a mouse, touch and the keyboard, and runs two styles with two masks', async () => {
    const page = await chromium.browser.newPage();
    logPageErrors(page, 'demo regions');
    await page.setViewport({ width: 1280, height: 1000 });
    await page.evaluateOnNewDocument(recordEvents);
    await page.goto(`${server.origin}/demo/`, { waitUntil: 'load' });
    await page.waitForFunction(() => !!customElements.get('style-transfer') && (document.getElementById('mask-canvas') as HTMLCanvasElement).width > 1);
    // chelsea.png is 451x300: the mask has its size, and the overlay covers the photo as shown. The photo's layout can
    // settle after the canvas is sized (a CI run once measured the overlay 130 px off): wait for it, then check.
    await page
      .waitForFunction(
        () => {
          const c = document.getElementById('mask-canvas')!.getBoundingClientRect();
          const i = document.getElementById('content-image')!.getBoundingClientRect();
          return [c.x - i.x, c.y - i.y, c.width - i.width, c.height - i.height].every((d) => Math.abs(d) < 1);
        },
        { timeout: 10_000 },
      )
      .catch(() => undefined); // the assertions below report what was measured
    const shape = await page.evaluate(() => {
      const canvas = document.getElementById('mask-canvas') as HTMLCanvasElement;
      const image = document.getElementById('content-image') as HTMLImageElement;
      const [c, i] = [canvas.getBoundingClientRect(), image.getBoundingClientRect()];
      return { size: [canvas.width, canvas.height], offset: [c.x - i.x, c.y - i.y, c.width - i.width, c.height - i.height], touchAction: getComputedStyle(canvas).touchAction };
    });
    expect(shape.size).toEqual([451, 300]);
    for (const d of shape.offset) expect(Math.abs(d)).toBeLessThan(1);
    expect(shape.touchAction).toBe('none');
    expect(await paintedShare(page)).toBe(0);
    expect(await page.$eval('#mask-note', (e) => e.textContent)).toMatch(/^Nothing painted/);
    expectNoSeriousViolations(await axeViolations(page), 'on load');
    // The new controls fit a phone's width (the widest element is named when they do not).
    await page.setViewport({ width: 390, height: 900 });
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))); // the plot's ResizeObserver
    const overflow = await page.evaluate(() => {
      const widest = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5);
      return { by: document.documentElement.scrollWidth - window.innerWidth, elements: widest.slice(0, 5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`) };
    });
    expect(overflow.by, `overflow at 390 px: ${overflow.elements.join(', ')}`).toBeLessThanOrEqual(0);
    await page.setViewport({ width: 1280, height: 1000 });
    // A steady layout before pointing at the canvas: the download note's final text (it can rewrap the header) and
    // the overlay refitted after the resize.
    await page.waitForFunction(() => /\(\d+ MB\)/.test(document.getElementById('weights-note')?.textContent ?? ''));
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));

    // Mouse: a horizontal stroke across the left part, at mid height.
    let p = await canvasPoint(page, 0.1, 0.5);
    await page.mouse.move(p.x, p.y);
    await page.mouse.down();
    p = await canvasPoint(page, 0.4, 0.5);
    await page.mouse.move(p.x, p.y, { steps: 8 });
    await page.mouse.up();
    const [onStroke, midStroke, offStroke, above] = await alphaAt(page, [
      [0.1, 0.5],
      [0.25, 0.5],
      [0.8, 0.5],
      [0.25, 0.05],
    ]);
    console.log(`mouse stroke: alpha ${onStroke}, ${midStroke} on it; ${offStroke}, ${above} off it; ${((await paintedShare(page)) * 100).toFixed(1)} % painted`);
    expect([onStroke, midStroke]).toEqual([255, 255]);
    expect([offStroke, above]).toEqual([0, 0]);
    expect(await page.$eval('#mask-note', (e) => e.textContent)).toMatch(/% painted: the painting styles the painted part only/);

    // Erase mode with the mouse: a click in the stroke's middle clears it there.
    await page.click('#mask-erase');
    p = await canvasPoint(page, 0.25, 0.5);
    await page.mouse.click(p.x, p.y);
    expect(await alphaAt(page, [[0.25, 0.5]])).toEqual([0]);
    expect(await alphaAt(page, [[0.1, 0.5]])).toEqual([255]);
    await page.click('#mask-paint');

    // Clear from the keyboard.
    await pressButton(page, '#mask-clear');
    expect(await paintedShare(page)).toBe(0);

    // Touch: the browser's own touch input (CDP touch events, turned into pointer events of type touch).
    await page.evaluate(() => {
      const w = window as unknown as { pointerTypes: string[] };
      w.pointerTypes = [];
      document.getElementById('mask-canvas')!.addEventListener('pointerdown', (e) => w.pointerTypes.push(e.pointerType));
    });
    p = await canvasPoint(page, 0.5, 0.2);
    await page.touchscreen.touchStart(p.x, p.y);
    for (const fy of [0.3, 0.4, 0.5, 0.6, 0.7]) {
      p = await canvasPoint(page, 0.5, fy);
      await page.touchscreen.touchMove(p.x, p.y);
    }
    await page.touchscreen.touchEnd();
    const pointerTypes = await page.evaluate(() => (window as unknown as { pointerTypes: string[] }).pointerTypes);
    const touchAlpha = await alphaAt(page, [
      [0.5, 0.2],
      [0.5, 0.45],
      [0.5, 0.7],
      [0.1, 0.45],
      [0.9, 0.45],
    ]);
    console.log(`touch stroke: pointer types ${pointerTypes.join(',')}; alpha ${touchAlpha.join(', ')}`);
    expect(pointerTypes).toEqual(['touch']);
    expect(touchAlpha).toEqual([255, 255, 255, 0, 0]);
    await pressButton(page, '#mask-clear');
    expect(await paintedShare(page)).toBe(0);

    // Keyboard: choose "Right half" with the arrow key, paint it, then invert (the left half) and invert back.
    await page.focus('#mask-region');
    expect(await page.$eval('#mask-region', (e) => (e as HTMLSelectElement).value)).toBe('left');
    await page.keyboard.press('ArrowDown');
    expect(await page.$eval('#mask-region', (e) => (e as HTMLSelectElement).value)).toBe('right');
    await pressButton(page, '#mask-apply');
    expect(
      await alphaAt(page, [
        [0.75, 0.5],
        [0.25, 0.5],
      ]),
    ).toEqual([255, 0]);
    expect(await paintedShare(page)).toBeCloseTo(0.5, 2);
    await pressButton(page, '#mask-invert');
    expect(
      await alphaAt(page, [
        [0.75, 0.5],
        [0.25, 0.5],
      ]),
    ).toEqual([0, 255]);
    await pressButton(page, '#mask-invert');
    expect(
      await alphaAt(page, [
        [0.75, 0.5],
        [0.25, 0.5],
      ]),
    ).toEqual([255, 0]);
    expect(await page.$eval('#mask-note', (e) => e.textContent)).toMatch(/^50 % painted/);

    // One painting and a mask: one style with that mask (white where painted).
    const single = await page.evaluate(() => {
      const element = document.getElementById('stylizer') as StyleTransferElement;
      const masks = (element.styleMasks ?? []) as HTMLCanvasElement[];
      return {
        styles: element.styles ?? null,
        masks: masks.length,
        grey: masks.map((m) => [0.25, 0.75].map((fx) => m.getContext('2d')!.getImageData(Math.floor(fx * m.width), m.height >> 1, 1, 1).data[0])),
      };
    });
    expect(single).toEqual({ styles: null, masks: 1, grey: [[0, 255]] });

    // A second painting: two styles, the mask for the first and its inverse for the second.
    const input = await page.$('#style2-file');
    await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(join(repoRoot, 'samples/chelsea.png'));
    await page.waitForFunction(() => !(document.getElementById('style2-remove') as HTMLButtonElement).disabled);
    const two = await page.evaluate(() => {
      const element = document.getElementById('stylizer') as StyleTransferElement;
      const masks = (element.styleMasks ?? []) as HTMLCanvasElement[];
      return {
        styles: element.styles?.length,
        grey: masks.map((m) => [0.25, 0.75].map((fx) => m.getContext('2d')!.getImageData(Math.floor(fx * m.width), m.height >> 1, 1, 1).data[0])),
      };
    });
    expect(two).toEqual({
      styles: 2,
      grey: [
        [0, 255],
        [255, 0],
      ],
    });
    expect(await page.$eval('#mask-note', (e) => e.textContent)).toMatch(/the first painting styles the painted part, the second painting the rest/);

    // The toggles, from the keyboard.
    for (const id of ['#match-style-colors', '#reflect-padding']) {
      await page.focus(id);
      await page.keyboard.press('Space');
    }
    expect(
      await page.evaluate(() => [
        (document.getElementById('stylizer') as StyleTransferElement).matchStyleColors,
        (document.getElementById('stylizer') as StyleTransferElement).padding,
      ]),
    ).toEqual([true, 'reflect']);
    expectNoSeriousViolations(await axeViolations(page), 'with a mask and two paintings');

    // A short run at the smallest size reflect padding allows (the limits follow the toggle), 2 iterations.
    await page.waitForFunction(
      () => /From \d+ to/.test(document.getElementById('size-note')?.textContent ?? '') && Number((document.getElementById('size') as HTMLInputElement).min) > 24,
    );
    const minimum = await page.$eval('#size', (e) => Number((e as HTMLInputElement).min));
    console.log(`smallest size with reflect padding: ${minimum} px (24 with zero padding)`);
    await typeInto(page, '#size', '16');
    expect(await page.$eval('#size', (e) => (e as HTMLInputElement).value)).toBe(String(minimum));
    await typeInto(page, '#iterations', '2');
    const start = await page.waitForSelector('style-transfer >>> button[part="button"]');
    await start!.focus();
    await page.keyboard.press('Enter');
    const started = performance.now();
    const events = elementEvents(await waitForEnd(page, 400_000));
    console.log(`two-style two-mask demo run (${minimum} px, 2 iterations, match colours, reflect padding): ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(events.at(-1)?.type, JSON.stringify(events.at(-1)?.detail)).toBe('style-transfer-complete');
    const progress = events.filter((e) => e.type === 'style-transfer-progress').map((e) => e.detail as { style: number; styles: number[] });
    expect(progress).toHaveLength(2);
    for (const { style, styles } of progress) {
      console.log(`style loss ${style}: per style ${styles.join(', ')}`);
      expect(styles).toHaveLength(2);
      for (const v of styles) expect(v).toBeGreaterThan(0);
      expect(Math.abs(styles[0] + styles[1] - style) / style).toBeLessThan(1e-5);
    }
    // The plot: iteration, total, content, style, TV, and one curve per style.
    const legend = await page.$$eval('#loss-plot .u-legend .u-series .u-label', (labels) => labels.map((l) => l.textContent ?? ''));
    console.log(`plot series: ${legend.join(' | ')}`);
    expect(legend.slice(-2)).toEqual(['style 1 (painted)', 'style 2 (rest)']);
    expect(legend).toHaveLength(7);
    expect(await page.$eval('#run-note', (e) => e.textContent)).toMatch(/Done: 2 steps/);
    expectNoSeriousViolations(await axeViolations(page), 'after the run');
    const all = await page.evaluate(() => (window as unknown as { events: LoggedEvent[] }).events);
    expect(all.filter((e) => e.type === 'csp-violation')).toEqual([]);
    await page.close();
  }, 600_000);
});
