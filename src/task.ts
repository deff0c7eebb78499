/**
 * Task definitions: a name, a function and options, with the function's
 * parameter and return types flowing into signatures and results.
 */
import { Chunks, Signature, toWireOptions, xmap, xstarmap, type ApplyOptions, type CanvasHost } from './canvas/index.js';
import type { Immutable, KwArgs, MapItem, Missing, SuffixOf } from './canvas/types.js';
import type { AsyncResult } from './result/index.js';
import { parseParams, type ParamInfo } from './params.js';
import type { TaskContext } from './worker/request.js';

const AsyncFunction = (async () => undefined).constructor;
const AsyncGeneratorFunction = (async function* () {
  // (only its constructor is used)
}).constructor;

/** Whether `fn` was declared `async` (its body goes on after awaits). */
function isAsyncFunction(fn: unknown): boolean {
  return fn instanceof AsyncFunction || fn instanceof AsyncGeneratorFunction;
}

/** An error class, for `autoretryFor`. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** Options of `app.task(name, fn, options)`. Defaults are Celery's. */
export interface TaskOptions {
  /** The function receives a TaskContext first (request, retry, replace, updateState). Default false. */
  bind?: boolean;
  /** Do not store results. Default false. */
  ignoreResult?: boolean;
  /** Acknowledge after the task ran instead of before. Default false. */
  acksLate?: boolean;
  /** Retries before giving up; null retries for ever. Default 3. */
  maxRetries?: number | null;
  /** Seconds before a retry when `retry()` gives no countdown. Default 180. */
  defaultRetryDelay?: number;
  /** Errors that retry the task automatically. Default none. */
  autoretryFor?: readonly ErrorClass[];
  /** Exponential backoff for autoretry: true (factor 1) or the factor in seconds. Default false. */
  retryBackoff?: boolean | number;
  /** Cap of the backoff in seconds. Default 600. */
  retryBackoffMax?: number;
  /** Randomise the backoff (full jitter). Default true. */
  retryJitter?: boolean;
  /** Most runs per worker per second/minute/hour, Celery's syntax: "10/s", "100/m", "1000/h". Default none. */
  rateLimit?: string | null;
  /** Hard time limit in seconds. Default none. */
  timeLimit?: number | null;
  /** Soft time limit in seconds. Default none. */
  softTimeLimit?: number | null;
  /** Default queue of this task. Default: the app's routes, else its default queue. */
  queue?: string;
  /** Default priority. */
  priority?: number;
  /** Store STARTED when it begins (overrides the app). */
  trackStarted?: boolean;
  /**
   * Called inline as an errback, `fn(request, error, traceback)`, when used in
   * `linkError` on a worker that has it (Celery's new-style errback, C-029).
   * Otherwise errbacks are sent as tasks with the failed task id. Default false.
   */
  errback?: boolean;
  /** Parameter names, for keyword arguments; read from the function source when not given. */
  params?: readonly string[];
  /** Pass keyword arguments that match no parameter as a final object argument. Default false. */
  acceptsKwargs?: boolean;
  /**
   * Follow the task's request across `await`s (AsyncLocalStorage), so that
   * what it sends after an await becomes its children. Code a task runs
   * synchronously always sees its request. Default: true for an `async`
   * function, false for any other (set it for a plain function that returns
   * a promise and sends tasks from its callbacks). Node 20's
   * AsyncLocalStorage hooks every promise of the process once it is used,
   * which costs a worker of plain functions about a tenth of its time.
   */
  asyncContext?: boolean;
}

/** Options after defaults. */
export interface ResolvedTaskOptions extends Required<Omit<TaskOptions, 'params' | 'queue' | 'priority' | 'trackStarted' | 'rateLimit' | 'timeLimit' | 'softTimeLimit' | 'maxRetries'>> {
  queue?: string;
  priority?: number;
  trackStarted?: boolean;
  rateLimit: string | null;
  timeLimit: number | null;
  softTimeLimit: number | null;
  maxRetries: number | null;
  params: ParamInfo;
}

