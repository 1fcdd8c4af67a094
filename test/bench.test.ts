/**
 * The benchmark's own logic: statistics, option parsing, mapping tagged dispatches onto conv layers, the per-layer
 * rates against the matmul peak, the text tables, and the peak matmul kernel's correctness on the test adapter.
 */
import { describe, expect, it } from 'vitest';
import { BenchUsageError, parseBenchArgs, urlParamsToArgs } from '../bench/args.js';
import { byFamily, kernelFamily, mapLossConvs, type ConvLayerTiming, type DispatchTiming } from '../bench/engine.js';
import { randomVggWeights } from '../bench/inputs.js';
import { measureMatmul } from '../bench/matmul.js';
import { getTensor } from '../src/net/weights.js';
import { checkBenchReport, renderMarkdown, renderText, table, withRates, type BenchReport } from '../bench/report.js';
import { runBench } from '../bench/run.js';
import { alternate, median, medianPerIndex, minPerIndex, repeat } from '../bench/stats.js';
import { DEFAULT_LOSS, lossDepth } from '../src/net/loss.js';
import { VGG19 } from '../src/net/vgg19.js';
import { testGpu } from './helpers/env.js';

describe('bench statistics', () => {
  it('median, per-index median and minimum', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
    const series = [
      [10, 5, 7],
      [12, 4, 9],
      [11, 6, 1],
    ];
    expect(medianPerIndex(series)).toEqual([11, 5, 7]);
    expect(minPerIndex(series)).toEqual([10, 4, 1]);
    expect(minPerIndex([])).toEqual([]);
  });

  it('repeat stops at reps, or earlier once the budget is spent, but always runs once', async () => {
    const fixed = (ms: number) => async () => ms;
    expect(await repeat({ reps: 4, budgetMs: 1000 }, fixed(10))).toEqual([10, 10, 10, 10]);
    // 40 spent + 40 expected > 100 after two runs.
    expect(await repeat({ reps: 5, budgetMs: 100 }, fixed(40))).toEqual([40, 40]);
    expect(await repeat({ reps: 5, budgetMs: 1 }, fixed(40))).toEqual([40]);
  });

  it('alternate runs the two sides in turn, within one budget for both', async () => {
    const order: string[] = [];
    const side = (name: string, ms: number) => async () => (order.push(name), ms);
    expect(await alternate({ reps: 3, budgetMs: 1000 }, side('a', 10), side('b', 30))).toEqual({ a: [10, 10, 10], b: [30, 30, 30] });
    expect(order).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    // 40 per round: after two rounds 80 + 40 > 100.
    expect(await alternate({ reps: 5, budgetMs: 100 }, side('a', 10), side('b', 30))).toEqual({ a: [10, 10], b: [30, 30] });
    expect(await alternate({ reps: 5, budgetMs: 1 }, side('a', 10))).toEqual({ a: [10], b: [] });
  });
});

