/**
 * The RabbitMQ transport (`amqp://`, `amqps://`), declaring and publishing
 * exactly as Celery 5.2 / kombu do (celery-wire.md §3, §8), so Python Celery
 * clients and workers share queues, exchanges and broadcasts with celeriac.
 *
 * Why amqplib: it is the maintained AMQP 0-9-1 client for Node
 * (amqp-node/amqplib), speaks the whole protocol celeriac needs (publisher
 * confirms, basic.return, basic.qos with global=true, TLS), has no native or
 * runtime dependencies and ships its own types. Wrappers over it
 * (amqp-connection-manager, its own recovery mode) reconnect the socket but
 * know nothing of Celery's entities, so recovery lives here: see
 * amqp-connection.ts.
 *
 * - Publishing (amqp-publisher.ts): the queue, its exchange and binding are
 *   declared once per connection, then the message goes to the default
 *   exchange with the queue name as routing key (or to the target's named
 *   exchange) on a confirm channel; `publish` resolves once RabbitMQ confirmed
 *   it. During an outage publishes wait for the reconnection, up to `timeout`.
 * - Consuming (amqp-consumer.ts): a channel per consumer, basic.qos with the
 *   prefetch for the whole channel, manual acks. Deliveries of a channel that
 *   died cannot be settled any more: `ack`/`reject` become no-ops and RabbitMQ
 *   delivers the message again.
 * - Two connections, as kombu keeps them: one publishes, one consumes, so a
 *   connection RabbitMQ blocks for publishing (memory alarm) never stalls acks.
 */
import type { Channel, SocketOptions } from 'amqplib';
import { ConfigurationError, type WireMessage } from '../protocol/index.js';
import { AmqpConnection, AmqpUnavailableError, isLoss, replyCode, type AmqpLogger } from './amqp-connection.js';
import { AmqpConsumer, AmqpSubscription, type AmqpConsumerHost, type ChannelUser } from './amqp-consumer.js';
import { broadcastExchange, queueSpec, route, type ExchangeSpec, type QueueSpec } from './amqp-entities.js';
import { bodyBytes, publishOptions, TRANSIENT } from './amqp-message.js';
import { Publisher, type Outgoing } from './amqp-publisher.js';
import type { BrokerOptions } from './index.js';
import type { BroadcastMessage, Broker, ConsumeOptions, Consumer, Delivery, PublishTarget } from './types.js';

export { AmqpUnavailableError, type AmqpLogger } from './amqp-connection.js';

/** Options of the AMQP transport (times in milliseconds; `createBroker` takes them in seconds, see `amqpOptionsOf`). */
export interface AmqpBrokerOptions {
  /**
   * Declare task queues with `x-max-priority` (Celery's
   * `task_queue_max_priority`); priorities then count, higher first. It must
   * match how the queues were first declared. Default: none, so queues carry
   * no arguments, as Celery declares them by default.
   */
  maxPriority?: number;
  /**
   * Milliseconds that `connect`, `publish`, `broadcast`, `consume`,
   * `queueLength` and `purge` wait for RabbitMQ (a connection, a reconnection
   * during an outage, publisher confirms) before rejecting with
   * AmqpUnavailableError. Default 30000.
   */
  timeout?: number;
  /** Milliseconds to open one TCP/TLS connection. Default 10000. */
  connectTimeout?: number;
  /** First reconnect delay in ms; it doubles (±20% jitter) on each failed attempt. Default 100. */
  reconnectDelay?: number;
  /** Longest reconnect delay in ms. Default 5000. */
  maxReconnectDelay?: number;
  /** `connection_name` shown by `rabbitmqctl list_connections` and the management UI, followed by `:publish` or `:consume`. Default 'celeriac'. */
  connectionName?: string;
  /** Extra socket options for amqplib, e.g. TLS `ca`, `cert`, `key`, `servername`, `rejectUnauthorized`. Default none. */
  socket?: SocketOptions;
  /** Where reconnects, declaration mismatches and unreadable broadcasts are reported. Default `console`. */
  logger?: AmqpLogger;
}

