/**
 * src/net/options.ts without a GPU: defaults, presets, and every validation path throwing an OptionError that names
 * the option (its API key) and holds the value given.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LOSS as LOSS_DEFAULT_LOSS } from '../src/net/loss.js';
import {
  checkStyleBlendWeights,
  DEFAULT_LOSS,
  formatOptionValue,
  OptionError,
  PRESETS,
  resolveOptions,
  scaleSizes,
  STYLIZE_DEFAULTS,
  type OptionName,
  type StylizeOptionsInput,
} from '../src/net/options.js';

/** The OptionError resolveOptions throws for `input` (fails the test when it throws none or another error). */
function optionError(input: StylizeOptionsInput, context?: { styleImages?: number }): OptionError {
  try {
    resolveOptions(input, context);
  } catch (e) {
    expect(e).toBeInstanceOf(OptionError);
    return e as OptionError;
  }
  throw new Error(`resolveOptions accepted ${JSON.stringify(input)}`);
}

describe('defaults and presets', () => {
  it('no options: exactly the defaults', () => {
    expect(resolveOptions({})).toEqual({
      iterations: 500,
      size: 512,
      optimizer: 'lbfgs',
      learningRate: 10,
      historySize: 100,
      lineSearch: 'strong-wolfe',
      contentWeight: 5,
      styleWeight: 100,
      tvWeight: 1e-3,
      contentLayers: ['relu4_2'],
      styleLayers: ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'],
      init: 'content',
      noiseRatio: 0.6,
      seed: 0,
      styleScale: 1,
      originalColors: false,
      matchStyleColors: false,
      padding: 'zero',
      pooling: 'max',
      normalizeGradients: false,
      weightStorage: 'f32',
      printEvery: 10,
    });
    expect(resolveOptions({})).toEqual(STYLIZE_DEFAULTS);
  });

  it('undefined counts as unset; explicit values win over the preset, the preset over the defaults', () => {
    expect(resolveOptions({ size: undefined, optimizer: undefined, preset: undefined })).toEqual(STYLIZE_DEFAULTS);
    const o = resolveOptions({ preset: 'course', iterations: 7, size: 64 });
    expect(o).toEqual({
      ...STYLIZE_DEFAULTS,
      iterations: 7,
      size: 64,
      optimizer: 'adam',
      // The line search is L-BFGS's default; Adam left to its defaults takes none.
      lineSearch: 'none',
      learningRate: 2,
      contentWeight: 2.5,
      styleWeight: 40,
      tvWeight: 0,
      contentLayers: ['relu4_2'],
      styleLayers: ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'],
      // 0.2 C^2 / 4 for C = 64, 128, 256, 512, 512.
      styleLayerWeights: [204.8, 819.2, 3276.8, 13107.2, 13107.2],
      init: 'noise',
      noiseRatio: 0.6,
    });
    expect(resolveOptions({ preset: 'neural-style' })).toEqual({
      ...STYLIZE_DEFAULTS,
      iterations: 1000,
      init: 'random',
    });
    expect(Object.keys(PRESETS)).toEqual(['neural-style', 'course']);
  });

  it('resolving copies: changing the result leaves the defaults and presets alone', () => {
    const o = resolveOptions({ preset: 'course' });
    o.styleLayers.push('relu5_2');
    o.contentLayers.length = 0;
    expect(STYLIZE_DEFAULTS.styleLayers).toHaveLength(5);
    expect(PRESETS.course.styleLayers).toHaveLength(5);
    expect(resolveOptions({}).contentLayers).toEqual(['relu4_2']);
  });

  it('the loss defaults are one object, re-exported by loss.ts', () => {
    expect(LOSS_DEFAULT_LOSS).toBe(DEFAULT_LOSS);
    expect(STYLIZE_DEFAULTS.contentWeight).toBe(DEFAULT_LOSS.contentWeight);
  });

  it('scaleSizes: the scales, else the size', () => {
    expect(scaleSizes(resolveOptions({ size: 64 }))).toEqual([64]);
    expect(scaleSizes(resolveOptions({ size: 64, scales: [32, 64] }))).toEqual([32, 64]);
  });

  it('accepts the edges of every range', () => {
    expect(() => resolveOptions({ iterations: 0, size: 1, historySize: 1, contentWeight: 0, styleWeight: 0, tvWeight: 0, noiseRatio: 1, seed: 0, printEvery: 0 })).not.toThrow();
    expect(() => resolveOptions({ noiseRatio: 0, styleBlendWeights: [0, 1] }, { styleImages: 2 })).not.toThrow();
    expect(resolveOptions({ contentLayers: ['conv4_2'] }).contentLayers).toEqual(['conv4_2']);
  });
});

