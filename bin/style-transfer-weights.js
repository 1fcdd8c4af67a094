#!/usr/bin/env node
// Entry point of the `style-transfer-weights` command (`npm run weights` in this repository): downloads and
// converts the VGG-19 weights into safetensors files (docs/weights.md). `--out DIR` says where (default: weights/
// in the package).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../build/scripts/weights.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('style-transfer-weights: not built yet; run `npm run build` in the package directory.\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
