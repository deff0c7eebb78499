/**
 * Remote control over Celery's pidbox (celery-wire.md §8.1): revoke, ping and
 * inspect reach every worker on the broker, whichever language it is written
 * in, and `celery inspect` / `celery control` from Python reach ours.
 */
import type { Celeriac } from '../app.js';
import type { Consumer, Delivery } from '../broker/index.js';
import { decodeJson } from '../protocol/index.js';
import type { RevokeOptions } from '../result/index.js';
import { handle, type ControlledWorker } from './handlers.js';
import { addressedTo, parseRequest, PIDBOX_EXCHANGE, REPLY_EXCHANGE, replyMessage, replyQueue, requestMessage } from './pidbox.js';

export { PIDBOX_EXCHANGE, REPLY_EXCHANGE } from './pidbox.js';
export type { ControlledWorker, RequestInfo } from './handlers.js';
export { EventDispatcher, receiveEvents, EVENT_EXCHANGE, type CeleryEvent } from './events.js';

/** Options of a broadcast. */
export interface BroadcastOptions {
  /** Only these node names. Default: every worker. */
  destination?: string[];
  /** Wait for replies. Default false for control commands, true for inspect. */
  reply?: boolean;
  /** Seconds to collect replies. Default 1. */
  timeout?: number;
  /** Stop after this many replies. */
  limit?: number;
}

/** Replies by node name. */
export type Replies = Record<string, unknown>;

/** The reply queue consumer shared by the broadcasts in flight, replies dispatched by ticket. */
interface ReplyCollector {
  readonly consumer: Promise<Consumer>;
  readonly tickets: Map<string, (replies: Replies) => void>;
  users: number;
}

/** Remote control client. */
export class Control {
  private clock = 0;
  private collector: ReplyCollector | null = null;
  private closing: Promise<void> = Promise.resolve();
  constructor(private readonly app: Celeriac) {}

  /** Send a command to workers; with `reply`, collect `{node: answer}` until timeout or limit. */
  async broadcast(method: string, args: Record<string, unknown> = {}, options: BroadcastOptions = {}): Promise<Replies> {
    const broker = await this.app.broker();
    const timeout = options.timeout ?? 1;
    const ticket = this.app.newId();
    const replies: Replies = {};
    const body = {
      method,
      arguments: args,
      destination: options.destination ?? null,
      pattern: null,
      matcher: null,
      ...(options.reply ? { ticket, reply_to: { exchange: REPLY_EXCHANGE, routing_key: this.app.conf.oid } } : {}),
    };
    const request = requestMessage(body, ++this.clock, this.app.now() / 1000 + timeout);
    if (!options.reply) {
      await broker.broadcast(PIDBOX_EXCHANGE, '', request);
      return replies;
    }
    const collector = await this.openCollector();
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));
    collector.tickets.set(ticket, (r) => {
      Object.assign(replies, r);
      if (options.limit && Object.keys(replies).length >= options.limit) done();
    });
    const timer = setTimeout(done, timeout * 1000);
    try {
      await broker.broadcast(PIDBOX_EXCHANGE, '', request);
      await finished;
    } finally {
      clearTimeout(timer);
      collector.tickets.delete(ticket);
      await this.closeCollector(collector);
    }
    return replies;
  }

  /**
   * The reply consumer, opened on first use and shared: two broadcasts in
   * flight read one reply queue, and each takes only the replies that carry
   * its ticket (a consumer of its own would take and drop the other's).
   */
  private async openCollector(): Promise<ReplyCollector> {
    if (!this.collector) {
      // A reply queue being deleted (its last consumer gone) must be gone before it is declared again.
      await this.closing;
    }
    if (!this.collector) {
      const tickets = new Map<string, (replies: Replies) => void>();
      const consumer = this.app.broker().then((broker) =>
        broker.consume(
          [replyQueue(this.app.conf.oid)],
          (d: Delivery) => {
            void d.ack().catch(() => undefined);
            const ticket = d.message?.headers.ticket;
            const take = typeof ticket === 'string' ? tickets.get(ticket) : undefined;
            if (!take || !d.message) return;
            let reply: unknown;
            try {
              reply = decodeJson(d.message.body);
            } catch {
              return;
            }
            if (reply && typeof reply === 'object' && !Array.isArray(reply)) take(reply as Replies);
          },
          { prefetch: 100 },
        ),
      );
      this.collector = { consumer, tickets, users: 0 };
    }
    const c = this.collector;
    c.users++;
    try {
      await c.consumer;
    } catch (err) {
      c.users--;
      if (this.collector === c) this.collector = null;
      throw err;
    }
    return c;
  }

  private async closeCollector(c: ReplyCollector): Promise<void> {
    if (--c.users > 0) return;
    if (this.collector === c) this.collector = null;
    this.closing = c.consumer.then((consumer) => consumer.cancel()).catch(() => undefined);
    await this.closing;
  }

  /** Revoke task ids on every worker (with terminate, running ones are aborted). */
  async revoke(ids: string | string[], options: RevokeOptions = {}): Promise<void> {
    const list = Array.isArray(ids) ? ids : [ids];
    await this.broadcast('revoke', { task_id: list.length === 1 ? list[0] : list, terminate: options.terminate ?? false, signal: options.signal ?? 'SIGTERM' });
  }

  /**
   * Revoke a whole workflow by its root id: every task of it that a celeriac
   * worker receives from now on is REVOKED (so chain steps not yet sent and
   * chord bodies never run), and running ones are aborted with terminate.
   * The ids given in `knownIds` (e.g. from a frozen canvas) are also revoked
   * one by one, which Python workers understand too.
   */
  async revokeWorkflow(rootId: string, options: RevokeOptions & { knownIds?: string[] } = {}): Promise<void> {
    await this.broadcast('revoke_by_root', { root_id: rootId, terminate: options.terminate ?? false, signal: options.signal ?? 'SIGTERM' });
    const ids = [rootId, ...(options.knownIds ?? [])];
    await this.revoke(ids, options);
  }

  /** Ping workers: `{node: {ok: 'pong'}}`. */
  ping(options: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast('ping', {}, { ...options, reply: true });
  }

  /** Inspect workers: `active`, `reserved`, `scheduled`, `registered`, `revoked`, `stats`, `active_queues`, `query_task`. */
  inspect(method: string, args: Record<string, unknown> = {}, options: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast(method, args, { ...options, reply: true });
  }

  /** Set a task type's rate limit on workers ("10/s"). */
  rateLimit(task: string, rate: string, options: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast('rate_limit', { task_name: task, rate_limit: rate }, options);
  }

  /** @internal make a worker answer commands; resolves to a stop function. */
  async listen(worker: ControlledWorker): Promise<() => Promise<void>> {
    const broker = await this.app.broker();
    return broker.subscribe(PIDBOX_EXCHANGE, '#', ({ message }) => {
      const req = parseRequest(message);
      if (!req || !addressedTo(req, worker.hostname)) return;
      const result = handle(worker, req.method, req.arguments);
      if (req.ticket && req.reply_to) {
        const q = replyQueue(req.reply_to.routing_key);
        broker
          // The reply exchange is direct and binds <oid> to <oid>.reply.celery.pidbox: publish to that queue.
          .publish(replyMessage(worker.hostname, result, req.ticket, ++this.clock), { queue: q })
          .catch((err) => this.app.conf.logger.error({ err }, 'control reply failed'));
      }
    });
  }
}
