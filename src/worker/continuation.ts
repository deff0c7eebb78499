/**
 * What happens after a task ran (Celery's trace): callbacks and the next chain
 * step are sent before the result is stored; the chord part is counted in the
 * same backend step as the store; failures reach the rest of the chain, the
 * chord body and the errbacks (celery-wire.md §1.5, §1.8, §4.4, §6).
 */
import { PROPAGATE_STATES, States, type ChordPart, type ChordPartRef, type TaskMeta } from '../backend/index.js';
import { Chain, Chord, fromDict, Group, Signature } from '../canvas/index.js';
import {
  BackendError,
  ChordError,
  deserializeException,
  chainRest,
  excRepr,
  serializeException,
  TaskRevokedError,
  type ExceptionInfo,
  type SignatureDict,
} from '../protocol/index.js';
import { AsyncResult, GroupResult, type AnyResult } from '../result/index.js';
import type { Celeriac } from '../app.js';
import type { RetryRequest } from './context.js';
import { formatTraceback, toError } from './executor.js';
import { buildMeta } from './meta.js';
import type { TaskRequest } from './request.js';

/** A request-like record for metas of tasks that never ran (chain steps after a failure, chord bodies). */
function syntheticRequest(parent: TaskRequest, sig: Signature): TaskRequest {
  return {
    ...parent,
    id: sig.id as string,
    name: sig.task,
    args: sig.args,
    kwargs: sig.kwargs,
    groupId: (sig.options.group_id as string | undefined) ?? null,
    groupIndex: (sig.options.group_index as number | undefined) ?? null,
    parentId: parent.id,
    callbacks: null,
    errbacks: ((sig.options.link_error as Signature[] | undefined) ?? []).map((s) => s.toDict()),
    chain: null,
    chord: sig.options.chord instanceof Signature ? sig.options.chord.toDict() : ((sig.options.chord as SignatureDict | undefined) ?? null),
    children: [],
  };
}

const DONE: Promise<void> = Promise.resolve();
const NOTHING = (): void => undefined;

/** Whether a success sends something before its result is stored: callbacks, or the next chain step. */
function sendsNext(req: TaskRequest): boolean {
  return Boolean(req.callbacks?.length || req.chain?.length);
}

function chordRef(req: TaskRequest): ChordPartRef | undefined {
  return req.chord && req.groupId ? { groupId: req.groupId, groupIndex: req.groupIndex, redelivered: req.deliveryInfo.redelivered } : undefined;
}

/** Whether a success is stored: unless the task ignores its result and feeds no chord (whose parts are counted in the store). */
function storesSuccess(req: TaskRequest): boolean {
  return !req.ignoreResult || chordRef(req) !== undefined;
}

/** Handles the outcome of tasks for one app. */
export class Continuation {
  /**
   * Successes whose result store waits for what they sent (the backend does
   * not share the broker's connection, so the send's reply comes first):
   * task id → settles once its store is issued. What such a task sent may
   * run here before that (a chain step this worker takes itself), and its
   * own store waits for it: a step's result is never stored before its
   * predecessor's, which lists it among its children. A success that stores
   * nothing (it ignores its result) passes its own predecessor's wait on to
   * what it sent (`issue` null): until that store is issued.
   */
  private readonly unissued = new Map<string, { issued: Promise<void>; issue: (() => void) | null }>();

  constructor(private readonly app: Celeriac) {}

  private get log() {
    return this.app.conf.logger;
  }

  private meta(req: TaskRequest, status: string, result: unknown, traceback: string | null, children: readonly AnyResult[] = req.children): TaskMeta {
    return buildMeta(req, status, result, traceback, children, { now: this.app.now(), extended: this.app.conf.resultExtended });
  }

  /** Store a meta (counting the chord part) and complete the chord if this part was the last. */
  async store(req: TaskRequest, meta: TaskMeta, force = false): Promise<void> {
    const completed = await this.write(req, meta, force);
    if (completed) await this.completeChord(req, completed.groupId, completed.parts);
  }

