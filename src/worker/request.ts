/** The request a running task sees (Celery's `self.request`) and the bound-task context. */
import type { Embed, SignatureDict, TaskHeaders } from '../protocol/index.js';
import type { AnyResult } from '../result/index.js';
import type { Signature } from '../canvas/index.js';

/** Where the message came from. */
export interface DeliveryInfo {
  exchange: string;
  routingKey: string;
  queue: string;
  redelivered: boolean;
  priority: number | null;
}

/** What a task knows about its own call. */
export interface TaskRequest {
  /** Task id. */
  readonly id: string;
  /** Task name. */
  readonly name: string;
  /** Positional args as received. */
  readonly args: unknown[];
  /** Keyword args as received. */
  readonly kwargs: Record<string, unknown>;
  /** First task of the workflow. */
  readonly rootId: string;
  /** The task that sent this one, or null. */
  readonly parentId: string | null;
  /** Group (or chord header) id, or null. */
  readonly groupId: string | null;
  /** Position in the group, or null. */
  readonly groupIndex: number | null;
  /** How many times this task was retried. */
  readonly retries: number;
  /** ETA (epoch ms) or null. */
  readonly eta: number | null;
  /** Expiry (epoch ms) or null. */
  readonly expires: number | null;
  /** `[hard, soft]` seconds. */
  readonly timelimit: [number | null, number | null];
  /** Delivery details. */
  readonly deliveryInfo: DeliveryInfo;
  /** The worker's node name. */
  readonly hostname: string;
  /** Callbacks (`link`). */
  readonly callbacks: SignatureDict[] | null;
  /** Errbacks (`link_error`). */
  readonly errbacks: SignatureDict[] | null;
  /** Remaining chain, last first. */
  readonly chain: SignatureDict[] | null;
  /** The chord body, when this task is a chord header part. */
  readonly chord: SignatureDict | null;
  /** Whether the task's result is not stored. */
  readonly ignoreResult: boolean;
  /** Raw headers. */
  readonly headers: TaskHeaders;
  /** True when run by `apply()` in the caller's process. */
  readonly isEager: boolean;
  /** Results of what this task sent while running (stored as `children`). */
  readonly children: AnyResult[];
}

/** Options of `retry()`. */
export interface RetryOptions {
  /** Seconds to wait. Default: the task's defaultRetryDelay (180). */
  countdown?: number;
  /** Time to retry at. */
  eta?: Date;
  /** Override the task's maxRetries for this call. */
  maxRetries?: number | null;
  /** The error that caused the retry (stored with RETRY; thrown when retries run out). */
  exc?: Error;
  /** New args for the retried call. */
  args?: unknown[];
  /** New kwargs for the retried call. */
  kwargs?: Record<string, unknown>;
}

/** What a bound task (`{ bind: true }`) receives as its first argument. */
export interface TaskContext {
  /** The request. */
  readonly request: TaskRequest;
  /** The task name. */
  readonly name: string;
  /** Aborted when the soft time limit passes or the task is revoked with terminate. */
  readonly signal: AbortSignal;
  /** Retry this task: throws a Retry, which the worker turns into a re-sent message. */
  retry(options?: RetryOptions): never;
  /** Replace this task with a canvas, which inherits this task's id, callbacks and chain (C-170). */
  replace(sig: Signature): Promise<never>;
  /** Store a custom state (e.g. PROGRESS) with meta for callers to read. */
  updateState(state: string, meta?: unknown): Promise<void>;
  /** Add a signature to the chord this task is a header part of (C-130). */
  addToChord(sig: Signature): Promise<AnyResult>;
}

/** Fields of a request built from a decoded message. */
export function requestFromMessage(
  d: { id: string; name: string; args: unknown[]; kwargs: Record<string, unknown>; embed: Embed; headers: TaskHeaders; eta: number | null; expires: number | null },
  delivery: DeliveryInfo,
  hostname: string,
  isEager = false,
): TaskRequest {
  const h = d.headers;
  return {
    id: d.id,
    name: d.name,
    args: d.args,
    kwargs: d.kwargs,
    rootId: h.root_id || d.id,
    parentId: h.parent_id,
    groupId: h.group,
    groupIndex: h.group_index,
    retries: h.retries,
    eta: d.eta,
    expires: d.expires,
    timelimit: h.timelimit,
    deliveryInfo: delivery,
    hostname,
    callbacks: d.embed.callbacks,
    errbacks: d.embed.errbacks,
    chain: d.embed.chain,
    chord: d.embed.chord,
    ignoreResult: h.ignore_result,
    headers: h,
    isEager,
    children: [],
  };
}
