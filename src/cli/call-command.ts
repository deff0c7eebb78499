/**
 * `celeriac call NAME` (or `--canvas JSON`): send a task or a whole canvas,
 * print its id, and with --wait its result. Waits on more than one task show
 * progress on stderr.
 */
import type { ApplyOptions, Signature } from '../canvas/index.js';
import { decodeJson, type SignatureDict } from '../protocol/index.js';
import type { AnyResult } from '../result/index.js';
import { connectApp } from './connect.js';
import { ExitCode, usageError } from './errors.js';
import { appFor, type AppSource } from './load-app.js';
import { describeError, printReport, tracebackOf, type Report } from './output.js';
import { progressSink, watchProgress } from './progress.js';

/** Options of `celeriac call`, as parsed. */
export interface CallOptions extends AppSource {
  args?: string;
  kwargs?: string;
  canvas?: string;
  queue?: string;
  countdown?: number;
  eta?: string;
  expires?: number;
  priority?: number;
  taskId?: string;
  wait?: boolean;
  timeout?: number;
  json?: boolean;
  progress: boolean;
  connectTimeout: number;
}

/** Parse a JSON option, with a usage error naming the option when it is not JSON of the right shape. */
export function parseJsonOption<T>(option: string, text: string | undefined, shape: 'array' | 'object', fallback: T): T {
  if (text === undefined) return fallback;
  let v: unknown;
  try {
    v = decodeJson(text);
  } catch (err) {
    throw usageError(`${option} is not valid JSON: ${(err as Error).message}`);
  }
  const ok = shape === 'array' ? Array.isArray(v) : v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!ok) throw usageError(`${option} must be a JSON ${shape}, got ${text}`);
  return v as T;
}

/** Send, print the id, optionally wait; resolves with the exit code. */
export async function runCall(name: string | undefined, o: CallOptions): Promise<number> {
  if (!name && !o.canvas) throw usageError('call needs a task name or --canvas JSON');
  if (name && o.canvas) throw usageError('give either a task name or --canvas, not both');
  const args = parseJsonOption<unknown[]>('--args', o.args, 'array', []);
  const kwargs = parseJsonOption<Record<string, unknown>>('--kwargs', o.kwargs, 'object', {});
  const canvas = o.canvas === undefined ? null : parseJsonOption<SignatureDict>('--canvas', o.canvas, 'object', {} as SignatureDict);
  if (canvas && typeof canvas.task !== 'string') throw usageError('--canvas must be a signature dict with a "task" name (as Celery writes it)');
  const app = await appFor(o);
  try {
    await connectApp(app, o.connectTimeout, (msg) => process.stderr.write(`celeriac: ${msg}\n`));
    const sig: Signature = canvas ? app.signature(canvas) : app.signature(name as string);
    const options: ApplyOptions = {};
    if (o.queue) options.queue = o.queue;
    if (o.countdown !== undefined) options.countdown = o.countdown;
    if (o.eta) options.eta = o.eta;
    if (o.expires !== undefined) options.expires = o.expires;
    if (o.priority !== undefined) options.priority = o.priority;
    if (o.taskId) options.taskId = o.taskId;
    const result = await sig.applyAsync(args, kwargs, options);
    if (!o.wait) {
      if (o.json) printReport({ id: result.id, state: 'SENT' }, true);
      else process.stdout.write(`${result.id}\n`);
      return ExitCode.OK;
    }
    if (!o.json) process.stdout.write(`${result.id}\n`);
    const { report, code } = await waitFor(result, o.timeout, o.progress);
    printReport(report, o.json ?? false);
    return code;
  } finally {
    await app.close().catch(() => undefined);
  }
}

/** Wait for a result (with progress for canvases) and describe how it ended. */
export async function waitFor(result: AnyResult, timeout: number | undefined, progress: boolean): Promise<{ report: Report; code: number }> {
  const stopProgress = watchProgress(result, progressSink(process.stderr, progress));
  try {
    const value = await result.get({ timeout });
    await stopProgress();
    return { report: { id: result.id, state: 'SUCCESS', result: value }, code: ExitCode.OK };
  } catch (err) {
    await stopProgress();
    const e = err as Error & { excType?: string };
    if (isWaitTimeout(err)) {
      const state = await stateOf(result);
      process.stderr.write(`celeriac: timed out after ${timeout} s waiting for ${result.id} (state ${state})\n`);
      return { report: { id: result.id, state }, code: ExitCode.TIMEOUT };
    }
    if (e?.excType === undefined && !(err instanceof Error && 'remoteTraceback' in err)) throw err;
    const state = e.excType === 'TaskRevokedError' ? 'REVOKED' : 'FAILURE';
    return { report: { id: result.id, state, exception: describeError(err), traceback: tracebackOf(err) }, code: ExitCode.TASK_FAILED };
  }
}

/** The result's own timeout (celery.exceptions.TimeoutError raised locally, not a remote one). */
function isWaitTimeout(err: unknown): boolean {
  const e = err as { excType?: string; excModule?: string; remoteTraceback?: unknown };
  return e?.excType === 'TimeoutError' && e.excModule === 'celery.exceptions' && !e.remoteTraceback;
}

async function stateOf(r: AnyResult): Promise<string> {
  if ('state' in r && typeof r.state === 'function') return r.state();
  return (await r.ready()) ? ((await r.successful()) ? 'SUCCESS' : 'FAILURE') : 'PENDING';
}
