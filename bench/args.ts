/**
 * Options of `npm run bench` and of the browser bench page (demo/bench.ts turns its URL parameters into the same
 * arguments). No Node imports: the page's module graph includes this file.
 */
import { PARALLELISM_ENV, parallelismFromEnvironment, type Parallelism } from '../src/gpu/parallelism.js';
import { CONV_ALGORITHMS, type ConvAlgorithm, type ConvBlock } from '../src/net/tiling.js';

export interface BenchOptions {
  json: boolean;
  out?: string;
  sizes: number[];
  /** Size of the per-layer table (default: the largest of `sizes`). */
  layerSize: number;
  layers: boolean;
  peer: boolean;
  optim: boolean;
  /** f16 weight storage measured against f32 at the per-layer size (where the adapter has shader-f16). */
  f16: boolean;
  reps: number;
  /** Timed runs of the plan behind the per-layer table (its fastest times are compared with the matmul peak). */
  layerReps: number;
  /** Seconds one measurement may take before it stops adding repetitions. */
  budgetSeconds: number;
  lbfgsHistory: number;
  /** Sizes (M = N = K) of the peak matmul, or 'auto'. */
  matmulSizes: number[] | 'auto';
  weights?: string;
  /** Seeded random weights of VGG-19's shapes instead of the weights files (speed only). */
  randomWeights: boolean;
  /**
   * How timed waits end (ours and tfjs's alike): 'sleep' sleeps through most of the expected time before polling
   * where Dawn's polling would take a core from a CPU adapter (src/gpu/queueWait.ts); 'poll' awaits at once.
   */
  wait: 'sleep' | 'poll';
  /**
   * Overrides the adapter's parallelism (src/gpu/parallelism.ts): the reductions sized for a CPU or a GPU
   * (--parallelism, else $STYLE_TRANSFER_PARALLELISM; unset: the adapter's).
   */
  parallelism?: Parallelism;
  /** Register blocks to sweep at the per-layer size (--conv-blocks); empty: no sweep. */
  convBlocks: ConvBlock[];
  /** Overrides the conv algorithm of the 3x3 layers past the first (src/net/tiling.ts; default: by the adapter). */
  convAlgorithm?: ConvAlgorithm;
  /** --tiled: square sizes evaluated as memory.ts planRun plans them under tiledBudgetMiB (empty: no tiled table). */
  tiledSizes: number[];
  /** --tiled-budget: the GPU memory budget of the tiled table's plans, MiB (default 1024). */
  tiledBudgetMiB: number;
  /**
   * --tiled-compare: the size at which an untiled evaluation is set against the grid planRun would choose first were
   * the size just too large to fit whole (memory.ts tileCores: the least work);
   * default the smallest of tiledSizes, null (no comparison) when neither option is given.
   */
  tiledCompare: number | null;
}