  /** Store a meta (counting the chord part); resolves to the chord this part completed, if any. */
  private async write(req: TaskRequest, meta: TaskMeta, force = false): Promise<{ groupId: string; parts: ChordPart[] } | null> {
    if (!force && meta.status === States.SUCCESS && !storesSuccess(req)) return null;
    const ref = chordRef(req);
    const predecessor = this.predecessor(req);
    if (predecessor) await predecessor;
    // The worker connected the backend before it started, so the getter is the live adapter.
    const storing = this.app.backend.store(meta, ref);
    this.issue(req.id);
    const outcome = await storing;
    return ref && outcome.chord?.ready ? { groupId: ref.groupId, parts: outcome.chord.parts } : null;
  }

  /** Settles once the store of the task that sent this one is issued, when that task is still waiting to store here; else null. */
  private predecessor(req: TaskRequest): Promise<void> | null {
    // (A replacement keeps the id of the task it replaces, which may be its parent.)
    return this.unissued.size && req.parentId !== null && req.parentId !== req.id ? (this.unissued.get(req.parentId)?.issued ?? null) : null;
  }

  /**
   * Make what a success sends, if it runs here, store after the success's
   * own store is issued; when the success stores nothing, after the store
   * that one would have followed (see unissued).
   */
  private hold(req: TaskRequest): void {
    if (storesSuccess(req)) {
      let issue = NOTHING;
      const issued = new Promise<void>((resolve) => (issue = resolve));
      this.unissued.set(req.id, { issued, issue });
      return;
    }
    const before = this.predecessor(req);
    if (!before) return;
    const entry = { issued: before, issue: null };
    this.unissued.set(req.id, entry);
    void before.then(() => {
      if (this.unissued.get(req.id) === entry) this.unissued.delete(req.id);
    });
  }

  /** The task's store is issued (or will not be): what it sent may store now. */
  private issue(id: string): void {
    const entry = this.unissued.get(id);
    // (A success that stores nothing passes its predecessor's wait on until that settles: see hold.)
    if (!entry?.issue) return;
    this.unissued.delete(id);
    entry.issue();
  }

  /** Send a success's callbacks and the next chain step; what was sent becomes the task's children. */
  private async sendNext(req: TaskRequest, value: unknown, sent: AnyResult[]): Promise<void> {
    // A chain step or callback sent to a queue this worker consumes may be taken by it at once (RedisBroker).
    const d = this.app.dispatch({ takeLocally: true });
    const opts = { parent_id: req.id, root_id: req.rootId, add_to_parent: false };
    this.app.runDetached(() => {
      const callbacks = (req.callbacks ?? []).map((c) => fromDict(c, this.app));
      if (callbacks.length === 1) sent.push(callbacks[0].applyInto(d, [value], {}, opts));
      else if (callbacks.length > 1) {
        const plain = callbacks.filter((c) => !(c instanceof Group));
        for (const g of callbacks.filter((c) => c instanceof Group)) sent.push(g.applyInto(d, [value], {}, opts));
        if (plain.length) sent.push(new Group(plain, {}, this.app).applyInto(d, [value], {}, opts));
      }
      if (req.chain?.length) {
        const rest = chainRest(req.chain);
        const next = fromDict(req.chain[req.chain.length - 1], this.app);
        sent.push(next.applyInto(d, [value], {}, { ...opts, ...(rest.length ? { chain: rest } : {}) }));
      }
    });
    await d.flush();
  }

  /**
   * Success: send callbacks and the next chain step, then store SUCCESS (and
   * count the chord part). A task with nothing to send and no chord waits on
   * the store alone, holding only its request for the case the store fails.
   */
  onSuccess(req: TaskRequest, value: unknown): Promise<void> {
    if (sendsNext(req) || chordRef(req)) return this.onSuccessFollowed(req, value);
    if (req.ignoreResult) return DONE;
    const predecessor = this.predecessor(req);
    if (predecessor) return predecessor.then(() => this.storeSuccess(req, value));
    return this.storeSuccess(req, value);
  }

