/**
 * The `style-transfer` command. Subcommands: `evaluate` (one loss + gradient) and the default (stylise).
 * Every failure ends as one line on stderr and a non-zero exit code; STYLE_TRANSFER_DEBUG=1 shows the stack.
 */
import { UsageError } from './args.js';
import { runEvaluate } from './evaluate.js';

export interface CliIo {
  /** One line (a newline is added when missing). */
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Raw progress output (the bar redraws with \r); default: process.stderr. */
  progress?: (s: string) => void;
  /** Whether progress goes to a terminal (bar) or a log (lines); default: process.stderr.isTTY. */
  isTTY?: boolean;
}

const defaultIo: CliIo = {
  stdout: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  stderr: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
};

/** Runs the CLI and returns the exit code (never throws). */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  try {
    if (argv[0] === 'evaluate') return await runEvaluate(argv.slice(1), io);
    const { runStylize } = await import('./stylize.js');
    return await runStylize(argv, io);
  } catch (err) {
    if (process.env.STYLE_TRANSFER_DEBUG) io.stderr(String((err as Error)?.stack ?? err));
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`style-transfer: ${message.split('\n')[0]}`);
    return err instanceof UsageError ? 2 : 1;
  }
}
