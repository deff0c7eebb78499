/** Exit codes of the `celeriac` command and the error that carries one. */

/** Every exit code the command uses, in one place (documented in `celeriac --help`). */
export const ExitCode = {
  /** Done; for `worker`, a clean stop after a signal. */
  OK: 0,
  /** Startup or configuration error (bad -A path, no app exported, broker unreachable, …). */
  STARTUP: 1,
  /** Usage error: unknown command or option, bad option value. */
  USAGE: 2,
  /** `call --wait` / `result`: the task failed or was revoked. */
  TASK_FAILED: 3,
  /** `call --wait` / `result --wait`: the timeout passed first; `worker`: tasks were still running at --shutdown-timeout. */
  TIMEOUT: 4,
} as const;

/** A value of `ExitCode`. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the command reports as one line on stderr before exiting with `code`. */
export class CliError extends Error {
  override name = 'CliError';
  /** The process exit code. */
  readonly code: number;

  constructor(message: string, code: number = ExitCode.STARTUP, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A usage error (exit 2). */
export function usageError(message: string): CliError {
  return new CliError(message, ExitCode.USAGE);
}
