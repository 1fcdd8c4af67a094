/**
 * VGG-19 as data: 16 3x3 convolutions (each followed by ReLU) and 5 2x2 pools. Features are named after the
 * ReLU outputs (relu1_1 ... relu5_4) and the pools (pool1 ... pool5).
 */

export interface ConvLayer {
  kind: 'conv';
  /** Weight tensor prefix in the manifest (conv1_1 -> conv1_1/kernel, conv1_1/bias). */
  name: string;
  /** The stored activation: the ReLU output. */
  feature: string;
  inChannels: number;
  outChannels: number;
}

interface PoolLayer {
  kind: 'pool';
  name: string;
  feature: string;
}

export type VggLayer = ConvLayer | PoolLayer;

function buildVgg19(): VggLayer[] {
  const blocks = [
    { convs: 2, channels: 64 },
    { convs: 2, channels: 128 },
    { convs: 4, channels: 256 },
    { convs: 4, channels: 512 },
    { convs: 4, channels: 512 },
  ];
  const layers: VggLayer[] = [];
  let inChannels = 3;
  blocks.forEach((block, b) => {
    for (let k = 1; k <= block.convs; k++) {
      const name = `conv${b + 1}_${k}`;
      layers.push({ kind: 'conv', name, feature: `relu${b + 1}_${k}`, inChannels, outChannels: block.channels });
      inChannels = block.channels;
    }
    layers.push({ kind: 'pool', name: `pool${b + 1}`, feature: `pool${b + 1}` });
  });
  return layers;
}

export const VGG19: readonly VggLayer[] = buildVgg19();

export const VGG19_CONV_LAYERS: readonly ConvLayer[] = VGG19.filter((l): l is ConvLayer => l.kind === 'conv');

/** Feature names a loss may use: relu*_* and pool*. */
const VGG19_FEATURES: readonly string[] = VGG19.map((l) => l.feature);

/**
 * Index of a feature in VGG19. `conv4_2` is accepted for `relu4_2`: Keras-style code (and the deeplearning.ai
 * course) names a conv layer whose activation is built in, so its output is the ReLU output.
 */
export function featureIndex(name: string): number {
  const canonical = /^conv\d_\d$/.test(name) ? name.replace('conv', 'relu') : name;
  const index = VGG19.findIndex((l) => l.feature === canonical);
  if (index < 0) {
    throw new Error(`Unknown layer "${name}". Use one of: ${VGG19_FEATURES.join(', ')}.`);
  }
  return index;
}

/** FLOPs of one 3x3 conv of `layer` over a width x height output (forward, or its input gradient: the same). */
export function convFlops(layer: Pick<ConvLayer, 'inChannels' | 'outChannels'>, width: number, height: number): number {
  return 2 * 9 * layer.inChannels * layer.outChannels * width * height;
}

/** Channels of the feature produced by layer `index`. */
export function featureChannels(index: number): number {
  for (let i = index; i >= 0; i--) {
    const layer = VGG19[i];
    if (layer.kind === 'conv') return layer.outChannels;
  }
  return 3;
}

/** Spatial size of every feature up to `depth` layers for an input of width x height (pools floor). */
export function featureSizes(width: number, height: number, depth: number): Array<{ width: number; height: number; channels: number }> {
  const sizes: Array<{ width: number; height: number; channels: number }> = [];
  let w = width;
  let h = height;
  for (let i = 0; i < depth; i++) {
    const layer = VGG19[i];
    if (layer.kind === 'pool') {
      w = Math.floor(w / 2);
      h = Math.floor(h / 2);
    }
    sizes.push({ width: w, height: h, channels: featureChannels(i) });
  }
  return sizes;
}
