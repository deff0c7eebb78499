/** How `call` and `result` print states, values and failures. */
import { encodeJson } from '../protocol/index.js';

/** A finished (or not yet finished) result as printed. */
export interface Report {
  id: string;
  state: string;
  result?: unknown;
  exception?: { type: string; module: string | null; message: string; args: unknown[] } | null;
  traceback?: string | null;
}

/** Describe an error rebuilt from the backend (TaskError or a registered class). */
export function describeError(err: unknown): NonNullable<Report['exception']> {
  const e = err as Error & { excType?: string; excModule?: string; excArgs?: unknown[] };
  return {
    type: e?.excType ?? e?.name ?? 'Error',
    module: e?.excModule ?? null,
    message: e?.message ?? String(err),
    args: Array.isArray(e?.excArgs) ? e.excArgs : [e?.message],
  };
}

/** The remote traceback text carried by a rebuilt error, if any. */
export function tracebackOf(err: unknown): string | null {
  const tb = (err as { remoteTraceback?: unknown } | null)?.remoteTraceback;
  return typeof tb === 'string' && tb.length ? tb : null;
}

/** A value as one line of JSON (Celery's encoding: large integers, NaN, dates as Python writes them). */
export function jsonLine(v: unknown): string {
  try {
    return encodeJson(v);
  } catch {
    return JSON.stringify(String(v));
  }
}

/**
 * Print a report. Human form: the state on one line, then the value as JSON,
 * or `Type: message` and the traceback for failures. `--json` form: the whole
 * report as one JSON object.
 */
export function printReport(r: Report, json: boolean, out: NodeJS.WritableStream = process.stdout): void {
  if (json) {
    out.write(jsonLine(r) + '\n');
    return;
  }
  out.write(`${r.state}\n`);
  if (r.exception) {
    out.write(`${r.exception.type}: ${r.exception.message}\n`);
    if (r.traceback) out.write(r.traceback.endsWith('\n') ? r.traceback : `${r.traceback}\n`);
  } else if (r.result !== undefined) out.write(jsonLine(r.result) + '\n');
}
