/**
 * A small structural checker for JSON values whose TypeScript type is inferred from it (`Infer<typeof check>`), so
 * a type and its runtime check can be kept equal at compile time (bench/report.ts does this for BenchReport: the
 * report `npm run bench --json` prints and the one the browser bench page downloads are checked by the same code).
 *
 * Objects reject keys the schema does not name, numbers must be finite (JSON has no NaN: JSON.stringify writes it
 * as null), and every problem is reported with its path (`sizes[0].ours.ms: expected a finite number, got null`).
 */

export interface Check<T> {
  /** Appends to `problems` what is wrong with `value` at `path`. */
  readonly check: (value: unknown, path: string, problems: string[]) => void;
  /** Set by `optional`: the key may be missing from its object. */
  readonly optional?: true;
  /** Phantom: the checked type (never set). */
  readonly __type?: T;
}

export type Infer<C> = C extends Check<infer T> ? T : never;

const describe = (v: unknown) =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'string'
        ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)
        : typeof v === 'object'
          ? 'an object'
          : typeof v === 'number' || typeof v === 'boolean'
            ? String(v)
            : typeof v;

function leaf<T>(what: string, ok: (v: unknown) => boolean): Check<T> {
  return {
    check: (v, path, problems) => {
      if (!ok(v)) problems.push(`${path}: expected ${what}, got ${describe(v)}`);
    },
  };
}

export const number: Check<number> = leaf('a finite number', (v) => typeof v === 'number' && Number.isFinite(v));
export const string: Check<string> = leaf('a string', (v) => typeof v === 'string');
export const boolean: Check<boolean> = leaf('a boolean', (v) => typeof v === 'boolean');

export function literal<const L extends readonly (string | number | boolean)[]>(...values: L): Check<L[number]> {
  return leaf(values.map((v) => JSON.stringify(v)).join(' or '), (v) => values.includes(v as L[number]));
}

export function nullable<T>(inner: Check<T>): Check<T | null> {
  return { check: (v, path, problems) => (v === null ? undefined : inner.check(v, path, problems)) };
}

/** An object key that may be missing (`key?: T`). */
export function optional<T>(inner: Check<T>): Check<T | undefined> & { readonly optional: true } {
  return { optional: true, check: (v, path, problems) => (v === undefined ? undefined : inner.check(v, path, problems)) };
}

export function array<T>(item: Check<T>): Check<T[]> {
  return {
    check: (v, path, problems) => {
      if (!Array.isArray(v)) return void problems.push(`${path}: expected an array, got ${describe(v)}`);
      v.forEach((x, i) => item.check(x, `${path}[${i}]`, problems));
    },
  };
}

export function tuple<A, B>(a: Check<A>, b: Check<B>): Check<readonly [A, B]> {
  return {
    check: (v, path, problems) => {
      if (!Array.isArray(v) || v.length !== 2) return void problems.push(`${path}: expected a pair, got ${describe(v)}`);
      a.check(v[0], `${path}[0]`, problems);
      b.check(v[1], `${path}[1]`, problems);
    },
  };
}

export function record<T>(value: Check<T>): Check<Record<string, T>> {
  return {
    check: (v, path, problems) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return void problems.push(`${path}: expected an object, got ${describe(v)}`);
      for (const [k, x] of Object.entries(v)) value.check(x, `${path}.${k}`, problems);
    },
  };
}

type Shape = Record<string, Check<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { readonly optional: true } ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ObjectOf<S extends Shape> = Simplify<{ [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> }>;

export function object<S extends Shape>(shape: S): Check<ObjectOf<S>> {
  return {
    check: (v, path, problems) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return void problems.push(`${path}: expected an object, got ${describe(v)}`);
      const o = v as Record<string, unknown>;
      for (const [k, c] of Object.entries(shape)) {
        if (!(k in o) && !c.optional) problems.push(`${path}.${k}: missing`);
        else c.check(o[k], `${path}.${k}`, problems);
      }
      for (const k of Object.keys(o)) if (!(k in shape)) problems.push(`${path}.${k}: not in the schema`);
    },
  };
}

/** One of the alternatives; when none fits, the problems of the closest one (fewest problems) are reported. */
export function union<A, B>(a: Check<A>, b: Check<B>): Check<A | B> {
  return {
    check: (v, path, problems) => {
      const found = [a, b].map((c) => {
        const p: string[] = [];
        c.check(v, path, p);
        return p;
      });
      if (found.some((p) => p.length === 0)) return;
      problems.push(...found.reduce((x, y) => (y.length < x.length ? y : x)));
    },
  };
}

/** Exactly equal types (readonly and optional modifiers included): `true` or a compile error where used as `const x: Equal<A, B> = true`. */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
