/**
 * Result notifications of the Redis backend: one subscriber connection for
 * the process, listening on the channels Celery publishes each store on
 * (`celery-task-meta-<id>`), with the waiters of each task id.
 *
 * - **Listening ahead.** A process that waits for results (one waited in the
 *   last second) subscribes to a task's channel as it sends the task, as
 *   Celery's Redis backend does at every send (`on_task_call`): the
 *   SUBSCRIBE is written before the task's message, so Redis runs it before
 *   any store of that task, and `get()` needs neither a subscription round
 *   trip nor a read. A result that arrives before anyone waits is kept for
 *   the `get()` that comes for it (up to AHEAD_KEEP_MAX; a larger one is
 *   read then). At most AHEAD_MAX tasks are listened for ahead without a
 *   `get()`, each for at most AHEAD_TTL_MS.
 * - **Ids listened on before they are used.** While it listens ahead, the
 *   process subscribes to the channels of task ids it has not used yet, in
 *   batches of ID_BATCH in one SUBSCRIBE, and a task sent on its own takes
 *   its id from them (`listenedId`): its send then needs no SUBSCRIBE of its
 *   own, a write less per send (each wakes Redis). Ids not taken are let go
 *   once the process stops listening ahead.
 * - **Leaving in batches.** Channels no one listens on any more are
 *   unsubscribed together, in one UNSUBSCRIBE, a moment later or once 64
 *   wait; one wanted again meanwhile stays subscribed.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { decodeJson, encodeJson } from '../protocol/index.js';
import { READY_STATES, type TaskMeta, type Unsubscribe } from './types.js';

/** How long after a wait ended sends still listen ahead (ms). */
export const AHEAD_WINDOW_MS = 1000;
/** At most this many tasks listened for ahead and not yet waited for. */
export const AHEAD_MAX = 1000;
/** A task listened for ahead and not waited for is dropped after this long (ms). */
export const AHEAD_TTL_MS = 60_000;
/** A result heard ahead is kept for its get() only up to this size (characters of its meta); a larger one is read then. */
export const AHEAD_KEEP_MAX = 16 * 1024;
/** Channels released are unsubscribed this long after the first of them (ms), or when this many wait. */
const RELEASE_DELAY_MS = 20;
const RELEASE_BATCH = 64;
/** Ids subscribed ahead of any task at once (see listenedId). */
export const ID_BATCH = 32;

type Listener = (meta: TaskMeta) => void;

/** A task listened for ahead: since when, and its ready meta once heard. */
interface Ahead {
  at: number;
  meta: TaskMeta | null;
}

/** What the channels need from the backend. */
export interface NotifyHost {
  /** Open the subscriber connection (not yet connected). */
  open(): Redis;
  /** The channel (and key) of a task id. */
  channel(taskId: string): string;
  /** Read metas, in the order asked. */
  getMetas(taskIds: readonly string[]): Promise<TaskMeta[]>;
  readonly log: { warn(message: string, ...details: unknown[]): void };
}

/** The subscriber connection, its channels and their listeners. */
export class ResultChannels {
  private sub: Redis | null = null;
  private subReady: Promise<void> | null = null;
  /** Listeners per task id (an array: almost always one). */
  private readonly waiters = new Map<string, Listener[]>();
  /** Task ids whose channel is subscribed (SUBSCRIBE sent, no UNSUBSCRIBE since) → settled when Redis confirmed it. */
  private readonly subscribed = new Map<string, Promise<unknown>>();
  /** Tasks listened for ahead that no one waits for yet, oldest first. */
  private readonly ahead = new Map<string, Ahead>();
  /** Ids subscribed before any task has them (see listenedId), oldest first. */
  private readonly unused = new Set<string>();
  /** Lets go of the unused ids once the process no longer listens ahead. */
  private unusedTimer: NodeJS.Timeout | null = null;
  /** Task ids whose channel no one needed when let go: unsubscribed in the next batch unless needed again by then. */
  private readonly released = new Set<string>();
  private releaseTimer: NodeJS.Timeout | null = null;
  /** When the last wait ended (performance.now() ms). */
  private lastWait = -Infinity;
  private readonly prefix: string;

  constructor(private readonly host: NotifyHost) {
    this.prefix = host.channel('');
  }

  /** Listen for stores of a task id (see ResultBackend.subscribe). */
  async subscribe(taskId: string, listener: Listener): Promise<Unsubscribe> {
    const early = this.ahead.get(taskId);
    if (early) {
      this.ahead.delete(taskId);
      // Subscribed before the task was sent (every store of it reaches us, no confirmation needed), or its ready meta
      // was heard and its channel let go (what was heard is the answer). Else its subscription failed: as if not early.
      const listening = this.subscribed.has(taskId);
      if (listening || early.meta) {
        if (listening) this.listen(taskId, listener);
        if (early.meta) listener(early.meta);
        return Object.assign(this.stopper(taskId, listener), { sinceSend: true });
      }
    }
    const sub = await this.subscriber();
    this.listen(taskId, listener);
    try {
      await this.want(sub, taskId);
    } catch (err) {
      this.unlisten(taskId, listener);
      throw err;
    }
    return this.stopper(taskId, listener);
  }

