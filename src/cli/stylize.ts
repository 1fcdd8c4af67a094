/** Placeholder until the optimisers land: the stylise command. */
import { UsageError } from './args.js';
import type { CliIo } from './main.js';

export async function runStylize(argv: string[], io: CliIo): Promise<number> {
  void io;
  throw new UsageError(argv.length ? `Unknown command "${argv[0]}". Try: style-transfer evaluate --help` : 'Try: style-transfer evaluate --help');
}
