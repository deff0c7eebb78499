/** What results need from the app: the backend, error classes, revoke, and the clock. */
import type { ResultBackend } from '../backend/index.js';
import type { ErrorRegistry } from '../protocol/index.js';

/** Options of a revoke request. */
export interface RevokeOptions {
  /** Also end the task if it is running. Default false. */
  terminate?: boolean;
  /** Signal name used with `terminate` (recorded; the async pool aborts the task). Default 'SIGTERM'. */
  signal?: string;
}

/** The services a result object uses. Implemented by the app. */
export interface ResultHost {
  readonly backend: ResultBackend;
  readonly errors: ErrorRegistry;
  /** Current time in epoch milliseconds (injectable for tests). */
  now(): number;
  /** Broadcast a revoke for these ids. */
  revoke(ids: readonly string[], options?: RevokeOptions): Promise<void>;
  /** True while running inside a task on a worker (waiting there can deadlock the pool). */
  insideTask(): boolean;
}