  private storeSuccess(req: TaskRequest, value: unknown): Promise<void> {
    let storing: Promise<unknown>;
    try {
      storing = this.app.backend.storeQuietly(this.meta(req, States.SUCCESS, value, null));
    } catch (err) {
      storing = Promise.reject(err);
    }
    return storing.then(NOTHING, (err: unknown) => this.unstored(req, 'store', err));
  }

  private async onSuccessFollowed(req: TaskRequest, value: unknown): Promise<void> {
    const sent: AnyResult[] = [];
    // Celery sends what follows a task before it stores the result. When both go over one connection the order
    // holds without waiting for the send's reply, so the two leave in one write. Else the store waits for the
    // reply, and what was sent, if it runs here meanwhile, stores after this (see unissued).
    const follows = sendsNext(req);
    if (follows && !this.app.storesAfterSends) this.hold(req);
    try {
      await this.successFollowed(req, value, sent, follows);
    } finally {
      // Stored, or failed before it could be: either way nothing waits for it any more.
      this.issue(req.id);
    }
  }

  private async successFollowed(req: TaskRequest, value: unknown, sent: AnyResult[], follows: boolean): Promise<void> {
    const sending = follows ? this.sendNext(req, value, sent) : null;
    sending?.catch(() => undefined);
    let completed: Awaited<ReturnType<Continuation['write']>>;
    let stage: 'send' | 'store' = 'send';
    try {
      if (sending && !this.app.storesAfterSends) await sending;
      const storing = this.write(req, this.meta(req, States.SUCCESS, value, null, sent.length ? [...req.children, ...sent] : req.children));
      if (sending) {
        storing.catch(() => undefined);
        await sending;
      }
      stage = 'store';
      completed = await storing;
    } catch (err) {
      await this.unstored(req, stage, err);
      return;
    }
    if (completed) await this.completeChord(req, completed.groupId, completed.parts);
  }

  /**
   * Sending what follows a success failed, or the backend refused its result
   * (too large, out of memory, …): the task fails saying so, as Celery's
   * tracer stores FAILURE when either raises. If FAILURE cannot be stored
   * either, the first error stands.
   */
  private async unstored(req: TaskRequest, stage: 'send' | 'store', err: unknown): Promise<void> {
    const cause = toError(err);
    const failure =
      stage === 'send'
        ? new BackendError(`what follows ${req.name}[${req.id}] (callbacks, the next chain step) could not be sent: ${cause.message}`)
        : new BackendError(`the result of ${req.name}[${req.id}] could not be stored by the result backend: ${cause.message}`);
    this.log.error({ id: req.id, name: req.name, err: cause.message }, stage === 'send' ? 'what follows the task could not be sent; marking it FAILURE' : 'result could not be stored; marking the task FAILURE');
    try {
      await this.onFailure(req, failure, formatTraceback(failure));
    } catch {
      throw err;
    }
  }

  /** Failure: store FAILURE, fail the rest of the chain and a chord it feeds, then run errbacks once. */
  async onFailure(req: TaskRequest, error: Error, traceback: string, state: string = States.FAILURE): Promise<void> {
    const exc = serializeException(error);
    await this.store(req, this.meta(req, state, exc, traceback), true);
    await this.failChainRest(req, exc, traceback);
    await this.runErrbacks(req, error, traceback, req.errbacks);
  }

  /** Revoked (or expired) before running: REVOKED is stored and counts as a chord failure. */
  async onRevoked(req: TaskRequest, reason: 'revoked' | 'expired' | 'terminated'): Promise<void> {
    const exc = serializeException(new TaskRevokedError(reason));
    await this.store(req, this.meta(req, States.REVOKED, exc, null), true);
    await this.failChainRest(req, exc, null, States.REVOKED);
  }

