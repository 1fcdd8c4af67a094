/**
 * The built demo site as the demo tests serve it: dist/ at the root (the page at /demo/), the weights beside the
 * page (its weights path is relative), axe-core from the page's origin, everything under the strict CSP.
 */
import { AXE_DIR } from './axe.js';
import { distDir, ensureBuilt, servedWeightsDir, startServer, STRICT_CSP, type TestServer } from './harness.js';

export async function startDemoServer(): Promise<TestServer> {
  await ensureBuilt();
  return startServer(
    [
      ['/demo/weights/', await servedWeightsDir()],
      ['/vendor/axe-core/', AXE_DIR],
      ['/', distDir],
    ],
    [],
    STRICT_CSP,
  );
}
