/**
 * Style regions (masks), reflect padding and colour matching (issue 17) against PyTorch float64 fixtures made by
 * test/fixtures/make_golden_controls.py with the real VGG-19 weights (48x32 content, 32x48 styles): every loss term
 * within 1e-4 relative and d(total)/dx within 1e-4 relative L2. Plus the engine's own identities: a mask of all
 * ones gives the unmasked loss, and two styles with two masks give the sum of each masked style computed alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { readImageFile } from '../src/io/image.js';
import { decodeNpy } from '../src/io/npy.js';
import type { RgbaImage } from '../src/io/rgbaImage.js';
import { matchStyleColors } from '../src/net/colorMatch.js';
import { DEFAULT_LOSS, GatysLoss, lossDepth, setTargetImages, type LossValues, type RegionLossConfig, type StyleImage } from '../src/net/loss.js';
import { Vgg19Net, type Padding } from '../src/net/network.js';
import { imageToX } from '../src/net/preprocess.js';
import { maskValues, type MaskValues } from '../src/net/styleMask.js';
import { realWeights, relativeError, repoRoot, testGpu, weightsDir } from './helpers/env.js';

const dir = join(repoRoot, 'test/fixtures/controls');
interface GoldenCase {
  terms: Record<string, number>;
  blend: number[] | null;
  padding: Padding;
}
const golden = (weightsDir ? JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) : { cases: {} }) as { cases: Record<string, GoldenCase> };
const png = (name: string) => readImageFile(join(dir, name));

let gpu: GpuRuntime;
const nets = new Map<string, Vgg19Net>();
let images: Record<'content' | 'image' | 'style1' | 'style2' | 'soft' | 'hard' | 'empty', RgbaImage>;

/** A network per padding and first-layer variant, loaded once. */
function net(padding: Padding, imageLayerKernels?: boolean): Vgg19Net {
  const key = `${padding} ${imageLayerKernels}`;
  let n = nets.get(key);
  if (!n) nets.set(key, (n = new Vgg19Net(gpu, realWeights(), { depth: lossDepth(DEFAULT_LOSS), padding, imageLayerKernels })));
  return n;
}

/** One evaluation of image.png: the loss values and the gradient. */
async function evaluate(network: Vgg19Net, config: RegionLossConfig, styles: StyleImage[], masks?: MaskValues[]): Promise<{ values: LossValues; grad: Float32Array }> {
  const { content, image } = images;
  const loss = new GatysLoss(network, content.width, content.height, config);
  try {
    await setTargetImages(loss, content, styles, undefined, masks);
    imageToX(gpu, image, loss.x);
    loss.evaluate();
    return { values: await loss.readLosses(), grad: await gpu.readFloat32(loss.grad) };
  } finally {
    loss.dispose();
  }
}

/** Torch's "content/relu4_2", "style/relu1_1#0" -> the engine's "content:relu4_2", "style:relu1_1#0". */
const engineKey = (key: string) => key.replace('/', ':');

