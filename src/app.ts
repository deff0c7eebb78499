/**
 * Celeriac: the app. Options resolved once, the task registry, and the send
 * path that turns signatures into Celery protocol v2 messages.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { createBackend, type ResultBackend } from './backend/index.js';
import { createBroker, type Broker, type PublishOptions, type PublishTarget } from './broker/index.js';
import { signature as makeSignature, Signature, toWireOptions, type ApplyOptions, type Dispatch, type ParentRequest, type WireOptions } from './canvas/index.js';
import { Control } from './control/index.js';
import { ConfigurationError, NotRegistered, encodeTaskMessage, parseCeleryTime, type SignatureDict, type WireMessage } from './protocol/index.js';
import { brokerLogger, resolveOptions, routeFor, type CeleriacOptions, type ResolvedOptions } from './options.js';
import { AsyncResult, GroupResult, resultFromTuple, type AnyResult, type RevokeOptions } from './result/index.js';
import type { EagerResult } from './result/eager.js';
import { Task, type BoundFn, type BoundParams, type TaskHost, type TaskOptions } from './task.js';
import { runEager, runInline } from './worker/executor.js';
import type { TaskRequest } from './worker/request.js';
import { Worker, type WorkerOptions } from './worker/worker.js';

/** The running-task context kept per async call chain. */
interface Running {
  request: TaskRequest;
}

/** The app: create one per process (or per test), register tasks, send work, start workers. */
export class Celeriac implements TaskHost {
  /** Resolved, frozen options. */
  readonly conf: ResolvedOptions;
  /** Registered tasks by name. */
  readonly tasks = new Map<string, Task>();
  /** Remote control (revoke, ping, inspect). */
  readonly control: Control;
  private brokerPromise: Promise<Broker> | null = null;
  private backendPromise: Promise<ResultBackend> | null = null;
  private _broker: Broker | null = null;
  private _backend: ResultBackend | null = null;
  private readonly als = new AsyncLocalStorage<Running>();
  /**
   * The request whose code runs synchronously now (undefined: none set here,
   * ask the AsyncLocalStorage; null: detached, no request).
   */
  private syncRun: Running | null | undefined = undefined;
  /** Whether a task has run with the AsyncLocalStorage (TaskOptions.asyncContext). */
  private alsOn = false;
  private readonly workers = new Set<Worker>();
  private shared = false;

  constructor(options: CeleriacOptions = {}) {
    this.conf = resolveOptions(options);
    this.control = new Control(this);
  }

  /** The broker (connected). */
  async broker(): Promise<Broker> {
    if (this._broker) return this._broker;
    this.brokerPromise ??= (async () => {
      const { brokerOptions, visibilityTimeout, keyPrefix, logger } = this.conf;
      const b = await createBroker(this.conf.broker, { ...brokerOptions, visibilityTimeout, keyPrefix, logger: brokerLogger(logger) });
      await b.connect();
      this._broker = b;
      return b;
    })();
    return this.brokerPromise;
  }

  /** The result backend (connected). */
  async resultBackend(): Promise<ResultBackend> {
    if (this._backend) return this._backend;
    this.backendPromise ??= (async () => {
      // A Redis backend on the broker's own Redis URL shares the broker's command connection: a worker's ack,
      // result store and next publish of one tick then leave in one write.
      const connection = this.conf.backend === this.conf.broker && /^rediss?:/i.test(this.conf.backend) ? (await this.broker()).sharedConnection?.(this.conf.backend) : undefined;
      const b = await createBackend(this.conf.backend, { resultExpires: this.conf.resultExpires, keyPrefix: this.conf.keyPrefix, connection: connection ?? undefined });
      this.shared = !!connection;
      await b.connect();
      this._backend = b;
      return b;
    })();
    return this.backendPromise;
  }

  /** Connect broker and backend now (otherwise they connect on first use). */
  async connect(): Promise<this> {
    await Promise.all([this.broker(), this.resultBackend()]);
    return this;
  }

  /** @internal the connected backend (results use it after connect). */
  get backend(): ResultBackend {
    if (!this._backend) return lazyBackend(this);
    return this._backend;
  }

  /** @internal */
  get errors(): ResolvedOptions['errors'] {
    return this.conf.errors;
  }

  /** @internal */
  get nativeChords(): boolean {
    return this._backend?.nativeChords ?? true;
  }

