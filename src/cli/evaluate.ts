/**
 * `style-transfer evaluate`: one loss + gradient evaluation at x = the preprocessed --image (default: the
 * content image), printed as one JSON line; optionally the gradient as .npy. --repeat K runs K evaluations in one
 * process (start-up paid once) for timing from outside.
 */
import { writeNpyFile } from '../io/npy.js';
import { DEFAULT_LOSS, lossDepth, setTargetImages, type RegionLossConfig } from '../net/loss.js';
import { matchStyleColors } from '../net/colorMatch.js';
import { maskAtSize } from '../net/styleMask.js';
import { readImageFile } from '../io/image.js';
import { createLossPlan } from '../net/lossPlan.js';
import { Vgg19Net, type Padding, type WeightStorage } from '../net/network.js';
import { imageToX } from '../net/preprocess.js';
import { PADDINGS, STYLIZE_DEFAULTS } from '../net/options.js';
import { planScale } from '../net/stylize.js';
import { formatHelp, parseArgs, UsageError, type OptionTable } from './args.js';
import { loadWeights, openRuntime, readExact, readScaled, WEIGHT_STORAGE_OPTION } from './common.js';

export const EVALUATE_OPTIONS: OptionTable = {
  content: { type: 'string', required: true, value: 'FILE', help: 'Content image (PNG or JPEG).' },
  style: { type: 'string', required: true, value: 'FILE', help: 'Style image (PNG or JPEG).' },
  'style-mask': { type: 'string', value: 'FILE', help: "The style's region: a greyscale mask in the content's frame (resized to it)." },
  'match-style-colors': { type: 'flag', default: false, help: "Give the style image the content's colour mean and covariance first." },
  padding: { type: 'choice', choices: PADDINGS, default: STYLIZE_DEFAULTS.padding, help: 'Border padding of every conv.' },
  image: { type: 'string', value: 'FILE', help: 'Image x at which the loss is evaluated; default: the content image.' },
  size: { type: 'integer', required: true, min: 1, help: 'Longer side in pixels the images are scaled to (an image already that size is used as is).' },
  weights: {
    type: 'string',
    value: 'DIR|FILE',
    help: 'VGG-19 weights: a directory written by npm run weights, or one of its .safetensors files (default: $STYLE_TRANSFER_WEIGHTS, then weights/).',
  },
  'grad-out': { type: 'string', value: 'FILE.npy', help: 'Write d(total)/dx as .npy float32 [3, H, W], channels B, G, R.' },
  'content-weight': { type: 'number', min: 0, default: DEFAULT_LOSS.contentWeight, help: 'Content loss weight.' },
  'style-weight': { type: 'number', min: 0, default: DEFAULT_LOSS.styleWeight, help: 'Style loss weight.' },
  'tv-weight': { type: 'number', min: 0, default: DEFAULT_LOSS.tvWeight, help: 'Total-variation weight.' },
  'content-layers': { type: 'list', value: 'LAYERS', default: DEFAULT_LOSS.contentLayers, help: 'Comma-separated content layers.' },
  'style-layers': { type: 'list', value: 'LAYERS', default: DEFAULT_LOSS.styleLayers, help: 'Comma-separated style layers.' },
  'weight-storage': WEIGHT_STORAGE_OPTION,
  'max-memory': {
    type: 'number',
    min: 1,
    value: 'MIB',
    help: "GPU memory budget (MiB): a size that needs more is evaluated in tiles, exactly; default: none beyond the adapter's own limits.",
  },
  repeat: { type: 'integer', min: 1, default: 1, help: 'Evaluate K times in one process (benchmarking); the result is printed once.' },
  help: { type: 'flag', alias: 'h', help: 'Show this help.' },
};

