/** Small statistics helpers for the benchmark. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Per-index median of several equally long series (e.g. per-dispatch times over repetitions). */
export function medianPerIndex(series: readonly (readonly number[])[]): number[] {
  if (series.length === 0) return [];
  return series[0].map((_, i) => median(series.map((s) => s[i])));
}

/** Per-index minimum of several equally long series. */
export function minPerIndex(series: readonly (readonly number[])[]): number[] {
  if (series.length === 0) return [];
  return series[0].map((_, i) => Math.min(...series.map((s) => s[i])));
}

/** How many timed repetitions a measurement gets: up to `reps`, fewer when one run is long (at least 1). */
export interface RepeatPolicy {
  reps: number;
  /** Stop adding repetitions once this much wall time has gone into the measurement. */
  budgetMs: number;
}

/** Runs `once` (returning ms) up to policy.reps times within policy.budgetMs (always at least once). */
export async function repeat(policy: RepeatPolicy, once: () => Promise<number>): Promise<number[]> {
  const runs: number[] = [];
  let spent = 0;
  while (runs.length < policy.reps) {
    const ms = await once();
    runs.push(ms);
    spent += ms;
    if (spent + median(runs) > policy.budgetMs) break;
  }
  return runs;
}

/**
 * Side by side: each round runs `a`, then `b` (when given), up to policy.reps rounds, stopping once the rounds so
 * far plus one more average round would pass policy.budgetMs (at least one round runs). Slow drifts in the
 * machine's speed (other load, clocks) then reach both sides alike instead of whichever was measured later.
 */
export async function alternate(policy: RepeatPolicy, a: () => Promise<number>, b?: () => Promise<number>): Promise<{ a: number[]; b: number[] }> {
  const runsA: number[] = [];
  const runsB: number[] = [];
  let spent = 0;
  while (runsA.length < policy.reps) {
    const ms = await a();
    runsA.push(ms);
    spent += ms;
    if (b) {
      const other = await b();
      runsB.push(other);
      spent += other;
    }
    if (spent + spent / runsA.length > policy.budgetMs) break;
  }
  return { a: runsA, b: runsB };
}

export const MiB = 1024 * 1024;
