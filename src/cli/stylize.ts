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
import {
  INIT_KINDS,
  LINE_SEARCH_KINDS,
  OPTIMIZER_NAMES,
  OptionError,
  PADDINGS,
  POOLING_KINDS,
  PRESET_NAMES,
  resolveOptions,
  STYLIZE_DEFAULTS,
  WEIGHT_STORAGES,
  type OptionName,
  type StylizeOptions,
} from '../net/options.js';
import { stylize } from '../net/stylize.js';
import { formatHelp, parseArgs, UsageError, type OptionSpec, type OptionTable, type ParsedValue } from './args.js';
import { loadWeights, openRuntime, WEIGHT_STORAGE_OPTION } from './common.js';
import type { CliIo } from './main.js';
import { ProgressReporter } from './progress.js';

const d = STYLIZE_DEFAULTS;

/** A flag setting the engine option `option`: parsed here, validated by resolveOptions (src/net/options.ts). */
const sets = (option: OptionName, spec: OptionSpec): OptionSpec => ({ ...spec, option });

export const STYLIZE_OPTIONS: OptionTable = {
  content: { type: 'string', required: true, value: 'FILE', help: 'Content image: PNG or JPEG (the command line reads only these two; convert others first).' },
  style: { type: 'string', required: true, repeatable: true, value: 'FILE', help: 'Style image: PNG or JPEG.' },
  'style-mask': {
    type: 'string',
    repeatable: true,
    value: 'FILE',
    help: "Style region: a greyscale mask in the content's frame (white: this style, black: none; soft values weigh in between), once per --style in order.",
  },
  output: { type: 'string', alias: 'o', default: 'out.png', value: 'FILE.png', help: 'Output PNG.' },
  iterations: sets('iterations', { type: 'number', default: d.iterations, help: 'Iterations (per scale with --scales).' }),
  size: sets('size', { type: 'number', default: d.size, help: 'Longer side of the output in pixels.' }),
  optimizer: sets('optimizer', { type: 'string', value: OPTIMIZER_NAMES.join('|'), default: d.optimizer, help: 'Optimiser.' }),
  'learning-rate': sets('learningRate', { type: 'number', default: d.learningRate, help: "Adam's step size (L-BFGS uses 1 unless given)." }),
  'history-size': sets('historySize', {
    type: 'number',
    default: d.historySize,
    help: 'L-BFGS history length m (when not given and it does not fit the memory, a shorter one is kept and said).',
  }),
  'line-search': sets('lineSearch', {
    type: 'string',
    value: LINE_SEARCH_KINDS.join('|'),
    default: d.lineSearch,
    help:
      "L-BFGS step length: strong-wolfe (torch's line search: the loss never rises; one or more loss evaluations per iteration) or none (exactly torch.optim.LBFGS " +
      'without a line search: one evaluation per iteration, but the first steps can blow the loss up before it recovers). With adam: none.',
  }),
  'content-weight': sets('contentWeight', { type: 'number', default: d.contentWeight, help: 'Content loss weight.' }),
  'style-weight': sets('styleWeight', { type: 'number', default: d.styleWeight, help: 'Style loss weight.' }),
  'tv-weight': sets('tvWeight', { type: 'number', default: d.tvWeight, help: 'Total-variation weight (smoothness).' }),
  'content-layers': sets('contentLayers', { type: 'list', value: 'LAYERS', default: d.contentLayers, help: 'Comma-separated content layers (relu4_2, conv4_2 means the same).' }),
  'style-layers': sets('styleLayers', { type: 'list', value: 'LAYERS', default: d.styleLayers, help: 'Comma-separated style layers.' }),
  'style-layer-weights': sets('styleLayerWeights', { type: 'numberList', value: 'W,W,...', help: 'One weight per style layer (default 1 each).' }),
  init: sets('init', { type: 'string', value: INIT_KINDS.join('|'), default: d.init, help: 'Initial image: the content, content blended with noise, or near-zero noise.' }),
  'noise-ratio': sets('noiseRatio', { type: 'number', default: d.noiseRatio, help: 'With --init noise: share of uniform noise in [-20, 20].' }),
  seed: sets('seed', { type: 'number', default: d.seed, help: 'Random seed for --init noise/random.' }),
  'style-blend-weights': sets('styleBlendWeights', { type: 'numberList', value: 'W,W,...', help: 'Blend of the style images (one weight per --style).' }),
  'style-scale': sets('styleScale', { type: 'number', default: d.styleScale, help: "Style images' size relative to the output size." }),
  'original-colors': sets('originalColors', { type: 'flag', default: false, help: "Keep the content's colours (luminance-only transfer)." }),
  'match-style-colors': sets('matchStyleColors', {
    type: 'flag',
    default: false,
    help: "Give each style image the content's colour mean and covariance before the run (the result takes the content's palette).",
  }),
  padding: sets('padding', { type: 'string', value: PADDINGS.join('|'), default: d.padding, help: 'Border padding of every conv: reflect avoids the frame along the edges.' }),
  pooling: sets('pooling', { type: 'string', value: POOLING_KINDS.join('|'), default: d.pooling, help: 'Pooling in VGG-19.' }),
  'weight-storage': sets('weightStorage', { type: 'string', value: WEIGHT_STORAGES.join('|'), default: d.weightStorage, help: WEIGHT_STORAGE_OPTION.help }),
  'normalize-gradients': sets('normalizeGradients', { type: 'flag', default: false, help: "Divide each content/style term's gradient by its L1 norm (neural-style)." }),
  scales: sets('scales', { type: 'numberList', value: 'N,N,...', help: 'Coarse-to-fine sizes, e.g. 256,512 (each runs --iterations).' }),
  preset: sets('preset', {
    type: 'string',
    value: PRESET_NAMES.join('|'),
    help: 'neural-style (jcjohnson defaults) or course (deeplearning.ai settings); explicit options win.',
  }),
  'print-every': sets('printEvery', { type: 'number', default: d.printEvery, help: 'Report progress every N iterations (0: only at the end).' }),
  'save-every': { type: 'integer', min: 0, default: 0, help: 'Write the current image every N iterations as OUTPUT_NNNN.png (0: never).' },
  'log-json': { type: 'string', value: 'FILE', help: "Write every iteration's losses, time and loss evaluations as a JSON array." },
  // MiB here, bytes in the engine: at least 1 MiB is the command line's own rule.
  'max-memory': sets('memoryBudget', {
    type: 'number',
    min: 1,
    value: 'MIB',
    help: "GPU memory budget (MiB): a size needing more is evaluated in tiles (exactly), with a shorter L-BFGS history if need be; default: none beyond the adapter's own limits.",
  }),
  weights: {
    type: 'string',
    value: 'DIR|FILE',
    help: 'VGG-19 weights: a directory written by npm run weights, or one of its .safetensors files (default: $STYLE_TRANSFER_WEIGHTS, then weights/).',
  },
  help: { type: 'flag', alias: 'h', help: 'Show this help.' },
};

