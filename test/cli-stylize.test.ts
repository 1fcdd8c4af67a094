/**
 * The `style-transfer --content A --style B -o out.png` contract, in-process through main(): output PNG, the
 * --log-json fields, --save-every frames, --help, and bad input (one line, non-zero exit, nothing overwritten).
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { parseArgs, UsageError } from '../src/cli/args.js';
import { STYLIZE_OPTIONS, stylizeOptionsFromArgs } from '../src/cli/stylize.js';
import { OptionError, resolveOptions, STYLIZE_DEFAULTS } from '../src/net/options.js';
import { encodePng, readImageFile } from '../src/io/image.js';
import type { IterationRecord } from '../src/net/stylize.js';
import { repoRoot, weightsDir } from './helpers/env.js';

const golden = join(repoRoot, 'test/fixtures/golden');
const content = join(golden, 'content.png');
const style = join(golden, 'style.png');
const quick = ['--size', '32', '--content-layers', 'relu2_1', '--style-layers', 'relu1_1,relu2_1', '--optimizer', 'adam', '--learning-rate', '5'];

async function run(args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const progress: string[] = [];
  const code = await main(args, { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s), progress: (s) => progress.push(s), isTTY: false });
  return { code, stdout, stderr, progress };
}

describe('style-transfer (stylise) command line', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'st-cli-'));

  it('--help lists every option with its default', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.join('\n');
    for (const [name, spec] of Object.entries(STYLIZE_OPTIONS)) {
      expect(help).toContain(`--${name}`);
      if (spec.default !== undefined && spec.type !== 'flag') expect(help).toContain(`(default: ${Array.isArray(spec.default) ? spec.default.join(',') : spec.default})`);
    }
  });

  const existing = join(tmp, 'keep.png');
  writeFileSync(existing, 'precious');
  const bad: Array<[string, string[], RegExp]> = [
    ['unknown option', ['--content', content, '--style', style, '--colour', 'red'], /Unknown option --colour/],
    // resolveOptions' sentences (src/net/options.ts) under the flag's name.
    ['negative iterations', ['--content', content, '--style', style, '--iterations', '-3'], /^style-transfer: --iterations must be a whole number >= 0, got -3\.$/],
    ['size zero', ['--content', content, '--style', style, '--size', '0'], /^style-transfer: --size must be a whole number of at least 1, got 0\.$/],
    ['fractional size', ['--content', content, '--style', style, '--size=12.5'], /^style-transfer: --size must be a whole number of at least 1, got 12\.5\.$/],
    ['negative style weight', ['--content', content, '--style', style, '--style-weight', '-1'], /^style-transfer: --style-weight must be a number >= 0, got -1\.$/],
    ['learning rate zero', ['--content', content, '--style', style, '--learning-rate', '0'], /^style-transfer: --learning-rate must be a number > 0, got 0\.$/],
    ['bad preset', ['--content', content, '--style', style, '--preset', 'fast'], /^style-transfer: --preset must be neural-style or course, got "fast"\.$/],
    ['bad scales', ['--content', content, '--style', style, '--scales', '16,0'], /^style-transfer: --scales must be whole numbers of at least 1, got \[16, 0\]\.$/],
    ['weight not a number', ['--content', content, '--style', style, '--content-weight', 'lots'], /--content-weight must be a number/],
    ['bad optimizer', ['--content', content, '--style', style, '--optimizer', 'sgd'], /^style-transfer: --optimizer must be lbfgs or adam, got "sgd"\.$/],
    ['bad weight storage', ['--content', content, '--style', style, '--weight-storage', 'f8'], /^style-transfer: --weight-storage must be f32 or f16, got "f8"\.$/],
    ['no style', ['--content', content], /--style is required/],
    [
      'blend weights count',
      ['--content', content, '--style', style, '--style-blend-weights', '1,2'],
      /^style-transfer: --style-blend-weights must have one weight per style image \(1\), got \[1, 2\]\.$/,
    ],
    [
      'blend weights all 0',
      ['--content', content, '--style', style, '--style', style, '--style-blend-weights', '0,0'],
      /^style-transfer: --style-blend-weights must be numbers >= 0, not all 0, got \[0, 0\]\.$/,
    ],
    ['output not png', ['--content', content, '--style', style, '-o', join(tmp, 'x.jpg')], /must be a \.png/],
    ['output directory missing', ['--content', content, '--style', style, '-o', join(tmp, 'no/such/dir/x.png')], /Cannot write into the output directory/],
    ['missing content', ['--content', join(tmp, 'missing.png'), '--style', style, '-o', existing], /does not exist/],
    ['unknown layer', ['--content', content, '--style', style, '--style-layers', 'relu9_1'], /Unknown layer "relu9_1"/],
  ];
  it.each(bad)('%s: one line, non-zero exit', async (_name, args, message) => {
    const r = await run(args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(message);
    expect(readFileSync(existing, 'utf8')).toBe('precious');
  });

  it.skipIf(!weightsDir)('weights of the wrong size or checksum: one line, non-zero exit', async () => {
    const manifest = readFileSync(join(weightsDir!, 'vgg19_conv_hwio_f32.json'));
    const short = mkdtempSync(join(tmp, 'w-short-'));
    writeFileSync(join(short, 'vgg19_conv_hwio_f32.json'), manifest);
    writeFileSync(join(short, 'vgg19_conv_hwio_f32.bin'), new Uint8Array(1000));
    const wrongSize = await run(['--content', content, '--style', style, '--weights', short, '-o', existing]);
    expect(wrongSize.code).not.toBe(0);
    expect(wrongSize.stderr).toHaveLength(1);
    expect(wrongSize.stderr[0]).toMatch(/1000 bytes|size/);
    const corrupt = mkdtempSync(join(tmp, 'w-corrupt-'));
    writeFileSync(join(corrupt, 'vgg19_conv_hwio_f32.json'), manifest);
    const bin = new Uint8Array(readFileSync(join(weightsDir!, 'vgg19_conv_hwio_f32.bin')));
    bin[12345] ^= 0xff;
    writeFileSync(join(corrupt, 'vgg19_conv_hwio_f32.bin'), bin);
    const wrongHash = await run(['--content', content, '--style', style, '--weights', corrupt, '-o', existing]);
    expect(wrongHash.code).not.toBe(0);
    expect(wrongHash.stderr).toHaveLength(1);
    expect(wrongHash.stderr[0]).toMatch(/SHA-256/);
    expect(readFileSync(existing, 'utf8')).toBe('precious');
  });

  it('safetensors weights that are truncated or declare another input convention: one line each, non-zero exit', async () => {
    const fixtures = join(repoRoot, 'test/fixtures/safetensors');
    const torchvision = join(fixtures, 'tiny-torchvision.safetensors');
    const convention = await run(['--content', content, '--style', style, '--weights', torchvision, '-o', existing]);
    expect(convention.code).not.toBe(0);
    expect(convention.stderr).toHaveLength(1);
    expect(convention.stderr[0]).toMatch(/tiny-torchvision\.safetensors: its __metadata__ declares the input convention "torchvision_rgb_0_1_imagenet_normalized"/);
    const truncated = join(tmp, 'truncated.safetensors');
    writeFileSync(truncated, readFileSync(join(fixtures, 'tiny-f32.safetensors')).subarray(0, 600));
    const cut = await run(['--content', content, '--style', style, '--weights', truncated, '-o', existing]);
    expect(cut.code).not.toBe(0);
    expect(cut.stderr).toEqual([`style-transfer: ${truncated}: its tensors need 2528 bytes but the file has 600 (truncated, or data_offsets out of range).`]);
    expect(readFileSync(existing, 'utf8')).toBe('precious');
  });

  it.skipIf(!weightsDir)('an image too thin for the network: one clear line', async () => {
    const thin = join(tmp, 'thin.png');
    writeFileSync(thin, encodePng({ width: 40, height: 4, data: new Uint8ClampedArray(40 * 4 * 4).fill(200) }));
    const r = await run(['--content', thin, '--style', style, '--size', '32', '--weights', weightsDir!, '-o', existing]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toEqual([
      'style-transfer: At 32x3 the image is too small for the chosen layers: the shorter side must be at least 16 px (use a larger size or shallower layers).',
    ]);
    expect(readFileSync(existing, 'utf8')).toBe('precious');
  });

  it.skipIf(!weightsDir)('writes the PNG, the JSON log and frames', async () => {
    const out = join(tmp, 'out.png');
    const log = join(tmp, 'log.json');
    const r = await run([
      '--content',
      content,
      '--style',
      style,
      ...quick,
      '--iterations',
      '4',
      '--print-every',
      '2',
      '--save-every',
      '2',
      '--log-json',
      log,
      '-o',
      out,
      '--weights',
      weightsDir!,
    ]);
    expect(r.stderr.at(-1)).toMatch(/^done: 4 iterations in [\d.]+ s, final loss [\d.e+-]+, peak GPU memory \d+ MiB -> .+ \(32x24\)$/);
    // The peak the buffer pool saw: at 32 px with layers up to relu2_1, a few MiB (conv1_1..conv2_1, maps, Adam).
    const peak = Number(/peak GPU memory (\d+) MiB/.exec(r.stderr.at(-1)!)?.[1]);
    expect(peak).toBeGreaterThanOrEqual(1);
    expect(peak).toBeLessThan(16);
    expect(r.code).toBe(0);
    const image = await readImageFile(out);
    expect([image.width, image.height]).toEqual([32, 24]);
    const records = JSON.parse(readFileSync(log, 'utf8')) as IterationRecord[];
    expect(records).toHaveLength(4);
    for (const [k, rec] of records.entries()) {
      expect(Object.keys(rec)).toEqual(['iteration', 'content', 'style', 'tv', 'total', 'styles', 'ms', 'evaluations']);
      expect(rec.iteration).toBe(k + 1);
      expect(rec.styles).toEqual([rec.style]); // one style, no mask: the one value
    }
    expect(r.progress.filter((l) => l.startsWith('iteration '))).toHaveLength(2);
    expect(existsSync(join(tmp, 'out_0002.png')) && existsSync(join(tmp, 'out_0004.png'))).toBe(true);
    expect(statSync(join(tmp, 'out_0002.png')).size).toBeGreaterThan(100);
  });

  it.skipIf(!weightsDir)('--line-search strong-wolfe: L-BFGS with the line search, the loss falls every iteration', async () => {
    const out = join(tmp, 'wolfe.png');
    const log = join(tmp, 'wolfe.json');
    const shallow = quick.slice(0, quick.indexOf('--optimizer'));
    const r = await run([
      '--content',
      content,
      '--style',
      style,
      ...shallow,
      '--iterations',
      '4',
      '--line-search',
      'strong-wolfe',
      '--log-json',
      log,
      '-o',
      out,
      '--weights',
      weightsDir!,
    ]);
    expect(r.code).toBe(0);
    const totals = (JSON.parse(readFileSync(log, 'utf8')) as IterationRecord[]).map((rec) => rec.total);
    expect(totals).toHaveLength(4);
    for (let k = 1; k < totals.length; k++) expect(totals[k]).toBeLessThan(totals[k - 1]);
  });

  it('--line-search with adam: one clear line', async () => {
    const r = await run(['--content', content, '--style', style, '--optimizer', 'adam', '--line-search', 'strong-wolfe', '-o', join(tmp, 'x.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toEqual(['style-transfer: A line search needs the lbfgs optimizer.']);
  });
});

describe('command line -> engine options (parsed once)', () => {
  const required = ['--content', 'c.png', '--style', 's.png'];
  const optionsOf = (args: string[]) => {
    const { options, given } = parseArgs([...required, ...args], STYLIZE_OPTIONS);
    return stylizeOptionsFromArgs(options, given, 1);
  };

  it('only the flags given reach the engine: a preset keeps its values where no flag overrides them', () => {
    expect(optionsOf([])).toEqual(STYLIZE_DEFAULTS);
    expect(optionsOf(['--preset', 'course', '--learning-rate', '3', '--no-original-colors'])).toEqual(resolveOptions({ preset: 'course', learningRate: 3, originalColors: false }));
    const course = optionsOf(['--preset=course', '--iterations', '9']);
    expect([course.optimizer, course.iterations, course.tvWeight, course.init]).toEqual(['adam', 9, 0, 'noise']);
    expect(optionsOf(['--max-memory', '2', '--scales', '16,32', '--original-colors']).memoryBudget).toBe(2 * 2 ** 20);
  });

  it('every flag that sets an engine option names a real one', () => {
    const known = new Set([...Object.keys(STYLIZE_DEFAULTS), 'preset', 'styleLayerWeights', 'styleBlendWeights', 'scales', 'memoryBudget']);
    const options = Object.values(STYLIZE_OPTIONS).flatMap((spec) => (spec.option ? [spec.option] : []));
    expect(options.length).toBe(known.size);
    for (const option of options) expect(known).toContain(option);
  });

  it('an OptionError becomes a UsageError naming the flag, the OptionError its cause', () => {
    const error = (() => {
      try {
        optionsOf(['--style-blend-weights', '1,2']);
      } catch (e) {
        return e as UsageError;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect(error!.message).toBe('--style-blend-weights must have one weight per style image (1), got [1, 2].');
    expect(error!.cause).toBeInstanceOf(OptionError);
    expect((error!.cause as OptionError).option).toBe('styleBlendWeights');
  });

  it('--help and -h need no other option', async () => {
    for (const args of [['--help'], ['-h'], ['evaluate', '-h']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout.join('\n')).toMatch(/^Usage: style-transfer/);
    }
  });
});