export const EVALUATE_USAGE =
  'Usage: style-transfer evaluate --content A --style B [--image X] --size N [--weights DIR] [--grad-out G.npy]\n' +
  '       [--content-weight W] [--style-weight W] [--tv-weight W] [--weight-storage f32|f16] [--max-memory MIB] [--repeat K]\n' +
  '       [--style-mask M] [--match-style-colors] [--padding zero|reflect]\n\n' +
  'Prints {"content", "style", "tv", "total", "width", "height", "peakBytes", "tiles"} for x = the preprocessed image (BGR, 0..255\n' +
  'minus the VGG mean); peakBytes: the most GPU memory the run held; tiles: [columns, rows] of the tiled evaluation ([1, 1]: whole).';

export async function runEvaluate(argv: string[], out: { stdout: (s: string) => void; stderr: (s: string) => void }): Promise<number> {
  const { options: o, positional } = parseArgs(argv, EVALUATE_OPTIONS);
  if (o.help) {
    out.stdout(formatHelp(EVALUATE_USAGE, EVALUATE_OPTIONS));
    return 0;
  }
  if (positional.length > 0) throw new UsageError(`Unexpected argument "${positional[0]}".`);
  const size = o.size as number;
  const content = await readScaled(o.content as string, size);
  const style = await readScaled(o.style as string, size);
  const image = o.image ? await readExact(o.image as string, content.width, content.height) : content;
  const mask = o['style-mask'] ? maskAtSize(await readImageFile(o['style-mask'] as string), content.width, content.height) : undefined;
  const padding = o.padding as Padding;
  const config: RegionLossConfig = {
    contentWeight: o['content-weight'] as number,
    styleWeight: o['style-weight'] as number,
    tvWeight: o['tv-weight'] as number,
    contentLayers: o['content-layers'] as string[],
    styleLayers: o['style-layers'] as string[],
    styleRegionWeights: mask ? [1] : undefined,
  };
  const depth = lossDepth(config);
  const weights = await loadWeights(o.weights as string | undefined);
  const gpu = await openRuntime();
  try {
    const weightStorage = o['weight-storage'] as WeightStorage;
    const memoryBudget = o['max-memory'] === undefined ? undefined : (o['max-memory'] as number) * 2 ** 20;
    const plan = planScale(gpu, content, [style], size, config, { ...STYLIZE_DEFAULTS, optimizer: 'adam', weightStorage, memoryBudget, padding });
    const net = new Vgg19Net(gpu, weights, { depth, weightStorage, padding });
    const loss = createLossPlan(net, content.width, content.height, config, plan.evaluation);
    await setTargetImages(loss, content, [o['match-style-colors'] ? matchStyleColors(style, content) : style], undefined, mask && [mask]);
    imageToX(gpu, image, loss.x);
    const repeat = o.repeat as number;
    const started = performance.now();
    // One evaluation at a time, each awaited through a QueueWaiter: on a CPU adapter a single long await would
    // keep a core polling for the whole run.
    const waiter = gpu.queueWaiter();
    for (let k = 0; k < repeat; k++) {
      loss.evaluate();
      if (repeat > 1) await waiter.wait();
    }
    const values = await loss.readLosses();
    const ms = performance.now() - started;
    if (repeat > 1) out.stderr(`evaluate: ${repeat} evaluations at ${content.width}x${content.height} in ${ms.toFixed(0)} ms (${(ms / repeat).toFixed(1)} ms each)`);
    const tiles = plan.evaluation.tiled ? [plan.evaluation.columns, plan.evaluation.rows] : [1, 1];
    const peakBytes = gpu.buffers.getStats().peakBytes;
    out.stdout(
      JSON.stringify({ content: values.content, style: values.style, tv: values.tv, total: values.total, width: content.width, height: content.height, peakBytes, tiles }),
    );
    if (o['grad-out']) {
      const grad = await gpu.readFloat32(loss.grad, 3 * content.width * content.height);
      await writeNpyFile(o['grad-out'] as string, grad, [3, content.height, content.width]);
    }
    return 0;
  } finally {
    gpu.destroy();
  }
}