  /** @internal */
  now(): number {
    return this.conf.clock.now();
  }

  /** @internal */
  newId(): string {
    return this.conf.idGenerator();
  }

  /**
   * @internal An id for a task sent on its own: one whose result channel the
   * backend listens on already when it has one (ResultBackend.listenedId), so
   * that the send needs no subscription of its own. Only with the default
   * id generator, outside a task, for a task that stores its result.
   */
  newResultId(task: string, options: WireOptions): string {
    if (this.conf.idGenerator === randomUUID && !this.insideTask() && !ignoresResult(options, this.tasks.get(task))) {
      const id = this._backend?.listenedId?.();
      if (id) return id;
    }
    return this.newId();
  }

  /**
   * Register a task. Its parameter and return types flow into `.s()`,
   * `.delay()` and results. With `{ bind: true }` the function gets a
   * TaskContext first.
   */
  task<F extends (...args: never[]) => unknown>(name: string, fn: F, options?: TaskOptions & { bind?: false }): Task<Parameters<F>, Awaited<ReturnType<F>>>;
  task<F extends BoundFn<never[], unknown>>(name: string, fn: F, options: TaskOptions & { bind: true }): Task<BoundParams<F>, Awaited<ReturnType<F>>>;
  task(name: string, fn: (...args: never[]) => unknown, options: TaskOptions = {}): Task {
    if (!name) throw new ConfigurationError('A task needs a name');
    if (typeof fn !== 'function') throw new ConfigurationError(`Task ${name}: the second argument must be a function`);
    if (this.tasks.has(name) && !name.startsWith('celery.')) throw new ConfigurationError(`Task ${name} is already registered`);
    const t = new Task(this, name, fn, options);
    this.tasks.set(name, t);
    return t;
  }

  /** A signature by name (the task need not be registered here, C-003), or rebuilt from its dict form. */
  signature<In extends unknown[] = unknown[], Out = unknown>(
    name: string | SignatureDict | Signature,
    init: { args?: readonly unknown[]; kwargs?: Record<string, unknown>; options?: ApplyOptions; immutable?: boolean } & ApplyOptions = {},
  ): Signature<In, Out> {
    return makeSignature<In, Out>(this, name as string, init);
  }

