#!/usr/bin/env node
// Entry point of the `style-transfer` command: runs the compiled CLI (npm ci builds it through "prepare").
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../build/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('style-transfer: the CLI is not built yet; run `npm run build` in the package directory.\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
// Dawn keeps native handles alive; exit explicitly once the work is done.
process.exit(code);
