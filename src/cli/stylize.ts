/**
 * `style-transfer --content A --style B [--style C ...] -o out.png [options]`: the main command.
 * Inputs are all read and checked before the GPU is opened; the output (and frames, and the JSON log) are
 * written through a temporary file and renamed, so a failure never touches an existing file. Ctrl-C stops
 * within one iteration and keeps the last image.
 */
import { access, constants } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { readImageFile, writePngFile } from '../io/image.js';
import { GpuDeviceLostError } from '../gpu/runtime.js';
import { xToImage } from '../net/preprocess.js';
import { PRESETS, resolveOptions, STYLIZE_DEFAULTS, stylize, type PresetName, type StylizeOptions } from '../net/stylize.js';
import { formatHelp, parseArgs, UsageError, type OptionTable } from './args.js';
import { loadWeights, openRuntime, WEIGHT_STORAGE_OPTION } from './common.js';
import type { CliIo } from './main.js';
import { ProgressReporter } from './progress.js';

const d = STYLIZE_DEFAULTS;

export const STYLIZE_OPTIONS: OptionTable = {
  content: { type: 'string', required: true, value: 'FILE', help: 'Content image (PNG or JPEG).' },
  style: { type: 'string', required: true, repeatable: true, value: 'FILE', help: 'Style image (PNG or JPEG).' },
  output: { type: 'string', alias: 'o', default: 'out.png', value: 'FILE.png', help: 'Output PNG.' },
  iterations: { type: 'integer', min: 0, default: d.iterations, help: 'Iterations (per scale with --scales).' },
  size: { type: 'integer', min: 1, default: d.size, help: 'Longer side of the output in pixels.' },
  optimizer: { type: 'choice', choices: ['lbfgs', 'adam'], default: d.optimizer, help: 'Optimiser.' },
  'learning-rate': { type: 'number', min: 0, exclusiveMin: true, default: d.learningRate, help: "Adam's step size (L-BFGS uses 1 unless given)." },
  'history-size': { type: 'integer', min: 1, default: d.historySize, help: 'L-BFGS history length m.' },
  'line-search': {
    type: 'choice',
    choices: ['none', 'strong-wolfe'],
    default: d.lineSearch,
    help: 'L-BFGS step length: none (take the step) or strong-wolfe (torch\'s line search; several evaluations per iteration).',
  },
  'content-weight': { type: 'number', min: 0, default: d.contentWeight, help: 'Content loss weight.' },
  'style-weight': { type: 'number', min: 0, default: d.styleWeight, help: 'Style loss weight.' },
  'tv-weight': { type: 'number', min: 0, default: d.tvWeight, help: 'Total-variation weight (smoothness).' },
  'content-layers': { type: 'list', value: 'LAYERS', default: d.contentLayers, help: 'Comma-separated content layers (relu4_2, conv4_2 means the same).' },
  'style-layers': { type: 'list', value: 'LAYERS', default: d.styleLayers, help: 'Comma-separated style layers.' },
  'style-layer-weights': { type: 'numberList', value: 'W,W,...', help: 'One weight per style layer (default 1 each).' },
  init: { type: 'choice', choices: ['content', 'noise', 'random'], default: d.init, help: 'Initial image: the content, content blended with noise, or near-zero noise.' },
  'noise-ratio': { type: 'number', min: 0, max: 1, default: d.noiseRatio, help: 'With --init noise: share of uniform noise in [-20, 20].' },
  seed: { type: 'integer', min: 0, default: d.seed, help: 'Random seed for --init noise/random.' },
  'style-blend-weights': { type: 'numberList', value: 'W,W,...', help: 'Blend of the style images (one weight per --style).' },
  'style-scale': { type: 'number', min: 0, exclusiveMin: true, default: d.styleScale, help: "Style images' size relative to the output size." },
  'original-colors': { type: 'flag', default: false, help: "Keep the content's colours (luminance-only transfer)." },
  pooling: { type: 'choice', choices: ['max', 'avg'], default: d.pooling, help: 'Pooling in VGG-19.' },
  'weight-storage': WEIGHT_STORAGE_OPTION,
  'normalize-gradients': { type: 'flag', default: false, help: "Divide each content/style term's gradient by its L1 norm (neural-style)." },
  scales: { type: 'numberList', value: 'N,N,...', help: 'Coarse-to-fine sizes, e.g. 256,512 (each runs --iterations).' },
  preset: { type: 'choice', choices: Object.keys(PRESETS), help: 'neural-style (jcjohnson defaults) or course (deeplearning.ai settings); explicit options win.' },
  'print-every': { type: 'integer', min: 0, default: d.printEvery, help: 'Report progress every N iterations (0: only at the end).' },
  'save-every': { type: 'integer', min: 0, default: 0, help: 'Write the current image every N iterations as OUTPUT_NNNN.png (0: never).' },
  'log-json': { type: 'string', value: 'FILE', help: 'Write every iteration\'s losses and time as a JSON array.' },
  'max-memory': { type: 'number', min: 1, value: 'MIB', help: 'Refuse sizes needing more GPU memory than this (MiB); the adapter\'s own limits always apply.' },
  weights: { type: 'string', value: 'DIR', help: 'VGG-19 weights directory (default: $STYLE_TRANSFER_WEIGHTS, then weights/).' },
  help: { type: 'flag', alias: 'h', help: 'Show this help.' },
};

