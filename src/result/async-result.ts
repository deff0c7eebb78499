/**
 * AsyncResult: a handle on one task's result (C-140…C-153). State reads are
 * async because they go to the result backend.
 */
import { EXCEPTION_STATES, PROPAGATE_STATES, READY_STATES, States, type ResultTuple, type TaskMeta, type TaskState } from '../backend/index.js';
import { deserializeException, IncompleteStream, TaskRevokedError, TimeoutError } from '../protocol/index.js';
import type { ResultHost, RevokeOptions } from './host.js';
import { DependencyGraph } from './graph.js';
import type { GroupResult } from './group-result.js';
import { sleepUntil } from './wake-clock.js';

/** Any result: one task's or a group's. */
export type AnyResult = AsyncResult | GroupResult;

/** Options of `get()`. */
export interface GetOptions {
  /** Seconds to wait before throwing TimeoutError. Default: wait for ever. */
  timeout?: number;
  /** Throw the task's error when it failed (default true); false returns the error instead. */
  propagate?: boolean;
  /** Seconds between backend reads when no notification arrives. Default 0.5. */
  interval?: number;
  /** First throw the error of the earliest failed parent (default true). */
  followParents?: boolean;
  /** Allow waiting inside a task (it can deadlock a worker whose slots are all waiting). Default false. */
  allowInsideTask?: boolean;
}

let resultFactory: ((tuple: ResultTuple, host: ResultHost) => AnyResult) | null = null;

/** Used by group-result.ts to teach AsyncResult how to rebuild group tuples. */
export function setResultFactory(fn: (tuple: ResultTuple, host: ResultHost) => AnyResult): void {
  resultFactory = fn;
}

/** Rebuild a result object from its tuple form (C-146). */
export function resultFromTuple(tuple: ResultTuple, host: ResultHost): AnyResult {
  if (!resultFactory) throw new Error('result factory not initialised');
  return resultFactory(tuple, host);
}

/** The results `r` was composed after, earliest first (a chain's steps before it, a chord's header). */
export function ancestorsOf(r: AnyResult): AnyResult[] {
  const chain: AnyResult[] = [];
  for (let p = r.parent; p; p = p.parent) chain.unshift(p);
  return chain;
}

/**
 * @internal Throw the error of the first of `results` that failed, if any (no
 * waiting). Their states are read in one backend call; only a failed one
 * (or a group, which reads its members likewise) is read again for its
 * error.
 */
export async function throwFirstFailure(host: ResultHost, results: readonly AnyResult[]): Promise<void> {
  const plain = results.filter((r): r is AsyncResult => r instanceof AsyncResult);
  const metas = plain.length ? await host.backend.getMetas(plain.map((r) => r.id)) : [];
  const failed = new Set(plain.filter((_, i) => PROPAGATE_STATES.has(metas[i].status)).map((r) => r.id));
  for (const r of results) if (!(r instanceof AsyncResult) || failed.has(r.id)) await r.throwIfFailed();
}

/** A pending task's result handle. */
export class AsyncResult<R = unknown> {
  /** The task id. */
  readonly id: string;
  /** The result this one was composed after (chain predecessor, chord header), or null. */
  parent: AnyResult | null;
  /** @internal */
  readonly host: ResultHost;
  private cached: TaskMeta | null = null;

  constructor(id: string, host: ResultHost, parent: AnyResult | null = null) {
    if (!id) throw new TypeError('AsyncResult requires a task id');
    this.id = id;
    this.host = host;
    this.parent = parent;
  }

  /** The stored meta (cached once SUCCESS, C-152). */
  async meta(): Promise<TaskMeta> {
    if (this.cached) return this.cached;
    const m = await this.host.backend.getMeta(this.id);
    if (m.status === States.SUCCESS) this.cached = m;
    return m;
  }

  /** The task's state: PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, or a custom one. */
  async state(): Promise<TaskState> {
    return (await this.meta()).status;
  }

  /** Alias of `state()`. */
  status(): Promise<TaskState> {
    return this.state();
  }

