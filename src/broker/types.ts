/**
 * The seam between celeriac and a message transport. A broker moves encoded
 * Celery messages (WireMessage) between queues; it knows nothing of tasks or
 * canvases.
 *
 * Contract every adapter keeps (checked by `runBrokerConformance`):
 * - **Durability.** A published message is held until a consumer acks it or
 *   rejects it without requeue. `publish` resolves only once the broker has
 *   taken the message (written to Redis, confirmed by RabbitMQ).
 * - **At-least-once delivery.** A delivery that is neither acked nor rejected
 *   when its consumer is cancelled, its connection dies or its process dies is
 *   delivered again, with `redelivered` true.
 * - **Prefetch.** A consumer never holds more than `prefetch` unsettled
 *   deliveries (settled = acked or rejected).
 * - **Ordering.** Within one queue and priority, messages are delivered in
 *   publish order (FIFO), except that restored messages may come first.
 *   Priorities follow the transport's native meaning (Redis: lower first;
 *   AMQP: higher first, only with `x-max-priority`).
 * - **Idempotency.** `ack` and `reject` on a delivery already settled are no-ops.
 * - **Broadcast** (`broadcast`/`subscribe`) is fire-and-forget: subscribers that
 *   are not listening miss the message.
 */
import type { Redis } from 'ioredis';
import type { WireMessage } from '../protocol/index.js';

/** Where a message goes. */
export interface PublishTarget {
  /** Queue name; also the routing key on the default exchange. */
  queue: string;
  /** Named exchange, when routing through one ('' is the default exchange). */
  exchange?: string;
  /** Routing key when an exchange is named; defaults to the queue name. */
  routingKey?: string;
}

/** One message handed to a consumer. */
export interface Delivery {
  /** The decoded envelope, or null when the raw message could not be read (see `error`). */
  readonly message: WireMessage | null;
  /** Why the message could not be read, if it could not. */
  readonly error: Error | null;
  /** The queue the message was taken from. */
  readonly queue: string;
  /** True when this message was delivered before and not acknowledged. */
  readonly redelivered: boolean;
  /** Transport-specific delivery tag. */
  readonly deliveryTag: string;
  /** Acknowledge: the message is gone for good. */
  ack(): Promise<void>;
  /** Reject: with `requeue` the message goes back on its queue, otherwise it is dropped. */
  reject(requeue: boolean): Promise<void>;
}

/** Options of a consumer. */
export interface ConsumeOptions {
  /** Most unsettled deliveries held at once (≥ 1). */
  prefetch: number;
}

/** A running consumer. */
export interface Consumer {
  /** Change the prefetch limit (the worker raises it while it holds ETA messages). */
  setPrefetch(n: number): void;
  /**
   * `delta` deliveries settled already are still being worked on (tasks
   * acknowledged early that are storing their results): count them against
   * the prefetch until they are handed back with a negative `delta`. Redis and
   * memory consumers do; on RabbitMQ, whose qos counts unacknowledged
   * deliveries only, it has no effect.
   */
  hold(delta: number): void;
  /**
   * Stop consuming. Deliveries not yet settled are given back to their queues
   * (redelivered), as a warm shutdown does in Celery.
   */
  cancel(): Promise<void>;
}

/** A broadcast message as subscribers see it. */
export interface BroadcastMessage {
  exchange: string;
  routingKey: string;
  message: WireMessage;
}

/** How a batch is published. */
export interface PublishOptions {
  /**
   * Redis: a consumer of this process that consumes the target queue and has
   * room may take a message directly when nothing is waiting in that queue
   * (the state a push and its pop would leave, one round trip instead of
   * two): the worker sets it for what a finished task sends next. Other
   * transports ignore it.
   */
  takeLocally?: boolean;
  /**
   * Redis: each message reaches its queue at most once per task id (for a
   * day): a marker is set in the same script call as the push, and a second
   * publish of the same id is dropped. The worker sets it when it sends a
   * chord body, which a completer that died after sending it (and before it
   * could mark the chord done) sends again once its message is redelivered.
   * Other transports send it again (at least once).
   */
  once?: boolean;
}

/** A message transport. Adapters are chosen by URL scheme. */
export interface Broker {
  /** The URL the adapter was made from (password masked). */
  readonly url: string;
  /** Open connections. Idempotent. */
  connect(): Promise<void>;
  /** Publish one message durably. */
  publish(message: WireMessage, target: PublishTarget): Promise<void>;
  /** Publish several messages; same guarantees as `publish` for each, in order. */
  publishMany(items: ReadonlyArray<{ message: WireMessage; target: PublishTarget }>, options?: PublishOptions): Promise<void>;
  /** Start consuming from queues; `onDelivery` is called for each message, never concurrently re-entered by the broker. */
  consume(queues: readonly string[], onDelivery: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer>;
  /** Publish to a fanout/topic exchange (remote control, events). */
  broadcast(exchange: string, routingKey: string, message: WireMessage): Promise<void>;
  /** Listen on a fanout/topic exchange; `pattern` uses AMQP topic syntax (`#`, `*`). Resolves to an unsubscribe function. */
  subscribe(exchange: string, pattern: string, onMessage: (m: BroadcastMessage) => void): Promise<() => Promise<void>>;
  /** Number of messages waiting in a queue (all priorities). */
  queueLength(queue: string): Promise<number>;
  /** Remove every waiting message of a queue; returns how many. */
  purge(queue: string): Promise<number>;
  /** Close connections; running consumers are cancelled first. */
  close(): Promise<void>;
  /** @internal Redis: the command connection, shared with a Redis result backend on the same URL (null: not shareable). */
  sharedConnection?(url: string): Redis | null;
}

/** Match an AMQP topic pattern (`#` = zero or more words, `*` = one word). */
export function topicMatches(pattern: string, key: string): boolean {
  if (pattern === '#' || pattern === key) return true;
  const p = pattern.split('.');
  const k = key.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') {
      for (let x = j; x <= k.length; x++) if (match(i + 1, x)) return true;
      return false;
    }
    if (j === k.length) return false;
    return (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}
