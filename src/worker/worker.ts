/**
 * The worker: consumes task messages, runs them with a concurrency limit, and
 * hands each outcome to the continuation. The same class runs in-process
 * (`app.worker()`) and behind the `celeriac worker` command.
 */
import type { Consumer, Delivery } from '../broker/index.js';
import { EventDispatcher, type ControlledWorker, type RequestInfo } from '../control/index.js';
import { argsRepr, formatPythonDatetime, kwargsRepr, pyRepr } from '../protocol/index.js';
import { ConfigurationError, decodeTaskMessage, MalformedMessageError, NotRegistered, TaskRevokedError, type TaskRequestData } from '../protocol/index.js';
import type { Celeriac } from '../app.js';
import { Continuation } from './continuation.js';
import { RunControl, runTask, type RunOutcome } from './executor.js';
import { parseRate, TokenBucket } from './rate-limit.js';
import { requestFromMessage, type TaskRequest } from './request.js';
import { RevokedSet } from './revoked.js';
import { registerBuiltins } from './builtins.js';
import { ThreadPool } from './thread-pool.js';
import { pathToFileURL } from 'node:url';
import { resolve as resolvePath } from 'node:path';

/** Options of a worker. */
export interface WorkerOptions {
  /** Queues to consume. Default: the app's default queue. */
  queues?: readonly string[];
  /** Tasks run at once. Default 10. */
  concurrency?: number;
  /** Messages reserved per slot (prefetch = concurrency × this). Default 4. */
  prefetchMultiplier?: number;
  /** Node name, e.g. `worker1@host`. Default `celeriac@<hostname>`. */
  hostname?: string;
  /** Acknowledge after running for every task (overrides per-task acksLate). Default false. */
  acksLate?: boolean;
  /** Seconds a graceful stop waits for running tasks. Default 30. */
  shutdownTimeout?: number;
  /** Send task events (Celery's -E). Worker heartbeats are always sent. Default false. */
  taskEvents?: boolean;
  /** Seconds between worker heartbeats. Default 2. */
  heartbeatInterval?: number;
  /** Called when a remote `shutdown` command arrives (the CLI exits). Default: stop the worker. */
  onShutdownRequest?: () => void;
  /**
   * Where task functions run. 'async' (default): in this thread, on the event
   * loop; a hard time limit abandons a task that yields but cannot stop one
   * that never does. 'threads': one worker thread per slot, each importing
   * `appModule`; a hard time limit terminates the thread, so it stops any code.
   */
  pool?: 'async' | 'threads';
  /** With pool 'threads': the app module's URL or path, imported by every thread. */
  appModule?: string;
}

/** A task taken from the waiting messages, until its outcome is stored. */
interface Running {
  abort: RunControl;
  /** When it started (epoch ms). */
  started: number;
  /** Its slot (an index of Worker.bySlot) while its function runs, else -1. */
  slot: number;
  /** Its request while its function runs (what inspect reads), else null. */
  req: TaskRequest | null;
}

/**
 * A message the worker holds. It is decoded when its turn comes (or when
 * inspect asks), not as it arrives: the messages a busy worker holds in
 * reserve are then their text only, which keeps what V8 copies and promotes
 * at each young-generation collection small.
 */
interface Held {
  delivery: Delivery;
  /** The decoded request; null until decoded (or when it cannot be). */
  data: TaskRequestData | null;
  /** Why it cannot be decoded, once tried. */
  unreadable?: string;
}

/** A held message that was decoded. */
interface Decoded extends Held {
  data: TaskRequestData;
}