  /** True once the task is SUCCESS, FAILURE or REVOKED. */
  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.state());
  }

  /** True if the task succeeded. */
  async successful(): Promise<boolean> {
    return (await this.state()) === States.SUCCESS;
  }

  /** True if the task failed. */
  async failed(): Promise<boolean> {
    return (await this.state()) === States.FAILURE;
  }

  /** The return value, or the error for failed/retried/revoked tasks, or null while pending. */
  async result(): Promise<R | Error | null> {
    return this.decode(await this.meta());
  }

  /** Alias of `result()`. */
  info(): Promise<R | Error | null> {
    return this.result();
  }

  /** The traceback text of a failure, or null. */
  async traceback(): Promise<string | null> {
    return (await this.meta()).traceback ?? null;
  }

  /** When the task finished (UTC), or null. */
  async dateDone(): Promise<Date | null> {
    const d = (await this.meta()).date_done;
    return d ? new Date(/[Z+-]\d*:?\d*$/.test(d.slice(19)) ? d : `${d}Z`) : null;
  }

  /** Results of the tasks this task sent while running (callbacks, the next chain step, retries). */
  async children(): Promise<AnyResult[]> {
    const meta = await this.meta();
    return (meta.children ?? []).map((t) => resultFromTuple(t as ResultTuple, this.host));
  }

  private decode(meta: TaskMeta): R | Error | null {
    if (EXCEPTION_STATES.has(meta.status)) {
      if (meta.status === States.REVOKED && !isExc(meta.result)) return new TaskRevokedError('revoked');
      if (meta.result === null || meta.result === undefined) return null;
      return deserializeException(meta.result, meta.traceback, this.host.errors);
    }
    return meta.result as R | null;
  }

  /**
   * Wait for the task and return its value. Throws the task's error when it
   * failed (or the earliest failed parent's, with followParents), TimeoutError
   * when `timeout` passes.
   */
  async get(options: GetOptions = {}): Promise<R> {
    const { timeout, propagate = true, interval = 0.5, followParents = true, allowInsideTask = false } = options;
    if (!allowInsideTask && this.host.insideTask()) {
      throw new Error('Never call result.get() within a task: it can deadlock the worker. Pass { allowInsideTask: true } if you are sure.');
    }
    const deadline = timeout === undefined ? Infinity : performance.now() + timeout * 1000;
    // A store notified while no one sleeps must not be lost: it is remembered until the next wait.
    let wake: (() => void) | null = null;
    let notified = false;
    // The meta a notification carried: the stored text itself (Celery publishes what it sets), so a ready one
    // is the answer without reading it back.
    let heard: TaskMeta | null = null;
    const unsubscribe = await this.host.backend.subscribe(this.id, (m) => {
      notified = true;
      heard = m;
      wake?.();
    });
    // Listening since before the task was sent: every store is heard, so the backend is read only after a quiet
    // poll interval (a safety net), not before each wait.
    const hearsAll = unsubscribe.sinceSend === true;
    // Parents to check: only a result composed after others has any (a plain send has none).
    const parents = followParents && this.parent !== null;
    try {
      let checkParents = parents && propagate;
      let read = !hearsAll;
      for (;;) {
        notified = false;
        // Parents are read first, then again on each quiet poll interval, not on every notification:
        // a chord body's parent is its whole header, and the worker marks later results failed anyway.
        if (checkParents) await this.throwIfParentFailed();
        // Taken before the read: a notification arriving during the read is kept for the next turn.
        const notice = heard;
        heard = null;
        const meta = this.heardReady(notice) ?? (read ? await this.meta() : null);
        if (meta && READY_STATES.has(meta.status)) {
          const value = this.decode(meta);
          if (PROPAGATE_STATES.has(meta.status) && propagate) {
            // A parent may have failed between the parent check and this read: its error comes first (C-049).
            if (parents) await this.throwIfParentFailed();
            throw value;
          }
          return value as R;
        }
        const left = deadline - performance.now();
        if (left <= 0) throw new TimeoutError('The operation timed out.');
        if (!notified) {
          await new Promise<void>((resolve) => {
            const cancel = sleepUntil(performance.now() + Math.min(left, interval * 1000), resolve);
            wake = () => {
              cancel();
              resolve();
            };
          });
        }
        checkParents = parents && propagate && !notified;
        read = !hearsAll || !notified;
        wake = null;
        notified = false;
      }
    } finally {
      unsubscribe();
    }
  }

  /** Alias of `get()`. */
  wait(options?: GetOptions): Promise<R> {
    return this.get(options);
  }

  /** A notified meta when it is a ready one for this id (cached like a read one), else null. */
  private heardReady(m: TaskMeta | null): TaskMeta | null {
    if (!m || m.task_id !== this.id || !READY_STATES.has(m.status)) return null;
    if (m.status === States.SUCCESS) this.cached = m;
    return m;
  }

  /** Throw the error of the earliest failed ancestor, if any (C-049); their states are read in one call. */
  async throwIfParentFailed(): Promise<void> {
    await throwFirstFailure(this.host, ancestorsOf(this));
  }

  /** Throw this result's error if it failed or was revoked (no waiting). */
  async throwIfFailed(): Promise<void> {
    const meta = await this.meta();
    if (PROPAGATE_STATES.has(meta.status)) throw this.decode(meta);
  }

  /** Walk this result and its children breadth-first, yielding `[result, value]` once each is ready (C-147). */
  async *collect(options: { intermediate?: boolean; timeout?: number } = {}): AsyncGenerator<[AnyResult, unknown]> {
    const queue: AnyResult[] = [this];
    while (queue.length) {
      const node = queue.shift() as AnyResult;
      const value = await node.get({ timeout: options.timeout, propagate: true, allowInsideTask: true });
      if (!options.intermediate && !(await node.ready())) throw new IncompleteStream(`Dependency ${node.id} not ready`);
      yield [node, value];
      queue.push(...(await node.children()));
    }
  }

  /** Dependency graph of this result and everything it led to (C-148). Throws IncompleteStream if a node is unfinished. */
  async graph(options: { intermediate?: boolean } = {}): Promise<DependencyGraph> {
    const g = new DependencyGraph();
    const queue: AnyResult[] = [this];
    const seen = new Set<string>();
    g.addNode(this.id);
    while (queue.length) {
      const node = queue.shift() as AnyResult;
      if (seen.has(node.id)) continue;
      seen.add(node.id);
      if (!options.intermediate && !(await node.ready())) throw new IncompleteStream(`Dependency ${node.id} not ready`);
      for (const child of await node.children()) {
        g.addEdge(node.id, child.id);
        queue.push(child);
      }
    }
    return g;
  }

  /** Drop the stored result of this task and of its parents (C-149). */
  async forget(): Promise<void> {
    this.cached = null;
    await this.host.backend.forget(this.id);
    if (this.parent) await this.parent.forget();
  }

  /** Ask the workers to skip (or, with terminate, stop) this task. */
  async revoke(options: RevokeOptions = {}): Promise<void> {
    await this.host.revoke([this.id], options);
  }

  /** Tuple form (C-146). */
  asTuple(): ResultTuple {
    return [[this.id, this.parent ? this.parent.asTuple() : null], null];
  }

  /** Ids of this result and its parents, first this one (Celery's as_list). */
  asList(): string[] {
    const out = [this.id];
    for (let p = this.parent; p; p = p.parent) out.push(p.id);
    return out;
  }

  /** True for a result with the same id (or that id as a string). */
  equals(other: AnyResult | string): boolean {
    return typeof other === 'string' ? other === this.id : other.id === this.id;
  }

  toString(): string {
    return this.id;
  }

  /** A short description for logs. */
  inspect(): string {
    return `<AsyncResult: ${this.id}>`;
  }
}

function isExc(v: unknown): boolean {
  return v !== null && typeof v === 'object' && 'exc_type' in (v as object);
}
