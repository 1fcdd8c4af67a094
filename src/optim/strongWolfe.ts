/**
 * Strong-Wolfe line search with the semantics of torch.optim.LBFGS(line_search_fn='strong_wolfe'): the same
 * bracketing phase (cubic interpolation extrapolating up to 10x), the same zoom phase (cubic interpolation with the
 * 10 % safeguard against the bracket's ends), c1 = 1e-4, c2 = 0.9, at most 25 evaluations, and the same choice of
 * the returned point (the bracket's lowest). Written from the algorithm (Nocedal & Wright, Algorithms 3.5/3.6, as
 * torch arranges them), in float64 on the CPU: each trial needs a fresh loss and directional derivative from the GPU,
 * so this is the one part of L-BFGS that reads back per evaluation (an opt-in, like torch's).
 *
 * The objective along the line is phi(t) = f(x0 + t d); `evaluate(t)` returns phi(t) and phi'(t) = g(x0 + t d).d.
 */

export interface LinePoint {
  t: number;
  f: number;
  /** Directional derivative g.d at t. */
  gtd: number;
}

export interface StrongWolfeOptions {
  c1?: number;
  c2?: number;
  /** Stop zooming once |bracket| * max|d| falls below this (torch's tolerance_change). */
  toleranceChange?: number;
  /** Most evaluations (torch's max_ls). */
  maxEvaluations?: number;
}

export interface StrongWolfeResult extends LinePoint {
  evaluations: number;
  /** Whether the returned point is the last one evaluated (otherwise the caller's buffers hold another point). */
  isLastEvaluated: boolean;
}

/** Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to `bounds` (default: between x1 and x2). */
export function cubicInterpolate(x1: number, f1: number, g1: number, x2: number, f2: number, g2: number, bounds?: [number, number]): number {
  const [lo, hi] = bounds ?? (x1 <= x2 ? [x1, x2] : [x2, x1]);
  const d1 = g1 + g2 - (3 * (f1 - f2)) / (x1 - x2);
  const d2Square = d1 * d1 - g1 * g2;
  if (d2Square < 0) return (lo + hi) / 2;
  const d2 = Math.sqrt(d2Square);
  const minimum = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)) : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
  return Math.min(Math.max(minimum, lo), hi);
}

/**
 * Searches phi from `start` (phi(0) = f0, phi'(0) = gtd0 < 0) with first trial step t0; `dNorm` = max |d|.
 */
export async function strongWolfe(
  evaluate: (t: number) => Promise<{ f: number; gtd: number }>,
  start: { f0: number; gtd0: number; t0: number; dNorm: number },
  options: StrongWolfeOptions = {},
): Promise<StrongWolfeResult> {
  const c1 = options.c1 ?? 1e-4;
  const c2 = options.c2 ?? 0.9;
  const toleranceChange = options.toleranceChange ?? 1e-9;
  const maxEvaluations = options.maxEvaluations ?? 25;
  const { f0, gtd0, dNorm } = start;
  const armijo = (p: LinePoint) => p.f > f0 + c1 * p.t * gtd0;
  const curvature = (p: LinePoint) => Math.abs(p.gtd) <= -c2 * gtd0;

  let evaluations = 0;
  let last: LinePoint;
  const probe = async (t: number): Promise<LinePoint> => {
    const { f, gtd } = await evaluate(t);
    evaluations++;
    last = { t, f, gtd };
    return last;
  };
  const finish = (p: LinePoint): StrongWolfeResult => ({ ...p, evaluations, isLastEvaluated: p.t === last.t && p.f === last.f });

  // Bracketing: grow the step until the interval [previous, current] must contain an acceptable point.
  let previous: LinePoint = { t: 0, f: f0, gtd: gtd0 };
  let current = await probe(start.t0);
  let steps = 0;
  let bracket: [LinePoint, LinePoint] | undefined;
  while (steps < maxEvaluations) {
    if (armijo(current) || (steps > 1 && current.f >= previous.f)) {
      bracket = [previous, current];
      break;
    }
    if (curvature(current)) return finish(current);
    if (current.gtd >= 0) {
      bracket = [previous, current];
      break;
    }
    const minStep = current.t + 0.01 * (current.t - previous.t);
    const maxStep = current.t * 10;
    const t = cubicInterpolate(previous.t, previous.f, previous.gtd, current.t, current.f, current.gtd, [minStep, maxStep]);
    previous = current;
    current = await probe(t);
    steps++;
  }
  if (!bracket) {
    // Out of evaluations while still extrapolating: torch then returns the lower of phi(0) and the last point.
    return finish(current.f < f0 ? current : { t: 0, f: f0, gtd: gtd0 });
  }

  // Zoom: shrink the bracket, keeping `low` the end with the lower value, until a point meets both conditions.
  let low = bracket[0].f <= bracket[1].f ? 0 : 1;
  let insufficientProgress = false;
  while (steps < maxEvaluations) {
    const [a, b] = bracket;
    if (Math.abs(b.t - a.t) * dNorm < toleranceChange) break;
    let t = cubicInterpolate(a.t, a.f, a.gtd, b.t, b.f, b.gtd);
    const top = Math.max(a.t, b.t);
    const bottom = Math.min(a.t, b.t);
    const eps = 0.1 * (top - bottom);
    if (Math.min(top - t, t - bottom) < eps) {
      // Too close to an end: move 10 % inside, unless the last try was fine.
      if (insufficientProgress || t >= top || t <= bottom) {
        t = Math.abs(t - top) < Math.abs(t - bottom) ? top - eps : bottom + eps;
        insufficientProgress = false;
      } else {
        insufficientProgress = true;
      }
    } else {
      insufficientProgress = false;
    }
    const p = await probe(t);
    steps++;
    const high = 1 - low;
    if (armijo(p) || p.f >= bracket[low].f) {
      bracket[high] = p;
      low = bracket[0].f <= bracket[1].f ? 0 : 1;
    } else {
      if (curvature(p)) {
        bracket[low] = p;
        break;
      }
      if (p.gtd * (bracket[high].t - bracket[low].t) >= 0) bracket[high] = bracket[low];
      bracket[low] = p;
    }
  }
  return finish(bracket[low]);
}
