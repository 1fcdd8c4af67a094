/**
 * The events <style-transfer> dispatches: names, detail types, and the one helper that sends them (bubbling and
 * composed, so listeners outside a shadow root hear them too).
 */

export const PROGRESS_EVENT = 'style-transfer-progress';
export const COMPLETE_EVENT = 'style-transfer-complete';
export const ERROR_EVENT = 'style-transfer-error';
export const PHASE_EVENT = 'style-transfer-phase';

/**
 * What a run is doing, from start() on: 'loading-weights' (opening the GPU, fetching the weights and the images),
 * 'compiling' (the network's GPU programs and buffers), 'style-targets' (the content and style targets),
 * 'optimizing' (the iterations), 'stopping' (stop() was called; the current iteration finishes).
 */
export type StyleTransferPhase = 'loading-weights' | 'compiling' | 'style-targets' | 'optimizing' | 'stopping';

/** Each time the run enters a phase, in order. */
export interface StyleTransferPhaseDetail {
  phase: StyleTransferPhase;
  /** Milliseconds since start() (or continue()) was called. */
  elapsedMs: number;
}

/** One per iteration, in order; losses as the engine computes them (finite, or the run fails). */
export interface StyleTransferProgressDetail {
  /** 1-based over the whole run. */
  iteration: number;
  content: number;
  style: number;
  /**
   * The style loss per style image, in the order of the styles (`styles`, or the one `styleSrc`): with style masks
   * each style's own masked terms, summed; without masks one value, `style`. They add up to `style`.
   */
  styles: number[];
  tv: number;
  total: number;
  /** Milliseconds since start() (or continue()) was called. */
  elapsedMs: number;
  /**
   * Estimated milliseconds until the last iteration is done: the iterations left times the mean time of the
   * latest ones (up to 10, the first one left out once there are others: it includes first-use compilation).
   */
  etaMs: number;
}

/** Once per start(), after the last progress event; `stopped` when stop() ended the run early. */
export interface StyleTransferCompleteDetail {
  /** Iterations actually run. */
  iterations: number;
  /** Wall time of the optimisation in milliseconds (after the weights and images were loaded). */
  ms: number;
  stopped: boolean;
  /**
   * How the last scale was evaluated: [columns, rows] of its tiles, [1, 1] when whole (a size past `max-memory`
   * runs in tiles, exactly).
   */
  tiles: [number, number];
}

/** Instead of complete when a run cannot start or fails; `message` is the sentence also shown in the element. */
export interface StyleTransferErrorDetail {
  message: string;
}

export type StyleTransferProgressEvent = CustomEvent<StyleTransferProgressDetail>;
export type StyleTransferCompleteEvent = CustomEvent<StyleTransferCompleteDetail>;
export type StyleTransferErrorEvent = CustomEvent<StyleTransferErrorDetail>;
export type StyleTransferPhaseEvent = CustomEvent<StyleTransferPhaseDetail>;

export interface StyleTransferEventMap {
  [PROGRESS_EVENT]: StyleTransferProgressEvent;
  [COMPLETE_EVENT]: StyleTransferCompleteEvent;
  [ERROR_EVENT]: StyleTransferErrorEvent;
  [PHASE_EVENT]: StyleTransferPhaseEvent;
}

declare global {
  interface HTMLElementEventMap extends StyleTransferEventMap {}
}

export function emit<K extends keyof StyleTransferEventMap>(target: EventTarget, type: K, detail: StyleTransferEventMap[K]['detail']): void {
  target.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}
