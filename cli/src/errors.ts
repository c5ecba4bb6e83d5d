import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * The one error the CLI's code throws. `main.ts` prints it (message, then the hint on its own
 * line) and exits with its code; commands hold no try/catch just to print.
 */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  /** What to do about it, e.g. "run `edgeboot login --url URL --token TOKEN`". */
  readonly hint?: string;
  /** Extra lines (validation issues, file positions), printed under the message. */
  readonly details: string[];

  constructor(exitCode: ExitCode, message: string, extra: { hint?: string; details?: string[] } = {}) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.hint = extra.hint;
    this.details = extra.details ?? [];
  }
}

export const usageError = (message: string, hint?: string): CliError => new CliError(EXIT.USAGE, message, { hint });

/**
 * An exit status that is an answer, not a failure (`apply --dry-run --exit-code`: 1 = the fleet
 * differs): the command has printed its output, and main.ts prints nothing more.
 */
export class ExitStatus extends CliError {
  constructor(exitCode: ExitCode, reason: string) {
    super(exitCode, reason);
    this.name = 'ExitStatus';
  }
}
