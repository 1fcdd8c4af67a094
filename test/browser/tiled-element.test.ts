/**
 * <style-transfer> past its memory budget, in real Chromium (WebGPU on SwiftShader): the run is evaluated in tiles
 * (src/net/tiledLoss.ts), completes, says so in its complete event, and toBlob() gives the full-size picture.
 *
 * Tiles only save memory once a window (core plus halo) is smaller than the picture: with the default loss (a 96 px
 * halo) from about 320 px, which takes SwiftShader over a quarter of an hour per iteration. So the run uses shallow
 * loss layers (style relu1_1 and relu2_1, content relu2_1: a 16 px halo and three conv layers), where tiles pay at
 * 128 px. The budget is set between the tiled and the untiled estimate (src/net/memory.ts) of that run.
 */
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LOSS, lossDepth } from '../../src/net/loss.js';
import { estimateMemory, leastMemoryTiles, runDims, type RunShape } from '../../src/net/memory.js';
import { minimumSizeFor } from '../../src/net/network.js';
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
  type TestBrowser,
  type TestServer,
} from './harness.js';

if (BROWSER_SKIP_REASON) console.warn(BROWSER_SKIP_REASON);

const SIZE = 128;
const LAYERS = { contentLayers: ['relu2_1'], styleLayers: ['relu1_1', 'relu2_1'] };
const MiB = 2 ** 20;
const PER_BINDING = 128 * MiB;

/**
 * A budget (MiB) the run at SIZE misses untiled and meets in tiles, as the page's engine plans it on SwiftShader (a
 * GPU-like adapter to src/gpu/parallelism.ts: direct convs), whether or not the image layer has kernels of its own.
 */
function tilingBudgetMiB(): number {
  const config = { ...DEFAULT_LOSS, ...LAYERS, styleLayerWeights: [1, 1] };
  const dims = runDims({ width: 451, height: 300 }, [{ width: 752, height: 600 }], SIZE, 1, minimumSizeFor(lossDepth(config)));
  const limits = { maxBufferSize: PER_BINDING, maxStorageBufferBindingSize: PER_BINDING };
  let untiled = Infinity;
  let tiled = 0;
  for (const imageLayerKernels of [true, false]) {
    const shape: RunShape = { ...dims, config, optimizer: 'adam', historySize: 0, parallelism: 'gpu', imageLayerKernels };
    untiled = Math.min(untiled, estimateMemory(shape).totalBytes);
    tiled = Math.max(tiled, leastMemoryTiles(shape, limits)?.memory.totalBytes ?? Infinity);
  }
  const budget = Math.ceil(tiled / MiB);
  if (budget >= untiled / MiB) throw new Error(`no budget separates tiled (${tiled} bytes) from untiled (${untiled} bytes) at ${SIZE} px`);
  return budget;
}

describe.skipIf(!!BROWSER_SKIP_REASON)('<style-transfer> past its max-memory in Chromium: tiles', () => {
  let server: TestServer;
  let chromium: TestBrowser;
  const budget = tilingBudgetMiB();

  beforeAll(async () => {
    await ensureBuilt();
    const html = `<!doctype html>
<script type="module" src="dist/style-transfer.js"></script>
<style-transfer content-src="samples/chelsea.png" style-src="samples/starry_night.jpg" weights-src="/weights/" size="${SIZE}" iterations="2" optimizer="adam" content-layers="${LAYERS.contentLayers.join(' ')}" style-layers="${LAYERS.styleLayers.join(' ')}" max-memory="${budget}" autostart></style-transfer>
`;
    server = await startServer(
      [
        ['/weights/', await servedWeightsDir()],
        ['/', repoRoot],
      ],
      [{ path: '/tiled.html', html, headers: STRICT_CSP }],
    );
    chromium = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
  });

  it(`a ${SIZE} px run under a budget it misses untiled completes in tiles; toBlob() is the full-size image`, async () => {
    const page: Page = await chromium.browser.newPage();
    logPageErrors(page, '/tiled.html');
    await page.evaluateOnNewDocument(recordEvents);
    await page.goto(`${server.origin}/tiled.html`);
    const started = performance.now();
    const events = await waitForEnd(page, 240_000);
    console.log(`tiled element (${SIZE} px, max-memory ${budget} MiB, 2 Adam iterations): ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(events.filter((e) => e.type === 'style-transfer-error')).toEqual([]);
    const sequence = elementEvents(events);
    expect(sequence.map((e) => e.type)).toEqual(['style-transfer-progress', 'style-transfer-progress', 'style-transfer-complete']);
    for (const { detail } of sequence.slice(0, 2)) {
      for (const key of ['content', 'style', 'tv', 'total']) expect(Number.isFinite(detail[key]), `${key} of ${JSON.stringify(detail)}`).toBe(true);
    }
    const complete = sequence[2].detail as { iterations: number; stopped: boolean; tiles: [number, number] };
    expect(complete).toMatchObject({ iterations: 2, stopped: false });
    expect(complete.tiles[0] * complete.tiles[1]).toBeGreaterThan(1);

    const image = await elementImageStats(page);
    expect(image.type).toBe('image/png');
    expect([image.width, image.height]).toEqual([SIZE, 85]); // chelsea.png is 451x300
    expect(image.std).toBeGreaterThan(5);
    await page.close();
  }, 300_000);
});
