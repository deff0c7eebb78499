/**
 * Apply options: the camelCase names of the TypeScript API and the snake_case
 * keys Celery keeps in a signature's `options` (its wire form), and the merge
 * rules between a signature's options and a call's (C-011).
 */
import type { Signature } from './signature.js';

/** Options accepted by `applyAsync`, `set` and `signature(...)`. */
export interface ApplyOptions {
  /** Use this id instead of a new uuid. */
  taskId?: string;
  /** Run no earlier than this many seconds from now. */
  countdown?: number;
  /** Run no earlier than this time. */
  eta?: Date | string;
  /** Seconds from now, or a time, after which the task is REVOKED instead of run. */
  expires?: number | Date | string;
  /** Queue to send to. Default: the task's route, else the app's default queue. */
  queue?: string;
  /** Routing key (with `exchange`). */
  routingKey?: string;
  /** Named exchange to publish through. */
  exchange?: string;
  /** Message priority 0–9 (Redis: lower first; RabbitMQ: higher first). */
  priority?: number;
  /** Callbacks run with the result on success. */
  link?: Signature | Signature[];
  /** Errbacks run on failure. */
  linkError?: Signature | Signature[];
  /** Do not store the result. */
  ignoreResult?: boolean;
  /** Extra message headers. */
  headers?: Record<string, unknown>;
  /** Name shown in logs and events instead of the task name. */
  shadow?: string;
  /** Hard time limit in seconds. */
  timeLimit?: number;
  /** Soft time limit in seconds. */
  softTimeLimit?: number;
  /** Parent task id (set by workers). */
  parentId?: string;
  /** Root task id of the workflow (set by workers). */
  rootId?: string;
  /** Group id (set by group and chord). */
  groupId?: string;
  /** Position in the group (set by group and chord). */
  groupIndex?: number;
  /** Reply-to tag. */
  replyTo?: string;
  /** Retry count (set by workers). */
  retries?: number;
  /** Make the signature immutable (with `set`). */
  immutable?: boolean;
}

/** Options as Celery stores them in a signature (snake_case), open to unknown keys. */
export type WireOptions = Record<string, unknown>;

const CAMEL_TO_SNAKE: Record<string, string> = {
  taskId: 'task_id',
  routingKey: 'routing_key',
  linkError: 'link_error',
  ignoreResult: 'ignore_result',
  timeLimit: 'time_limit',
  softTimeLimit: 'soft_time_limit',
  parentId: 'parent_id',
  rootId: 'root_id',
  groupId: 'group_id',
  groupIndex: 'group_index',
  replyTo: 'reply_to',
};

/** Keys a call may not override once a signature has them (C-011). */
const PROTECTED = new Set(['group_id']);

/** Convert camelCase options to Celery's keys; nulls and undefined are dropped; link lists normalised. */
export function toWireOptions(options: object | undefined | null): WireOptions {
  const out: WireOptions = {};
  if (!options) return out;
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined || v === null || k === 'immutable') continue;
    const key = CAMEL_TO_SNAKE[k] ?? k;
    out[key] = key === 'link' || key === 'link_error' ? (Array.isArray(v) ? [...v] : [v]) : v;
  }
  return out;
}

/** Merge call options over signature options: call wins, nulls ignored, protected keys kept. */
export function mergeOptions(own: WireOptions, call: WireOptions): WireOptions {
  const out: WireOptions = { ...own };
  for (const [k, v] of Object.entries(call)) {
    if (v === undefined || v === null) continue;
    if (PROTECTED.has(k) && own[k] !== undefined && own[k] !== null) continue;
    out[k] = v;
  }
  return out;
}