describe.skipIf(!weightsDir)('style regions, reflect padding and colour matching against PyTorch float64 (48x32, real VGG-19)', () => {
  beforeAll(async () => {
    gpu = await testGpu();
    const [content, image, style1, style2, soft, hard, empty] = await Promise.all(
      ['content', 'image', 'style1', 'style2', 'mask_soft', 'mask_hard_colour', 'mask_empty'].map((n) => png(`${n}.png`)),
    );
    images = { content, image, style1, style2, soft, hard, empty };
  });

  afterAll(() => {
    for (const n of nets.values()) n.dispose();
    nets.clear();
  });

  const cases: Array<[string, () => Promise<{ values: LossValues; grad: Float32Array }>]> = [
    [
      'masks: two styles, a soft grey mask and a hard colour mask',
      () => evaluate(net('zero'), { ...DEFAULT_LOSS, styleRegionWeights: [1, 1] }, [images.style1, images.style2], [maskValues(images.soft), maskValues(images.hard)]),
    ],
    [
      'masks_empty: an empty mask and a soft one, blend weights 0.5 and 2 as given',
      () => evaluate(net('zero'), { ...DEFAULT_LOSS, styleRegionWeights: [0.5, 2] }, [images.style1, images.style2], [maskValues(images.empty), maskValues(images.soft)]),
    ],
    ['reflect: reflect padding', () => evaluate(net('reflect'), { ...DEFAULT_LOSS }, [images.style1])],
    ['reflect: reflect padding, generic first-layer kernels', () => evaluate(net('reflect', false), { ...DEFAULT_LOSS }, [images.style1])],
    ['colors: the style colour-matched to the content', () => evaluate(net('zero'), { ...DEFAULT_LOSS }, [matchStyleColors(images.style1, images.content)])],
  ];

  it.each(cases)('%s: every loss term and the gradient within 1e-4', async (name, run) => {
    const fixture = name.split(':')[0];
    const expected = golden.cases[fixture];
    const { values, grad } = await run();
    const errors: string[] = [];
    for (const key of ['content', 'style', 'tv', 'total'] as const) {
      const err = Math.abs(values[key] - expected.terms[key]) / Math.abs(expected.terms[key]);
      errors.push(`${key} ${err.toExponential(1)}`);
      expect(err, key).toBeLessThan(1e-4);
    }
    const termKeys = Object.keys(expected.terms).filter((k) => k.includes('/'));
    expect(
      Object.keys(values.terms)
        .filter((k) => k !== 'tv')
        .sort(),
    ).toEqual(termKeys.map(engineKey).sort());
    for (const key of termKeys) {
      const err = Math.abs(values.terms[engineKey(key)] - expected.terms[key]) / Math.abs(expected.terms[key]);
      expect(err, key).toBeLessThan(1e-4);
    }
    const gradError = relativeError(grad, decodeNpy(new Uint8Array(readFileSync(join(dir, `${fixture}_grad.npy`)))).data);
    console.log(`${name}: ${errors.join(', ')}, gradient ${gradError.toExponential(2)}`);
    expect(gradError).toBeLessThan(1e-4);
  });

  it('a mask of all ones gives the unmasked loss and gradient (to 1e-6)', async () => {
    const { width, height } = images.content;
    const ones = { width, height, values: new Float64Array(width * height).fill(1) };
    const plain = await evaluate(net('zero'), { ...DEFAULT_LOSS }, [images.style1]);
    const masked = await evaluate(net('zero'), { ...DEFAULT_LOSS, styleRegionWeights: [1] }, [images.style1], [ones]);
    for (const key of ['content', 'style', 'tv', 'total'] as const) expect(Math.abs(masked.values[key] - plain.values[key]) / plain.values[key], key).toBeLessThan(1e-6);
    for (const [key, value] of Object.entries(plain.values.terms)) {
      const maskedKey = key.startsWith('style:') ? `${key}#0` : key;
      expect(Math.abs(masked.values.terms[maskedKey] - value) / value, key).toBeLessThan(1e-6);
    }
    expect(relativeError(masked.grad, plain.grad)).toBeLessThan(1e-6);
  });

  it("two styles with two masks: the style loss is the sum of each style's masked loss computed alone (to 1e-6)", async () => {
    const masks = [maskValues(images.soft), maskValues(images.hard)];
    const both = await evaluate(net('zero'), { ...DEFAULT_LOSS, styleRegionWeights: [1, 1] }, [images.style1, images.style2], masks);
    const first = await evaluate(net('zero'), { ...DEFAULT_LOSS, styleRegionWeights: [1] }, [images.style1], [masks[0]]);
    const second = await evaluate(net('zero'), { ...DEFAULT_LOSS, styleRegionWeights: [1] }, [images.style2], [masks[1]]);
    const sum = first.values.style + second.values.style;
    console.log(`two masked styles: style ${both.values.style} against ${first.values.style} + ${second.values.style} = ${sum}`);
    expect(Math.abs(both.values.style - sum) / sum).toBeLessThan(1e-6);
    expect(Math.abs(both.values.total - (sum + first.values.content + first.values.tv)) / both.values.total).toBeLessThan(1e-6);
  });
});
