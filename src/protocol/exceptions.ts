/**
 * Task failures as they travel: Celery's `{exc_type, exc_message, exc_module}`
 * object and the error classes a caller receives when it reads one back.
 *
 * Two families (DESIGN.md): serialisable task failures (`TaskError` and the
 * Celery-named classes below, plus any error a task throws) and local
 * programming errors (`ConfigurationError`, `MalformedMessageError`, …).
 */

/** The exception object Celery stores in a result and sends to errbacks. */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown[] | unknown;
  exc_module: string | null;
}

/**
 * Base class for every error that crossed the wire from a task. `excType`,
 * `excModule` and `excArgs` are the Celery fields; `remoteTraceback` is the
 * traceback text the worker stored.
 */
export class TaskError extends Error {
  /** Python module of the exception class (`builtins`, `celery.exceptions`, …). */
  excModule: string;
  /** The exception's arguments (Python's `exc.args`). */
  excArgs: unknown[];
  /** The traceback text stored with the result, if any. */
  remoteTraceback: string | null = null;

  constructor(message?: unknown, ...rest: unknown[]) {
    super(message === undefined ? '' : typeof message === 'string' ? message : formatArg(message));
    this.name = new.target.excType ?? new.target.name;
    this.excModule = new.target.excModule;
    this.excArgs = message === undefined ? [] : [message, ...rest];
  }

  /** Celery class name written as `exc_type`. */
  static excType: string | undefined;
  /** Celery module written as `exc_module`. */
  static excModule = 'celery.exceptions';

  /** Celery's type name (same as `name`). */
  get excType(): string {
    return this.name;
  }
}

function formatArg(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A chord header member failed, so the body could not run. */
export class ChordError extends TaskError {}
/** The task was revoked, expired or terminated before it finished. */
export class TaskRevokedError extends TaskError {}
/** The worker does not know the task name. */
export class NotRegistered extends TaskError {}
/** The task kept failing after `maxRetries` retries. */
export class MaxRetriesExceededError extends TaskError {}
/** A value could not be encoded for the wire. */
export class EncodeError extends TaskError {
  static override excModule = 'kombu.exceptions';
}
/** The hard time limit ended the task. */
export class TimeLimitExceeded extends TaskError {
  static override excModule = 'billiard.exceptions';
}
/** The soft time limit was reached; the task may catch this and clean up. */
export class SoftTimeLimitExceeded extends TaskError {
  static override excModule = 'billiard.exceptions';
}
/** Raised by `AsyncResult.get()` when the timeout passes first. */
export class TimeoutError extends TaskError {}
/** A result graph has a node that is not ready yet. */
export class IncompleteStream extends TaskError {}
/** A task asked to be retried (thrown by `request.retry()`); not a failure. */
export class Retry extends TaskError {
  /** When the retry is due (epoch ms). */
  when: number | null = null;
  /** The error that caused the retry, if any. */
  exc: Error | null = null;
}
/** A task asked to stop without storing a result (used by `replace()`). */
export class Ignore extends TaskError {}
/** The result was written with a state the caller cannot decode. */
export class BackendError extends TaskError {}
/** The stored exception type resolves to something that is not an error class. */
export class SecurityError extends TaskError {}

/** Local programming or configuration mistakes; never sent over the wire. */
export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

/** A message that is not a valid Celery task message. */
export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError';
}

const CELERY_CLASSES: Record<string, new (...args: unknown[]) => TaskError> = {
  ChordError,
  TaskRevokedError,
  NotRegistered,
  MaxRetriesExceededError,
  EncodeError,
  TimeLimitExceeded,
  SoftTimeLimitExceeded,
  TimeoutError,
  IncompleteStream,
  Retry,
  Ignore,
  BackendError,
  SecurityError,
};

