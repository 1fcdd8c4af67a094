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

export const MiB = 1024 * 1024;