  /** Send a task by name. */
  sendTask(name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<AnyResult> {
    return this.signature(name).applyAsync(args, kwargs, options);
  }

  /** A result handle for a task id. */
  asyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this);
  }

  /** Rebuild a result from its tuple form. */
  resultFromTuple(tuple: Parameters<typeof resultFromTuple>[0]): AnyResult {
    return resultFromTuple(tuple, this);
  }

  /** Restore a saved GroupResult (null if none is stored). */
  async restoreGroup(id: string): Promise<GroupResult | null> {
    await this.resultBackend();
    return GroupResult.restore(id, this);
  }

  /** @internal */
  async revoke(ids: readonly string[], options: RevokeOptions = {}): Promise<void> {
    await this.control.revoke([...ids], options);
  }

  /** @internal */
  insideTask(): boolean {
    return this.running() !== undefined;
  }

  /** @internal the request whose code is running, for parent/child links. */
  currentRequest(): ParentRequest | undefined {
    const r = this.running();
    return r ? { id: r.request.id, rootId: r.request.rootId, children: r.request.children } : undefined;
  }

  private running(): Running | undefined {
    const s = this.syncRun;
    return s === undefined ? this.als.getStore() : (s ?? undefined);
  }

  /**
   * @internal run `fn` as the code of `request` (so what it sends becomes its
   * children). With `acrossAwaits` the request follows what `fn` does after
   * its awaits (AsyncLocalStorage); otherwise only while `fn` runs, which
   * costs nothing (see TaskOptions.asyncContext).
   */
  runAs<T>(request: TaskRequest, fn: () => T, acrossAwaits = false): T {
    const prev = this.syncRun;
    try {
      // Once the AsyncLocalStorage is on (its cost is paid for every promise from then on), every run uses it, so
      // that what a plain function leaves behind on promises sees its own request too.
      if (acrossAwaits || this.alsOn) {
        this.alsOn = true;
        this.syncRun = undefined;
        return this.als.run({ request }, fn);
      }
      this.syncRun = { request };
      return fn();
    } finally {
      this.syncRun = prev;
    }
  }

  /** @internal run outside any task context (what `fn` starts after its awaits too). */
  runDetached<T>(fn: () => T): T {
    const prev = this.syncRun;
    this.syncRun = null;
    try {
      // exit() does not switch the AsyncLocalStorage on when no task has used it.
      return this.als.exit(fn);
    } finally {
      this.syncRun = prev;
    }
  }

  /** @internal */
  async callInline(name: string, args: unknown[], kwargs: Record<string, unknown>): Promise<unknown> {
    return runInline(this, this.requireTask(name), args, kwargs);
  }

  /** @internal */
  async applyEager(task: Task, args: unknown[], kwargs: Record<string, unknown>, options: ApplyOptions): Promise<EagerResult> {
    await this.connect();
    return runEager(this, task, args, kwargs, toWireOptions(options));
  }

  /** @internal */
  async applyEagerByName(name: string, args: unknown[], kwargs: Record<string, unknown>, options: WireOptions): Promise<EagerResult> {
    await this.connect();
    return runEager(this, this.requireTask(name), args, kwargs, options);
  }

  /** @internal a registered task, or throws NotRegistered. */
  requireTask(name: string): Task {
    const t = this.tasks.get(name);
    if (!t) throw new NotRegistered(name);
    return t;
  }

  /** @internal start a batch of sends. */
  dispatch(options: PublishOptions = {}): Dispatch {
    return new AppDispatch(this, options);
  }

  /** @internal the result backend when it is connected already (else null). */
  connectedBackend(): ResultBackend | null {
    return this._backend;
  }

  /** @internal the broker when it is connected already (else null). */
  connectedBroker(): Broker | null {
    return this._broker;
  }

  /** @internal the backend writes on the broker's connection: what is sent before a store reaches Redis before it, without waiting for its reply. */
  get storesAfterSends(): boolean {
    return this.shared;
  }

  /** @internal encode one task message and pick its queue. */
  encode(name: string, args: unknown[], kwargs: Record<string, unknown>, o: WireOptions): { message: WireMessage; target: PublishTarget } {
    const id = o.task_id as string;
    const now = this.conf.clock.now();
    const parent = this.currentRequest();
    const task = this.tasks.get(name);
    const route = routeFor(this.conf, name);
    let eta: Date | null = null;
    if (o.eta !== undefined && o.eta !== null) eta = o.eta instanceof Date ? o.eta : new Date(parseCeleryTime(o.eta) as number);
    else if (typeof o.countdown === 'number') eta = new Date(now + o.countdown * 1000);
    let expires: Date | null = null;
    if (typeof o.expires === 'number') expires = new Date(now + o.expires * 1000);
    else if (o.expires instanceof Date) expires = o.expires;
    else if (typeof o.expires === 'string') expires = new Date(parseCeleryTime(o.expires) as number);
    const queue = (o.queue as string | undefined) ?? task?.options.queue ?? route?.queue ?? this.conf.defaultQueue;
    const message = encodeTaskMessage({
      now,
      name,
      id,
      args,
      kwargs,
      embed: {
        callbacks: sigDicts(o.link),
        errbacks: sigDicts(o.link_error),
        // A rest made by chainRest is sent as it is (its text is remembered for that array).
        chain: (o.chain as SignatureDict[] | undefined)?.length ? chainDicts(o.chain as unknown[]) : null,
        chord: o.chord ? toDict(o.chord) : null,
      },
      eta,
      expires,
      groupId: (o.group_id as string | undefined) ?? null,
      groupIndex: (o.group_index as number | undefined) ?? null,
      retries: (o.retries as number | undefined) ?? 0,
      timeLimit: (o.time_limit as number | undefined) ?? task?.options.timeLimit ?? null,
      softTimeLimit: (o.soft_time_limit as number | undefined) ?? task?.options.softTimeLimit ?? null,
      rootId: (o.root_id as string | undefined) ?? parent?.rootId ?? id,
      parentId: (o.parent_id as string | undefined) ?? parent?.id ?? null,
      shadow: (o.shadow as string | undefined) ?? null,
      ignoreResult: ignoresResult(o, task),
      origin: this.conf.origin,
      replyTo: (o.reply_to as string | undefined) ?? this.conf.oid,
      priority: (o.priority as number | undefined) ?? task?.options.priority ?? route?.priority ?? null,
      extraHeaders: (o.headers as Record<string, unknown> | undefined) ?? null,
    });
    const exchange = (o.exchange as string | undefined) ?? route?.exchange;
    const routingKey = (o.routing_key as string | undefined) ?? route?.routingKey;
    return { message, target: { queue, ...(exchange ? { exchange } : {}), ...(routingKey ? { routingKey } : {}) } };
  }

  /** Start a worker in this process (the same class the CLI runs). */
  async worker(options: WorkerOptions = {}): Promise<Worker> {
    await this.connect();
    const w = new Worker(this, options);
    this.workers.add(w);
    await w.start();
    return w;
  }

  /** @internal */
  forgetWorker(w: Worker): void {
    this.workers.delete(w);
  }

  /** Stop workers started here, then close broker and backend connections. */
  async close(): Promise<void> {
    for (const w of [...this.workers]) await w.stop();
    const [b, r] = [this._broker, this._backend];
    this._broker = null;
    this._backend = null;
    this.shared = false;
    this.brokerPromise = null;
    this.backendPromise = null;
    // The backend first: it may share the broker's connection.
    await r?.close();
    await b?.close();
  }
}