  /**
   * The task is about to be sent and its result will likely be waited for:
   * subscribe now, in the same turn as the send and before it (see the top
   * of this file). Does nothing unless this process waited for a result in
   * the last second and the subscriber connection is up.
   */
  listenAhead(taskId: string): void {
    const sub = this.sub;
    if (!sub || sub.status !== 'ready' || this.waiters.has(taskId) || this.ahead.has(taskId)) return;
    const now = performance.now();
    if (!this.aheadWanted(now)) return;
    this.sweep(now);
    if (this.ahead.size >= AHEAD_MAX) return;
    this.ahead.set(taskId, { at: now, meta: null });
    // Written now: the connection is ready, so ioredis writes the command to its socket in this call.
    this.want(sub, taskId).catch(() => this.ahead.delete(taskId));
  }

  /**
   * An id for a task about to be sent whose channel is subscribed already,
   * while the process listens ahead (null otherwise): its listenAhead then
   * writes nothing. Ids are uuid4s, subscribed ID_BATCH at a time in one
   * SUBSCRIBE; the batch taken from is written before the task's message,
   * as listenAhead's SUBSCRIBE is. One taken and not listened for in this
   * turn is let go with the next batch of released channels.
   */
  listenedId(): string | null {
    const sub = this.sub;
    const now = performance.now();
    if (!sub || sub.status !== 'ready' || !this.aheadWanted(now) || this.ahead.size >= AHEAD_MAX) return null;
    if (this.unused.size === 0) this.subscribeUnused(sub);
    const next = this.unused.values().next();
    if (next.done) return null;
    const id = next.value;
    this.unused.delete(id);
    this.release(id);
    return id;
  }

  /** Whether sends listen ahead now: someone waits, or a wait ended less than AHEAD_WINDOW_MS ago. */
  private aheadWanted(now: number): boolean {
    return this.waiters.size > 0 || now - this.lastWait <= AHEAD_WINDOW_MS;
  }

  /** Subscribe to ID_BATCH new ids' channels in one SUBSCRIBE (see listenedId). */
  private subscribeUnused(sub: Redis): void {
    const ids = Array.from({ length: ID_BATCH }, () => randomUUID());
    const confirmed = sub.subscribe(...ids.map((id) => this.host.channel(id)));
    for (const id of ids) {
      this.unused.add(id);
      this.subscribed.set(id, confirmed);
    }
    confirmed.catch(() => {
      for (const id of ids) {
        this.unused.delete(id);
        if (this.subscribed.get(id) === confirmed) this.subscribed.delete(id);
      }
    });
    if (!this.unusedTimer) this.armUnusedTimer();
  }

  /** Every AHEAD_WINDOW_MS while ids wait unused: once the process no longer listens ahead, let them go. */
  private armUnusedTimer(): void {
    this.unusedTimer = setTimeout(() => {
      this.unusedTimer = null;
      if (this.unused.size === 0) return;
      if (this.aheadWanted(performance.now())) return this.armUnusedTimer();
      const ids = [...this.unused];
      this.unused.clear();
      for (const id of ids) this.release(id);
    }, AHEAD_WINDOW_MS);
    this.unusedTimer.unref();
  }

  /** Close the subscriber connection; listeners hear nothing more. */
  close(): Redis | null {
    const sub = this.sub;
    this.sub = null;
    this.subReady = null;
    this.waiters.clear();
    this.ahead.clear();
    this.subscribed.clear();
    this.released.clear();
    this.unused.clear();
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    if (this.unusedTimer) clearTimeout(this.unusedTimer);
    this.releaseTimer = null;
    this.unusedTimer = null;
    return sub;
  }

  private async subscriber(): Promise<Redis> {
    if (!this.sub) {
      const sub = this.host.open();
      let first = true;
      sub.on('ready', () => {
        if (first) {
          first = false;
          return;
        }
        // ioredis resubscribes by itself; stores made while we were away are read back (Celery's MGET on reconnect).
        void this.catchUp();
      });
      sub.on('message', (channel: string, data: string) => this.onMessage(channel, data));
      this.sub = sub;
      this.subReady = sub.connect();
    }
    await this.subReady;
    return this.sub;
  }

  /** Subscribe to the task's channel unless it is; settles when Redis confirmed the subscription. */
  private want(sub: Redis, taskId: string): Promise<unknown> {
    let confirmed = this.subscribed.get(taskId);
    if (!confirmed) {
      confirmed = sub.subscribe(this.host.channel(taskId));
      this.subscribed.set(taskId, confirmed);
      const mine = confirmed;
      confirmed.catch(() => {
        if (this.subscribed.get(taskId) === mine) this.subscribed.delete(taskId);
      });
    }
    return confirmed;
  }

