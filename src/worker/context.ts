/** The bound-task context: request, retry, replace, updateState, addToChord. */
import { fromDict, Group, Signature, type Chain } from '../canvas/index.js';
import { Ignore, MaxRetriesExceededError, Retry, TaskError, ConfigurationError } from '../protocol/index.js';
import { argsRepr, kwargsRepr } from '../protocol/index.js';
import type { AnyResult } from '../result/index.js';
import type { Celeriac } from '../app.js';
import type { Task } from '../task.js';
import { buildMeta } from './meta.js';
import type { RetryOptions, TaskContext, TaskRequest } from './request.js';

/** Group index of parts added by addToChord: after any header (Celery leaves them unindexed, so their order is arbitrary). */
const ADDED_INDEX_BASE = 1_000_000_000;

/** Thrown by `retry()`: carries what the worker needs to re-send. */
export class RetryRequest extends Retry {
  /** @internal */
  options: RetryOptions = {};
}

/** Thrown by `replace()` once the replacement is sent: the task stops and stores nothing. */
export class Replaced extends Ignore {}

/** The context a bound task receives. */
export class Context implements TaskContext {
  constructor(
    private readonly app: Celeriac,
    private readonly task: Task,
    readonly request: TaskRequest,
    private readonly control: { readonly signal: AbortSignal },
  ) {}

  /** Aborts when the task is revoked with terminate or reaches its soft time limit. */
  get signal(): AbortSignal {
    return this.control.signal;
  }

  get name(): string {
    return this.task.name;
  }

  retry(options: RetryOptions = {}): never {
    const max = options.maxRetries === undefined ? this.task.options.maxRetries : options.maxRetries;
    if (max !== null && this.request.retries >= max) {
      if (options.exc) throw options.exc;
      throw new MaxRetriesExceededError(
        `Can't retry ${this.task.name}[${this.request.id}] args:${argsRepr(this.request.args)} kwargs:${kwargsRepr(this.request.kwargs)}`,
      );
    }
    const countdown = options.countdown ?? (options.eta ? undefined : this.task.options.defaultRetryDelay);
    const when = options.eta ? options.eta.getTime() : this.app.now() + (countdown ?? 0) * 1000;
    const exc = options.exc ?? null;
    const r = new RetryRequest(`Retry in ${countdown ?? Math.round((when - this.app.now()) / 1000)}s${exc ? `: ${exc.name}(${JSON.stringify(exc.message)})` : ''}`);
    r.when = when;
    r.exc = exc;
    r.options = options;
    throw r;
  }

  async replace(sig: Signature): Promise<never> {
    await replaceRequest(this.app, this.request, sig);
    throw new Replaced('Replaced by a new task');
  }

  async updateState(state: string, meta: unknown = null): Promise<void> {
    const backend = await this.app.resultBackend();
    await backend.store(buildMeta(this.request, state, meta, null, this.request.children, { now: this.app.now(), extended: this.app.conf.resultExtended }));
  }

  async addToChord(sig: Signature): Promise<AnyResult> {
    const req = this.request;
    if (!req.groupId || !req.chord) throw new TaskError('ValueError: Current task is not member of any chord');
    const backend = await this.app.resultBackend();
    const s = sig.clone().bind(this.app);
    const added = await backend.addToChord(req.groupId, 1);
    // Added parts sort after the header, in the order they were added.
    const groupIndex = ADDED_INDEX_BASE + (typeof added === 'number' ? added : 0);
    const result = s.freeze({ groupId: req.groupId, chord: fromDict(req.chord, this.app), rootId: req.rootId, groupIndex });
    const d = this.app.dispatch();
    this.app.runAs(req, () => s.applyInto(d, [], {}, { parent_id: req.id, root_id: req.rootId }));
    await d.flush();
    return result;
  }
}

/**
 * Send `sig` in place of the running request (C-170): it takes the request's
 * id, group, chord and root; the request's callbacks, errbacks and remaining
 * chain move onto it.
 */
export async function replaceRequest(app: Celeriac, req: TaskRequest, replacement: Signature): Promise<void> {
  let sig: Signature = replacement.clone().bind(app);
  if (sig.options.chord) throw new ConfigurationError('A signature that already has a chord cannot replace a task');
  if (sig.subtaskType === 'chain' && !(sig as Chain).tasks.length) throw new ConfigurationError('Cannot replace with an empty chain');
  if (sig instanceof Group) sig = sig.pipe(app.signature('celery.accumulate', { kwargs: { index: 0 } }));
  for (const cb of req.callbacks ?? []) sig.link(fromDict(cb, app));
  for (const eb of req.errbacks ?? []) sig.linkError(fromDict(eb, app));
  if (req.chain?.length) {
    for (const step of [...req.chain].reverse()) sig = sig.pipe(fromDict(step, app));
  }
  const chord = req.chord ? fromDict(req.chord, app) : undefined;
  sig.freeze({ id: req.id, groupId: req.groupId ?? undefined, chord, groupIndex: req.groupIndex ?? undefined, rootId: req.rootId });
  const d = app.dispatch();
  app.runDetached(() => sig.applyInto(d, [], {}, { parent_id: req.id, root_id: req.rootId, add_to_parent: false }));
  await d.flush();
}
