/**
 * `npm run bench`, the Node entry: WebGPU through Dawn, weights from disk (or seeded random ones), the report as
 * tables on stdout or one JSON object (--json, --out). The measurements themselves are bench/run.ts, which the
 * browser bench page (demo/bench.html) runs too. See docs/benchmarks.md for what each number means.
 *
 * Progress goes to stderr. Exit status: 0, 1 on an error, 2 on a usage error, 3 when the correctness guard fails.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { openGpu, type GpuContext } from '../src/gpu/device.js';
import { loadWeights } from '../src/cli/common.js';
import type { WeightTensors } from '../src/net/weights.js';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs, type BenchOptions } from './args.js';
import { randomVggWeights } from './inputs.js';
import { renderText } from './report.js';
import { runBench } from './run.js';

const started = performance.now();
const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Dawn for Node, kept as a GPU object so the tfjs peer can be handed the very same instance. Dawn quantizes
 * timestamp query results by default (to 65.536 us steps here), which would swamp short dispatches: the bench turns
 * that off (src/gpu/nodeDevice.ts keeps Dawn's defaults).
 */
async function openDawn(): Promise<{ gpu: GPU; context: GpuContext }> {
  const mod = await import('webgpu');
  Object.assign(globalThis, mod.globals);
  const gpu = (dawnInstance = mod.create(['disable-dawn-features=timestamp_quantization']));
  return { gpu, context: await openGpu(gpu, { pollingWaits: true }) };
}

/** Held for the whole process: once the GPU object is garbage-collected, Dawn's instance goes and devices crash. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- written only to keep Dawn's instance reachable
let dawnInstance: GPU | undefined;

async function main(): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseBenchArgs(process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof BenchUsageError) {
      process.stderr.write(`bench: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (options === 'help') {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  const weights: WeightTensors = options.randomWeights ? randomVggWeights() : await loadWeights(options.weights);
  const { gpu, context } = await openDawn();
  const report = await runBench({ gpu, context, weights, options, runtime: { node: process.version, browser: null }, progress: log, started });
  report.notes.push(`1-minute load average at the end: ${loadavg()[0].toFixed(1)} on ${availableParallelism()} CPUs`);
  const json = JSON.stringify(report, null, 2);
  if (options.out) writeFileSync(options.out, `${json}\n`);
  const text = options.json ? `${json}\n` : `${renderText(report)}\n`;
  await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  if (report.guard && !report.guard.ok) return 3;
  return report.errors.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${message(e)}\n`);
    process.exit(1);
  },
);
