/**
 * Device loss under the CLI: the stylise command exits with one clear line naming the loss, and the frames
 * already written with --save-every are kept. The loss is simulated by destroying the device after a few
 * submissions (the runtime the CLI opens is wrapped through a module mock).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { repoRoot, weightsDir } from './helpers/env.js';

vi.mock('../src/cli/common.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/cli/common.js')>();
  return {
    ...actual,
    openRuntime: async (): Promise<GpuRuntime> => {
      const gpu = await actual.openRuntime();
      const queue = gpu.device.queue;
      const submit = queue.submit.bind(queue);
      let submissions = 0;
      // Iterations are one submission each (plus a few for targets and frames): lose the device mid-run.
      queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
        submit(buffers);
        if (++submissions === 25) gpu.device.destroy();
      };
      return gpu;
    },
  };
});

const { main } = await import('../src/cli/main.js');

describe.skipIf(!weightsDir)('device loss in the CLI', () => {
  it('exits non-zero with one clear line and keeps the frames already written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-lost-'));
    const out = join(dir, 'out.png');
    const golden = join(repoRoot, 'test/fixtures/golden');
    const stderr: string[] = [];
    const code = await main(
      [
        '--content',
        join(golden, 'content.png'),
        '--style',
        join(golden, 'style.png'),
        '--size',
        '32',
        '--iterations',
        '100',
        '--optimizer',
        'adam',
        '--content-layers',
        'relu2_1',
        '--style-layers',
        'relu1_1,relu2_1',
        '--save-every',
        '2',
        '--print-every',
        '0',
        '--weights',
        weightsDir!,
        '-o',
        out,
      ],
      { stdout: () => undefined, stderr: (s) => stderr.push(s), progress: () => undefined, isTTY: false },
    );
    expect(code).toBe(1);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^style-transfer: The GPU device was lost \(destroyed\).* The last frame is kept in .*out_\d{4}\.png\.$/);
    const frame = /kept in (.*)\.$/.exec(stderr[0])![1];
    expect(existsSync(frame)).toBe(true);
    expect(existsSync(out)).toBe(false);
  });
});