describe('bench options', () => {
  it('defaults: sizes 64,128,256 with the per-layer table at 128', () => {
    const o = parseBenchArgs([], {});
    if (o === 'help') throw new Error('unexpected help');
    expect(o.sizes).toEqual([64, 128, 256]);
    expect(o.layerSize).toBe(128);
    expect([o.layers, o.peer, o.optim, o.f16, o.json, o.reps, o.layerReps, o.budgetSeconds, o.wait, o.matmulSizes]).toEqual([
      true,
      true,
      true,
      true,
      false,
      3,
      5,
      30,
      'sleep',
      'auto',
    ]);
  });

  it('the per-layer size follows --sizes without 128, and --layer-size wins', () => {
    const a = parseBenchArgs(['--sizes', '64,256'], {});
    const b = parseBenchArgs(['--sizes=64,256', '--layer-size', '64', '--no-peer', '--no-f16', '--json']);
    if (a === 'help' || b === 'help') throw new Error('unexpected help');
    expect(a.layerSize).toBe(256);
    expect([b.layerSize, b.peer, b.f16, b.json]).toEqual([64, false, false, true]);
    const c = parseBenchArgs(['--parallelism', 'cpu']);
    if (c === 'help') throw new Error('unexpected help');
    expect([a.parallelism, c.parallelism]).toEqual([undefined, 'cpu']);
    // STYLE_TRANSFER_PARALLELISM is --parallelism's default; the option wins over it.
    const fromEnv = parseBenchArgs([], { STYLE_TRANSFER_PARALLELISM: 'gpu' });
    const optionWins = parseBenchArgs(['--parallelism', 'cpu'], { STYLE_TRANSFER_PARALLELISM: 'gpu' });
    if (fromEnv === 'help' || optionWins === 'help') throw new Error('unexpected help');
    expect([fromEnv.parallelism, optionWins.parallelism]).toEqual(['gpu', 'cpu']);
    const d = parseBenchArgs(['--conv-algorithm', 'direct']);
    if (d === 'help') throw new Error('unexpected help');
    expect([a.convAlgorithm, d.convAlgorithm]).toEqual([undefined, 'direct']);
  });

  it('rejects bad values with a usage error naming the option', () => {
    expect(() => parseBenchArgs(['--sizes', '64,x'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--layer-reps', '0'])).toThrow(/--layer-reps needs a whole number/);
    expect(() => parseBenchArgs(['--matmul-size', '100'])).toThrow(/multiples of 32/);
    expect(() => parseBenchArgs(['--wait', 'spin'])).toThrow(/sleep or poll/);
    expect(() => parseBenchArgs(['--parallelism', 'tpu'])).toThrow(/--parallelism must be cpu or gpu, got tpu/);
    expect(() => parseBenchArgs([], { STYLE_TRANSFER_PARALLELISM: 'GPU' })).toThrow(BenchUsageError);
    expect(() => parseBenchArgs([], { STYLE_TRANSFER_PARALLELISM: 'GPU' })).toThrow(/STYLE_TRANSFER_PARALLELISM must be cpu or gpu .*got "GPU"/);
    expect(() => parseBenchArgs(['--conv-algorithm', 'fft'])).toThrow(/--conv-algorithm must be direct or winograd, got fft/);
    expect(() => parseBenchArgs(['--budget', '0'])).toThrow(/--budget/);
    expect(() => parseBenchArgs(['--frobnicate'])).toThrow(/Unknown option "--frobnicate"/);
    expect(() => parseBenchArgs(['--random-weights', '--weights', 'w'])).toThrow(/exclude each other/);
    expect(parseBenchArgs(['--sizes', '64', '-h'])).toBe('help');
  });

  it('--tiled, --tiled-budget, --tiled-compare: off by default; the comparison at the smallest --tiled size', () => {
    const off = parseBenchArgs([]);
    const on = parseBenchArgs(['--tiled', '2048,1024', '--tiled-budget=512']);
    const compareOnly = parseBenchArgs(['--tiled-compare', '96']);
    const both = parseBenchArgs(['--tiled=96,48', '--tiled-compare', '96']);
    if (off === 'help' || on === 'help' || compareOnly === 'help' || both === 'help') throw new Error('unexpected help');
    expect([off.tiledSizes, off.tiledBudgetMiB, off.tiledCompare]).toEqual([[], 1024, null]);
    expect([on.tiledSizes, on.tiledBudgetMiB, on.tiledCompare]).toEqual([[2048, 1024], 512, 1024]);
    expect([compareOnly.tiledSizes, compareOnly.tiledCompare]).toEqual([[], 96]);
    expect([both.tiledSizes, both.tiledCompare]).toEqual([[96, 48], 96]);
    expect(urlParamsToArgs(new URLSearchParams('tiled=1024&tiled-budget=1024'))).toEqual(['--tiled', '1024', '--tiled-budget', '1024']);
  });

  it('rejects bad --tiled values with a usage error', () => {
    expect(() => parseBenchArgs(['--tiled'])).toThrow(/--tiled needs a list of sizes/);
    expect(() => parseBenchArgs(['--tiled', ','])).toThrow(/--tiled needs at least one size/);
    expect(() => parseBenchArgs(['--tiled', '1024,big'])).toThrow(/--tiled needs a whole number >= 1, got big/);
    expect(() => parseBenchArgs(['--tiled-budget', '0'])).toThrow(/--tiled-budget needs a whole number/);
    expect(() => parseBenchArgs(['--tiled-budget', '1.5'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--tiled-compare'])).toThrow(/--tiled-compare needs a whole number >= 1, got nothing/);
    expect(() => parseBenchArgs(['--tiled-compare', '-4'])).toThrow(BenchUsageError);
  });
});

/** The default loss's conv layers with their side length at `size` and their FLOPs. */
function lossConvs(size: number): Array<{ name: string; width: number; flops: number }> {
  const out: Array<{ name: string; width: number; flops: number }> = [];
  let w = size;
  for (const layer of VGG19.slice(0, lossDepth(DEFAULT_LOSS))) {
    if (layer.kind === 'pool') w /= 2;
    else if (layer.kind === 'conv') out.push({ name: layer.name, width: w, flops: 2 * 9 * layer.inChannels * layer.outChannels * w * w });
  }
  return out;
}

describe('per-layer mapping and rates', () => {
  // Every layer: forward one dispatch; backward split in two (as conv1_1's 1x1 + gather), plus untagged loss work.
  const timings = (flopsOf: (flops: number) => number = (f) => f): DispatchTiming[] =>
    lossConvs(64).flatMap((c, i): DispatchTiming[] => [
      { label: `fwd_${c.name}`, tag: { layer: c.name, role: 'forward' }, flops: flopsOf(c.flops), ms: 10 + i, bestMs: 8 + i },
      { label: 'gram_partial', flops: 1000, ms: 1, bestMs: 1 },
      { label: `bwd_a_${c.name}`, tag: { layer: c.name, role: 'backward' }, flops: flopsOf(c.flops) / 2, ms: 6, bestMs: 5 },
      { label: `bwd_b_${c.name}`, tag: { layer: c.name, role: 'backward' }, flops: flopsOf(c.flops) / 2, ms: 7, bestMs: 4 },
    ]);

  it('sums each layer’s tagged dispatches: median and fastest kept apart', () => {
    const { rows, mapped } = mapLossConvs(timings(), 64, 'direct');
    expect(mapped).toBe(true);
    expect(rows.map((r) => r.layer)).toEqual(lossConvs(64).map((c) => c.name));
    expect(rows.map((r) => r.width)).toEqual(lossConvs(64).map((c) => c.width));
    expect(rows[1].forward).toEqual({ label: 'fwd_conv1_2', ms: 11, bestMs: 9, flops: lossConvs(64)[1].flops });
    expect(rows[0].backward).toEqual({ label: 'bwd_a_conv1_1+bwd_b_conv1_1', ms: 13, bestMs: 9, flops: lossConvs(64)[0].flops });
    expect(rows.every((r) => r.source === 'loss')).toBe(true);
  });

  it('reports a plan whose FLOPs do not match the layer shapes as unmapped', () => {
    const { mapped, problem } = mapLossConvs(
      timings((f) => f + 2),
      64,
      'direct',
    );
    expect(mapped).toBe(false);
    expect(problem).toMatch(/^conv1_1: dispatch FLOPs/);
  });

  it('expects a Winograd layer to declare its product’s FLOPs (16/36 of the direct conv’s), the image layer the direct ones', () => {
    // 64 px: every feature map has an even side, so the tiles cover it exactly.
    const winograd = (f: number, name: string) => (name === 'conv1_1' ? f : (f * 16) / 36);
    const plan = lossConvs(64).flatMap((c): DispatchTiming[] => [
      { label: 'f', tag: { layer: c.name, role: 'forward' }, flops: winograd(c.flops, c.name), ms: 2, bestMs: 1 },
      { label: 'b', tag: { layer: c.name, role: 'backward' }, flops: winograd(c.flops, c.name), ms: 2, bestMs: 1 },
    ]);
    const { rows, mapped } = mapLossConvs(plan, 64, 'winograd');
    expect(mapped).toBe(true);
    expect(rows.map((r) => r.algorithm)).toEqual(lossConvs(64).map((c) => (c.name === 'conv1_1' ? 'direct' : 'winograd')));
    expect(mapLossConvs(plan, 64, 'direct').mapped).toBe(false);
  });

  it('GFLOP/s and the fraction of the peak come from the fastest time', () => {
    const row = mapLossConvs(timings(), 64, 'direct').rows[1];
    const rated = withRates(row, 2);
    const f = lossConvs(64)[1].flops;
    expect(rated.forwardGflops).toBeCloseTo(f / (9 * 1e6), 9);
    expect(rated.forwardOfPeak).toBeCloseTo(f / (9 * 1e6) / 2, 9);
    expect(rated.backwardGflops).toBeCloseTo(f / (9 * 1e6), 9);
    expect(withRates(row, null).forwardOfPeak).toBeNull();
    const empty: ConvLayerTiming = { ...row, forward: null, backward: null };
    expect(withRates(empty, 2)).toMatchObject({ forwardGflops: null, backwardOfPeak: null });
  });

  it('groups dispatches by kernel family', () => {
    expect(kernelFamily('conv3x3_p8c16_wg64_biasrelu_wgco', { layer: 'conv2_1', role: 'forward' })).toBe('conv3x3 forward');
    expect(kernelFamily('conv1x1_p8c16_wg64_acc')).toBe('conv1x1 (style gradient)');
    expect(kernelFamily('conv1x1_p8c16_wg64_wgco_winobwd', { layer: 'conv2_1', role: 'backward' })).toBe('winograd product backward');
    expect(kernelFamily('winograd_output_wg64_biasrelu', { layer: 'conv2_1', role: 'forward' })).toBe('winograd transforms');
    expect(kernelFamily('gram_partial_wg64')).toBe('gram_partial');
    expect(kernelFamily('sqdiff_partials_diff_wg64_acc')).toBe('sqdiff_partials_diff');
    const families = byFamily(timings());
    expect(families[0]).toMatchObject({ family: 'conv3x3 forward', dispatches: lossConvs(64).length });
    expect(families.find((f) => f.family === 'gram_partial')).toMatchObject({ dispatches: lossConvs(64).length, ms: lossConvs(64).length });
  });
});

describe('bench text', () => {
  it('aligns tables: first column left, the others right', () => {
    expect(
      table(
        ['a', 'bb'],
        [
          ['xyz', 1.25],
          ['q', null],
        ],
      ),
    ).toBe(['a     bb', '---  ---', 'xyz  1.3', 'q      -'].join('\n'));
  });

  it('the per-layer table shows fastest and median ms and the % of the peak from the fastest', () => {
    const row = withRates(
      {
        layer: 'conv1_2',
        shape: '64x64 64->64',
        height: 64,
        width: 64,
        inChannels: 64,
        outChannels: 64,
        algorithm: 'winograd',
        forward: { label: 'f', ms: 200, bestMs: 150, flops: 3e8 },
        backward: { label: 'b', ms: 300, bestMs: 250, flops: 3e8 },
        source: 'loss',
      },
      4,
    );
    const report = {
      benchmark: 'style-transfer',
      date: '2026-01-01T00:00:00.000Z',
      node: 'v20',
      adapter: { name: 'test adapter', timestamps: true, info: {}, sleepBeforeWaits: false, parallelism: 'gpu', convAlgorithm: 'winograd' },
      options: {},
      matmul: null,
      layers: { size: 64, reps: 3, rows: [row], mapped: true, families: [], gpuMs: 500, deepRows: 0 },
      sizes: [],
      f16: { skipped: '--no-f16' },
      peer: null,
      guard: null,
      notes: [],
      errors: [],
      wallSeconds: 1,
    } as unknown as BenchReport;
    const text = renderText(report);
    const line = text.split('\n').find((l) => l.startsWith('conv1_2'));
    // 3e8 FLOP in 150 ms = 2.0 GFLOP/s = 50 % of 4; backward 1.2 GFLOP/s = 30 %. Effective: a direct conv's FLOPs
    // (2 x 9 x 64 x 64 x 64^2 = 3.02e8) over the same times.
    expect(line?.split(/\s{2,}/)).toEqual(['conv1_2', '64x64 64->64', 'winograd', '150', '200', '2.0', '50%', '2.0', '250', '300', '1.2', '30%', '1.2']);
    expect(text).toContain('3x3 layers past the first: Winograd F(2x2,3x3)');
    expect(text).toContain("eff: a direct conv's FLOPs over the same time");
    expect(text).toContain('f16 weight storage: not measured (--no-f16)');
    expect(text).toContain("parallelism gpu (the adapter's): split work sized for a GPU");
    expect(renderText({ ...report, options: { parallelism: 'gpu' } } as unknown as BenchReport)).toContain('parallelism gpu (from --parallelism or $STYLE_TRANSFER_PARALLELISM)');

    const withF16 = renderText({
      ...report,
      f16: { size: 64, firstMs: 900, ms: 410, runs: [400, 410, 420], heldBytes: 40 * 2 ** 20, f32Ms: 400, f32HeldBytes: 70 * 2 ** 20, lossRelDiff: 2e-5, gradRelDiff: 4.5e-3 },
    }).split('\n');
    const f16Row = (w: string) => withF16.find((l) => l.startsWith(w) && !l.includes('storage'))?.split(/\s{2,}/);
    expect(f16Row('f32 ')).toEqual(['f32', '400', '70.0', '-', '-']);
    expect(f16Row('f16 ')).toEqual(['f16', '410', '40.0', '2.0e-5', '4.5e-3', '3']);

    // --conv-blocks: forward + backward per block, the fastest block per layer, column sums only where complete.
    const withSweep = renderText({
      ...report,
      sweep: {
        size: 64,
        blocks: ['8x4', '2x2'],
        rows: [
          { layer: 'conv1_2', shape: '64x64 64->64', forward: [1, 2], backward: [1.5, 2.5] },
          { layer: 'conv2_1', shape: '32x32 64->128', forward: [3, 1], backward: [null, 1] },
        ],
        planMs: [null, 7],
        errors: [],
      },
    }).split('\n');
    const header = withSweep.indexOf('Conv register blocks at 64x64 (--conv-blocks): fastest GPU ms, forward + backward, every layer with the same block');
    expect(header).toBeGreaterThan(0);
    const sweepRow = (w: string) =>
      withSweep
        .slice(header)
        .find((l) => l.startsWith(w))
        ?.split(/\s{2,}/);
    expect(sweepRow('conv1_2')).toEqual(['conv1_2', '64x64 64->64', '2.50', '4.50', '8x4']);
    expect(sweepRow('conv2_1')).toEqual(['conv2_1', '32x32 64->128', '-', '2.00', '2x2']);
    expect(sweepRow('conv layers')).toEqual(['conv layers', '-', '6.50', '4.50']);
    expect(sweepRow('whole plan')?.filter((c) => c !== '')).toEqual(['whole plan', '-', '7.00']);
  });

  it('the tiled table: grid, core, ms, peak and estimate per size; skipped sizes say why; the comparison line', () => {
    const base = { budgetMiB: 1024, firstMs: 1, runs: [1] };
    const report = {
      benchmark: 'style-transfer',
      date: '2026-01-01T00:00:00.000Z',
      node: 'v20',
      adapter: { name: 'test adapter', timestamps: true, info: {}, sleepBeforeWaits: false, parallelism: 'gpu', convAlgorithm: 'direct' },
      options: {},
      matmul: null,
      layers: null,
      sizes: [],
      f16: { skipped: '--no-f16' },
      peer: null,
      guard: null,
      tiled: {
        budgetMiB: 1024,
        rows: [
          { ...base, size: 1024, tiles: [5, 5], core: [208, 208], msPerEvaluation: 1234.4, peakMiB: 900.04, estimateMiB: 951.3 },
          { ...base, size: 256, tiles: [1, 1], core: null, msPerEvaluation: 12.345, peakMiB: 300, estimateMiB: 368.4 },
          { ...base, size: 9000, runs: [], tiles: null, core: null, msPerEvaluation: null, peakMiB: null, estimateMiB: null, skipped: 'does not fit' },
        ],
        compare: { size: 256, skipped: 'failed: lost' },
      },
      notes: [],
      errors: [],
      wallSeconds: 1,
    } as unknown as BenchReport;
    const lines = renderText(report).split('\n');
    const row = (w: string) => lines.find((l) => l.startsWith(`${w} `))?.split(/\s{2,}/);
    expect(lines).toContain('Tiled evaluation (--tiled): the evaluation memory.ts planRun chooses under a 1024 MiB budget (wall ms, median after warm-up)');
    expect(row('1024')).toEqual(['1024', '1024', '5x5', '208x208', '1234', '900.0', '951.3', '1']);
    expect(row('256')).toEqual(['256', '1024', '1x1', 'untiled', '12.3', '300.0', '368.4', '1']);
    expect(row('9000')).toEqual(['9000', '1024', '-', '-', 'skipped: does not fit']);
    expect(lines).toContain('tiled against untiled at 256x256: not measured (failed: lost)');
    const compared = renderText({
      ...report,
      tiled: {
        ...report.tiled!,
        compare: {
          size: 256,
          core: [128, 128],
          tiles: [2, 2],
          untiledMs: 100,
          tiledMs: 150,
          untiledRuns: [100],
          tiledRuns: [150],
          ratio: 1.5,
          lossRelDiff: 2e-7,
          gradRelDiff: 3e-6,
          agree: true,
        },
      },
    });
    expect(compared).toContain(
      'tiled against untiled at 256x256 (alternating): untiled 100 ms, 2x2 tiles of core 128x128 px 150 ms per evaluation: 1.50x (goal: at most 2x); loss differs by 2.0e-7, gradient by 3.0e-6: agree (runs 1/1)',
    );
    expect(renderText({ ...report, tiled: undefined })).not.toContain('Tiled evaluation');
  });
});

describe('random weights (--random-weights)', () => {
  it('every conv tensor of VGG-19 in the manifest layout, seeded, He-scaled, zero biases', () => {
    const a = randomVggWeights();
    const b = randomVggWeights();
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    for (const layer of VGG19) {
      if (layer.kind !== 'conv') continue;
      const kernel = getTensor(a, `${layer.name}/kernel`, [3, 3, layer.inChannels, layer.outChannels]);
      const limit = Math.sqrt(6 / (9 * layer.inChannels));
      const largest = kernel.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(largest).toBeLessThanOrEqual(limit);
      expect(largest).toBeGreaterThan(0.9 * limit);
      expect(getTensor(a, `${layer.name}/bias`, [layer.outChannels]).every((v) => v === 0)).toBe(true);
    }
    expect(a.tensors).toHaveLength(32);
  });
});

describe('peak matmul kernel', () => {
  it('every tile variant computes C = A B (sampled against the CPU)', async () => {
    const gpu = await testGpu();
    const results = await measureMatmul(gpu, 64, { reps: 2, budgetMs: 10_000 });
    expect(results.length).toBeGreaterThan(1);
    for (const r of results) {
      expect(r.maxError, r.variant).toBeLessThan(1e-5);
      expect(r.ms).toBeGreaterThan(0);
      expect(r.ms).toBeLessThanOrEqual(r.medianMs);
      expect(r.gflops).toBeCloseTo((2 * 64 ** 3) / (r.ms * 1e6), 9);
    }
  });
});

describe('bench page parameters', () => {
  it("URL parameters are the CLI options without their dashes; autorun is the page's own", () => {
    const params = new URLSearchParams('sizes=24&layer-size=24&reps=1&layer-reps=1&matmul-size=128&no-optim&no-f16&autorun');
    const args = urlParamsToArgs(params);
    expect(args).toEqual(['--sizes', '24', '--layer-size', '24', '--reps', '1', '--layer-reps', '1', '--matmul-size', '128', '--no-optim', '--no-f16']);
    const o = parseBenchArgs(args);
    if (o === 'help') throw new Error('unexpected help');
    expect([o.sizes, o.layerSize, o.reps, o.layerReps, o.matmulSizes, o.optim, o.f16, o.peer]).toEqual([[24], 24, 1, 1, [128], false, false, true]);
    expect(() => parseBenchArgs(urlParamsToArgs(new URLSearchParams('frobnicate=1')))).toThrow(/Unknown option "--frobnicate"/);
  });
});

describe('bench runner (bench/run.ts, what npm run bench and the bench page run)', () => {
  const validReport = () => {
    const o = parseBenchArgs([
      '--random-weights',
      '--sizes',
      '24',
      '--layer-size',
      '24',
      '--reps',
      '1',
      '--layer-reps',
      '1',
      '--matmul-size',
      '128',
      '--no-optim',
      '--no-f16',
      '--no-peer',
    ]);
    if (o === 'help') throw new Error('unexpected help');
    return o;
  };

  it('a tiny run gives a report whose JSON passes the BenchReport check, with every conv layer to conv5_1 timed', async () => {
    const gpu = await testGpu();
    const progress: string[] = [];
    const report = await runBench({
      context: gpu.context,
      weights: randomVggWeights(),
      options: validReport(),
      runtime: { node: process.version, browser: null },
      progress: (m) => progress.push(m),
    });
    const json = JSON.parse(JSON.stringify(report)) as unknown;
    expect(checkBenchReport(json)).toEqual([]);
    expect(report.errors).toEqual([]);
    expect(report.timing).toBe(gpu.context.timestamps ? 'timestamp-query' : 'submit-and-wait');
    const convs = VGG19.slice(0, lossDepth(DEFAULT_LOSS)).filter((l) => l.kind === 'conv');
    expect(report.layers?.rows.map((r) => r.layer)).toEqual(convs.map((l) => l.name));
    for (const row of report.layers!.rows) expect([row.layer, row.forward!.bestMs > 0, row.backward!.bestMs > 0]).toEqual([row.layer, true, true]);
    expect(report.sizes[0].ours!.ms).toBeGreaterThan(0);
    expect(progress.some((m) => m.includes('per-dispatch GPU times'))).toBe(true);
    // The Markdown has the same tables as the text.
    const markdown = renderMarkdown(report);
    expect(markdown).toContain('| conv5_1 |');
    expect(renderText(report)).toMatch(/^conv5_1 /m);
  }, 180_000);

  it('the check names what drifts: a missing field, a retyped one, one the type does not have, NaN', async () => {
    expect(checkBenchReport(null)).toEqual(['report: expected an object, got null']);
    const gpu = await testGpu();
    const o = { ...validReport(), layers: false, sizes: [8] };
    const report = JSON.parse(JSON.stringify(await runBench({ context: gpu.context, weights: randomVggWeights(), options: o, runtime: { node: 'v', browser: null } }))) as Record<
      string,
      unknown
    >;
    expect(checkBenchReport(report)).toEqual([]);
    const missing = { ...report };
    delete missing.wallSeconds;
    expect(checkBenchReport(missing)).toEqual(['report.wallSeconds: missing']);
    expect(checkBenchReport({ ...report, timing: 'guess' })).toEqual(['report.timing: expected "timestamp-query" or "submit-and-wait", got "guess"']);
    expect(checkBenchReport({ ...report, extra: 1 })).toEqual(['report.extra: not in the schema']);
    expect(checkBenchReport({ ...report, wallSeconds: NaN })).toEqual(['report.wallSeconds: expected a finite number, got NaN']);
  }, 120_000);

  it('--tiled: a tiny run has the table rows and the comparison, whose values agree', async () => {
    const gpu = await testGpu();
    // --sizes 8 is below the loss's minimum: skipped, so only the tiled part evaluates. The comparison forces the
    // least-work grid at 128 px: two 128 x 64 cores (each window, core plus halo, is still the whole image).
    const o = parseBenchArgs([
      '--random-weights',
      '--sizes',
      '8',
      '--no-layers',
      '--reps',
      '1',
      '--matmul-size',
      '32',
      '--no-optim',
      '--no-f16',
      '--no-peer',
      '--tiled',
      '48',
      '--tiled-budget',
      '1024',
      '--tiled-compare',
      '128',
    ]);
    if (o === 'help') throw new Error('unexpected help');
    const report = await runBench({ context: gpu.context, weights: randomVggWeights(), options: o, runtime: { node: 'v', browser: null } });
    const json = JSON.parse(JSON.stringify(report)) as unknown;
    expect(checkBenchReport(json)).toEqual([]);
    expect(report.errors).toEqual([]);
    const tiled = report.tiled!;
    // At 48 px a tile's window (core plus halo) is the whole image: planRun keeps it untiled.
    expect(tiled.rows.map((r) => [r.size, r.budgetMiB, r.tiles, r.core, r.skipped])).toEqual([[48, 1024, [1, 1], null, undefined]]);
    for (const row of tiled.rows) {
      expect(row.msPerEvaluation).toBeGreaterThan(0);
      // The pool's own peak: the network's weights at least, about what planRun estimated.
      expect(row.peakMiB).toBeGreaterThan(0.5 * row.estimateMiB!);
      expect(row.peakMiB).toBeLessThan(2 * row.estimateMiB!);
    }
    const compare = tiled.compare;
    if (!compare || 'skipped' in compare) throw new Error(`no comparison: ${JSON.stringify(compare)}`);
    expect([compare.size, compare.core, compare.tiles, compare.agree]).toEqual([128, [128, 64], [1, 2], true]);
    expect(compare.ratio).toBeCloseTo(compare.tiledMs / compare.untiledMs, 9);
    const text = renderText(report);
    expect(text).toMatch(/^size\s+budget MiB\s+tiles\s+core\s+ms\/eval\s+peak MiB\s+estimate MiB\s+runs$/m);
    expect(text).toMatch(/^48\s+1024\s+1x1\s+untiled\s/m);
    expect(text).toContain('tiled against untiled at 128x128 (alternating)');
    expect(text).toContain(': agree (runs 1/1)');
    expect(renderMarkdown(report)).toContain('| size | budget MiB | tiles | core | ms/eval | peak MiB | estimate MiB | runs |');
  }, 300_000);

  it('stops at the first checkpoint once its signal is aborted', async () => {
    const gpu = await testGpu();
    const controller = new AbortController();
    controller.abort(new DOMException('stopped', 'AbortError'));
    await expect(
      runBench({ context: gpu.context, weights: randomVggWeights(), options: validReport(), runtime: { node: 'v', browser: null }, signal: controller.signal }),
    ).rejects.toThrow('stopped');
  });
});
