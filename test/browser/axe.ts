/**
 * axe-core in the browser tests: served from the page's origin (under /vendor/axe-core/, see AXE_DIR) and run on the
 * current page, shadow roots included; a test fails on any serious or critical violation.
 */
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { expect } from 'vitest';
import { repoRoot } from './harness.js';

// Served from the page's origin: the CSP refuses the inline script page.addScriptTag({ path }) would make.
export const AXE_DIR = join(repoRoot, 'node_modules/axe-core');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** axe-core's violations on the current page (shadow roots included). */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ url: '/vendor/axe-core/axe.min.js' });
  return page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run(context: Document, options: object): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> };
      }
    ).axe;
    const results = await axe.run(document, { resultTypes: ['violations'] });
    return results.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
}

export function expectNoSeriousViolations(violations: AxeViolation[], when: string): void {
  for (const v of violations) console.log(`axe (${when}): ${v.impact} ${v.id}: ${v.help} at ${v.targets.join(', ')}`);
  expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
}
