/**
 * The RabbitMQ entities Celery 5.2 declares (celery-wire.md §3.1, §8), so that
 * celeriac's declarations are byte-for-byte the ones Python peers make.
 * RabbitMQ refuses a re-declaration whose flags or arguments differ
 * (PRECONDITION_FAILED), so these must not drift:
 *
 * | entity | declared as |
 * |---|---|
 * | task queue `Q` | durable, not exclusive, not auto-delete, no arguments (`x-max-priority` only when configured) |
 * | task exchange `Q` | direct, durable; binding `Q` → `Q` with routing key `Q` |
 * | reply queue `<oid>.reply.celery.pidbox` | not durable, auto-delete, `x-expires` 10000, `x-message-ttl` 300000; bound to `reply.celery.pidbox` (direct, not durable) with key `<oid>` |
 * | `celery.pidbox` (any `*.pidbox`) | fanout, not durable, not auto-delete |
 * | `celeryev` (any other broadcast exchange) | topic, durable |
 */
import { randomUUID } from 'node:crypto';
import type { PublishTarget } from './types.js';

/** An exchange declaration. */
export interface ExchangeSpec {
  readonly name: string;
  readonly type: 'direct' | 'fanout' | 'topic';
  readonly durable: boolean;
  readonly autoDelete: boolean;
}

/** A queue declaration with the bindings that go with it. */
export interface QueueSpec {
  readonly name: string;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  /** Queue arguments; undefined declares none (an empty table). */
  readonly arguments: Readonly<Record<string, unknown>> | undefined;
  readonly bindings: ReadonlyArray<{ readonly exchange: ExchangeSpec; readonly routingKey: string }>;
}

/** kombu's pidbox queue arguments (Mailbox.queue_expires / reply_queue_ttl). */
export const PIDBOX_QUEUE_ARGUMENTS = Object.freeze({ 'x-expires': 10_000, 'x-message-ttl': 300_000 });
/** Celery's event receiver queue arguments (event_queue_expires 60 s, event_queue_ttl 5 s). */
export const EVENT_QUEUE_ARGUMENTS = Object.freeze({ 'x-expires': 60_000, 'x-message-ttl': 5_000 });

const REPLY_QUEUE = /^([^.]+)\.(reply\..+\.pidbox)$/;

/** A direct durable exchange, as kombu's `Exchange(name)`. */
function directExchange(name: string): ExchangeSpec {
  return { name, type: 'direct', durable: true, autoDelete: false };
}

/**
 * The queue a publish or a consumer uses, declared as Celery declares it:
 * `Queue(name, Exchange(name, 'direct'), routing_key=name)` for a task queue
 * (task_create_missing_queues), or through the named exchange of the target.
 * A pidbox reply queue keeps kombu's reply-queue form, so that a Python
 * `celery inspect` client's queue is accepted and replies reach it.
 */
export function queueSpec(target: PublishTarget, maxPriority: number | undefined): QueueSpec {
  const name = target.queue;
  const reply = REPLY_QUEUE.exec(name);
  if (reply && !target.exchange) {
    return {
      name,
      durable: false,
      exclusive: false,
      autoDelete: true,
      arguments: PIDBOX_QUEUE_ARGUMENTS,
      bindings: [{ exchange: { name: reply[2], type: 'direct', durable: false, autoDelete: false }, routingKey: reply[1] }],
    };
  }
  return {
    name,
    durable: true,
    exclusive: false,
    autoDelete: false,
    arguments: maxPriority === undefined ? undefined : { 'x-max-priority': maxPriority },
    bindings: [{ exchange: directExchange(target.exchange || name), routingKey: target.exchange ? (target.routingKey ?? name) : name }],
  };
}

/** Where a publish goes: the default exchange with the queue name, as Celery clients do, or the named exchange. */
export function route(target: PublishTarget): { exchange: string; routingKey: string } {
  if (target.exchange) return { exchange: target.exchange, routingKey: target.routingKey ?? target.queue };
  return { exchange: '', routingKey: target.queue };
}

/** The declaration of a broadcast exchange: `*.pidbox` is kombu's mailbox fanout, anything else a topic exchange like `celeryev`. */
export function broadcastExchange(name: string): ExchangeSpec {
  if (name.endsWith('.pidbox') && !name.startsWith('reply.')) return { name, type: 'fanout', durable: false, autoDelete: false };
  return { name, type: 'topic', durable: true, autoDelete: false };
}

/**
 * A subscriber's own queue: exclusive and auto-delete, with a fresh name each
 * time (a queue still held by a dead connection cannot be taken over).
 * Mailbox (fanout) queues carry kombu's pidbox TTLs and are named like
 * `<node>.celery.pidbox`; event queues carry Celery's receiver TTLs and are
 * named like `celeryev.<uuid>`.
 */
export function subscriberQueue(exchange: ExchangeSpec, pattern: string): QueueSpec {
  const id = randomUUID();
  if (exchange.type === 'fanout') {
    return {
      name: `celeriac-${id}.${exchange.name}`,
      durable: false,
      exclusive: true,
      autoDelete: true,
      arguments: PIDBOX_QUEUE_ARGUMENTS,
      bindings: [{ exchange, routingKey: '' }],
    };
  }
  return {
    name: `${exchange.name}.${id}`,
    durable: false,
    exclusive: true,
    autoDelete: true,
    arguments: EVENT_QUEUE_ARGUMENTS,
    bindings: [{ exchange, routingKey: pattern }],
  };
}