/** The function of a task, bound or not. */
export type TaskFn = (...args: never[]) => unknown;

/** What the app provides to tasks. */
export interface TaskHost extends CanvasHost {
  /** @internal run a task in this process as `apply()` does. */
  applyEager(task: Task, args: unknown[], kwargs: Record<string, unknown>, options: ApplyOptions): Promise<import('./result/eager.js').EagerResult>;
}

/** A registered task. `A` is its parameter tuple, `R` its result. */
export class Task<A extends unknown[] = unknown[], R = unknown> {
  /** Registered name. */
  readonly name: string;
  /** @internal */
  readonly fn: TaskFn;
  /** Resolved options. */
  readonly options: ResolvedTaskOptions;
  /** @internal */
  readonly host: TaskHost;

  constructor(host: TaskHost, name: string, fn: TaskFn, options: TaskOptions = {}) {
    this.host = host;
    this.name = name;
    this.fn = fn;
    const bind = options.bind ?? false;
    const params = options.params ? { names: [...options.params], required: options.params.length, rest: false } : parseParams(fn, bind ? 1 : 0);
    this.options = {
      bind,
      ignoreResult: options.ignoreResult ?? false,
      acksLate: options.acksLate ?? false,
      maxRetries: options.maxRetries === undefined ? 3 : options.maxRetries,
      defaultRetryDelay: options.defaultRetryDelay ?? 180,
      autoretryFor: options.autoretryFor ?? [],
      retryBackoff: options.retryBackoff ?? false,
      retryBackoffMax: options.retryBackoffMax ?? 600,
      retryJitter: options.retryJitter ?? true,
      rateLimit: options.rateLimit ?? null,
      timeLimit: options.timeLimit ?? null,
      softTimeLimit: options.softTimeLimit ?? null,
      queue: options.queue,
      priority: options.priority,
      trackStarted: options.trackStarted,
      errback: options.errback ?? false,
      acceptsKwargs: options.acceptsKwargs ?? false,
      asyncContext: options.asyncContext ?? isAsyncFunction(fn),
      params,
    };
  }

  /**
   * A signature with args, kwargs and options (C-002). `args` fix the task's
   * trailing parameters, as with `.s()`. With `{ immutable: true }` the args
   * must be complete. Keyword arguments switch argument checking off (the
   * compiler cannot see parameter names): the signature then takes any args.
   */
  signature<P extends SuffixOf<A> = Extract<SuffixOf<A>, []>>(args?: P, kwargs?: Record<string, never>, options?: ApplyOptions & { immutable?: false }): Signature<Missing<A, P>, R, AsyncResult<Awaited<R>>>;
  signature(args: Readonly<A>, kwargs: Record<string, never> | undefined, options: ApplyOptions & { immutable: true }): Immutable<Signature<[], R, AsyncResult<Awaited<R>>>>;
  signature<K extends Record<string, unknown>>(args: readonly unknown[] | undefined, kwargs: KwArgs<K>, options?: ApplyOptions): Signature<unknown[], R, AsyncResult<Awaited<R>>>;
  signature(args?: readonly unknown[], kwargs?: Record<string, unknown>, options?: ApplyOptions): Signature {
    const { immutable, ...rest } = options ?? {};
    return new Signature({ task: this.name, args: args ?? [], kwargs, options: toWireOptions(rest), immutable: immutable ?? false }, this.host);
  }

  /**
   * A partial signature (C-002, C-009). Its args are the task's *trailing*
   * parameters, because a parent's value and `delay`'s args are prepended:
   * `sub.s(10)` still needs `x`, and `sub.s(10).delay(30)` runs `sub(30, 10)`.
   */
  s<P extends SuffixOf<A>>(...args: P): Signature<Missing<A, P>, R, AsyncResult<Awaited<R>>> {
    return new Signature({ task: this.name, args }, this.host) as Signature<Missing<A, P>, R, AsyncResult<Awaited<R>>>;
  }