  private listen(taskId: string, listener: Listener): void {
    const list = this.waiters.get(taskId);
    if (list) list.push(listener);
    else this.waiters.set(taskId, [listener]);
  }

  /** Remove a listener (if it is one); the task's channel is let go after its last. */
  private unlisten(taskId: string, listener: Listener): void {
    const list = this.waiters.get(taskId);
    const i = list ? list.indexOf(listener) : -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length > 0) return;
    this.waiters.delete(taskId);
    this.release(taskId);
  }

  /** The end of a wait: the listener goes, and the wait counts for listening ahead (AHEAD_WINDOW_MS). */
  private stopper(taskId: string, listener: Listener): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.unlisten(taskId, listener);
      this.lastWait = performance.now();
    };
  }

  /** Someone needs the task's channel: a waiter, a task listened for ahead whose result has not come, or an unused id. */
  private needed(taskId: string): boolean {
    return this.waiters.has(taskId) || this.ahead.get(taskId)?.meta === null || this.unused.has(taskId);
  }

  /** The task's channel may not be needed any more: unsubscribe it with the next batch unless it is by then. */
  private release(taskId: string): void {
    if (!this.subscribed.has(taskId) || this.needed(taskId)) return;
    this.released.add(taskId);
    if (this.released.size >= RELEASE_BATCH) this.flushReleased();
    else if (!this.releaseTimer) {
      this.releaseTimer = setTimeout(() => this.flushReleased(), RELEASE_DELAY_MS);
      this.releaseTimer.unref();
    }
  }

  private flushReleased(): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    this.sweep(performance.now());
    const sub = this.sub;
    const ids = [...this.released].filter((id) => !this.needed(id));
    this.released.clear();
    if (!sub || ids.length === 0) return;
    for (const id of ids) this.subscribed.delete(id);
    sub.unsubscribe(...ids.map((id) => this.host.channel(id))).catch((err: unknown) => this.host.log.warn(`celeriac: unsubscribing from ${ids.length} result channel(s) failed: ${(err as Error).message}`));
  }

  /** Drop tasks listened for ahead longer than AHEAD_TTL_MS ago that no one waited for. */
  private sweep(now: number): void {
    for (const [id, a] of this.ahead) {
      if (now - a.at < AHEAD_TTL_MS) break;
      this.ahead.delete(id);
      this.release(id);
    }
  }

  private onMessage(channel: string, data: string): void {
    if (!channel.startsWith(this.prefix)) return;
    const id = channel.slice(this.prefix.length);
    if (!this.waiters.has(id) && !this.ahead.has(id)) return;
    let meta: TaskMeta;
    try {
      meta = decodeJson(data) as TaskMeta;
    } catch (err) {
      this.host.log.warn(`celeriac: ignoring unreadable result notification for ${id}: ${(err as Error).message}`);
      return;
    }
    this.heard(id, meta, data.length <= AHEAD_KEEP_MAX);
  }

  /**
   * A store of the task was heard (or read back after a reconnect): a ready one of a task listened for ahead is kept
   * for the get() that comes for it, unless it is too large to keep (then that get() reads it), and its channel is
   * let go; the task's listeners hear it.
   */
  private heard(id: string, meta: TaskMeta, keepable: boolean): void {
    const early = this.ahead.get(id);
    if (early && READY_STATES.has(meta.status)) {
      if (keepable) early.meta = meta;
      else this.ahead.delete(id);
      this.release(id);
    }
    const list = this.waiters.get(id);
    if (!list) return;
    // The listeners as they were when it came (one that subscribes another does not call it now).
    if (list.length === 1) this.tell(list[0], id, meta);
    else for (const l of [...list]) this.tell(l, id, meta);
  }

  private tell(listener: Listener, id: string, meta: TaskMeta): void {
    try {
      listener(meta);
    } catch (err) {
      this.host.log.warn(`celeriac: result listener for ${id} threw: ${(err as Error).message}`);
    }
  }

  /** After a reconnect: read what was stored meanwhile for everyone listening. */
  private async catchUp(): Promise<void> {
    const ids = [...this.waiters.keys(), ...[...this.ahead].filter(([, a]) => !a.meta).map(([id]) => id)];
    if (ids.length === 0) return;
    try {
      const metas = await this.host.getMetas(ids);
      for (const m of metas) if (m.status !== 'PENDING') this.heard(m.task_id, m, encodeJson(m).length <= AHEAD_KEEP_MAX);
    } catch (err) {
      this.host.log.warn(`celeriac: reading results after a reconnect failed: ${(err as Error).message}`);
    }
  }
}
