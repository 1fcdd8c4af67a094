/**
 * Device loss mid-run: the run ends with a clear GpuDeviceLostError instead of hanging or producing garbage, and a
 * new run on a new device works. Each test opens its own device (destroying the shared one would break others).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openNodeGpu } from '../src/gpu/nodeDevice.js';
import { GpuDeviceLostError, GpuRuntime } from '../src/gpu/runtime.js';
import { readImageFile } from '../src/io/image.js';
import { resolveOptions } from '../src/net/options.js';
import { stylize } from '../src/net/stylize.js';
import { realWeights, repoRoot, weightsDir } from './helpers/env.js';

const golden = join(repoRoot, 'test/fixtures/golden');
const quick = { size: 32, contentLayers: ['relu2_1'], styleLayers: ['relu1_1', 'relu2_1'], optimizer: 'adam' as const, printEvery: 1 };

describe.skipIf(!weightsDir)('device loss', () => {
  it('device.destroy() mid-run ends the run with a clear error, and a new device runs again', async () => {
    const content = await readImageFile(join(golden, 'content.png'));
    const style = await readImageFile(join(golden, 'style.png'));
    const gpu = new GpuRuntime(await openNodeGpu());
    const started = performance.now();
    const error = await stylize({
      gpu,
      weights: realWeights(),
      content,
      styles: [style],
      options: resolveOptions({ ...quick, iterations: 50 }),
      onIteration: ({ iteration }) => {
        if (iteration === 2) gpu.device.destroy();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuDeviceLostError);
    expect(String((error as Error).message)).toMatch(/^The GPU device was lost \(destroyed\)/);
    expect(performance.now() - started).toBeLessThan(60_000);

    const fresh = new GpuRuntime(await openNodeGpu());
    const result = await stylize({ gpu: fresh, weights: realWeights(), content, styles: [style], options: resolveOptions({ ...quick, iterations: 2 }) });
    expect(result.records).toHaveLength(2);
    fresh.destroy();
  });

  it('a loss reported through device.lost while waiting rejects pending reads', async () => {
    const gpu = new GpuRuntime(await openNodeGpu());
    const buffer = gpu.buffers.storage(1024);
    gpu.device.destroy();
    await expect(gpu.readFloat32(buffer)).rejects.toBeInstanceOf(GpuDeviceLostError);
  });
});