/** A worker consuming from the app's broker. */
export class Worker implements ControlledWorker {
  /** Node name. */
  readonly hostname: string;
  /** Queues consumed. */
  readonly queues: readonly string[];
  /** Concurrency. */
  readonly concurrency: number;
  /** Revoked ids (bounded, expiring). */
  readonly revoked = new RevokedSet();
  /** Revoked workflows by root id (bounded, expiring). */
  readonly revokedRoots = new RevokedSet();
  /** Number of tasks finished. */
  processed = 0;
  /** Tasks finished, by name. */
  readonly processedByName = new Map<string, number>();
  /** When the worker started (epoch ms). */
  startedAt = Date.now();
  private events: EventDispatcher | null = null;
  private taskEvents: boolean;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly rateOverrides = new Map<string, string | null>();
  private readonly timeOverrides = new Map<string, [number | null, number | null]>();
  private readonly app: Celeriac;
  private readonly options: Required<Omit<WorkerOptions, 'queues' | 'hostname' | 'taskEvents' | 'onShutdownRequest' | 'pool' | 'appModule'>> & Pick<WorkerOptions, 'onShutdownRequest'>;
  private readonly continuation: Continuation;
  private consumer: Consumer | null = null;
  private unsubscribeControl: (() => Promise<void>) | null = null;
  private readonly waiting: Held[] = [];
  /**
   * The tasks whose function runs, by slot (null: a free slot), and the free
   * slots: fixed tables, where a Set or Map would make a new hash table every
   * few hundred tasks.
   */
  private readonly bySlot: Array<Running | null>;
  private readonly freeSlots: number[];
  /** Tasks taken from `waiting` and not finished yet (running, or storing their outcome). */
  private inflight = 0;
  /** Resolves stop()'s wait once nothing is in flight. */
  private drained: (() => void) | null = null;
  private readonly scheduled = new Map<unknown, Decoded>();
  private readonly buckets = new Map<string, TokenBucket>();
  private prefetch: number;
  private stopping = false;
  private threads: ThreadPool | null = null;

  constructor(app: Celeriac, options: WorkerOptions = {}) {
    this.app = app;
    registerBuiltins(app);
    this.hostname = options.hostname ?? `celeriac@${app.conf.hostname.split('@').pop()}`;
    this.queues = options.queues?.length ? [...options.queues] : [app.conf.defaultQueue];
    this.concurrency = Math.max(1, options.concurrency ?? 10);
    this.options = {
      concurrency: this.concurrency,
      prefetchMultiplier: options.prefetchMultiplier ?? 4,
      acksLate: options.acksLate ?? false,
      shutdownTimeout: options.shutdownTimeout ?? 30,
      heartbeatInterval: options.heartbeatInterval ?? 2,
      onShutdownRequest: options.onShutdownRequest,
    };
    this.taskEvents = options.taskEvents ?? false;
    if (options.pool === 'threads') {
      if (!options.appModule) throw new ConfigurationError("pool 'threads' needs appModule: the module each thread imports to find the app");
      const url = /^[a-z]+:/i.test(options.appModule) ? options.appModule : pathToFileURL(resolvePath(options.appModule)).href;
      this.threads = new ThreadPool(app, url, this.concurrency);
    }
    this.prefetch = this.concurrency * Math.max(1, this.options.prefetchMultiplier);
    this.bySlot = new Array<Running | null>(this.concurrency).fill(null);
    this.freeSlots = Array.from({ length: this.concurrency }, (_, i) => this.concurrency - 1 - i);
    this.continuation = new Continuation(app);
  }

  private get log() {
    return this.app.conf.logger;
  }

  /** Start consuming. */
  async start(): Promise<void> {
    await this.threads?.ready();
    const broker = await this.app.broker();
    await this.app.resultBackend();
    this.startedAt = Date.now();
    this.events = new EventDispatcher(broker, this.hostname, () => this.app.now());
    this.unsubscribeControl = await this.app.control.listen(this);
    this.consumer = await broker.consume(this.queues, (d) => this.onDelivery(d), { prefetch: this.prefetch });
    void this.events.send('worker-online', this.events.workerFields(0, this.processed, this.options.heartbeatInterval));
    this.heartbeat = setInterval(() => {
      void this.events?.send('worker-heartbeat', this.events.workerFields(this.activeRequests().length, this.processed, this.options.heartbeatInterval));
    }, this.options.heartbeatInterval * 1000);
    this.heartbeat.unref();
    this.log.info({ hostname: this.hostname, queues: this.queues, concurrency: this.concurrency }, 'worker started');
  }

  /** Tasks running now. */
  activeRequests(): TaskRequest[] {
    return this.running().map((a) => a.req);
  }

