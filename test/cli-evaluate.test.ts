/**
 * The `style-transfer evaluate` contract, run in-process through the CLI's main(): the JSON line, --grad-out,
 * --repeat, and one clear line with a non-zero exit for every bad input.
 */
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { decodeNpy } from '../src/io/npy.js';
import { relativeError, repoRoot, weightsDir } from './helpers/env.js';

const golden = join(repoRoot, 'test/fixtures/golden');
/** The loss terms of golden.json (float64, by the PyTorch reference), the same keys as the evaluate JSON line. */
interface GoldenLosses {
  content: number;
  style: number;
  tv: number;
  total: number;
}

/** The JSON line `style-transfer evaluate` prints. */
interface EvaluateOutput extends GoldenLosses {
  width: number;
  height: number;
  peakBytes: number;
  tiles: [number, number];
}

const meta = JSON.parse(readFileSync(join(golden, 'golden.json'), 'utf8')) as GoldenLosses;

async function run(args: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(args, { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
  return { code, stdout, stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'st-eval-'));

describe('evaluate: bad input gets one line and a non-zero exit', () => {
  const content = join(golden, 'content.png');
  const style = join(golden, 'style.png');
  writeFileSync(join(tmp, 'text.png'), 'this is not an image');
  mkdirSync(join(tmp, 'dir.png'), { recursive: true });
  const cases: Array<[string, string[], RegExp]> = [
    ['missing content', ['--style', style, '--size', '32'], /--content is required/],
    ['missing file', ['--content', join(tmp, 'nope.png'), '--style', style, '--size', '32'], /does not exist/],
    ['directory', ['--content', join(tmp, 'dir.png'), '--style', style, '--size', '32'], /directory/],
    ['not an image', ['--content', join(tmp, 'text.png'), '--style', style, '--size', '32'], /not a PNG or JPEG/],
    ['size zero', ['--content', content, '--style', style, '--size', '0'], /--size must be at least 1/],
    ['size negative', ['--content', content, '--style', style, '--size', '-5'], /--size must be at least 1/],
    ['size not a number', ['--content', content, '--style', style, '--size', 'big'], /--size must be a number/],
    ['bad weight', ['--content', content, '--style', style, '--size', '32', '--style-weight', 'x1'], /--style-weight must be a number/],
    ['unknown flag', ['--content', content, '--style', style, '--size', '32', '--colour'], /Unknown option --colour/],
    ['bad weight storage', ['--content', content, '--style', style, '--size', '32', '--weight-storage', 'f8'], /--weight-storage must be one of f32, f16/],
    ['missing weights', ['--content', content, '--style', style, '--size', '32', '--weights', join(tmp, 'none')], /weights|exist/i],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    const r = await run(['evaluate', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toEqual([]);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(/^style-transfer: /);
    expect(r.stderr[0]).toMatch(message);
    expect(r.stderr[0]).not.toMatch(/\n| {4}at /);
  });

  it('prints help with every option', async () => {
    const r = await run(['evaluate', '--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--content',
      '--style',
      '--image',
      '--size',
      '--weights',
      '--grad-out',
      '--content-weight',
      '--style-weight',
      '--tv-weight',
      '--weight-storage',
      '--repeat',
    ]) {
      expect(r.stdout.join('\n')).toContain(flag);
    }
  });
});

describe.skipIf(!weightsDir)('evaluate with the real weights', () => {
  it('prints the golden losses and writes the golden gradient (B, G, R planes)', async () => {
    const gradOut = join(tmp, 'grad.npy');
    // Content 32x24 and style 24x32 both have the longer side 32: used as is, so the golden values apply.
    const r = await run([
      'evaluate',
      '--content',
      join(golden, 'content.png'),
      '--style',
      join(golden, 'style.png'),
      '--image',
      join(golden, 'image.png'),
      '--size',
      '32',
      '--grad-out',
      gradOut,
      '--repeat',
      '2',
      '--weights',
      weightsDir!,
    ]);
    expect(r.stderr.filter((l) => !l.startsWith('evaluate:'))).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toHaveLength(1);
    const values = JSON.parse(r.stdout[0]) as EvaluateOutput;
    expect(Object.keys(values)).toEqual(['content', 'style', 'tv', 'total', 'width', 'height', 'peakBytes', 'tiles']);
    expect(values.tiles).toEqual([1, 1]);
    expect(values.peakBytes).toBeGreaterThan(90 * 2 ** 20); // the weights alone are 92 MB
    expect(values.width).toBe(32);
    expect(values.height).toBe(24);
    for (const key of ['content', 'style', 'tv', 'total'] as const) {
      expect(Math.abs(values[key] - meta[key]) / meta[key], key).toBeLessThan(1e-4);
    }
    const grad = decodeNpy(new Uint8Array(readFileSync(gradOut)));
    expect(grad.shape).toEqual([3, 24, 32]);
    const reference = decodeNpy(new Uint8Array(readFileSync(join(golden, 'grad.npy'))));
    expect(relativeError(grad.data, reference.data)).toBeLessThan(1e-4);
  });

  it('--weight-storage f16: the golden losses within 1e-3, the gradient within 1e-2', async () => {
    const gradOut = join(tmp, 'grad16.npy');
    const r = await run([
      'evaluate',
      '--content',
      join(golden, 'content.png'),
      '--style',
      join(golden, 'style.png'),
      '--image',
      join(golden, 'image.png'),
      '--size',
      '32',
      '--grad-out',
      gradOut,
      '--weight-storage',
      'f16',
      '--weights',
      weightsDir!,
    ]);
    expect(r.stderr).toEqual([]);
    expect(r.code).toBe(0);
    const values = JSON.parse(r.stdout[0]) as EvaluateOutput;
    for (const key of ['content', 'style', 'tv', 'total'] as const) {
      expect(Math.abs(values[key] - meta[key]) / meta[key], key).toBeLessThan(1e-3);
    }
    const reference = decodeNpy(new Uint8Array(readFileSync(join(golden, 'grad.npy'))));
    const err = relativeError(decodeNpy(new Uint8Array(readFileSync(gradOut))).data, reference.data);
    expect(err).toBeLessThan(1e-2);
    expect(err).toBeGreaterThan(1e-4);
  });
});