  /** An immutable signature with all its args: it ignores parent values and partial args, so it takes none (C-013). */
  si(...args: A): Immutable<Signature<[], R, AsyncResult<Awaited<R>>>> {
    return new Signature({ task: this.name, args, immutable: true }, this.host) as Immutable<Signature<[], R, AsyncResult<Awaited<R>>>>;
  }

  private base(): Signature {
    return new Signature({ task: this.name }, this.host);
  }

  /** Send with args: `add.delay(2, 2)`. */
  delay(...args: A): Promise<AsyncResult<Awaited<R>>> {
    return this.base().applyAsync(args) as Promise<AsyncResult<Awaited<R>>>;
  }

  /**
   * Send with args, kwargs and options. Keyword arguments switch argument
   * checking off (the compiler cannot see parameter names).
   */
  applyAsync(args?: Readonly<A>, kwargs?: Record<string, unknown>, options?: ApplyOptions): Promise<AsyncResult<Awaited<R>>>;
  applyAsync<K extends Record<string, unknown>>(args: readonly unknown[] | undefined, kwargs: KwArgs<K>, options?: ApplyOptions): Promise<AsyncResult<Awaited<R>>>;
  applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<AsyncResult<Awaited<R>>> {
    return this.base().applyAsync(args, kwargs, options) as Promise<AsyncResult<Awaited<R>>>;
  }

  /** Run the function here, now (Celery's `add(2, 2)`): nothing sent, nothing stored. */
  async call(...args: A): Promise<Awaited<R>> {
    return (await this.host.callInline(this.name, args, {})) as Awaited<R>;
  }

  /** Run eagerly in this process with a full request; returns an EagerResult (C-023). Links are still sent. */
  apply(args?: Readonly<A>, kwargs?: Record<string, unknown>, options?: ApplyOptions): Promise<import('./result/eager.js').EagerResult<Awaited<R>>>;
  apply<K extends Record<string, unknown>>(args: readonly unknown[] | undefined, kwargs: KwArgs<K>, options?: ApplyOptions): Promise<import('./result/eager.js').EagerResult<Awaited<R>>>;
  apply(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<import('./result/eager.js').EagerResult<Awaited<R>>> {
    return this.host.applyEager(this as unknown as Task, [...args], kwargs, options) as Promise<import('./result/eager.js').EagerResult<Awaited<R>>>;
  }

  /**
   * One message calling the task once per item: `xsum.map([[1, 2], [3]])`
   * (C-135). The task must be callable with one argument. Immutable, like Celery's.
   */
  map(it: Iterable<MapItem<A>>): Immutable<Signature<[], Array<Awaited<R>>, AsyncResult<Array<Awaited<R>>>>> {
    return xmap(this.base(), it, this.host) as Immutable<Signature<[], Array<Awaited<R>>, AsyncResult<Array<Awaited<R>>>>>;
  }

  /** One message calling the task with each item spread as args: `add.starmap([[1, 2]])` (C-136). Immutable. */
  starmap(it: Iterable<Readonly<A>>): Immutable<Signature<[], Array<Awaited<R>>, AsyncResult<Array<Awaited<R>>>>> {
    return xstarmap(this.base(), it, this.host) as Immutable<Signature<[], Array<Awaited<R>>, AsyncResult<Array<Awaited<R>>>>>;
  }

  /** Items split into starmap parts of `n`, sent as a group (C-138); the values are a list per part. Immutable. */
  chunks(it: Iterable<Readonly<A>>, n: number): Immutable<Chunks<Awaited<R>>> {
    return new Chunks<Awaited<R>>(this.base(), it, n, this.host) as Immutable<Chunks<Awaited<R>>>;
  }

  toString(): string {
    return `<@task: ${this.name}>`;
  }
}

/** The function type of a bound task: a TaskContext, then the task's params. */
export type BoundFn<A extends unknown[], R> = (self: TaskContext, ...args: A) => R;

/**
 * The task parameters of a bound function: its parameters after the
 * TaskContext. With `F extends BoundFn<never[], unknown>` in `app.task`,
 * unannotated defaults (`z = 0`) keep their type.
 */
export type BoundParams<F> = F extends (self: TaskContext, ...args: infer A) => unknown ? A : never;
