/** What the canvas needs from the app: ids, a way to send, and result objects. */
import type { AnyResult, ResultHost } from '../result/index.js';
import type { EagerResult } from '../result/eager.js';
import type { WireOptions } from './options.js';

/**
 * One batch of sends. Canvas code queues work synchronously (every id is
 * fixed before anything leaves) and the caller flushes once, so a group or a
 * chord header goes out in one pipelined broker call.
 */
export interface Dispatch {
  /** Encode and queue one task message; `options.task_id` is already set. */
  task(name: string, args: unknown[], kwargs: Record<string, unknown>, options: WireOptions): void;
  /** Queue a step (such as writing a chord's size) that must complete before the messages queued after it. */
  action(fn: () => Promise<void>): void;
  /**
   * The caller is likely to wait for this result: have the backend listen
   * for it before the messages leave (called just before `flush`).
   */
  expect(result: AnyResult): void;
  /** Send everything queued, in order. */
  flush(): Promise<void>;
}

/** The request a canvas is being sent from, when it is sent inside a running task. */
export interface ParentRequest {
  id: string;
  rootId: string;
  /** Results of what the task sent; stored as the task's `children`. */
  children: AnyResult[];
}

/** What canvas objects use to send themselves. Implemented by the app. */
export interface CanvasHost extends ResultHost {
  /** A new task id. */
  newId(): string;
  /** A new id for a task sent on its own, whose result may be waited for (the backend may be listening for it already). */
  newResultId(task: string, options: WireOptions): string;
  /** Start a batch of sends. */
  dispatch(): Dispatch;
  /** The task request whose code is running now, if any. */
  currentRequest(): ParentRequest | undefined;
  /** Run a registered task function in this process, now (`sig.call()`). */
  callInline(name: string, args: unknown[], kwargs: Record<string, unknown>): Promise<unknown>;
  /** Run a registered task eagerly in this process (`sig.apply()`). */
  applyEagerByName(name: string, args: unknown[], kwargs: Record<string, unknown>, options: WireOptions): Promise<EagerResult>;
  /** Whether the backend counts chord parts itself. */
  readonly nativeChords: boolean;
}
