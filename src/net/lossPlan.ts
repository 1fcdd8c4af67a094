/**
 * The loss and gradient of one image size, evaluated whole (GatysLoss) or in tiles (TiledGatysLoss), as
 * memory.ts planRun chose: both hold x, its gradient and the loss values in the same layouts and record one
 * evaluation as one pass list, so the optimisers and the run loop take either.
 */
import { GatysLoss, type RegionLossConfig } from './loss.js';
import type { EvaluationPlan } from './memory.js';
import type { Vgg19Net } from './network.js';
import { StyleMaskError } from './styleMask.js';
import { TiledGatysLoss } from './tiledLoss.js';

export type LossPlan = GatysLoss | TiledGatysLoss;

export function createLossPlan(net: Vgg19Net, width: number, height: number, config: RegionLossConfig, evaluation: EvaluationPlan): LossPlan {
  if (evaluation.tiled && config.styleRegionWeights) {
    throw new StyleMaskError(
      `A ${width}x${height} run needs tiled evaluation to fit the GPU memory, and style masks are not supported in tiles: use a smaller size or a larger memory budget.`,
    );
  }
  return evaluation.tiled ? new TiledGatysLoss(net, width, height, config, { core: evaluation.core }) : new GatysLoss(net, width, height, config);
}
