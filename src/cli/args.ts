/**
 * A small typed command-line parser: every option is declared once with its type, default and help text, so
 * parsing, validation messages and --help come from the same table. Errors are UsageError with one sentence.
 */

export class UsageError extends Error {
  override name = 'UsageError';
}

type OptionType = 'string' | 'number' | 'integer' | 'flag' | 'list' | 'numberList' | 'choice';

export interface OptionSpec {
  type: OptionType;
  help: string;
  /** Shown in --help and used when the option is absent. */
  default?: string | number | boolean | string[] | number[];
  /** May be given several times (values collected in order). */
  repeatable?: boolean;
  required?: boolean;
  /** For 'choice'. */
  choices?: readonly string[];
  /** Inclusive lower bound for numbers; `exclusiveMin` makes it strict. */
  min?: number;
  exclusiveMin?: boolean;
  max?: number;
  /** Placeholder in --help, e.g. FILE. */
  value?: string;
  /** One-letter alias, e.g. 'o' for -o. */
  alias?: string;
  /**
   * The engine option this flag sets (a key of StylizeOptions, or 'preset'): the engine validates its value, and an
   * OptionError for that option is reported under this flag's name.
   */
  option?: string;
}

export type OptionTable = Record<string, OptionSpec>;

export type ParsedValue = string | number | boolean | string[] | number[] | undefined;

function parseNumber(name: string, raw: string, spec: OptionSpec): number {
  const value = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got "${raw}".`);
  if (spec.type === 'integer' && !Number.isInteger(value)) throw new UsageError(`--${name} must be a whole number, got "${raw}".`);
  if (spec.min !== undefined && (spec.exclusiveMin ? value <= spec.min : value < spec.min)) {
    throw new UsageError(`--${name} must be ${spec.exclusiveMin ? 'greater than' : 'at least'} ${spec.min}, got ${raw}.`);
  }
  if (spec.max !== undefined && value > spec.max) throw new UsageError(`--${name} must be at most ${spec.max}, got ${raw}.`);
  return value;
}

function convert(name: string, raw: string, spec: OptionSpec): ParsedValue {
  switch (spec.type) {
    case 'string':
      if (raw === '') throw new UsageError(`--${name} needs a value.`);
      return raw;
    case 'number':
    case 'integer':
      return parseNumber(name, raw, spec);
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'numberList':
      return raw.split(',').map((s) => parseNumber(name, s, { ...spec, type: 'number' }));
    case 'choice':
      if (!spec.choices?.includes(raw)) throw new UsageError(`--${name} must be one of ${spec.choices?.join(', ')}, got "${raw}".`);
      return raw;
    case 'flag':
      throw new Error('unreachable');
  }
}

export interface ParsedArgs {
  /** Values keyed by option name, defaults filled in. */
  options: Record<string, ParsedValue>;
  /** The options given on the command line (the rest hold their defaults). */
  given: ReadonlySet<string>;
  positional: string[];
}

/**
 * Parses `argv` against `table`. Accepts `--name value`, `--name=value`, `-a value` and `--flag`/`--no-flag`.
 * Required options may be missing when a `help` flag is given.
 */
export function parseArgs(argv: readonly string[], table: OptionTable): ParsedArgs {
  const options: Record<string, ParsedValue> = {};
  const given = new Set<string>();
  const positional: string[] = [];
  const aliases = new Map(
    Object.entries(table)
      .filter(([, s]) => s.alias)
      .map(([n, s]) => [s.alias!, n]),
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else {
      const alias = aliases.get(arg.slice(1));
      if (!alias) throw new UsageError(`Unknown option ${arg}. Run with --help to see the options.`);
      name = alias;
    }
    const spec = table[name];
    if (!spec && name.startsWith('no-') && table[name.slice(3)]?.type === 'flag') {
      options[name.slice(3)] = false;
      given.add(name.slice(3));
      continue;
    }
    if (!spec) throw new UsageError(`Unknown option --${name}. Run with --help to see the options.`);
    if (spec.type === 'flag') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value.`);
      options[name] = true;
      given.add(name);
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value.`);
    const value = convert(name, raw, spec);
    if (spec.repeatable) {
      const list = (options[name] as unknown[] | undefined) ?? [];
      options[name] = [...list, value] as string[];
    } else {
      if (options[name] !== undefined) throw new UsageError(`--${name} is given twice.`);
      options[name] = value;
    }
    given.add(name);
  }
  for (const [name, spec] of Object.entries(table)) {
    if (options[name] === undefined) {
      if (spec.required && options.help !== true) throw new UsageError(`--${name} is required.`);
      options[name] = spec.default;
    }
  }
  return { options, given, positional };
}

/** The --help text: one line per option with its value placeholder and default. */
export function formatHelp(usage: string, table: OptionTable, footer = ''): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const placeholder = spec.type === 'flag' ? '' : ` ${spec.value ?? (spec.type === 'choice' ? spec.choices!.join('|') : spec.type === 'string' ? 'VALUE' : 'N')}`;
    const flag = `${spec.alias ? `-${spec.alias}, ` : ''}--${name}${placeholder}`;
    const def = spec.required ? ' (required)' : spec.default === undefined ? '' : ` (default: ${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)})`;
    return { flag, text: spec.help + (spec.repeatable ? ' May be repeated.' : '') + def };
  });
  const width = Math.min(36, Math.max(...rows.map((r) => r.flag.length)) + 2);
  const lines = rows.map((r) => `  ${r.flag.padEnd(width)}${r.flag.length >= width ? '\n  ' + ' '.repeat(width) : ''}${r.text}`);
  return `${usage}\n\nOptions:\n${lines.join('\n')}\n${footer}`;
}
