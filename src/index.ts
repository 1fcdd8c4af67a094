/// <reference types="@webgpu/types" preserve="true" />
/**
 * The package root (`import { stylize } from 'style-transfer'`): the engine's API for the browser and Node alike
 * (no Node imports here; Node's GPU and files are in `style-transfer/node`). A run: a GpuRuntime on a GPUDevice,
 * the weights (loadWeights from a URL, or decodeWeightsFile from bytes), RGBA images, resolveOptions, stylize.
 */
export { openBrowserGpu, openGpu, GpuUnavailableError, type GpuContext, type OpenGpuOptions } from './gpu/device.js';
export { GpuRuntime, GpuDeviceLostError } from './gpu/runtime.js';
export type { RgbaImage } from './io/rgbaImage.js';
export { ImageInputError } from './io/rgbaImage.js';
export { lossDepth } from './net/loss.js';
export {
  DEFAULT_LOSS,
  OptionError,
  PRESETS,
  PRESET_NAMES,
  resolveOptions,
  scaleSizes,
  STYLIZE_DEFAULTS,
  type OptionName,
  type OptimizerName,
  type PresetName,
  type StylizeOptions,
  type StylizeOptionsInput,
  type WeightStorage,
} from './net/options.js';
export { NonFiniteLossError, stylize, type IterationRecord, type StylizeRequest, type StylizeResult } from './net/stylize.js';
export { VGG19 } from './net/vgg19.js';
export type { WeightTensors } from './net/weights.js';
export { SafetensorsError } from './net/safetensors.js';
export {
  convLayersForDepth,
  decodeWeightsFile,
  WeightsContentError,
  WeightsConventionError,
  WEIGHTS_PRECISIONS,
  weightsFileName,
  type WeightsPrecision,
} from './net/weightsFormat.js';
export { loadWeights, WeightsLoadError, type WeightsProgress, type WeightsRequest } from './ui/weights-loader.js';