  /** The tasks whose function runs now. */
  private running(): Array<Running & { req: TaskRequest }> {
    return this.bySlot.filter((a): a is Running & { req: TaskRequest } => a !== null && a.req !== null);
  }

  /** Messages held for their ETA. */
  scheduledRequests(): TaskRequestData[] {
    return [...this.scheduled.values()].map((h) => h.data);
  }

  /** Messages reserved but not started. */
  reservedRequests(): TaskRequestData[] {
    return this.reserved().map((h) => h.data);
  }

  /** The waiting messages that can be read (decoded now if not yet). */
  private reserved(): Decoded[] {
    return this.waiting.filter((h): h is Decoded => this.decoded(h) !== null);
  }

  private onDelivery(delivery: Delivery): void {
    this.enqueue({ delivery, data: null });
  }

  private enqueue(held: Held): void {
    this.waiting.push(held);
    this.pump();
  }

  /** Decode a held message once; null when it cannot be read. */
  private decoded(held: Held): TaskRequestData | null {
    if (held.data || held.unreadable !== undefined) return held.data;
    try {
      const message = held.delivery.message;
      if (!message) throw held.delivery.error ?? new MalformedMessageError('unreadable message');
      held.data = decodeTaskMessage(message);
    } catch (err) {
      held.unreadable = (err as Error).message;
    }
    return held.data;
  }

  /**
   * A message whose turn came: decoded, dropped if it cannot be read, held
   * until its ETA if that is still ahead; null unless it runs now.
   */
  private ready(held: Held): Decoded | null {
    const data = this.decoded(held);
    if (!data) {
      const { delivery } = held;
      this.log.error({ err: held.unreadable, queue: delivery.queue }, 'discarding malformed message');
      delivery.reject(false).catch((err: unknown) => this.log.warn({ err, queue: delivery.queue }, 'could not drop a malformed message'));
      return null;
    }
    const now = this.app.now();
    const decoded = held as Decoded;
    if (data.eta !== null && data.eta > now && !this.stopping) {
      // Held unacknowledged until due; the prefetch grows so it does not block other work.
      this.consumer?.setPrefetch(++this.prefetch);
      const handle = this.app.conf.clock.setTimeout(() => {
        this.scheduled.delete(handle);
        this.consumer?.setPrefetch(--this.prefetch);
        this.enqueue(decoded);
      }, data.eta - now);
      this.scheduled.set(handle, decoded);
      return null;
    }
    return decoded;
  }

  /**
   * Start waiting tasks while slots are free (each decoded as its turn comes:
   * one that cannot be read is dropped, one with an ETA ahead is scheduled
   * without taking a slot). A slot is held while the task
   * function runs; storing its result and sending what follows it happen
   * after the slot is freed (so the next tasks start in the same tick and
   * their writes to the broker and backend go out together), with at most
   * `prefetch` tasks finishing at once.
   */
  private pump(): void {
    while (this.freeSlots.length && this.inflight < this.concurrency + this.prefetch && this.waiting.length && !this.stopping) {
      const held = this.ready(this.waiting.shift() as Held);
      if (!held) continue;
      // The closures below outlive the run (they wait for its result store): they hold its id, not its message.
      const id = held.data.id;
      const abort = new RunControl();
      const entry: Running = { abort, started: Date.now(), slot: this.freeSlots.pop() as number, req: null };
      this.bySlot[entry.slot] = entry;
      this.inflight++;
      let holding = false;
      const release = (settled = false): void => {
        if (entry.slot < 0) return;
        this.bySlot[entry.slot] = null;
        this.freeSlots.push(entry.slot);
        entry.slot = -1;
        entry.req = null;
        // Acknowledged already and still storing its result: it counts against the prefetch until it is done, so
        // the worker holds no more than prefetch + concurrency tasks, as a Celery worker does.
        if (settled && this.consumer) {
          holding = true;
          this.consumer.hold(1);
        }
        this.pump();
      };
      const finished = (): void => {
        this.processed++;
        if (--this.inflight === 0) this.drained?.();
        if (holding) this.consumer?.hold(-1);
        if (entry.slot < 0) this.pump();
        else release();
      };
      void this.process(
        held,
        abort,
        (req) => {
          entry.req = req;
        },
        release,
      ).then(finished, (err: unknown) => {
        this.log.error({ err, id }, 'task handling failed');
        finished();
      });
    }
  }

