/**
 * The worker: consumes task messages, runs them with a concurrency limit, and
 * hands each outcome to the continuation. The same class runs in-process
 * (`app.worker()`) and behind the `celeriac worker` command.
 */
import type { Consumer, Delivery } from '../broker/index.js';
import { decodeTaskMessage, MalformedMessageError, NotRegistered, TaskRevokedError, type TaskRequestData } from '../protocol/index.js';
import type { Celeriac } from '../app.js';
import { Continuation } from './continuation.js';
import { runTask } from './executor.js';
import { parseRate, TokenBucket } from './rate-limit.js';
import { requestFromMessage, type TaskRequest } from './request.js';
import { RevokedSet } from './revoked.js';
import { registerBuiltins } from './builtins.js';

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
}

interface Held {
  delivery: Delivery;
  data: TaskRequestData;
}

/** A worker consuming from the app's broker. */
export class Worker {
  /** Node name. */
  readonly hostname: string;
  /** Queues consumed. */
  readonly queues: readonly string[];
  /** Concurrency. */
  readonly concurrency: number;
  /** Revoked ids (bounded, expiring). */
  readonly revoked = new RevokedSet();
  /** Number of tasks finished. */
  processed = 0;
  private readonly app: Celeriac;
  private readonly options: Required<Omit<WorkerOptions, 'queues' | 'hostname'>>;
  private readonly continuation: Continuation;
  private consumer: Consumer | null = null;
  private unsubscribeControl: (() => Promise<void>) | null = null;
  private readonly waiting: Held[] = [];
  private readonly active = new Map<string, { req: TaskRequest; abort: AbortController; done: Promise<void> }>();
  private readonly scheduled = new Map<unknown, Held>();
  private readonly buckets = new Map<string, TokenBucket>();
  private prefetch: number;
  private stopping = false;

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
    };
    this.prefetch = this.concurrency * Math.max(1, this.options.prefetchMultiplier);
    this.continuation = new Continuation(app);
  }

  private get log() {
    return this.app.conf.logger;
  }

  /** Start consuming. */
  async start(): Promise<void> {
    const broker = await this.app.broker();
    await this.app.resultBackend();
    this.unsubscribeControl = await this.app.control.listen(this);
    this.consumer = await broker.consume(this.queues, (d) => this.onDelivery(d), { prefetch: this.prefetch });
    this.log.info({ hostname: this.hostname, queues: this.queues, concurrency: this.concurrency }, 'worker started');
  }

  /** Tasks running now. */
  activeRequests(): TaskRequest[] {
    return [...this.active.values()].map((a) => a.req);
  }

  /** Messages held for their ETA. */
  scheduledRequests(): TaskRequestData[] {
    return [...this.scheduled.values()].map((h) => h.data);
  }

  /** Messages reserved but not started. */
  reservedRequests(): TaskRequestData[] {
    return this.waiting.map((h) => h.data);
  }

  private onDelivery(delivery: Delivery): void {
    void this.receive(delivery).catch((err) => this.log.error({ err }, 'unexpected error handling a message'));
  }

  private async receive(delivery: Delivery): Promise<void> {
    let data: TaskRequestData;
    try {
      if (!delivery.message) throw delivery.error ?? new MalformedMessageError('unreadable message');
      data = decodeTaskMessage(delivery.message);
    } catch (err) {
      this.log.error({ err: (err as Error).message, queue: delivery.queue }, 'discarding malformed message');
      await delivery.reject(false);
      return;
    }
    const now = this.app.now();
    if (data.eta !== null && data.eta > now && !this.stopping) {
      // Held unacknowledged until due; the prefetch grows so it does not block other work.
      this.consumer?.setPrefetch(++this.prefetch);
      const held = { delivery, data };
      const handle = this.app.conf.clock.setTimeout(() => {
        this.scheduled.delete(handle);
        this.consumer?.setPrefetch(--this.prefetch);
        this.enqueue(held);
      }, data.eta - now);
      this.scheduled.set(handle, held);
      return;
    }
    this.enqueue({ delivery, data });
  }

  private enqueue(held: Held): void {
    this.waiting.push(held);
    this.pump();
  }

  private pump(): void {
    while (this.active.size < this.concurrency && this.waiting.length && !this.stopping) {
      const held = this.waiting.shift() as Held;
      const abort = new AbortController();
      const entry = { req: null as unknown as TaskRequest, abort, done: Promise.resolve() };
      entry.done = this.process(held, abort, (req) => {
        entry.req = req;
        this.active.set(held.data.id + ':' + Math.random(), entry);
      })
        .catch((err) => this.log.error({ err, id: held.data.id }, 'task handling failed'))
        .finally(() => {
          for (const [k, v] of this.active) if (v === entry) this.active.delete(k);
          this.processed++;
          this.pump();
        });
    }
  }

  private async process(held: Held, abort: AbortController, started: (req: TaskRequest) => void): Promise<void> {
    const { delivery, data } = held;
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
    const task = this.app.tasks.get(data.name);
    const acksLate = this.options.acksLate || (task?.options.acksLate ?? false);
    try {
      if (this.revoked.has(req.id)) {
        await this.continuation.onRevoked(req, 'revoked');
        return;
      }
      if (req.expires !== null && req.expires < this.app.now()) {
        this.log.info({ id: req.id, name: req.name }, 'discarding expired task');
        await this.continuation.onRevoked(req, 'expired');
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
          return;
        }
      }
      await this.rateLimit(task.name, task.options.rateLimit);
      if (!acksLate) await delivery.ack();
      if (task.options.trackStarted ?? this.app.conf.trackStarted) {
        const backend = await this.app.resultBackend();
        await backend.store({ status: 'STARTED', result: { pid: process.pid, hostname: this.hostname }, traceback: null, children: [], date_done: null, task_id: req.id });
      }
      const outcome = await runTask(this.app, task, req, abort);
      if (outcome.kind === 'success') await this.continuation.onSuccess(req, outcome.value);
      else if (outcome.kind === 'failure') {
        const revokedTerminate = abort.signal.aborted && abort.signal.reason instanceof TaskRevokedError;
        if (revokedTerminate) await this.continuation.onRevoked(req, 'terminated');
        else await this.continuation.onFailure(req, outcome.error, outcome.traceback);
      } else if (outcome.kind === 'retry') await this.continuation.onRetry(req, outcome.retry);
    } finally {
      await delivery.ack();
    }
  }

  private async rateLimit(name: string, rate: string | null): Promise<void> {
    if (!rate) return;
    let b = this.buckets.get(name);
    if (!b) this.buckets.set(name, (b = new TokenBucket(parseRate(rate), () => this.app.now())));
    const wait = b.reserve();
    if (wait > 0) await new Promise<void>((r) => this.app.conf.clock.setTimeout(r, wait));
  }

  /** Revoke ids on this worker; with terminate, abort running ones. */
  revoke(ids: readonly string[], terminate = false): void {
    for (const id of ids) this.revoked.add(id);
    if (!terminate) return;
    for (const a of this.active.values()) if (ids.includes(a.req?.id)) a.abort.abort(new TaskRevokedError('terminated'));
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
    const running = Promise.all([...this.active.values()].map((a) => a.done));
    const timeout = new Promise<void>((r) => setTimeout(r, this.options.shutdownTimeout * 1000).unref());
    await Promise.race([running, timeout]);
    await this.consumer?.cancel();
    await this.unsubscribeControl?.();
    this.app.forgetWorker(this);
  }
}