/** JavaScript error names that are also Python builtins with the same meaning. */
const PY_BUILTIN_NAMES = new Set([
  'Exception',
  'ValueError',
  'TypeError',
  'KeyError',
  'IndexError',
  'RuntimeError',
  'ZeroDivisionError',
  'AttributeError',
  'NotImplementedError',
  'AssertionError',
  'LookupError',
  'ArithmeticError',
  'OverflowError',
  'OSError',
  'IOError',
  'PermissionError',
  'FileNotFoundError',
  'ConnectionError',
  'MemoryError',
  'RecursionError',
  'StopIteration',
]);

/** The module written for JavaScript errors that have no Python counterpart. */
export const JS_EXCEPTION_MODULE = 'celeriac.errors';

/** Error classes a caller has registered so that remote failures come back as instances of them. */
export type ErrorRegistry = ReadonlyMap<string, new (...args: never[]) => Error>;

/** Turn a thrown value into Celery's exception object. */
export function serializeException(err: unknown): ExceptionInfo {
  if (err instanceof TaskError) {
    return { exc_type: err.excType, exc_message: err.excArgs.map(jsonSafe), exc_module: err.excModule };
  }
  if (err instanceof Error) {
    const name = err.name || err.constructor?.name || 'Error';
    const withArgs = err as Error & { excArgs?: unknown[]; excModule?: string };
    const args = Array.isArray(withArgs.excArgs) ? withArgs.excArgs.map(jsonSafe) : [err.message];
    const mod = typeof withArgs.excModule === 'string' ? withArgs.excModule : PY_BUILTIN_NAMES.has(name) ? 'builtins' : JS_EXCEPTION_MODULE;
    return { exc_type: name, exc_message: args, exc_module: mod };
  }
  return { exc_type: 'Exception', exc_message: [jsonSafe(err)], exc_module: 'builtins' };
}

function jsonSafe(v: unknown): unknown {
  if (v === undefined) return null;
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  try {
    JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    return v;
  } catch {
    return String(v);
  }
}

/** True for a value shaped like Celery's exception object. */
export function isExceptionInfo(v: unknown): v is ExceptionInfo {
  return v !== null && typeof v === 'object' && typeof (v as ExceptionInfo).exc_type === 'string';
}

/**
 * Rebuild the error a caller sees from Celery's exception object: a
 * registered class when the name is known, one of Celery's own classes, or a
 * `TaskError` subclass synthesised with the remote name. Never evaluates
 * anything from the message.
 */
export function deserializeException(info: unknown, traceback: string | null = null, registry?: ErrorRegistry): Error {
  if (!isExceptionInfo(info)) {
    const e = new TaskError(info === null || info === undefined ? 'Unknown remote error' : formatArg(info));
    e.remoteTraceback = traceback;
    return e;
  }
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  const module = info.exc_module ?? 'celery.backends.base';
  const registered = registry?.get(`${module}.${info.exc_type}`) ?? registry?.get(info.exc_type);
  let err: Error;
  if (registered) {
    err = new (registered as unknown as new (...a: unknown[]) => Error)(...args);
    Object.assign(err, { excArgs: args, excModule: module });
  } else {
    const known = CELERY_CLASSES[info.exc_type];
    if (known && (module === 'celery.exceptions' || module === 'billiard.exceptions' || module === 'kombu.exceptions')) {
      err = new known(...args);
    } else {
      err = new (remoteErrorClass(info.exc_type))(...args);
      (err as TaskError).excModule = module;
    }
  }
  if (err instanceof TaskError) err.remoteTraceback = traceback;
  else Object.assign(err, { remoteTraceback: traceback });
  return err;
}

const synthesized = new Map<string, typeof TaskError>();

/** The synthesised class for a remote exception name (one class per name, so `instanceof` works across results). */
export function remoteErrorClass(name: string): typeof TaskError {
  let cls = synthesized.get(name);
  if (!cls) {
    cls = { [name]: class extends TaskError {} }[name] as typeof TaskError;
    cls.excType = name;
    synthesized.set(name, cls);
  }
  return cls;
}
