/**
 * Running a task function: arguments placed by name, the request context
 * (AsyncLocalStorage, so what the task sends becomes its children), bound
 * tasks, and soft and hard time limits on the default async pool.
 */
import { States } from '../backend/index.js';
import type { WireOptions } from '../canvas/index.js';
import { SoftTimeLimitExceeded, TimeLimitExceeded, encodeJson, EncodeError } from '../protocol/index.js';
import { EagerResult } from '../result/eager.js';
import type { Celeriac } from '../app.js';
import { bindArguments } from '../params.js';
import type { Task } from '../task.js';
import { Context, RetryRequest } from './context.js';
import type { TaskRequest } from './request.js';

/** How a run ended. */
export type RunOutcome =
  | { kind: 'success'; value: unknown }
  | { kind: 'failure'; error: Error; traceback: string }
  | { kind: 'retry'; retry: RetryRequest }
  | { kind: 'ignored' };

/** Format a traceback the way callers expect to read one. */
export function formatTraceback(err: Error): string {
  return err.stack ?? `${err.name}: ${err.message}`;
}

/** Make whatever was thrown into an Error. */
export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  const err = new Error(typeof e === 'string' ? e : JSON.stringify(e) ?? String(e));
  err.name = 'Exception';
  return err;
}

/**
 * The abort switch of one run. Every task gets one, so it is cheap: the
 * AbortController behind `signal` is made only when something asks for it
 * (a bound task's context, a thread of the threads pool) or the run is
 * aborted (revoked with terminate, a time limit).
 */
export class RunControl {
  private ctrl: AbortController | null = null;
  private listener: ((reason: unknown) => void) | null = null;
  /** Whether the run was aborted. */
  aborted = false;
  /** Why (a TaskRevokedError, SoftTimeLimitExceeded, TimeLimitExceeded). */
  reason: unknown = undefined;

  /** The signal a task sees (made on first use). */
  get signal(): AbortSignal {
    if (!this.ctrl) {
      this.ctrl = new AbortController();
      if (this.aborted) this.ctrl.abort(this.reason);
    }
    return this.ctrl.signal;
  }

