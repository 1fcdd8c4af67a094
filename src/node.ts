/**
 * `style-transfer/node`: what only Node has: a GpuRuntime on Dawn (the `webgpu` package), the weights from disk
 * (a directory written by `npm run weights` or one .safetensors file), and image files (PNG, JPEG).
 */
export { openNodeGpu, openNodeRuntime } from './gpu/nodeDevice.js';
export { loadWeights as loadWeightsFile, readWeightsFile, type LoadedWeightsFile } from './io/weightsFiles.js';
export { encodePng, readImageFile, writePngFile } from './io/image.js';
export { resizeToLongerSide } from './io/rgbaImage.js';
