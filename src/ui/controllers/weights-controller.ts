/**
 * Reactive controller for the weights download: loads through weights-loader.ts (shared, cached) and re-renders
 * its host as bytes arrive, so the element can show a progress indicator.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { WeightTensors } from '../../net/weights.js';
import { loadWeights, type WeightsProgress } from '../weights-loader.js';

export class WeightsController implements ReactiveController {
  /** Whether a load is in progress. */
  loading = false;
  /** The latest progress of the current load. */
  progress: WeightsProgress | undefined;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {}

  async load(base: string): Promise<WeightTensors> {
    this.loading = true;
    this.progress = undefined;
    this.host.requestUpdate();
    try {
      return await loadWeights(base, (p) => {
        this.progress = p;
        this.host.requestUpdate();
      });
    } finally {
      this.loading = false;
      this.host.requestUpdate();
    }
  }
}