/** Engine option -> the flag that sets it. */
const FLAG_OF_OPTION: ReadonlyMap<string, string> = new Map(Object.entries(STYLIZE_OPTIONS).flatMap(([flag, spec]) => (spec.option ? [[spec.option, `--${flag}`] as const] : [])));

/**
 * The engine options from the parsed command line: only the flags given (the rest keep the preset's value, then
 * the engine's default), validated by resolveOptions; an OptionError becomes a UsageError naming the flag.
 */
export function stylizeOptionsFromArgs(o: Record<string, ParsedValue>, given: ReadonlySet<string>, styleImages: number): StylizeOptions {
  const input: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(STYLIZE_OPTIONS)) {
    if (spec.option && given.has(flag)) input[spec.option] = o[flag];
  }
  if (typeof input.memoryBudget === 'number') input.memoryBudget = input.memoryBudget * 2 ** 20;
  try {
    return resolveOptions(input, { styleImages });
  } catch (e) {
    if (e instanceof OptionError) throw new UsageError(e.describe(FLAG_OF_OPTION.get(e.option) ?? e.option), { cause: e });
    throw e;
  }
}

export const STYLIZE_USAGE =
  'Usage: style-transfer --content A --style B [--style C ...] -o out.png [options]\n' +
  '       style-transfer evaluate --help   (one loss + gradient evaluation)\n\n' +
  'Gatys neural style transfer on the GPU (WebGPU compute shaders).\n' +
  'Images: PNG or JPEG (the <style-transfer> element in a browser also reads WebP, AVIF, GIF and BMP).';

/** Frame file name for --save-every: out.png -> out_0010.png. */
export function frameName(output: string, iteration: number): string {
  const ext = extname(output);
  return join(dirname(output), `${basename(output, ext)}_${String(iteration).padStart(4, '0')}${ext || '.png'}`);
}

export async function runStylize(argv: string[], io: CliIo): Promise<number> {
  const { options: o, given, positional } = parseArgs(argv, STYLIZE_OPTIONS);
  if (o.help) {
    io.stdout(formatHelp(STYLIZE_USAGE, STYLIZE_OPTIONS));
    return 0;
  }
  if (positional.length > 0) throw new UsageError(`Unknown command or argument "${positional[0]}". Run with --help to see the options.`);
  const output = resolve(o.output as string);
  if (extname(output).toLowerCase() !== '.png') throw new UsageError(`The output must be a .png file, got "${o.output}".`);
  await access(dirname(output), constants.W_OK).catch(() => {
    throw new UsageError(`Cannot write into the output directory "${dirname(output)}".`);
  });
  const stylePaths = o.style as string[];
  const options = stylizeOptionsFromArgs(o, given, stylePaths.length);

  const maskPaths = o['style-mask'] as string[] | undefined;
  if (maskPaths && maskPaths.length !== stylePaths.length) {
    throw new UsageError(`--style-mask must be given once per --style (${stylePaths.length}), got ${maskPaths.length}.`);
  }

  const content = await readImageFile(o.content as string);
  const styles = await Promise.all(stylePaths.map((p) => readImageFile(p)));
  const styleMasks = maskPaths && (await Promise.all(maskPaths.map((p) => readImageFile(p))));
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
      styleMasks,
      options,
      // As in neural-style, L-BFGS keeps its natural step 1 unless a learning rate is asked for explicitly.
      explicitLearningRate: given.has('learning-rate'),
      explicitHistorySize: given.has('history-size'),
      onPlan: (plan) => {
        const tiles = plan.evaluation.tiled
          ? `in ${plan.evaluation.columns} x ${plan.evaluation.rows} tiles of ${plan.evaluation.core.width} x ${plan.evaluation.core.height} px`
          : 'whole';
        const shorter = plan.reducedHistoryFrom ? `; L-BFGS history ${plan.historySize} instead of ${plan.reducedHistoryFrom}, the most that fits` : '';
        if (plan.evaluation.tiled || shorter)
          io.stderr(`${plan.width}x${plan.height}: evaluated ${tiles} (about ${Math.round(plan.estimatedBytes / 2 ** 20)} MiB of GPU memory)${shorter}`);
      },
      signal: controller.signal,
      onProgress: (latest) => reporter.update(latest),
      onIteration:
        saveEvery > 0
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
        `, peak GPU memory ${Math.ceil(result.peakBytes / 2 ** 20)} MiB` +
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
