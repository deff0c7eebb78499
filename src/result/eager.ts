/** EagerResult: the result of `apply()`, already complete (C-151). */
import { PROPAGATE_STATES, READY_STATES, States, type TaskState } from '../backend/index.js';
import { TaskRevokedError } from '../protocol/index.js';
import type { AnyResult } from './async-result.js';

/** A result computed in the caller's process. */
export class EagerResult<R = unknown> {
  /** Task id. */
  readonly id: string;
  /** Parent result, if composed. */
  parent: AnyResult | EagerResult | null = null;
  private readonly _state: TaskState;
  private readonly value: R | Error;
  private readonly tb: string | null;

  constructor(id: string, state: TaskState, value: R | Error, traceback: string | null = null) {
    this.id = id;
    this._state = state;
    this.value = value;
    this.tb = traceback;
  }

  async state(): Promise<TaskState> {
    return this._state;
  }
  async ready(): Promise<boolean> {
    return READY_STATES.has(this._state);
  }
  async successful(): Promise<boolean> {
    return this._state === States.SUCCESS;
  }
  async failed(): Promise<boolean> {
    return this._state === States.FAILURE;
  }
  async result(): Promise<R | Error> {
    return this.value;
  }
  async traceback(): Promise<string | null> {
    return this.tb;
  }
  /** The value; throws the error when the task failed (unless propagate is false). */
  async get(options: { propagate?: boolean } = {}): Promise<R> {
    if (PROPAGATE_STATES.has(this._state) && options.propagate !== false) {
      throw this.value instanceof Error ? this.value : new TaskRevokedError(String(this.value));
    }
    return this.value as R;
  }
  toString(): string {
    return this.id;
  }
}
