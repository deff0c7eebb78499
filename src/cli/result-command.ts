/**
 * `celeriac result ID`: print a task's state and its value, or its error and
 * traceback; with --wait, wait for it first. An id with no task meta but a
 * saved group (GroupResult.save) is read as that group.
 */
import { PROPAGATE_STATES, READY_STATES } from '../backend/index.js';
import type { AnyResult, AsyncResult, GroupResult } from '../result/index.js';
import { waitFor } from './call-command.js';
import { connectApp } from './connect.js';
import { ExitCode } from './errors.js';
import { appFor, type AppSource } from './load-app.js';
import { describeError, printReport, tracebackOf, type Report } from './output.js';

/** Options of `celeriac result`, as parsed. */
export interface ResultOptions extends AppSource {
  wait?: boolean;
  timeout?: number;
  json?: boolean;
  progress: boolean;
  connectTimeout: number;
}

/** Read (or wait for) one result; resolves with the exit code (3 for FAILURE/REVOKED). */
export async function runResult(id: string, o: ResultOptions): Promise<number> {
  const app = await appFor(o);
  try {
    await connectApp(app, o.connectTimeout, (msg) => process.stderr.write(`celeriac: ${msg}\n`));
    let result: AnyResult = app.asyncResult(id);
    if ((await result.state()) === 'PENDING') result = (await app.restoreGroup(id)) ?? result;
    if (o.wait) {
      const { report, code } = await waitFor(result, o.timeout, o.progress);
      printReport(report, o.json ?? false);
      return code;
    }
    const report = await snapshot(result);
    printReport(report, o.json ?? false);
    return PROPAGATE_STATES.has(report.state) ? ExitCode.TASK_FAILED : ExitCode.OK;
  } finally {
    await app.close().catch(() => undefined);
  }
}

/** The current state of a result without waiting. */
async function snapshot(result: AnyResult): Promise<Report> {
  if (isGroup(result)) {
    // A group: its members' values once all are ready.
    if (!(await result.ready())) return { id: result.id, state: 'PENDING' };
    if (await result.successful()) return { id: result.id, state: 'SUCCESS', result: await result.join({ timeout: 5 }) };
    try {
      await result.join({ timeout: 5 });
    } catch (err) {
      return { id: result.id, state: 'FAILURE', exception: describeError(err), traceback: tracebackOf(err) };
    }
    return { id: result.id, state: 'FAILURE' };
  }
  const { id } = result as AsyncResult;
  const meta = await (result as AsyncResult).meta();
  const state = meta.status;
  if (!READY_STATES.has(state) && state !== 'RETRY') return { id, state, ...(meta.result != null ? { result: meta.result } : {}) };
  const value = await (result as AsyncResult).result();
  if (value instanceof Error) return { id, state, exception: describeError(value), traceback: meta.traceback ?? null };
  return { id, state, result: value };
}

/** Duck-typed: the app module may hold its own copy of the result classes. */
function isGroup(r: AnyResult): r is GroupResult {
  return Array.isArray((r as { results?: unknown }).results);
}
