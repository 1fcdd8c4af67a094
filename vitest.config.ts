import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Without a GPU driver chosen, use Mesa's CPU Vulkan (lavapipe) when installed: tests run tiny images on it.
const lavapipe = '/usr/share/vulkan/icd.d/lvp_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(lavapipe)) process.env.VK_ICD_FILENAMES = lavapipe;

// The suites whose expectations follow the runtime's parallelism (src/gpu/parallelism.ts: partial sums, Gram
// splits, conv blocks and algorithm). `npm test` runs them a second time with STYLE_TRANSFER_PARALLELISM=gpu, so
// the GPU choices run on whatever adapter this is (lavapipe in CI). When the variable is already set, everything
// runs once under it.
const PARALLELISM_SUITES = ['test/parallelism.test.ts', 'test/optim.test.ts', 'test/memory.test.ts', 'test/golden.test.ts', 'test/gradcheck.test.ts', 'test/stylize.test.ts'];
const override = process.env.STYLE_TRANSFER_PARALLELISM;

// GPU tests run on Mesa lavapipe (CPU): one worker at a time keeps them from fighting over the two cores (the
// projects run one after the other: groupOrder), and generous timeouts cover pipeline compilation on a software
// rasteriser.
export default defineConfig({
  test: {
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: override ? `parallelism-${override}` : 'adapter', include: ['test/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      ...(override
        ? []
        : [{ extends: true as const, test: { name: 'parallelism-gpu', include: PARALLELISM_SUITES, env: { STYLE_TRANSFER_PARALLELISM: 'gpu' }, sequence: { groupOrder: 1 } } }]),
    ],
  },
});