  /** Retry: re-send the same id with retries+1 and an ETA, then store RETRY. */
  async onRetry(req: TaskRequest, retry: RetryRequest): Promise<void> {
    const d = this.app.dispatch();
    const o = retry.options;
    const sig = new Signature(
      {
        task: req.name,
        args: o.args ?? req.args,
        kwargs: o.kwargs ?? req.kwargs,
        options: {
          task_id: req.id,
          retries: req.retries + 1,
          eta: new Date(retry.when ?? this.app.now()),
          queue: req.deliveryInfo.routingKey || req.deliveryInfo.queue || undefined,
          parent_id: req.id,
          root_id: req.rootId,
          group_id: req.groupId ?? undefined,
          group_index: req.groupIndex ?? undefined,
          chord: req.chord ?? undefined,
          chain: req.chain ?? undefined,
          link: req.callbacks ?? undefined,
          link_error: req.errbacks ?? undefined,
          time_limit: req.timelimit[0] ?? undefined,
          soft_time_limit: req.timelimit[1] ?? undefined,
          priority: req.deliveryInfo.priority ?? undefined,
          add_to_parent: false,
        },
      },
      this.app,
    );
    for (const k of Object.keys(sig.options)) if (sig.options[k] === undefined) delete sig.options[k];
    const r = sig.applyInto(d, [], {}, {});
    await d.flush();
    const exc = retry.exc ? serializeException(retry.exc) : null;
    const backend = await this.app.resultBackend();
    await backend.store(this.meta(req, States.RETRY, exc, formatTraceback(retry), [r]));
  }

  /**
   * Mark every result the caller can hold for the rest of the chain FAILURE
   * with the same exception (C-048), so waiting on the last one ends. The
   * stores are issued together (one backend call on Redis), so a caller that
   * sees one of them fail finds the others failed too.
   */
  private async failChainRest(req: TaskRequest, exc: ExceptionInfo, traceback: string | null, state: string = States.FAILURE): Promise<void> {
    await Promise.all((req.chain ?? []).map((raw) => this.markFailed(req, fromDict(raw, this.app), exc, traceback, state)));
  }

  /** Store FAILURE under every id a caller may hold for `sig` (chains: all steps; groups: all members; chords: header and body), all at once. */
  private async markFailed(parent: TaskRequest, sig: Signature, exc: ExceptionInfo, traceback: string | null, state: string = States.FAILURE): Promise<void> {
    const all = (sigs: readonly Signature[]): Promise<unknown> => Promise.all(sigs.map((s) => this.markFailed(parent, s, exc, traceback, state)));
    if (sig instanceof Chain || sig instanceof Group) {
      await all(sig.tasks);
      return;
    }
    if (sig instanceof Chord) {
      await all(sig.body ? [...sig.header.tasks, sig.body] : sig.header.tasks);
      return;
    }
    if (!sig.id) return;
    const req = syntheticRequest(parent, sig);
    await this.store(req, this.meta(req, state, exc, traceback), true);
  }

  /**
   * The last header part reported: read the values in header order and send
   * the body, or fail the body with a ChordError naming the first failed part.
   */
  async completeChord(req: TaskRequest, groupId: string, parts: ChordPart[]): Promise<void> {
    const backend = await this.app.resultBackend();
    if (!req.chord) return;
    const body = fromDict(req.chord, this.app);
    try {
      let values: unknown[];
      let failed: { id: string; exc: unknown } | null = null;
      const saved = await backend.restoreGroup(groupId);
      if (saved) {
        const group = this.app.resultFromTuple(saved) as GroupResult;
        const r = await this.readNested(group);
        values = r.values;
        failed = r.failed;
      } else {
        values = [];
        for (const p of parts) {
          if (!failed && PROPAGATE_STATES.has(p.state)) failed = { id: p.id, exc: p.result };
          values.push(p.result);
        }
      }
      if (failed) {
        const exc = failed.exc as ExceptionInfo;
        const repr = exc && typeof exc === 'object' && 'exc_type' in exc ? excRepr(exc.exc_type, Array.isArray(exc.exc_message) ? exc.exc_message : [exc.exc_message]) : String(exc);
        const err = new ChordError(`Dependency ${failed.id} raised ${repr}`);
        err.cause = deserializeException(exc, null, this.app.errors);
        await this.failBody(req, body, err);
      } else {
        // Sent at most once per message: a completer that dies after this send and before chordDone reports again
        // when its message is redelivered, and sends the body again.
        const d = this.app.dispatch({ once: true });
        this.app.runDetached(() => body.applyInto(d, [values], {}, { parent_id: req.id, root_id: req.rootId, add_to_parent: false }));
        await d.flush();
      }
    } catch (e) {
      const info = serializeException(toError(e));
      const err = new ChordError(`Callback error: ${excRepr(info.exc_type, info.exc_message as unknown[])}`);
      this.log.error({ err: e, groupId }, 'chord body could not be sent');
      await this.failBody(req, body, err);
    }
    await backend.chordDone(groupId);
  }

