/**
 * The `style-transfer --content A --style B -o out.png` contract, in-process through main(): output PNG, the
 * --log-json fields, --save-every frames, --help, and bad input (one line, non-zero exit, nothing overwritten).
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { STYLIZE_OPTIONS } from '../src/cli/stylize.js';
import { encodePng, readImageFile } from '../src/io/image.js';
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
    ['negative iterations', ['--content', content, '--style', style, '--iterations', '-3'], /--iterations must be at least 0/],
    ['size zero', ['--content', content, '--style', style, '--size', '0'], /--size must be at least 1/],
    ['weight not a number', ['--content', content, '--style', style, '--content-weight', 'lots'], /--content-weight must be a number/],
    ['bad optimizer', ['--content', content, '--style', style, '--optimizer', 'sgd'], /--optimizer must be one of lbfgs, adam/],
    ['no style', ['--content', content], /--style is required/],
    ['blend weights count', ['--content', content, '--style', style, '--style-blend-weights', '1,2'], /2 values for 1 --style/],
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

  it.skipIf(!weightsDir)('an image too thin for the network: one clear line', async () => {
    const thin = join(tmp, 'thin.png');
    writeFileSync(thin, encodePng({ width: 40, height: 4, data: new Uint8ClampedArray(40 * 4 * 4).fill(200) }));
    const r = await run(['--content', thin, '--style', style, '--size', '32', '--weights', weightsDir!, '-o', existing]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toEqual(['style-transfer: At 32x3 the image is too small for the chosen layers: the shorter side must be at least 16 px (use a larger size or shallower layers).']);
    expect(readFileSync(existing, 'utf8')).toBe('precious');
  });

  it.skipIf(!weightsDir)('writes the PNG, the JSON log and frames', async () => {
    const out = join(tmp, 'out.png');
    const log = join(tmp, 'log.json');
    const r = await run(['--content', content, '--style', style, ...quick, '--iterations', '4', '--print-every', '2', '--save-every', '2', '--log-json', log, '-o', out, '--weights', weightsDir!]);
    expect(r.stderr.at(-1)).toMatch(/^done: 4 iterations/);
    expect(r.code).toBe(0);
    const image = await readImageFile(out);
    expect([image.width, image.height]).toEqual([32, 24]);
    const records = JSON.parse(readFileSync(log, 'utf8'));
    expect(records).toHaveLength(4);
    for (const [k, rec] of records.entries()) {
      expect(Object.keys(rec)).toEqual(['iteration', 'content', 'style', 'tv', 'total', 'ms']);
      expect(rec.iteration).toBe(k + 1);
    }
    expect(r.progress.filter((l) => l.startsWith('iteration '))).toHaveLength(2);
    expect(existsSync(join(tmp, 'out_0002.png')) && existsSync(join(tmp, 'out_0004.png'))).toBe(true);
    expect(statSync(join(tmp, 'out_0002.png')).size).toBeGreaterThan(100);
  });

  it.skipIf(!weightsDir)('--line-search strong-wolfe: L-BFGS with the line search, the loss falls every iteration', async () => {
    const out = join(tmp, 'wolfe.png');
    const log = join(tmp, 'wolfe.json');
    const shallow = quick.slice(0, quick.indexOf('--optimizer'));
    const r = await run(['--content', content, '--style', style, ...shallow, '--iterations', '4', '--line-search', 'strong-wolfe', '--log-json', log, '-o', out, '--weights', weightsDir!]);
    expect(r.code).toBe(0);
    const totals = JSON.parse(readFileSync(log, 'utf8')).map((rec: { total: number }) => rec.total);
    expect(totals).toHaveLength(4);
    for (let k = 1; k < totals.length; k++) expect(totals[k]).toBeLessThan(totals[k - 1]);
  });

  it('--line-search with adam: one clear line', async () => {
    const r = await run(['--content', content, '--style', style, '--optimizer', 'adam', '--line-search', 'strong-wolfe', '-o', join(tmp, 'x.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toEqual(['style-transfer: A line search needs the lbfgs optimizer.']);
  });
});