  /** Abort the run (once; later calls are ignored). */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.ctrl?.abort(reason);
    this.listener?.(reason);
  }

  /** @internal the one listener runTask keeps while it waits (null: none). */
  onAbort(listener: ((reason: unknown) => void) | null): void {
    this.listener = listener;
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** A return value that cannot be stored fails the task with EncodeError (primitives are always storable). */
function checkEncodable(value: unknown): void {
  const t = typeof value;
  if (value === null || t === 'undefined' || t === 'string' || t === 'number' || t === 'boolean') return;
  try {
    encodeJson(value);
  } catch (err) {
    throw new EncodeError(`${(err as Error).message}`);
  }
}

/**
 * Call the task function for a request. Enforces time limits: at the soft
 * limit the task's `signal` aborts with SoftTimeLimitExceeded; at the hard
 * limit the run is abandoned (its promise is left behind, its slot freed) and
 * fails with TimeLimitExceeded. A function that returns without a promise
 * costs no timers and no promise race, and its outcome comes back at once,
 * not as a promise.
 */
export function runTask(
  app: Celeriac,
  task: Task,
  req: TaskRequest,
  control: RunControl = new RunControl(),
  override?: [number | null, number | null],
): RunOutcome | Promise<RunOutcome> {
  let value: unknown;
  try {
    if (control.aborted) throw control.reason;
    const args = bindArguments(task.name, task.options.params, req.args, req.kwargs, task.options.acceptsKwargs);
    const fn = task.fn as (...a: unknown[]) => unknown;
    value = app.runAs(req, () => (task.options.bind ? fn(new Context(app, task, req, control), ...args) : fn(...args)), task.options.asyncContext);
  } catch (e) {
    return errorOutcome(app, task, req, e);
  }
  if (!isThenable(value)) return valueOutcome(app, task, req, value);
  const [hardTl, softTl] = req.timelimit;
  return settle(app, value, control, hardTl ?? override?.[0] ?? task.options.timeLimit, softTl ?? override?.[1] ?? task.options.softTimeLimit).then(
    (v) => valueOutcome(app, task, req, v),
    (e: unknown) => errorOutcome(app, task, req, e),
  );
}

/** What a task returned: success, unless it cannot be stored. */
function valueOutcome(app: Celeriac, task: Task, req: TaskRequest, value: unknown): RunOutcome {
  try {
    checkEncodable(value);
  } catch (e) {
    return errorOutcome(app, task, req, e);
  }
  return { kind: 'success', value: value === undefined ? null : value };
}

/** What a task threw: a retry it asked for or earned (autoretryFor), a replacement, or a failure. */
function errorOutcome(app: Celeriac, task: Task, req: TaskRequest, e: unknown): RunOutcome {
  if (e instanceof RetryRequest) return { kind: 'retry', retry: e };
  if (e instanceof Error && e.name === 'Replaced') return { kind: 'ignored' };
  const error = toError(e);
  if (task.options.autoretryFor.some((cls) => error instanceof cls)) {
    const retry = autoRetry(app, task, req, error);
    if (retry) return { kind: 'retry', retry };
  }
  return { kind: 'failure', error, traceback: formatTraceback(error) };
}

/** Wait for a task's promise under its time limits and its abort switch (revoke with terminate). */
function settle(app: Celeriac, pending: PromiseLike<unknown>, control: RunControl, hard: number | null | undefined, soft: number | null | undefined): Promise<unknown> {
  const clock = app.conf.clock;
  return new Promise((resolve, reject) => {
    const timers: unknown[] = [];
    let over = false;
    const end = (ok: boolean, v: unknown): void => {
      if (over) return;
      over = true;
      for (const t of timers) clock.clearTimeout(t);
      control.onAbort(null);
      if (ok) resolve(v);
      else reject(v);
    };
    pending.then(
      (v) => end(true, v),
      (e: unknown) => end(false, e),
    );
    if (over) return;
    if (soft) timers.push(clock.setTimeout(() => control.abort(new SoftTimeLimitExceeded(`SoftTimeLimitExceeded(${soft})`)), soft * 1000));
    if (hard) {
      timers.push(
        clock.setTimeout(() => {
          control.abort(new TimeLimitExceeded(hard));
          end(false, new TimeLimitExceeded(hard));
        }, hard * 1000),
      );
    }
    control.onAbort((reason) => {
      if (reason instanceof TimeLimitExceeded || (reason as Error | undefined)?.name === 'TaskRevokedError') end(false, reason);
    });
  });
}

function autoRetry(app: Celeriac, task: Task, req: TaskRequest, error: Error): RetryRequest | null {
  const o = task.options;
  if (o.maxRetries !== null && req.retries >= o.maxRetries) return null;
  let countdown = o.defaultRetryDelay;
  if (o.retryBackoff) {
    const factor = o.retryBackoff === true ? 1 : o.retryBackoff;
    countdown = Math.min(o.retryBackoffMax, factor * 2 ** req.retries);
    if (o.retryJitter) countdown = Math.floor(Math.random() * (countdown + 1));
  }
  const r = new RetryRequest(`Retry in ${countdown}s: ${error.name}(${JSON.stringify(error.message)})`);
  r.when = app.now() + countdown * 1000;
  r.exc = error;
  r.options = { countdown, exc: error };
  return r;
}

/** Run a task function inline (`sig.call()`), outside any worker. */
export async function runInline(app: Celeriac, task: Task, args: unknown[], kwargs: Record<string, unknown>): Promise<unknown> {
  const bound = bindArguments(task.name, task.options.params, args, kwargs, task.options.acceptsKwargs);
  const fn = task.fn as (...a: unknown[]) => unknown;
  if (!task.options.bind) return fn(...bound);
  const req = eagerRequest(app, task, args, kwargs, {});
  return fn(new Context(app, task, req, new RunControl()), ...bound);
}

function eagerRequest(app: Celeriac, task: Task, args: unknown[], kwargs: Record<string, unknown>, o: WireOptions): TaskRequest {
  const id = (o.task_id as string | undefined) ?? app.newId();
  return {
    id,
    name: task.name,
    args,
    kwargs,
    rootId: id,
    parentId: null,
    groupId: null,
    groupIndex: null,
    retries: 0,
    eta: null,
    expires: null,
    timelimit: [null, null],
    deliveryInfo: { exchange: '', routingKey: '', queue: '', redelivered: false, priority: null },
    hostname: app.conf.hostname,
    callbacks: (o.link as never) ?? null,
    errbacks: null,
    chain: null,
    chord: null,
    ignoreResult: true,
    headers: {} as TaskRequest['headers'],
    isEager: true,
    children: [],
  };
}

/** `task.apply()`: run in this process with a request; links are sent as messages (C-023, C-024). */
export async function runEager(app: Celeriac, task: Task, args: unknown[], kwargs: Record<string, unknown>, options: WireOptions): Promise<EagerResult> {
  const req = eagerRequest(app, task, args, kwargs, options);
  const outcome = await runTask(app, task, req);
  if (outcome.kind === 'success') {
    const links = options.link as Array<{ applyAsync(a: unknown[], k?: unknown, o?: unknown): Promise<unknown> }> | undefined;
    for (const l of links ?? []) await l.applyAsync([outcome.value], {}, { parentId: req.id, rootId: req.rootId });
    return new EagerResult(req.id, States.SUCCESS, outcome.value);
  }
  if (outcome.kind === 'failure') {
    return new EagerResult(req.id, States.FAILURE, outcome.error, outcome.traceback);
  }
  if (outcome.kind === 'retry') return new EagerResult(req.id, States.RETRY, outcome.retry.exc ?? outcome.retry);
  return new EagerResult(req.id, States.IGNORED, null);
}
