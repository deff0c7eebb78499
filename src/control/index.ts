/**
 * Remote control over Celery's pidbox (celery-wire.md §8.1): revoke, ping and
 * inspect reach every worker on the broker, whichever language it is written
 * in, and `celery inspect` / `celery control` from Python reach ours.
 */
import type { Celeriac } from '../app.js';
import type { Delivery } from '../broker/index.js';
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

/** Remote control client. */
export class Control {
  private clock = 0;
  constructor(private readonly app: Celeriac) {}

  /** Send a command to workers; with `reply`, collect `{node: answer}` until timeout or limit. */
  async broadcast(method: string, args: Record<string, unknown> = {}, options: BroadcastOptions = {}): Promise<Replies> {
    const broker = await this.app.broker();
    const timeout = options.timeout ?? 1;
    const ticket = this.app.newId();
    const oid = this.app.conf.oid;
    const replies: Replies = {};
    let stop: (() => Promise<void>) | null = null;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));
    if (options.reply) {
      const consumer = await broker.consume(
        [replyQueue(oid)],
        (d: Delivery) => {
          void d.ack();
          if (!d.message || d.message.headers.ticket !== ticket) return;
          try {
            Object.assign(replies, decodeJson(d.message.body) as Replies);
          } catch {
            return;
          }
          if (options.limit && Object.keys(replies).length >= options.limit) done();
        },
        { prefetch: 100 },
      );
      stop = () => consumer.cancel();
    }
    const body = {
      method,
      arguments: args,
      destination: options.destination ?? null,
      pattern: null,
      matcher: null,
      ...(options.reply ? { ticket, reply_to: { exchange: REPLY_EXCHANGE, routing_key: oid } } : {}),
    };
    await broker.broadcast(PIDBOX_EXCHANGE, '', requestMessage(body, ++this.clock, this.app.now() / 1000 + timeout));
    if (!options.reply) return replies;
    const timer = setTimeout(done, timeout * 1000);
    await finished;
    clearTimeout(timer);
    await stop?.();
    return replies;
  }

  /** Revoke task ids on every worker (with terminate, running ones are aborted). */
  async revoke(ids: string | string[], options: RevokeOptions = {}): Promise<void> {
    const list = Array.isArray(ids) ? ids : [ids];
    await this.broadcast('revoke', { task_id: list.length === 1 ? list[0] : list, terminate: options.terminate ?? false, signal: options.signal ?? 'SIGTERM' });
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