  private async readNested(group: GroupResult): Promise<{ values: unknown[]; failed: { id: string; exc: unknown } | null }> {
    const values: unknown[] = [];
    let failed: { id: string; exc: unknown } | null = null;
    for (const r of group.results) {
      if (r instanceof AsyncResult) {
        const m = await r.meta();
        if (!failed && PROPAGATE_STATES.has(m.status)) failed = { id: r.id, exc: m.result };
        values.push(m.result);
      } else {
        const inner = await this.readNested(r);
        failed ??= inner.failed;
        values.push(inner.values);
      }
    }
    return { values, failed };
  }

  /** Every body result becomes FAILURE with the ChordError; the body's errbacks run once (C-119, C-123, C-125). */
  async failBody(req: TaskRequest, body: Signature, err: ChordError): Promise<void> {
    const exc = serializeException(err);
    const tb = formatTraceback(err);
    await this.markFailed(req, body, exc, tb);
    const errbacks = collectErrbacks(body);
    if (errbacks.length) {
      const bodyReq = syntheticRequest(req, lastOf(body));
      await this.runErrbacks(bodyReq, err, tb, errbacks.map((e) => e.toDict()));
    }
  }

  /**
   * Errbacks: tasks registered here with `errback: true` are called inline
   * with (request, error, traceback); the rest are sent as one group with the
   * failed id first (C-029). An errback that throws is logged, never fatal.
   */
  async runErrbacks(req: TaskRequest, error: Error, traceback: string, errbacks: SignatureDict[] | null): Promise<void> {
    if (!errbacks?.length) return;
    const oldStyle: Signature[] = [];
    for (const raw of errbacks) {
      const sig = fromDict(raw, this.app);
      const task = this.app.tasks.get(sig.task);
      if (task?.options.errback && !(sig instanceof Group) && !(sig instanceof Chain)) {
        try {
          const args = sig.immutable ? sig.args : [req, error, traceback, ...sig.args];
          const fn = task.fn as (...a: unknown[]) => unknown;
          await this.app.runDetached(async () => fn(...args));
        } catch (e) {
          this.log.error({ err: e, task: sig.task, failed: req.id }, 'errback raised; ignored');
        }
      } else oldStyle.push(sig);
    }
    if (!oldStyle.length) return;
    try {
      const d = this.app.dispatch();
      this.app.runDetached(() => new Group(oldStyle, {}, this.app).applyInto(d, [req.id], {}, { parent_id: req.id, root_id: req.rootId, add_to_parent: false }));
      await d.flush();
    } catch (e) {
      this.log.error({ err: e, failed: req.id }, 'errbacks could not be sent');
    }
  }
}

function lastOf(sig: Signature): Signature {
  if (sig instanceof Chain && sig.tasks.length) return lastOf(sig.tasks[sig.tasks.length - 1]);
  if (sig instanceof Chord && sig.body) return lastOf(sig.body);
  return sig;
}

function collectErrbacks(sig: Signature): Signature[] {
  const own = (sig.options.link_error as Signature[] | undefined) ?? [];
  if (sig instanceof Chain) {
    const seen: Signature[] = [...own];
    for (const t of sig.tasks) for (const e of collectErrbacks(t)) if (!seen.some((s) => s.equals(e))) seen.push(e);
    return seen;
  }
  if (sig instanceof Group) {
    const seen: Signature[] = [...own];
    for (const t of sig.tasks) for (const e of collectErrbacks(t)) if (!seen.some((s) => s.equals(e))) seen.push(e);
    return seen;
  }
  return own;
}