describe('OptionError for every option', () => {
  const cases: Array<[StylizeOptionsInput, OptionName, unknown, string]> = [
    [{ preset: 'fast' as never }, 'preset', 'fast', 'preset must be neural-style or course, got "fast".'],
    [{ iterations: -1 }, 'iterations', -1, 'iterations must be a whole number >= 0, got -1.'],
    [{ iterations: 1.5 }, 'iterations', 1.5, 'iterations must be a whole number >= 0, got 1.5.'],
    [{ size: 0 }, 'size', 0, 'size must be a whole number of at least 1, got 0.'],
    [{ size: Number.NaN }, 'size', Number.NaN, 'size must be a whole number of at least 1, got NaN.'],
    [{ size: '32' as never }, 'size', '32', 'size must be a whole number of at least 1, got "32".'],
    [{ optimizer: 'sgd' as never }, 'optimizer', 'sgd', 'optimizer must be lbfgs or adam, got "sgd".'],
    [{ learningRate: 0 }, 'learningRate', 0, 'learningRate must be a number > 0, got 0.'],
    [{ learningRate: Infinity }, 'learningRate', Infinity, 'learningRate must be a number > 0, got Infinity.'],
    [{ historySize: 0 }, 'historySize', 0, 'historySize must be a whole number of at least 1, got 0.'],
    [{ lineSearch: 'armijo' as never }, 'lineSearch', 'armijo', 'lineSearch must be none or strong-wolfe, got "armijo".'],
    [{ optimizer: 'adam', lineSearch: 'strong-wolfe' }, 'lineSearch', 'strong-wolfe', 'A line search needs the lbfgs optimizer.'],
    [{ contentWeight: -1 }, 'contentWeight', -1, 'contentWeight must be a number >= 0, got -1.'],
    [{ styleWeight: Number.NaN }, 'styleWeight', Number.NaN, 'styleWeight must be a number >= 0, got NaN.'],
    [{ tvWeight: -0.5 }, 'tvWeight', -0.5, 'tvWeight must be a number >= 0, got -0.5.'],
    [{ contentLayers: ['relu9_9'] }, 'contentLayers', ['relu9_9'], 'Unknown layer "relu9_9".'],
    [{ styleLayers: ['relu1_1', 'pool9'] }, 'styleLayers', ['relu1_1', 'pool9'], 'Unknown layer "pool9".'],
    [{ styleLayerWeights: [1, -1, 1, 1, 1] }, 'styleLayerWeights', [1, -1, 1, 1, 1], 'styleLayerWeights must be numbers >= 0, got [1, -1, 1, 1, 1].'],
    [{ styleLayerWeights: [1] }, 'styleLayerWeights', [1], '1 style layer weights given for 5 style layers.'],
    [{ init: 'zeros' as never }, 'init', 'zeros', 'init must be content, noise or random, got "zeros".'],
    [{ noiseRatio: 2 }, 'noiseRatio', 2, 'noiseRatio must be between 0 and 1, got 2.'],
    [{ seed: -1 }, 'seed', -1, 'seed must be a whole number >= 0, got -1.'],
    [{ styleBlendWeights: [1, Number.NaN] }, 'styleBlendWeights', [1, Number.NaN], 'styleBlendWeights must be numbers >= 0, not all 0, got [1, NaN].'],
    [{ styleBlendWeights: [0, 0] }, 'styleBlendWeights', [0, 0], 'styleBlendWeights must be numbers >= 0, not all 0, got [0, 0].'],
    [{ styleScale: 0 }, 'styleScale', 0, 'styleScale must be a number > 0, got 0.'],
    [{ originalColors: 'yes' as never }, 'originalColors', 'yes', 'originalColors must be true or false, got "yes".'],
    [{ pooling: 'min' as never }, 'pooling', 'min', 'pooling must be max or avg, got "min".'],
    [{ matchStyleColors: 'yes' as never }, 'matchStyleColors', 'yes', 'matchStyleColors must be true or false, got "yes".'],
    [{ padding: 'mirror' as never }, 'padding', 'mirror', 'padding must be zero or reflect, got "mirror".'],
    [{ normalizeGradients: 1 as never }, 'normalizeGradients', 1, 'normalizeGradients must be true or false, got 1.'],
    [{ weightStorage: 'f8' as never }, 'weightStorage', 'f8', 'weightStorage must be f32 or f16, got "f8".'],
    [{ scales: [256, 0] }, 'scales', [256, 0], 'scales must be whole numbers of at least 1, got [256, 0].'],
    [{ printEvery: -1 }, 'printEvery', -1, 'printEvery must be a whole number >= 0, got -1.'],
    [{ memoryBudget: 0 }, 'memoryBudget', 0, 'memoryBudget must be a number > 0, got 0.'],
  ];
  it.each(cases)('%j -> %s', (input, option, value, message) => {
    const error = optionError(input);
    expect(error.name).toBe('OptionError');
    expect(error.option).toBe(option);
    expect(error.value).toEqual(value);
    expect(error.message.startsWith(message.replace(/\.$/, ''))).toBe(true);
  });

  it('every option of the engine has a case above', () => {
    const covered = new Set(cases.map(([, option]) => option));
    for (const option of [...Object.keys(STYLIZE_DEFAULTS), 'preset', 'styleLayerWeights', 'styleBlendWeights', 'scales', 'memoryBudget']) {
      expect(covered, option).toContain(option);
    }
  });

  it('blend weights: one per style image when the count is known, in resolveOptions and checkStyleBlendWeights alike', () => {
    const error = optionError({ styleBlendWeights: [1, 2] }, { styleImages: 1 });
    expect([error.option, error.value, error.message]).toEqual(['styleBlendWeights', [1, 2], 'styleBlendWeights must have one weight per style image (1), got [1, 2].']);
    expect(() => resolveOptions({ styleBlendWeights: [1, 2] })).not.toThrow();
    expect(() => checkStyleBlendWeights([1, 2], 3)).toThrow(OptionError);
    expect(() => checkStyleBlendWeights([1, 2], 2)).not.toThrow();
    expect(() => checkStyleBlendWeights(undefined, 2)).not.toThrow();
  });

  it("describe(): the same sentence under a front end's name; sentences naming no option stay as they are", () => {
    const weight = optionError({ contentWeight: Number.NaN });
    expect(weight.describe('--content-weight')).toBe('--content-weight must be a number >= 0, got NaN.');
    expect(weight.describe('content-weight', '"abc"')).toBe('content-weight must be a number >= 0, got "abc".');
    expect(weight.rule).toBe('must be a number >= 0');
    const lineSearch = optionError({ optimizer: 'adam', lineSearch: 'strong-wolfe' });
    expect(lineSearch.rule).toBeUndefined();
    expect(lineSearch.describe('--line-search')).toBe('A line search needs the lbfgs optimizer.');
    expect(optionError({ styleLayers: ['relu9_1'] }).message).toMatch(/^Unknown layer "relu9_1"\. Use one of: relu1_1, /);
  });

  it('formatOptionValue', () => {
    expect(formatOptionValue('a"b')).toBe('"a\\"b"');
    expect(formatOptionValue(-0.5)).toBe('-0.5');
    expect(formatOptionValue([1, Number.NaN, 'x'])).toBe('[1, NaN, "x"]');
  });
});