/** Whether a task sent with these options stores no result (its ignore_result, else the task's). */
function ignoresResult(o: WireOptions, task: Task | undefined): boolean {
  return (o.ignore_result as boolean | undefined) ?? task?.options.ignoreResult ?? false;
}

function toDict(s: unknown): SignatureDict {
  return s instanceof Signature ? s.toDict() : (s as SignatureDict);
}

function chainDicts(list: unknown[]): SignatureDict[] {
  return list.every((s) => !(s instanceof Signature)) ? (list as SignatureDict[]) : list.map(toDict);
}

function sigDicts(v: unknown): SignatureDict[] | null {
  if (v === undefined || v === null) return null;
  const list = Array.isArray(v) ? v : [v];
  return list.length ? list.map(toDict) : null;
}

/** A backend proxy that connects on first call, so results made before `connect()` work. */
function lazyBackend(app: Celeriac): ResultBackend {
  return new Proxy({} as ResultBackend, {
    get(_t, prop) {
      if (prop === 'nativeChords') return true;
      if (prop === 'url') return app.conf.backend;
      return async (...args: unknown[]) => {
        const b = await app.resultBackend();
        return (b as unknown as Record<string, (...a: unknown[]) => unknown>)[prop as string](...args);
      };
    },
  });
}

class AppDispatch implements Dispatch {
  private readonly items: Array<{ message: WireMessage; target: PublishTarget } | (() => Promise<void>)> = [];
  constructor(
    private readonly app: Celeriac,
    private readonly options: PublishOptions,
  ) {}

  task(name: string, args: unknown[], kwargs: Record<string, unknown>, options: WireOptions): void {
    this.items.push(this.app.encode(name, args, kwargs, options));
  }

  action(fn: () => Promise<void>): void {
    this.items.push(fn);
  }

  expect(result: AnyResult): void {
    const backend = this.app.connectedBackend();
    if (!backend?.listenAhead || !(result instanceof AsyncResult) || this.app.insideTask()) return;
    // A task sent with ignore_result stores nothing to hear.
    const ignored = this.items.some((i) => typeof i !== 'function' && i.message.headers.id === result.id && i.message.headers.ignore_result === true);
    if (!ignored) backend.listenAhead(result.id);
  }

  flush(): Promise<void> {
    if (!this.items.length) return Promise.resolve();
    const broker = this.app.connectedBroker();
    if (broker && this.items.every((i) => typeof i !== 'function')) {
      // Handed to the broker now, not after an await: on a shared connection a result stored next goes out after it.
      const items = this.items.splice(0) as Array<{ message: WireMessage; target: PublishTarget }>;
      return broker.publishMany(items, this.options);
    }
    return this.flushInOrder();
  }

  private async flushInOrder(): Promise<void> {
    const broker = await this.app.broker();
    if (this.items.some((i) => typeof i === 'function')) await this.app.resultBackend();
    let batch: Array<{ message: WireMessage; target: PublishTarget }> = [];
    const items = this.items.splice(0);
    for (const item of items) {
      if (typeof item === 'function') {
        if (batch.length) await broker.publishMany(batch, this.options);
        batch = [];
        await item();
      } else batch.push(item);
    }
    if (batch.length) await broker.publishMany(batch, this.options);
  }
}
