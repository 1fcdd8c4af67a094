/**
 * Ctrl-C: the stylise command stops within an iteration of SIGINT, keeps the last image and exits 130.
 * Runs the built CLI (bin/style-transfer.js -> build/; `npm ci` builds it through "prepare").
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readImageFile } from '../src/io/image.js';
import { repoRoot, weightsDir } from './helpers/env.js';

const built = existsSync(join(repoRoot, 'build/src/cli/main.js'));

describe.skipIf(!weightsDir || !built)('SIGINT', () => {
  it('stops within one iteration, writes the last image and exits 130', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'st-sigint-')), 'out.png');
    const golden = join(repoRoot, 'test/fixtures/golden');
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin/style-transfer.js'),
        '--content',
        join(golden, 'content.png'),
        '--style',
        join(golden, 'style.png'),
        '--size',
        '32',
        '--iterations',
        '1000',
        '--print-every',
        '1',
        '--optimizer',
        'adam',
        '--content-layers',
        'relu2_1',
        '--style-layers',
        'relu1_1,relu2_1',
        '--weights',
        weightsDir!,
        '-o',
        out,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let signalledAt = 0;
    let lastIterationAtSignal = 0;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const seen = [...stderr.matchAll(/iteration (\d+)\/1000/g)].map((m) => Number(m[1]));
      if (!signalledAt && seen.length && Math.max(...seen) >= 3) {
        lastIterationAtSignal = Math.max(...seen);
        signalledAt = performance.now();
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/stopping after this iteration/);
    const stopped = /stopped: (\d+) iterations/.exec(stderr);
    expect(stopped, stderr).not.toBeNull();
    // Progress is read asynchronously, so the loop may be a couple of iterations ahead of the last line seen.
    expect(Number(stopped![1])).toBeLessThanOrEqual(lastIterationAtSignal + 4);
    expect(performance.now() - signalledAt).toBeLessThan(30_000);
    const image = await readImageFile(out);
    expect([image.width, image.height]).toEqual([32, 24]);
  }, 120_000);
});
