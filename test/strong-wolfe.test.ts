/**
 * The strong-Wolfe line search against torch.optim.lbfgs._strong_wolfe in float64 (test/fixtures/
 * make_strong_wolfe.py): the same step lengths tried in the same order, the same point returned.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cubicInterpolate, strongWolfe } from '../src/optim/strongWolfe.js';
import { repoRoot } from './helpers/env.js';

interface Case {
  function: 'rosenbrock' | 'quadratic' | 'wavy' | 'linear';
  x0: number[];
  d: number[];
  t0: number;
  f0: number;
  gtd0: number;
  dNorm: number;
  trials: number[];
  t: number;
  f: number;
  gtd: number;
  evaluations: number;
}

/** Value and gradient of the fixture objectives (analytic, float64). */
const OBJECTIVES: Record<Case['function'], (x: number[]) => [number, number[]]> = {
  rosenbrock: ([a, b]) => [(1 - a) ** 2 + 100 * (b - a * a) ** 2, [-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)]],
  quadratic: ([a, b, c]) => [0.5 * (a * a + 10 * b * b + 100 * c * c), [a, 10 * b, 100 * c]],
  wavy: (x) => [x.reduce((s, v) => s + Math.sin(3 * v) + 0.1 * v * v, 0), x.map((v) => 3 * Math.cos(3 * v) + 0.2 * v)],
  linear: ([a, b]) => [2 * a - 3 * b, [2, -3]],
};

const cases = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/strong_wolfe.json'), 'utf8')) as Case[];

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

describe('strongWolfe', () => {
  it.each(cases.map((c) => [`${c.function} from [${c.x0}] with t0 = ${c.t0}`, c] as const))('%s tries the steps torch tries', async (_, c) => {
    const tried: number[] = [];
    const result = await strongWolfe(
      async (t) => {
        tried.push(t);
        const [f, g] = OBJECTIVES[c.function](c.x0.map((v, i) => v + t * c.d[i]));
        return { f, gtd: g.reduce((s, gi, i) => s + gi * c.d[i], 0) };
      },
      { f0: c.f0, gtd0: c.gtd0, t0: c.t0, dNorm: c.dNorm },
    );
    expect(tried.length).toBe(c.trials.length);
    tried.forEach((t, i) => expect(close(t, c.trials[i]), `trial ${i}: ${t} vs ${c.trials[i]}`).toBe(true));
    expect(close(result.t, c.t)).toBe(true);
    expect(close(result.f, c.f)).toBe(true);
    expect(result.evaluations).toBe(c.evaluations);
    expect(result.isLastEvaluated).toBe(result.t === tried[tried.length - 1]);
  });

  it('the cases cover zooming, extrapolating, the first step accepted and running out of evaluations', () => {
    expect(cases.some((c) => c.trials.length === 1)).toBe(true);
    expect(cases.some((c) => c.trials[1] > c.trials[0])).toBe(true);
    expect(cases.some((c) => c.trials[1] < c.trials[0])).toBe(true);
    expect(cases.some((c) => c.evaluations === 26)).toBe(true);
  });

  it('cubic interpolation finds the minimum of a cubic and clamps to its bounds', () => {
    // phi(t) = (t - 2)^2 + 1: the cubic through two points with exact slopes has its minimum at 2.
    const phi = (t: number) => (t - 2) ** 2 + 1;
    const dphi = (t: number) => 2 * (t - 2);
    expect(cubicInterpolate(0, phi(0), dphi(0), 3, phi(3), dphi(3))).toBeCloseTo(2, 12);
    expect(cubicInterpolate(0, phi(0), dphi(0), 3, phi(3), dphi(3), [2.5, 4])).toBe(2.5);
  });
});