export const BENCH_USAGE = `Usage: npm run bench -- [options]
  (or: node build/bench/index.js [options]; add -s to npm run for clean JSON on stdout: npm run -s bench -- --json)

Benchmarks the engine on this machine's WebGPU adapter (Node + Dawn): per-layer conv GPU times against a matmul
peak, loss+gradient evaluations and optimiser iterations per size, GPU memory, and TensorFlow.js (WebGPU backend)
computing the same loss and gradient on the same adapter.

Options:
  --sizes LIST        Square image sizes, comma-separated (default 64,128,256; 512 where the adapter allows).
  --layer-size N      Size of the per-layer conv table (default: 128 when --sizes has it, the size the per-layer
                      goal is stated at; otherwise the largest of --sizes).
  --layers            Per-layer conv table (default on); --no-layers skips it.
  --no-peer           Skip TensorFlow.js.
  --no-optim          Skip the Adam / L-BFGS iteration timings.
  --no-f16            Skip f16 weight storage (measured at the per-layer size where the adapter has shader-f16:
                      ms, memory, loss and gradient difference against f32).
  --reps N            Timed repetitions per measurement, median reported (default 3).
  --layer-reps N      Timed runs of the loss plan behind the per-layer table (default 5, within twice --budget):
                      its fastest times are set against the matmul peak, the fastest of its own dispatches.
  --budget SECONDS    A measurement stops adding repetitions after this long (default 30; at least one runs).
  --lbfgs-m N         L-BFGS history size for the iteration timing (default 100).
  --matmul-size LIST  M = N = K of the peak matmul, multiples of 32, comma-separated; default auto: 256, then
                      doubling while a dispatch takes under 20 ms (up to 4096); the best size and tile win.
  --weights DIR       VGG-19 weights (default: $STYLE_TRANSFER_WEIGHTS, then weights/).
  --random-weights    Seeded random weights of VGG-19's shapes instead (no files needed): times do not depend on
                      the values, losses do; engine and tfjs get the same ones.
  --wait sleep|poll   How every timed wait ends, the engine's and tfjs's alike (default sleep): on a CPU adapter
                      sleep through most of the expected time before awaiting the queue, because Dawn's Node
                      binding polls on a busy core while a promise is pending; poll: await at once.
  --parallelism cpu|gpu
                      Size the split reductions (Gram pixel splits, loss and L-BFGS partial sums) and make the conv
                      choices (register blocks, algorithm) for a CPU or a GPU adapter instead of the one found
                      (default: $STYLE_TRANSFER_PARALLELISM, else by the adapter), to measure what the
                      choice buys.
  --conv-algorithm direct|winograd
                      Compute the 3x3 layers (all but the first) with the direct register-blocked kernel or as
                      Winograd F(2x2,3x3) instead of the adapter's default (Winograd on a CPU adapter, direct on a
                      GPU), to measure what the choice buys.
  --conv-blocks LIST  Also time the loss plan at the per-layer size once per register block, every layer using it
                      (PxC: P output pixels x C channel groups of 4 per invocation), e.g. 8x4,4x4,4x2,2x2;
                      'default' sweeps 8x4,4x4,8x2,4x2,2x4,2x2,2x1,1x1. Off by default.
  --tiled LIST        Tiled evaluation table, off by default: per square size (comma-separated, e.g. 1024,2048) the
                      evaluation memory.ts planRun chooses under --tiled-budget (untiled where it fits, else the
                      tile grid of least work that does), timed as the other evaluations, with its peak GPU memory (a
                      fresh buffer pool per size) and planRun's estimate. Minutes per size at 1024 px on lavapipe.
  --tiled-budget MIB  GPU memory budget of the --tiled plans, MiB (default 1024).
  --tiled-compare N   At N px (default: the smallest --tiled size), an untiled evaluation against forced tiles
                      (the grid planRun tries first once N does not fit whole: at N x N two halves) on the same network, alternating: both
                      ms, their ratio, and how far loss and gradient differ. N must fit untiled in the adapter's
                      limits (the budget does not apply: both plans are held at once). Runs alone without --tiled.
  --json              Print one JSON object on stdout instead of tables (progress stays on stderr).
  --out FILE          Also write the JSON object to FILE.
  -h, --help          Show this help.`;

const DEFAULT_SWEEP = ['8x4', '4x4', '8x2', '4x2', '2x4', '2x2', '2x1', '1x1'];

export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < 1) throw new BenchUsageError(`${name} needs a whole number >= 1, got ${value ?? 'nothing'}.`);
  return n;
}

/** The environment the parser reads STYLE_TRANSFER_PARALLELISM from (Node: process.env; the browser has none). */
export type BenchEnvironment = Readonly<Record<string, string | undefined>>;

/**
 * `env`: where STYLE_TRANSFER_PARALLELISM, the default of --parallelism, is read (bench/index.ts passes process.env,
 * the bench page nothing, tests their own).
 */