export const STYLIZE_USAGE =
  'Usage: style-transfer --content A --style B [--style C ...] -o out.png [options]\n' +
  '       style-transfer evaluate --help   (one loss + gradient evaluation)\n\n' +
  'Gatys neural style transfer on the GPU (WebGPU compute shaders).';

/** Frame file name for --save-every: out.png -> out_0010.png. */
export function frameName(output: string, iteration: number): string {
  const ext = extname(output);
  return join(dirname(output), `${basename(output, ext)}_${String(iteration).padStart(4, '0')}${ext || '.png'}`);
}

export async function runStylize(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(formatHelp(STYLIZE_USAGE, STYLIZE_OPTIONS));
    return 0;
  }
  const { options: o, positional } = parseArgs(argv, STYLIZE_OPTIONS);
  if (positional.length > 0) throw new UsageError(`Unknown command or argument "${positional[0]}". Run with --help to see the options.`);
  const output = resolve(o.output as string);
  if (extname(output).toLowerCase() !== '.png') throw new UsageError(`The output must be a .png file, got "${o.output}".`);
  await access(dirname(output), constants.W_OK).catch(() => {
    throw new UsageError(`Cannot write into the output directory "${dirname(output)}".`);
  });

  // Explicit CLI values override the preset; defaults from the table only apply where the preset is silent.
  const given = (name: string) => argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`) || (name === 'output' && a === '-o'));
  const pick = <T>(name: string): T | undefined => (given(name) || !o.preset ? (o[name] as T) : undefined);
  let options: StylizeOptions;
  try {
    options = resolveOptions({
      preset: o.preset as PresetName | undefined,
      iterations: pick('iterations'),
      size: pick('size'),
      optimizer: pick('optimizer'),
      learningRate: pick('learning-rate'),
      historySize: pick('history-size'),
      lineSearch: pick('line-search'),
      contentWeight: pick('content-weight'),
      styleWeight: pick('style-weight'),
      tvWeight: pick('tv-weight'),
      contentLayers: pick('content-layers'),
      styleLayers: pick('style-layers'),
      styleLayerWeights: pick('style-layer-weights'),
      init: pick('init'),
      noiseRatio: pick('noise-ratio'),
      seed: pick('seed'),
      styleBlendWeights: o['style-blend-weights'] as number[] | undefined,
      styleScale: pick('style-scale'),
      originalColors: pick('original-colors'),
      pooling: pick('pooling'),
      weightStorage: pick('weight-storage'),
      normalizeGradients: pick('normalize-gradients'),
      scales: o.scales as number[] | undefined,
      printEvery: pick('print-every'),
      memoryBudget: o['max-memory'] === undefined ? undefined : (o['max-memory'] as number) * 2 ** 20,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const stylePaths = o.style as string[];
  if (options.styleBlendWeights && options.styleBlendWeights.length !== stylePaths.length) {
    throw new UsageError(`--style-blend-weights has ${options.styleBlendWeights.length} values for ${stylePaths.length} --style images.`);
  }

  const content = await readImageFile(o.content as string);
  const styles = await Promise.all(stylePaths.map((p) => readImageFile(p)));
  const weights = await loadWeights(o.weights as string | undefined);
  const saveEvery = o['save-every'] as number;
  const logJson = o['log-json'] as string | undefined;

  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    io.stderr('\nstopping after this iteration (Ctrl-C again to quit at once)...');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const gpu = await openRuntime();
  const reporter = new ProgressReporter(
    options.iterations * (options.scales?.length ?? 1),
    io.progress ?? ((s) => process.stderr.write(s)),
    io.isTTY ?? process.stderr.isTTY === true,
  );
  let lastFrame: string | undefined;
  try {
    const result = await stylize({
      gpu,
      weights,
      content,
      styles,
      options,
      // As in neural-style, L-BFGS keeps its natural step 1 unless a learning rate is asked for explicitly.
      explicitLearningRate: given('learning-rate'),
      signal: controller.signal,
      onProgress: (latest) => reporter.update(latest),
      onIteration: saveEvery > 0
        ? async ({ iteration, x, width, height }) => {
            if (iteration % saveEvery === 0) {
              lastFrame = frameName(output, iteration);
              await writePngFile(lastFrame, await xToImage(gpu, x, width, height));
            }
          }
        : undefined,
    });
    reporter.finish();
    await writePngFile(output, result.image);
    if (logJson) await writeFileAtomic(resolve(logJson), new TextEncoder().encode(JSON.stringify(result.records, null, 1) + '\n'));
    const last = result.records[result.records.length - 1];
    io.stderr(
      `${result.stopped ? 'stopped' : 'done'}: ${result.iterations} iterations in ${(result.ms / 1000).toFixed(1)} s` +
        (last ? `, final loss ${last.total.toExponential(4)}` : '') +
        ` -> ${output} (${result.image.width}x${result.image.height})`,
    );
    return result.stopped ? 130 : 0;
  } catch (err) {
    reporter.finish();
    if (err instanceof GpuDeviceLostError && lastFrame) throw new GpuDeviceLostError(`${err.message} The last frame is kept in ${lastFrame}.`);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    gpu.destroy();
  }
}
