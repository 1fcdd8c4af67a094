/**
 * Reactive controller for the weights download: loads the layers a run needs through weights-loader.ts (shared,
 * cached per layer) and re-renders its host as bytes arrive, so the element can show a progress indicator.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { WeightTensors } from '../../net/weights.js';
import { loadWeights, type WeightsProgress, type WeightsRequest } from '../weights-loader.js';

export class WeightsController implements ReactiveController {
  /** Whether a load is in progress. */
  loading = false;
  /** The latest progress of the current load. */
  progress: WeightsProgress | undefined;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {}

  /** The conv layers `request.layers` of the `request.precision` file under `base`. */
  async load(base: string, request: WeightsRequest): Promise<WeightTensors> {
    this.loading = true;
    this.progress = undefined;
    this.host.requestUpdate();
    try {
      return await loadWeights(base, request, (p) => {
        this.progress = p;
        this.host.requestUpdate();
      });
    } finally {
      this.loading = false;
      this.host.requestUpdate();
    }
  }
}
