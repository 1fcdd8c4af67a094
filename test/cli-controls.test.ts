/**
 * The command line of issue 17 (--style-mask, --match-style-colors, --padding), run in-process through main():
 * `evaluate` with each against the PyTorch float64 fixtures of test/fixtures/controls (total within 1e-4, gradient
 * within 1e-4 relative L2), the option errors as one line and a non-zero exit, and the typed refusal of a masked
 * run that would need tiles.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { parseArgs } from '../src/cli/args.js';
import { STYLIZE_OPTIONS, stylizeOptionsFromArgs } from '../src/cli/stylize.js';
import { decodeNpy } from '../src/io/npy.js';
import { createLossPlan } from '../src/net/lossPlan.js';
import type { Vgg19Net } from '../src/net/network.js';
import { DEFAULT_LOSS } from '../src/net/loss.js';
import { StyleMaskError } from '../src/net/styleMask.js';
import { relativeError, repoRoot, weightsDir } from './helpers/env.js';

const dir = join(repoRoot, 'test/fixtures/controls');
const file = (name: string) => join(dir, name);
const golden = JSON.parse(readFileSync(file('golden.json'), 'utf8')) as { cases: Record<string, { terms: Record<string, number> }> };
const tmp = mkdtempSync(join(tmpdir(), 'st-controls-'));

async function run(args: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(args, { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
  return { code, stdout, stderr };
}

describe('option errors: one line, non-zero exit, before the GPU is opened', () => {
  const [content, style] = [file('content.png'), file('style1.png')];
  const cases: Array<[string, string[], RegExp]> = [
    [
      'a mask count that differs from the styles',
      ['--content', content, '--style', style, '--style', file('style2.png'), '--style-mask', file('mask_soft.png'), '-o', join(tmp, 'a.png')],
      /^style-transfer: --style-mask must be given once per --style \(2\), got 1\.$/,
    ],
    [
      'a padding that does not exist',
      ['--content', content, '--style', style, '--padding', 'mirror', '-o', join(tmp, 'b.png')],
      /^style-transfer: --padding must be zero or reflect, got "mirror"\.$/,
    ],
    [
      'evaluate: a padding that does not exist',
      ['evaluate', '--content', content, '--style', style, '--size', '48', '--padding', 'mirror'],
      /--padding must be one of zero, reflect/,
    ],
    ['evaluate: a missing mask file', ['evaluate', '--content', content, '--style', style, '--size', '48', '--style-mask', join(tmp, 'none.png')], /does not exist/],
  ];
  it.each(cases)('%s', async (_, args, message) => {
    const r = await run(args);
    expect(r.code).not.toBe(0);
    expect(r.stderr.join('\n')).toMatch(message);
  });

  it('the flags set the engine options', () => {
    const { options, given } = parseArgs(['--content', 'c.png', '--style', 's.png', '--match-style-colors', '--padding', 'reflect'], STYLIZE_OPTIONS);
    const resolved = stylizeOptionsFromArgs(options, given, 1);
    expect(resolved.matchStyleColors).toBe(true);
    expect(resolved.padding).toBe('reflect');
    const defaults = parseArgs(['--content', 'c.png', '--style', 's.png'], STYLIZE_OPTIONS);
    expect(stylizeOptionsFromArgs(defaults.options, defaults.given, 1)).toMatchObject({ matchStyleColors: false, padding: 'zero' });
  });

  it('a masked run that needs tiles is refused with a StyleMaskError', () => {
    const evaluation = { tiled: true as const, core: { width: 16, height: 16 }, columns: 3, rows: 2 };
    expect(() => createLossPlan({} as Vgg19Net, 48, 32, { ...DEFAULT_LOSS, styleRegionWeights: [1] }, evaluation)).toThrow(StyleMaskError);
    expect(() => createLossPlan({} as Vgg19Net, 48, 32, { ...DEFAULT_LOSS, styleRegionWeights: [1] }, evaluation)).toThrow(/style masks are not supported in tiles/);
  });
});

describe.skipIf(!weightsDir)('evaluate with the new flags against PyTorch float64 (48x32, real VGG-19)', () => {
  const cases: Array<[string, string[]]> = [
    ['colors', ['--match-style-colors']],
    ['reflect', ['--padding', 'reflect']],
    ['single_mask', ['--style-mask', file('mask_soft.png')]],
  ];
  it.each(cases)('%s', async (name, flags) => {
    const gradOut = join(tmp, `${name}.npy`);
    const args = [
      'evaluate',
      '--content',
      file('content.png'),
      '--style',
      file('style1.png'),
      '--image',
      file('image.png'),
      '--size',
      '48',
      '--grad-out',
      gradOut,
      '--weights',
      weightsDir!,
      ...flags,
    ];
    const r = await run(args);
    expect(r.stderr.join('\n')).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout[0]) as Record<string, number>;
    const expected = golden.cases[name].terms;
    for (const key of ['content', 'style', 'tv', 'total']) expect(Math.abs(out[key] - expected[key]) / Math.abs(expected[key]), key).toBeLessThan(1e-4);
    const grad = decodeNpy(new Uint8Array(readFileSync(gradOut))).data;
    const err = relativeError(grad, decodeNpy(new Uint8Array(readFileSync(file(`${name}_grad.npy`)))).data);
    console.log(`evaluate ${flags.join(' ')}: total ${out.total} against ${expected.total}, gradient ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });
});
