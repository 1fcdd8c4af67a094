/**
 * Planning the Winograd F(2x2, 3x3) layers (shaders/winograd.ts): which layers use it, their 2x2 tiles, and the
 * bands of tiles that fit the transform scratch. Pure: network.ts records from it, memory.ts sizes from it.
 */
import { WINOGRAD_POSITIONS } from '../../shaders/winograd.js';
import type { ConvAlgorithm } from './tiling.js';
import { featureSizes, VGG19, type ConvLayer } from './vgg19.js';

/** Whether layer `index` runs as Winograd under `algorithm`: every 3x3 layer whose input channels come in fours. */
export function isWinogradLayer(index: number, algorithm: ConvAlgorithm): boolean {
  const layer = VGG19[index];
  return algorithm === 'winograd' && layer.kind === 'conv' && layer.inChannels % 4 === 0;
}

export interface WinogradBand {
  /** First tile (row-major over ceil(W/2) x ceil(H/2) tiles). */
  tileStart: number;
  tiles: number;
}

/** 2x2 output tiles covering a width x height feature map (the last row and column may hang over). */
export function winogradTiles(width: number, height: number): number {
  return Math.ceil(width / 2) * Math.ceil(height / 2);
}

/** Multiply-add FLOPs of a Winograd product over `tiles` tiles: 16 positions x C_in x C_out each. */
export function winogradFlops(cin: number, cout: number, tiles: number): number {
  return 2 * WINOGRAD_POSITIONS * tiles * cin * cout;
}

/** Bytes one tile takes in V or M: 16 positions x the wider side's channels, f32. */
const tileBytes = (layer: ConvLayer) => WINOGRAD_POSITIONS * Math.max(layer.inChannels, layer.outChannels) * 4;

/**
 * Bytes of each of the two scratch buffers (V and M) for feature maps of `width` x `height`, layers [0, depth):
 * what the largest Winograd layer needs, capped at the largest activation of these maps (conv1_x's, 64 channels at
 * full size) so the scratch never costs more than two activations; a layer that needs more runs in bands. Never
 * below one tile of the widest layer. 0 when no layer uses Winograd.
 */
export function winogradScratchBytes(width: number, height: number, depth: number, algorithm: ConvAlgorithm): number {
  const sizes = featureSizes(width, height, depth);
  const largestActivation = Math.max(...sizes.map((s) => s.width * s.height * s.channels * 4));
  let needed = 0;
  let oneTile = 0;
  for (let i = 0; i < depth; i++) {
    if (!isWinogradLayer(i, algorithm)) continue;
    const layer = VGG19[i] as ConvLayer;
    const s = sizes[i];
    needed = Math.max(needed, winogradTiles(s.width, s.height) * tileBytes(layer));
    oneTile = Math.max(oneTile, tileBytes(layer));
  }
  return needed === 0 ? 0 : Math.min(needed, Math.max(largestActivation, oneTile));
}

/** The bands of a Winograd layer at its feature size, each fitting `scratchBytes`. */
export function winogradBands(layer: ConvLayer, width: number, height: number, scratchBytes: number): WinogradBand[] {
  const tiles = winogradTiles(width, height);
  const perBand = Math.floor(scratchBytes / tileBytes(layer));
  if (perBand < 1) throw new Error(`Winograd scratch of ${scratchBytes} bytes holds no tile of ${layer.name}`);
  const count = Math.ceil(tiles / perBand);
  // Even bands: the last one is not a sliver.
  const size = Math.ceil(tiles / count);
  const bands: WinogradBand[] = [];
  for (let start = 0; start < tiles; start += size) bands.push({ tileStart: start, tiles: Math.min(size, tiles - start) });
  return bands;
}
