/**
 * The threads pool: task functions run in worker threads, one task per
 * thread at a time, so a hard time limit can stop code that never yields
 * (the thread is terminated and replaced) — which the default async pool
 * cannot do. Each thread imports the app module itself; the main thread keeps
 * the broker, the continuation and every delivery guarantee.
 *
 * Limits: arguments and results cross threads by structured clone (JSON
 * values do); task code that sends messages uses the thread's own app
 * instance, so it needs a shared broker (Redis, RabbitMQ), not memory://.
 */
import { Worker as Thread } from 'node:worker_threads';
import { TaskRevokedError, TimeLimitExceeded, type ExceptionInfo } from '../protocol/index.js';
import type { ResultTuple } from '../backend/index.js';
import type { Celeriac } from '../app.js';
import { RetryRequest } from './context.js';
import type { RunControl, RunOutcome } from './executor.js';
import type { RetryOptions, TaskRequest } from './request.js';

/** What a thread sends back. */
export type ThreadReply =
  | { kind: 'success'; value: unknown; children: ResultTuple[] }
  | { kind: 'failure'; error: ExceptionInfo & { name: string; message: string }; traceback: string; children: ResultTuple[] }
  | { kind: 'retry'; message: string; when: number | null; exc: (ExceptionInfo & { name: string; message: string }) | null; options: Omit<RetryOptions, 'exc' | 'eta'> & { eta?: number }; children: ResultTuple[] }
  | { kind: 'ignored'; children: ResultTuple[] }
  | { kind: 'ready' }
  | { kind: 'load-error'; message: string };

/** A request as sent to a thread (plain data). */
export type ThreadRequest = Omit<TaskRequest, 'children'>;

interface Slot {
  thread: Thread;
  busy: boolean;
  ready: Promise<void>;
}

/** Rebuild an error from the thread's description, keeping Celery's fields. */
function rebuild(e: ExceptionInfo & { name: string; message: string }): Error {
  return Object.assign(new Error(e.message), { name: e.name, excArgs: Array.isArray(e.exc_message) ? e.exc_message : [e.exc_message], excModule: e.exc_module ?? undefined });
}

/** A fixed-size pool of task threads. */
export class ThreadPool {
  private readonly slots: Slot[] = [];
  private readonly waiters: Array<(s: Slot) => void> = [];
  private closed = false;

  constructor(
    private readonly app: Celeriac,
    private readonly moduleUrl: string,
    size: number,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** Wait until every thread has loaded the app module; rejects with the load error. */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  private spawn(): Slot {
    const here = import.meta.url;
    const fromSource = here.endsWith('.ts');
    const entry = new URL(fromSource ? './thread-entry.ts' : './thread-entry.js', here);
    const workerData = { moduleUrl: this.moduleUrl };
    // Running from TypeScript sources (or loading a .ts app module): register tsx in the thread first.
    const thread =
      fromSource || this.moduleUrl.endsWith('.ts')
        ? new Thread(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`, { eval: true, workerData })
        : new Thread(entry, { workerData });
    thread.unref();
    const ready = new Promise<void>((resolve, reject) => {
      const onMsg = (m: ThreadReply) => {
        if (m.kind === 'ready') resolve();
        else if (m.kind === 'load-error') reject(new Error(`threads pool: ${m.message}`));
        else return;
        thread.off('message', onMsg);
      };
      thread.on('message', onMsg);
      thread.once('error', reject);
    });
    ready.catch(() => undefined);
    return { thread, busy: false, ready };
  }

  private async acquire(): Promise<Slot> {
    const free = this.slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return free;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(slot: Slot): void {
    const next = this.waiters.shift();
    if (next) next(slot);
    else slot.busy = false;
  }

  private replace(slot: Slot): Slot {
    void slot.thread.terminate();
    const fresh = this.spawn();
    fresh.busy = true;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots[i] = fresh;
    return fresh;
  }

  /**
   * Run a request in a thread. A hard limit or an abort (revoke with
   * terminate) terminates the thread and starts a new one in its place.
   */
  async run(req: TaskRequest, abort: RunControl, limits: [number | null, number | null]): Promise<RunOutcome> {
    let slot = await this.acquire();
    try {
      await slot.ready;
      const [hard, soft] = limits;
      const { children: _children, ...plain } = req;
      const reply = await new Promise<ThreadReply | Error>((resolve) => {
        let timer: NodeJS.Timeout | null = null;
        const finish = (r: ThreadReply | Error): void => {
          if (timer) clearTimeout(timer);
          slot.thread.off('message', onMessage);
          slot.thread.off('error', onError);
          abort.signal.removeEventListener('abort', onAbort);
          resolve(r);
        };
        const onMessage = (m: ThreadReply): void => finish(m);
        const onError = (err: Error): void => finish(err);
        const onAbort = (): void => {
          slot = this.replace(slot);
          finish(abort.signal.reason instanceof Error ? abort.signal.reason : new TaskRevokedError('terminated'));
        };
        slot.thread.on('message', onMessage);
        slot.thread.once('error', onError);
        abort.signal.addEventListener('abort', onAbort, { once: true });
        if (hard) {
          timer = setTimeout(() => {
            slot = this.replace(slot);
            abort.abort(new TimeLimitExceeded(hard));
            finish(new TimeLimitExceeded(hard));
          }, hard * 1000);
        }
        slot.thread.postMessage({ request: plain as ThreadRequest, limits: [null, soft] });
      });
      if (reply instanceof Error) return { kind: 'failure', error: reply, traceback: reply.stack ?? `${reply.name}: ${reply.message}` };
      if (reply.kind === 'ready' || reply.kind === 'load-error') return { kind: 'failure', error: new Error('threads pool: unexpected reply'), traceback: '' };
      for (const c of reply.children) req.children.push(this.app.resultFromTuple(c));
      if (reply.kind === 'success') return { kind: 'success', value: reply.value };
      if (reply.kind === 'failure') return { kind: 'failure', error: rebuild(reply.error), traceback: reply.traceback };
      if (reply.kind === 'retry') {
        const r = new RetryRequest(reply.message);
        r.when = reply.when;
        r.exc = reply.exc ? rebuild(reply.exc) : null;
        const { eta, ...rest } = reply.options;
        r.options = { ...rest, ...(eta !== undefined ? { eta: new Date(eta) } : {}), ...(r.exc ? { exc: r.exc } : {}) };
        return { kind: 'retry', retry: r };
      }
      return { kind: 'ignored' };
    } finally {
      this.release(slot);
    }
  }

  /** Terminate every thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.thread.terminate()));
  }
}