  private async process(held: Decoded, abort: RunControl, started: (req: TaskRequest) => void, release: (settled: boolean) => void): Promise<void> {
    const { delivery, data } = held;
    // Settled at the end unless acknowledged early; then nothing here keeps the message (its text, its envelope)
    // alive while the result is stored.
    let unsettled: Delivery | null = delivery;
    const env = delivery.message?.properties ?? {};
    const info = (env.delivery_info ?? {}) as { exchange?: string; routing_key?: string };
    const req = requestFromMessage(
      data,
      {
        exchange: info.exchange ?? '',
        routingKey: info.routing_key ?? delivery.queue,
        queue: delivery.queue,
        redelivered: delivery.redelivered,
        priority: typeof env.priority === 'number' ? env.priority : null,
      },
      this.hostname,
    );
    started(req);
    if (this.taskEvents) this.taskEvent('task-received', { uuid: req.id, name: req.name, args: argsRepr(req.args), kwargs: kwargsRepr(req.kwargs), root_id: req.rootId, parent_id: req.parentId, retries: req.retries, eta: req.headers.eta, expires: req.headers.expires });
    const task = this.app.tasks.get(data.name);
    const acksLate = this.options.acksLate || (task?.options.acksLate ?? false);
    try {
      if (this.revoked.has(req.id) || this.revokedRoots.has(req.rootId)) {
        await this.continuation.onRevoked(req, 'revoked');
        if (this.taskEvents) this.taskEvent('task-revoked', { uuid: req.id, terminated: false, signum: null, expired: false });
        return;
      }
      if (req.expires !== null && req.expires < this.app.now()) {
        this.log.info({ id: req.id, name: req.name }, 'discarding expired task');
        await this.continuation.onRevoked(req, 'expired');
        if (this.taskEvents) this.taskEvent('task-revoked', { uuid: req.id, terminated: false, signum: null, expired: true });
        return;
      }
      if (!task) {
        this.log.error({ id: req.id, name: req.name }, `received unregistered task of type '${req.name}'`);
        const err = new NotRegistered(req.name);
        await this.continuation.onFailure(req, err, `NotRegistered: '${req.name}'`);
        return;
      }
      if (delivery.redelivered) {
        // A redelivered message whose result is already final ran before: do not run it twice.
        const meta = await (await this.app.resultBackend()).getMeta(req.id);
        if (meta.status === 'SUCCESS' || meta.status === 'FAILURE') {
          this.log.info({ id: req.id }, 'skipping redelivered task that already finished');
          // A chord part whose worker died after storing it but before sending the body: report the stored result
          // again; the backend completes the chord for this redelivery only if this part was the one that completed it.
          if (req.chord && req.groupId) await this.continuation.store(req, meta);
          return;
        }
      }
      const rate = this.rateOverrides.has(task.name) ? (this.rateOverrides.get(task.name) ?? null) : task.options.rateLimit;
      if (rate) await this.rateLimit(task.name, rate);
      if (this.revoked.has(req.id) || this.revokedRoots.has(req.rootId)) {
        await this.continuation.onRevoked(req, 'revoked');
        return;
      }
      // Early ack (Celery's default): the message is settled as the task starts; the round trip overlaps the run.
      if (!acksLate) {
        unsettled = null;
        this.ackEarly(delivery, req.id);
      }
      if (task.options.trackStarted ?? this.app.conf.trackStarted) {
        const backend = await this.app.resultBackend();
        await backend.store({ status: 'STARTED', result: { pid: process.pid, hostname: this.hostname }, traceback: null, children: [], date_done: null, task_id: req.id });
      }
      if (this.taskEvents) this.taskEvent('task-started', { uuid: req.id });
      const t0 = performance.now();
      const limits = this.timeOverrides.get(task.name);
      const ran = this.threads
        ? this.threads.run(req, abort, [req.timelimit[0] ?? limits?.[0] ?? task.options.timeLimit, req.timelimit[1] ?? limits?.[1] ?? task.options.softTimeLimit])
        : runTask(this.app, task, req, abort, limits);
      // A plain function's outcome is there at once: no promise turn for it.
      const outcome = ran instanceof Promise ? await ran : ran;
      const runtime = (performance.now() - t0) / 1000;
      release(unsettled === null);
      this.processedByName.set(task.name, (this.processedByName.get(task.name) ?? 0) + 1);
      // Acknowledged already: this function ends here and what waits for the outcome's store is the store itself,
      // not this frame with the message, the request and the task in it.
      if (!unsettled) return this.settle(req, outcome, abort, runtime);
      await this.settle(req, outcome, abort, runtime);
    } finally {
      // An early ack is already on its way (its failure is logged there); no await otherwise (a turn per task).
      if (unsettled) await unsettled.ack();
    }
  }

