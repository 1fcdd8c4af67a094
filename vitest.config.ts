import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Without a GPU driver chosen, use Mesa's CPU Vulkan (lavapipe) when installed: tests run tiny images on it.
const lavapipe = '/usr/share/vulkan/icd.d/lvp_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(lavapipe)) process.env.VK_ICD_FILENAMES = lavapipe;

// GPU tests run on Mesa lavapipe (CPU): one worker at a time keeps them from fighting over the two cores,
// and generous timeouts cover pipeline compilation on a software rasteriser.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
