/**
 * The seam between celeriac and a result store. A backend keeps task metas in
 * Celery's format, group metas, and the chord counter; it knows nothing of
 * brokers or canvases.
 *
 * Contract every adapter keeps (checked by `runBackendConformance`):
 * - **Never downgrade a success.** `store` leaves a SUCCESS meta in place and
 *   reports `stored: false`.
 * - **Store and count are one step.** When `store` is given a chord part, the
 *   meta write and the chord count happen atomically: no reader sees the count
 *   without the meta, and no crash leaves one without the other.
 * - **A part counts once.** Reporting the same task id twice for one chord
 *   counts it once. Exactly one report, the one that completes the count,
 *   returns `ready: true`. A later report of that same task id returns it
 *   again only when marked `redelivered` and before `chordDone`, so a
 *   completer that died before sending the body sends it on redelivery, while
 *   a duplicated message never fires the body twice. After `chordDone`,
 *   nothing for that group fires again.
 * - **Parts in order.** `parts` come back ordered by group index.
 * - **Notification.** `subscribe` listeners hear every store of that id
 *   (best effort; `getMeta` after subscribing closes the race).
 * - **Missing means PENDING.** `getMeta` of an unknown id is a PENDING meta.
 * - **Expiry.** With `resultExpires` > 0 every key the backend writes expires.
 */

import { formatPythonDatetime } from '../protocol/index.js';

/** Celery's task state strings (C-141), as they are on the wire. */
export const States = {
  PENDING: 'PENDING',
  RECEIVED: 'RECEIVED',
  STARTED: 'STARTED',
  SUCCESS: 'SUCCESS',
  FAILURE: 'FAILURE',
  REVOKED: 'REVOKED',
  REJECTED: 'REJECTED',
  RETRY: 'RETRY',
  IGNORED: 'IGNORED',
} as const;

/** A task state: one of Celery's, or a custom one from `updateState`. */
export type TaskState = (typeof States)[keyof typeof States] | (string & {});

/** States in which a result is final. */
export const READY_STATES: ReadonlySet<string> = new Set([States.SUCCESS, States.FAILURE, States.REVOKED]);
/** States whose result is an exception object. */
export const EXCEPTION_STATES: ReadonlySet<string> = new Set([States.RETRY, States.FAILURE, States.REVOKED]);
/** States that `get()` raises for. */
export const PROPAGATE_STATES: ReadonlySet<string> = new Set([States.FAILURE, States.REVOKED]);

/** A task meta exactly as Celery's Redis backend stores it (celery-wire.md §4.1). */
export interface TaskMeta {
  status: TaskState;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  date_done: string | null;
  group_id?: string | null;
  parent_id?: string | null;
  name?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  worker?: string;
  retries?: number;
  queue?: string;
  task_id: string;
}

/** A chord header part being reported together with its meta. */
export interface ChordPartRef {
  groupId: string;
  /** Position in the header (null sorts last, as Celery's +inf). */
  groupIndex: number | null;
  /** The report comes from a redelivered message (its first delivery may have counted and then died). */
  redelivered?: boolean;
}

/** One reported header part. */
export interface ChordPart {
  id: string;
  state: TaskState;
  result: unknown;
}

/** What `store` did. */
export interface StoreOutcome {
  /** False when a SUCCESS was already stored and left in place. */
  stored: boolean;
  /** For chord parts: whether this report completed the chord, and the parts in header order when it did. */
  chord: { ready: false } | { ready: true; parts: ChordPart[] } | null;
}

/** The tuple form of results (C-146): `[[id, parent], null]` or `[[gid, parent], [members]]`. */
export type ResultTuple = [[string, ResultTuple | null], ResultTuple[] | null];

/** A result store. Adapters are chosen by URL scheme. */
export interface ResultBackend {
  /** The URL the adapter was made from (password masked). */
  readonly url: string;
  /** True when the backend counts chord parts itself (no `celery.chord_unlock` needed). */
  readonly nativeChords: boolean;
  /** Open connections. Idempotent. */
  connect(): Promise<void>;
  /** Store a task meta; with `chordPart`, count it in the chord atomically with the store. */
  store(meta: TaskMeta, chordPart?: ChordPartRef): Promise<StoreOutcome>;
  /**
   * `store(meta)` for a caller that does not read the outcome (a worker's
   * plain success), so that the stores of a turn can share one promise.
   * Rejects as `store` does.
   */
  storeQuietly(meta: TaskMeta): Promise<void>;
  /** Read a task meta (PENDING if unknown). */
  getMeta(taskId: string): Promise<TaskMeta>;
  /** Read many task metas, in the order asked. */
  getMetas(taskIds: readonly string[]): Promise<TaskMeta[]>;
  /** Listen for stores of a task id; resolves to an unsubscribe function. */
  subscribe(taskId: string, listener: (meta: TaskMeta) => void): Promise<Unsubscribe>;
  /**
   * Optional: the task is about to be sent and its result will likely be
   * waited for; start listening now, before its message leaves, so that a
   * later `subscribe` hears every store of it (`Unsubscribe.sinceSend`).
   * Called in the same turn as the send, before it.
   */
  listenAhead?(taskId: string): void;
  /**
   * Optional: a new task id (a uuid4) whose result this process listens for
   * already, when it listens ahead; null when it does not. A task sent with
   * it needs nothing from `listenAhead`.
   */
  listenedId?(): string | null;
  /** Delete a task meta. */
  forget(taskId: string): Promise<void>;
  /** Store a group's tuple form (GroupResult.save). */
  saveGroup(groupId: string, tuple: ResultTuple): Promise<void>;
  /** Read a group's tuple form, or null. */
  restoreGroup(groupId: string): Promise<ResultTuple | null>;
  /** Delete a group's tuple form. */
  deleteGroup(groupId: string): Promise<void>;
  /** Record a chord's header size before its parts can report (the `.s` key). */
  setChordSize(groupId: string, size: number): Promise<void>;
  /** Raise a running chord's size by `n` (Task.add_to_chord: the `.t` key); resolves to the new number of additions. */
  addToChord(groupId: string, n: number): Promise<number>;
  /** The chord body was dispatched (or failed): drop the counter. */
  chordDone(groupId: string): Promise<void>;
  /** Close connections. */
  close(): Promise<void>;
}

/** Stops a `subscribe` listener. */
export interface Unsubscribe {
  (): void;
  /**
   * Listening began before the task was sent (`listenAhead`), or its ready
   * meta was heard already (the listener was called with it): every store
   * of it reaches the listener, so nothing needs reading first.
   */
  readonly sinceSend?: boolean;
}

/** Celery's `date_done`: naive UTC with six fraction digits (what 5.2.6 clients parse). */
export function celeryDateDone(now: number): string {
  // Tasks finishing in the same millisecond share one formatting.
  if (now !== lastDone[0]) lastDone = [now, formatPythonDatetime(new Date(now), '')];
  return lastDone[1];
}

let lastDone: [number, string] = [Number.NaN, ''];

/** The PENDING meta of an unknown id. */
export function pendingMeta(taskId: string): TaskMeta {
  return { status: States.PENDING, result: null, traceback: null, children: [], date_done: null, task_id: taskId };
}