  /** Acknowledge as the task starts; what waits for the ack's reply holds the id, not the request. */
  private ackEarly(delivery: Delivery, id: string): void {
    delivery.ack().catch((err: unknown) => this.log.warn({ err, id }, 'early ack failed; the message may be delivered again'));
  }

  /** Hand a run's outcome to the continuation (a success without task events as the store's own promise). */
  private settle(req: TaskRequest, outcome: RunOutcome, abort: RunControl, runtime: number): Promise<void> {
    if (outcome.kind === 'success') {
      const stored = this.continuation.onSuccess(req, outcome.value);
      if (!this.taskEvents) return stored;
      return stored.then(() => this.taskEvent('task-succeeded', { uuid: req.id, result: pyRepr(outcome.value), runtime }));
    }
    return this.settleOther(req, outcome, abort);
  }

  private async settleOther(req: TaskRequest, outcome: Exclude<RunOutcome, { kind: 'success' }>, abort: RunControl): Promise<void> {
    if (outcome.kind === 'failure') {
      const revokedTerminate = abort.aborted && abort.reason instanceof TaskRevokedError;
      if (revokedTerminate) {
        await this.continuation.onRevoked(req, 'terminated');
        if (this.taskEvents) this.taskEvent('task-revoked', { uuid: req.id, terminated: true, signum: 15, expired: false });
      } else {
        await this.continuation.onFailure(req, outcome.error, outcome.traceback);
        if (this.taskEvents) this.taskEvent('task-failed', { uuid: req.id, exception: `${outcome.error.name}(${pyRepr(outcome.error.message)})`, traceback: outcome.traceback });
      }
    } else if (outcome.kind === 'retry') {
      await this.continuation.onRetry(req, outcome.retry);
      if (this.taskEvents) this.taskEvent('task-retried', { uuid: req.id, exception: outcome.retry.message, traceback: outcome.retry.stack ?? '' });
    }
  }

  private async rateLimit(name: string, rate: string): Promise<void> {
    let b = this.buckets.get(name);
    if (!b) this.buckets.set(name, (b = new TokenBucket(parseRate(rate), () => this.app.now())));
    const wait = b.reserve();
    if (wait > 0) await new Promise<void>((r) => this.app.conf.clock.setTimeout(r, wait));
  }

  /** Send a task event (callers check taskEvents first, so that its fields, reprs among them, are built only then). */
  private taskEvent(type: string, fields: Record<string, unknown>): void {
    void this.events?.send(type, fields);
  }

  private info(req: TaskRequest, acknowledged: boolean, started: number | null): RequestInfo {
    return {
      id: req.id,
      name: req.name,
      args: req.args,
      kwargs: req.kwargs,
      type: req.name,
      hostname: this.hostname,
      time_start: started,
      acknowledged,
      delivery_info: { exchange: req.deliveryInfo.exchange, routing_key: req.deliveryInfo.routingKey, priority: req.deliveryInfo.priority, redelivered: req.deliveryInfo.redelivered },
      worker_pid: process.pid,
    };
  }

