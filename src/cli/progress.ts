/**
 * Progress output for the stylise command: a redrawn bar on a terminal, plain lines otherwise (logs, CI).
 */
import type { IterationRecord } from '../net/stylize.js';

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(3) : v.toFixed(2));

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

export class ProgressReporter {
  private readonly started = performance.now();
  private lastLength = 0;

  constructor(
    private readonly total: number,
    private readonly write: (s: string) => void,
    private readonly tty: boolean,
  ) {}

  update(latest: IterationRecord): void {
    const elapsed = (performance.now() - this.started) / 1000;
    const rate = latest.iteration / Math.max(elapsed, 1e-9);
    const eta = (this.total - latest.iteration) / rate;
    const losses = `content ${fmt(latest.content)}  style ${fmt(latest.style)}  tv ${fmt(latest.tv)}  total ${fmt(latest.total)}`;
    const speed = `${rate.toFixed(2)} it/s  ETA ${clock(eta)}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((width * latest.iteration) / Math.max(1, this.total));
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      const line = `${bar} ${latest.iteration}/${this.total}  ${losses}  ${speed}`;
      this.write(`\r${line}${' '.repeat(Math.max(0, this.lastLength - line.length))}`);
      this.lastLength = line.length;
    } else {
      this.write(`iteration ${latest.iteration}/${this.total}  ${losses}  ${speed}\n`);
    }
  }

  /** Ends the bar's line on a terminal. */
  finish(): void {
    if (this.tty && this.lastLength > 0) this.write('\n');
    this.lastLength = 0;
  }
}
