/**
 * STYLE_TRANSFER_PARALLELISM: how Node code reads it, and that the runtimes of the engine (CLI) and of the tests
 * honour it. The suites whose expectations depend on the parallelism also run a second time with it set to gpu
 * (vitest.config.ts), this file among them: there it checks that the override reached the tests' runtime.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { openNodeRuntime, PARALLELISM_ENV, parallelismFromEnv } from '../src/gpu/nodeDevice.js';
import { parallelismOf } from '../src/gpu/parallelism.js';
import { repoRoot, testGpu, weightsDir } from './helpers/env.js';

describe('STYLE_TRANSFER_PARALLELISM', () => {
  const saved = process.env[PARALLELISM_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[PARALLELISM_ENV];
    else process.env[PARALLELISM_ENV] = saved;
  });

  it('cpu or gpu overrides the adapter; unset or empty leaves it to the adapter; anything else names the variable', () => {
    expect(parallelismFromEnv({})).toBeUndefined();
    expect(parallelismFromEnv({ STYLE_TRANSFER_PARALLELISM: '' })).toBeUndefined();
    expect(parallelismFromEnv({ STYLE_TRANSFER_PARALLELISM: 'cpu' })).toBe('cpu');
    expect(parallelismFromEnv({ STYLE_TRANSFER_PARALLELISM: 'gpu' })).toBe('gpu');
    for (const bad of ['GPU', 'tpu', 'auto']) {
      expect(() => parallelismFromEnv({ STYLE_TRANSFER_PARALLELISM: bad })).toThrow(`STYLE_TRANSFER_PARALLELISM must be cpu or gpu (or unset: the adapter decides), got "${bad}".`);
    }
  });

  it("the tests' runtime has the override's parallelism, else the adapter's", async () => {
    const gpu = await testGpu();
    const expected = parallelismFromEnv() ?? parallelismOf(gpu.context.adapterInfo);
    expect(gpu.parallelism).toBe(expected);
    if (process.env[PARALLELISM_ENV]) console.log(`${PARALLELISM_ENV}=${process.env[PARALLELISM_ENV]}: the runtime is sized for a ${gpu.parallelism.toUpperCase()}`);
  });

  it('an invalid value fails before a device is opened', async () => {
    process.env[PARALLELISM_ENV] = 'fast';
    await expect(openNodeRuntime()).rejects.toThrow(/STYLE_TRANSFER_PARALLELISM must be cpu or gpu .*got "fast"/);
  });

  it.skipIf(!weightsDir)('the CLI reports an invalid value in one line and exits non-zero', async () => {
    process.env[PARALLELISM_ENV] = 'fast';
    const golden = join(repoRoot, 'test/fixtures/golden');
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(['evaluate', '--content', join(golden, 'content.png'), '--style', join(golden, 'style.png'), '--size', '32', '--weights', weightsDir!], {
      stdout: (s) => stdout.push(s),
      stderr: (s) => stderr.push(s),
    });
    expect(code).toBe(1);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual(['style-transfer: STYLE_TRANSFER_PARALLELISM must be cpu or gpu (or unset: the adapter decides), got "fast".']);
  });
});
