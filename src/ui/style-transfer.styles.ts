/**
 * Styles of <style-transfer>. Everything a page may want to change is a CSS custom property (--style-transfer-*) or
 * reachable through a part (see the class's @csspart list); the host's size is set from outside like an <img>'s.
 */
import { css } from 'lit';

export const styleTransferStyles = css`
  :host {
    display: inline-block;
    position: relative;
    width: 256px;
    max-width: 100%;
    font: var(--style-transfer-font, inherit);
    color: var(--style-transfer-color, inherit);
  }

  :host([hidden]) {
    display: none;
  }

  .base {
    position: relative;
    display: flex;
    flex-direction: column;
    gap: 0.5em;
  }

  canvas {
    display: block;
    width: 100%;
    height: auto;
    background: var(--style-transfer-background, #222);
    border-radius: var(--style-transfer-radius, 6px);
    image-rendering: var(--style-transfer-image-rendering, auto);
  }

  .overlay {
    position: absolute;
    inset: 0 0 auto 0;
    margin: 0.5em;
    padding: 0.5em 0.75em;
    border-radius: var(--style-transfer-radius, 6px);
    font-size: 0.875em;
    line-height: 1.3;
  }

  .status {
    background: rgb(0 0 0 / 0.75);
    color: #fff;
  }

  .status.idle {
    display: none;
  }

  .status progress {
    display: block;
    width: 100%;
    margin-top: 0.35em;
    accent-color: var(--style-transfer-accent, #4338ca);
  }

  .message {
    background: var(--style-transfer-error-background, #8b0000);
    color: var(--style-transfer-error-color, #fff);
    overflow-wrap: anywhere;
  }

  .controls {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 0.5em;
  }

  .time {
    flex-basis: 100%;
    font-size: 0.875em;
    font-variant-numeric: tabular-nums;
  }

  .time:empty {
    display: none;
  }

  button {
    font: inherit;
    min-width: 5em;
    padding: 0.35em 0.9em;
    border: none;
    border-radius: var(--style-transfer-radius, 6px);
    background: var(--style-transfer-accent, #4338ca);
    color: var(--style-transfer-accent-text, #fff);
    cursor: pointer;
  }

  button:disabled {
    opacity: 0.7;
    cursor: progress;
  }

  button:focus-visible {
    outline: 2px solid var(--style-transfer-accent, #4338ca);
    outline-offset: 2px;
  }

  .controls progress {
    flex: 1;
    min-width: 3em;
    accent-color: var(--style-transfer-accent, #4338ca);
  }

  .counter {
    font-variant-numeric: tabular-nums;
    white-space: nowrap;
  }
`;