export function parseBenchArgs(argv: readonly string[], env: BenchEnvironment = {}): BenchOptions | 'help' {
  const o: Partial<BenchOptions> & { layers: boolean; peer: boolean; optim: boolean; f16: boolean; json: boolean } = {
    layers: true,
    peer: true,
    optim: true,
    f16: true,
    json: false,
  };
  let layerSize: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '-h':
      case '--help':
        return 'help';
      case '--json':
        o.json = true;
        break;
      case '--out':
        o.out = value();
        if (!o.out) throw new BenchUsageError('--out needs a file name.');
        break;
      case '--sizes': {
        const v = value();
        if (!v) throw new BenchUsageError('--sizes needs a list such as 64,128,256.');
        o.sizes = v
          .split(',')
          .filter((s) => s.trim() !== '')
          .map((s) => positiveInt('--sizes', s.trim()));
        if (o.sizes.length === 0) throw new BenchUsageError('--sizes needs at least one size.');
        break;
      }
      case '--layer-size':
        layerSize = positiveInt('--layer-size', value());
        break;
      case '--layers':
        o.layers = true;
        break;
      case '--no-layers':
        o.layers = false;
        break;
      case '--no-peer':
        o.peer = false;
        break;
      case '--no-optim':
        o.optim = false;
        break;
      case '--no-f16':
        o.f16 = false;
        break;
      case '--reps':
        o.reps = positiveInt('--reps', value());
        break;
      case '--layer-reps':
        o.layerReps = positiveInt('--layer-reps', value());
        break;
      case '--budget': {
        const v = value();
        const s = Number(v);
        if (!(s > 0)) throw new BenchUsageError(`--budget needs a number of seconds > 0, got ${v ?? 'nothing'}.`);
        o.budgetSeconds = s;
        break;
      }
      case '--lbfgs-m':
        o.lbfgsHistory = positiveInt('--lbfgs-m', value());
        break;
      case '--matmul-size': {
        const v = value();
        if (v === 'auto') {
          o.matmulSizes = 'auto';
          break;
        }
        if (!v) throw new BenchUsageError('--matmul-size needs sizes such as 512,1024 (or auto).');
        o.matmulSizes = v.split(',').map((s) => {
          const n = positiveInt('--matmul-size', s.trim());
          if (n % 32 !== 0) throw new BenchUsageError(`--matmul-size sizes must be multiples of 32, got ${n}.`);
          return n;
        });
        break;
      }
      case '--wait': {
        const v = value();
        if (v !== 'sleep' && v !== 'poll') throw new BenchUsageError(`--wait must be sleep or poll, got ${v ?? 'nothing'}.`);
        o.wait = v;
        break;
      }
      case '--parallelism': {
        const v = value();
        if (v !== 'cpu' && v !== 'gpu') throw new BenchUsageError(`--parallelism must be cpu or gpu, got ${v ?? 'nothing'}.`);
        o.parallelism = v;
        break;
      }
      case '--conv-algorithm': {
        const v = value();
        const algorithm = CONV_ALGORITHMS.find((a) => a === v);
        if (!algorithm) throw new BenchUsageError(`--conv-algorithm must be ${CONV_ALGORITHMS.join(' or ')}, got ${v ?? 'nothing'}.`);
        o.convAlgorithm = algorithm;
        break;
      }
      case '--conv-blocks': {
        const v = value();
        if (!v) throw new BenchUsageError('--conv-blocks needs a list such as 8x4,4x2 (or default).');
        o.convBlocks = (v === 'default' ? DEFAULT_SWEEP : v.split(',')).map((b) => {
          const m = /^(\d+)x(1|2|4)$/.exec(b.trim());
          if (!m || !(Number(m[1]) >= 1 && Number(m[1]) <= 16)) throw new BenchUsageError(`--conv-blocks entries are PxC with P in 1..16 and C 1, 2 or 4, got "${b}".`);
          return [Number(m[1]), Number(m[2])] as const;
        });
        break;
      }
      case '--tiled': {
        const v = value();
        if (!v) throw new BenchUsageError('--tiled needs a list of sizes such as 1024,2048.');
        o.tiledSizes = v
          .split(',')
          .filter((s) => s.trim() !== '')
          .map((s) => positiveInt('--tiled', s.trim()));
        if (o.tiledSizes.length === 0) throw new BenchUsageError('--tiled needs at least one size.');
        break;
      }
      case '--tiled-budget':
        o.tiledBudgetMiB = positiveInt('--tiled-budget', value());
        break;
      case '--tiled-compare':
        o.tiledCompare = positiveInt('--tiled-compare', value());
        break;
      case '--random-weights':
        o.randomWeights = true;
        break;
      case '--weights':
        o.weights = value();
        if (!o.weights) throw new BenchUsageError('--weights needs a directory.');
        break;
      default:
        throw new BenchUsageError(`Unknown option "${arg}" (see --help).`);
    }
  }
  if (o.randomWeights && o.weights) throw new BenchUsageError('--random-weights and --weights exclude each other.');
  const sizes = o.sizes ?? [64, 128, 256];
  return {
    json: o.json,
    out: o.out,
    sizes,
    layerSize: layerSize ?? (sizes.includes(128) ? 128 : Math.max(...sizes)),
    layers: o.layers,
    peer: o.peer,
    optim: o.optim,
    f16: o.f16,
    reps: o.reps ?? 3,
    layerReps: o.layerReps ?? 5,
    budgetSeconds: o.budgetSeconds ?? 30,
    lbfgsHistory: o.lbfgsHistory ?? 100,
    wait: o.wait ?? 'sleep',
    matmulSizes: o.matmulSizes ?? 'auto',
    weights: o.weights,
    randomWeights: o.randomWeights ?? false,
    parallelism: o.parallelism ?? parallelismFromEnvOption(env),
    convBlocks: o.convBlocks ?? [],
    convAlgorithm: o.convAlgorithm,
    tiledSizes: o.tiledSizes ?? [],
    tiledBudgetMiB: o.tiledBudgetMiB ?? 1024,
    tiledCompare: o.tiledCompare ?? (o.tiledSizes ? Math.min(...o.tiledSizes) : null),
  };
}

function parallelismFromEnvOption(env: BenchEnvironment): Parallelism | undefined {
  try {
    return parallelismFromEnvironment(env);
  } catch (e) {
    throw new BenchUsageError(`${(e as Error).message} (${PARALLELISM_ENV} is --parallelism's default)`);
  }
}

/**
 * The bench page's URL parameters as command-line arguments: each is the option without its leading dashes,
 * `?sizes=24&no-optim` -> ['--sizes', '24', '--no-optim'] (an empty value: a flag). `autorun` is the page's own and
 * not passed on.
 */
export function urlParamsToArgs(params: Iterable<[string, string]>): string[] {
  const args: string[] = [];
  for (const [key, value] of params) {
    if (key === 'autorun') continue;
    args.push(`--${key}`);
    if (value !== '') args.push(value);
  }
  return args;
}