/** AmqpBrokerOptions with every default filled in. */
export interface ResolvedAmqpBrokerOptions {
  readonly maxPriority: number | undefined;
  readonly timeout: number;
  readonly connectTimeout: number;
  readonly reconnectDelay: number;
  readonly maxReconnectDelay: number;
  readonly connectionName: string;
  readonly socket: SocketOptions;
  readonly logger: AmqpLogger;
}

function resolve(options: AmqpBrokerOptions): ResolvedAmqpBrokerOptions {
  const { maxPriority } = options;
  if (maxPriority !== undefined && !(Number.isInteger(maxPriority) && maxPriority >= 1 && maxPriority <= 255)) {
    throw new ConfigurationError(`maxPriority must be an integer from 1 to 255 (Celery uses 10), got ${maxPriority}`);
  }
  const positive = (name: string, v: number | undefined, dflt: number): number => {
    const x = v ?? dflt;
    if (!(x > 0)) throw new ConfigurationError(`${name} must be a positive number of milliseconds, got ${x}`);
    return x;
  };
  const reconnectDelay = positive('reconnectDelay', options.reconnectDelay, 100);
  return Object.freeze({
    maxPriority,
    timeout: positive('timeout', options.timeout, 30_000),
    connectTimeout: positive('connectTimeout', options.connectTimeout, 10_000),
    reconnectDelay,
    maxReconnectDelay: Math.max(reconnectDelay, positive('maxReconnectDelay', options.maxReconnectDelay, 5000)),
    connectionName: options.connectionName ?? 'celeriac',
    socket: { ...(options.socket ?? {}) },
    logger: options.logger ?? console,
  });
}

/**
 * The AMQP options of `createBroker`'s BrokerOptions (an app's
 * `brokerOptions`): seconds become milliseconds, `tls` becomes the socket
 * options; what is not given keeps its AMQP default.
 */
export function amqpOptionsOf(options: BrokerOptions): AmqpBrokerOptions {
  const out: AmqpBrokerOptions = {};
  if (options.maxPriority !== undefined) out.maxPriority = options.maxPriority;
  if (options.timeout !== undefined) out.timeout = options.timeout * 1000;
  if (options.connectTimeout !== undefined) out.connectTimeout = options.connectTimeout * 1000;
  if (options.connectionName !== undefined) out.connectionName = options.connectionName;
  if (options.tls !== undefined) out.socket = { ...options.tls };
  if (options.logger !== undefined) out.logger = options.logger;
  return out;
}

/** Check an `amqp://` / `amqps://` URL; returns it (localhost when it names no host) and a masked copy. */
export function parseAmqpUrl(url: string): { url: string; masked: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new ConfigurationError(`Invalid AMQP URL ${JSON.stringify(url)}: expected amqp://user:password@host:port/vhost`, { cause: err });
  }
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') throw new ConfigurationError(`Not an AMQP URL: ${JSON.stringify(url)} (use amqp:// or amqps://)`);
  if (!u.hostname) u.hostname = 'localhost';
  const full = u.toString();
  if (u.password) u.password = '***';
  return { url: full, masked: u.toString() };
}

/** The RabbitMQ broker. */
export class AmqpBroker implements Broker {
  readonly url: string;
  /** The resolved options. */
  readonly options: ResolvedAmqpBrokerOptions;
  private readonly pub: AmqpConnection;
  private readonly sub: AmqpConnection;
  private readonly publisher: Publisher;
  private readonly host: AmqpConsumerHost;
  private readonly users = new Set<ChannelUser>();
  private readonly queues = new Map<string, QueueSpec>();
  private readonly exchanges = new Map<string, ExchangeSpec>();
  private closed = false;

  constructor(url: string, options: AmqpBrokerOptions = {}) {
    const parsed = parseAmqpUrl(url);
    this.url = parsed.masked;
    this.options = resolve(options);
    const o = this.options;
    const settings = (role: string) => ({
      url: parsed.url,
      masked: parsed.masked,
      socket: { noDelay: true, timeout: o.connectTimeout, ...o.socket, clientProperties: { connection_name: `${o.connectionName}:${role}` } },
      reconnectDelay: o.reconnectDelay,
      maxReconnectDelay: o.maxReconnectDelay,
      logger: o.logger,
    });
    this.pub = new AmqpConnection(settings('publish'));
    this.sub = new AmqpConnection(settings('consume'));
    this.publisher = new Publisher(this.pub);
    this.host = {
      conn: this.sub,
      maxPriority: o.maxPriority,
      logger: o.logger,
      timeout: o.timeout,
      release: (user) => this.users.delete(user),
    };
  }

