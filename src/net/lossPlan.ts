/**
 * The loss and gradient of one image size, evaluated whole (GatysLoss) or in tiles (TiledGatysLoss), as
 * memory.ts planRun chose: both hold x, its gradient and the loss values in the same layouts and record one
 * evaluation as one pass list, so the optimisers and the run loop take either.
 */
import { GatysLoss, type LossConfig } from './loss.js';
import type { EvaluationPlan } from './memory.js';
import type { Vgg19Net } from './network.js';
import { TiledGatysLoss } from './tiledLoss.js';

export type LossPlan = GatysLoss | TiledGatysLoss;

export function createLossPlan(net: Vgg19Net, width: number, height: number, config: LossConfig, evaluation: EvaluationPlan): LossPlan {
  return evaluation.tiled ? new TiledGatysLoss(net, width, height, config, { core: evaluation.core }) : new GatysLoss(net, width, height, config);
}