  private dataInfo(d: TaskRequestData, queue: string): RequestInfo {
    return this.info(requestFromMessage(d, { exchange: '', routingKey: queue, queue, redelivered: false, priority: null }, this.hostname), false, null);
  }

  /** @internal control: running tasks. */
  activeInfo(): RequestInfo[] {
    return this.running().map((a) => this.info(a.req, true, a.started / 1000));
  }

  /** @internal control: reserved tasks. */
  reservedInfo(): RequestInfo[] {
    return this.reserved().map((h) => this.dataInfo(h.data, h.delivery.queue));
  }

  /** @internal control: tasks waiting for their ETA. */
  scheduledInfo(): Array<{ eta: string; priority: number | null; request: RequestInfo }> {
    return [...this.scheduled.values()].map((h) => ({ eta: formatPythonDatetime(new Date(h.data.eta ?? 0), '+00:00'), priority: null, request: this.dataInfo(h.data, h.delivery.queue) }));
  }

  /** @internal control: registered task names. */
  registeredNames(): string[] {
    return [...this.app.tasks.keys()].filter((n) => !n.startsWith('celery.')).sort();
  }

  /** @internal control: revoked ids. */
  revokedIds(): string[] {
    return this.revoked.list();
  }

  /** @internal control: state of a task id on this worker. */
  stateOf(id: string): [string, RequestInfo] | null {
    for (const a of this.running()) if (a.req.id === id) return ['active', this.info(a.req, true, a.started / 1000)];
    for (const h of this.reserved()) if (h.data.id === id) return ['reserved', this.dataInfo(h.data, h.delivery.queue)];
    for (const h of this.scheduled.values()) if (h.data.id === id) return ['scheduled', this.dataInfo(h.data, h.delivery.queue)];
    return null;
  }

  /** @internal control: change a task type's rate limit on this worker. */
  setRateLimit(task: string, rate: string | null): void {
    if (rate !== null) parseRate(rate);
    this.rateOverrides.set(task, rate);
    this.buckets.delete(task);
  }

  /** @internal control: change a task type's time limits on this worker. */
  setTimeLimit(task: string, hard: number | null, soft: number | null): void {
    this.timeOverrides.set(task, [hard, soft]);
  }

  /** @internal control: turn task events on or off. */
  setEvents(enabled: boolean): void {
    this.taskEvents = enabled;
  }

  /** @internal control: a remote shutdown. */
  requestShutdown(): void {
    if (this.options.onShutdownRequest) this.options.onShutdownRequest();
    else void this.stop();
  }

  /** Revoke ids on this worker; with terminate, abort running ones. */
  revoke(ids: readonly string[], terminate = false): void {
    for (const id of ids) this.revoked.add(id);
    if (!terminate) return;
    for (const a of this.running()) if (ids.includes(a.req.id)) a.abort.abort(new TaskRevokedError('terminated'));
  }

  /** Revoke every task of a workflow (by root id) on this worker; with terminate, abort running ones. */
  revokeRoots(rootIds: readonly string[], terminate = false): void {
    for (const id of rootIds) this.revokedRoots.add(id);
    if (!terminate) return;
    for (const a of this.running()) if (rootIds.includes(a.req.rootId)) a.abort.abort(new TaskRevokedError('terminated'));
  }

  /**
   * Stop: take no more work, give back reserved and scheduled messages, wait
   * for running tasks up to the shutdown timeout.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const [h, held] of this.scheduled) {
      this.app.conf.clock.clearTimeout(h);
      await held.delivery.reject(true).catch(() => undefined);
    }
    this.scheduled.clear();
    for (const held of this.waiting.splice(0)) await held.delivery.reject(true).catch(() => undefined);
    const running = this.inflight ? new Promise<void>((r) => (this.drained = r)) : undefined;
    const timeout = new Promise<void>((r) => setTimeout(r, this.options.shutdownTimeout * 1000).unref());
    await Promise.race([running, timeout]);
    await this.consumer?.cancel();
    await this.unsubscribeControl?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.threads?.close();
    await this.events?.send('worker-offline', this.events.workerFields(0, this.processed, this.options.heartbeatInterval));
    this.app.forgetWorker(this);
  }
}