  async connect(): Promise<void> {
    this.closed = false;
    this.pub.reopen();
    this.sub.reopen();
    await this.pub.ready(performance.now() + this.options.timeout);
  }

  // ---- publishing --------------------------------------------------------

  async publish(message: WireMessage, target: PublishTarget): Promise<void> {
    await this.publishMany([{ message, target }]);
  }

  async publishMany(items: ReadonlyArray<{ message: WireMessage; target: PublishTarget }>): Promise<void> {
    this.open();
    if (items.length === 0) return;
    const out: Outgoing[] = items.map(({ message, target }) => {
      const { exchange, routingKey } = route(target);
      return { exchange, routingKey, content: bodyBytes(message), options: publishOptions(message, null, true), queue: this.queueSpec(target), exchangeSpec: null };
    });
    await this.publisher.send(out, performance.now() + this.options.timeout);
  }

  /** The declaration of a target's queue (cached: a batch to one queue declares it once). */
  private queueSpec(target: PublishTarget): QueueSpec {
    const key = `${target.queue}\u0000${target.exchange ?? ''}\u0000${target.routingKey ?? ''}`;
    let spec = this.queues.get(key);
    if (!spec) this.queues.set(key, (spec = queueSpec(target, this.options.maxPriority)));
    return spec;
  }

  // ---- consuming ---------------------------------------------------------

  async consume(queues: readonly string[], onDelivery: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    this.open();
    if (queues.length === 0) throw new ConfigurationError('consume() needs at least one queue');
    const consumer = new AmqpConsumer(this.host, [...new Set(queues)], onDelivery, options.prefetch);
    this.users.add(consumer);
    await consumer.start();
    return consumer;
  }

  // ---- broadcast -----------------------------------------------------------

  async broadcast(exchange: string, routingKey: string, message: WireMessage): Promise<void> {
    this.open();
    let spec = this.exchanges.get(exchange);
    if (!spec) this.exchanges.set(exchange, (spec = broadcastExchange(exchange)));
    // Transient and not mandatory: a broadcast nobody listens to is simply gone (kombu's pidbox and events).
    const out: Outgoing = { exchange, routingKey, content: bodyBytes(message), options: publishOptions(message, TRANSIENT, false), queue: null, exchangeSpec: spec };
    await this.publisher.send([out], performance.now() + this.options.timeout);
  }

  async subscribe(exchange: string, pattern: string, onMessage: (m: BroadcastMessage) => void): Promise<() => Promise<void>> {
    this.open();
    const s = new AmqpSubscription(this.host, exchange, pattern, onMessage);
    this.users.add(s);
    await s.start();
    return () => s.stop();
  }

  // ---- inspection ----------------------------------------------------------

  async queueLength(queue: string): Promise<number> {
    return this.admin(async (ch) => (await ch.checkQueue(queue)).messageCount);
  }

  async purge(queue: string): Promise<number> {
    return this.admin(async (ch) => (await ch.purgeQueue(queue)).messageCount);
  }

  /** Run a queue operation on the publishing connection, retried across reconnects; an unknown queue counts 0. */
  private async admin(fn: (ch: Channel) => Promise<number>): Promise<number> {
    this.open();
    const deadline = performance.now() + this.options.timeout;
    for (;;) {
      const link = await this.pub.ready(deadline);
      try {
        return await link.admin(fn);
      } catch (err) {
        if (replyCode(err) === 404) return 0;
        if (!isLoss(err, link)) throw err;
        if (performance.now() > deadline) throw new AmqpUnavailableError(`RabbitMQ at ${this.url} was not reachable in time`, { cause: err });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  // ---- lifecycle -----------------------------------------------------------

  async close(): Promise<void> {
    this.closed = true;
    // Consumers first: closing their channels gives unsettled deliveries back.
    await Promise.all([...this.users].map((u) => u.stop()));
    await this.sub.close();
    await this.pub.close();
  }

  private open(): void {
    if (this.closed) throw new ConfigurationError('The AMQP broker is closed');
  }
}
