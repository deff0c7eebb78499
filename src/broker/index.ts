/** Brokers, chosen by URL scheme. */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ConfigurationError } from '../protocol/index.js';
import { MemoryBroker } from './memory.js';
import type { Broker } from './types.js';

export * from './types.js';
export { MemoryBroker, priorityStep } from './memory.js';

/** Where a transport reports reconnects, declaration mismatches and dropped messages. */
export interface BrokerLogger {
  warn(message: string, ...details: unknown[]): void;
}

/**
 * The broker settings an app passes on (`new Celeriac({ brokerOptions })`).
 * Times are in seconds, as Celery's settings are; each option names the
 * transports that read it, the others ignore it.
 */
export interface BrokerConnectionOptions {
  /**
   * amqp: declare task queues with `x-max-priority` (Celery's
   * `task_queue_max_priority`), an integer from 1 to 255; message priorities
   * then count, higher first. Every peer that declares the queue (Python
   * clients and workers included) must use the same value, or RabbitMQ
   * refuses the later declaration. Default: none, so queues carry no
   * arguments, as Celery declares them by default.
   */
  maxPriority?: number;
  /**
   * amqp: seconds that connecting, publishing (until RabbitMQ confirms),
   * consuming, `queueLength` and `purge` wait for RabbitMQ, including a
   * reconnection during an outage, before failing with
   * AmqpUnavailableError. Default 30.
   */
  timeout?: number;
  /** amqp: seconds to open one TCP/TLS connection (one attempt; failed attempts are retried until `timeout`). Default 10. */
  connectTimeout?: number;
  /**
   * redis: milliseconds. A chain step or callback a worker sends to a queue it
   * consumes starts without waiting for Redis's reply when the worker found
   * that queue empty within this time and was not woken since; it may then
   * overtake a message that a publisher sending no wake-ups (Python's) queued
   * meanwhile. 0: always wait for the reply. Default 5.
   */
  eagerTakeWindow?: number;
  /** amqp, redis: the connection name RabbitMQ and Redis show (`rabbitmqctl list_connections`, CLIENT LIST), followed by the connection's role. Default 'celeriac'. */
  connectionName?: string;
  /** amqps: TLS options (`ca`, `cert`, `key`, `servername`, `rejectUnauthorized`, …). Default: Node's defaults. */
  tls?: TlsOptions;
}

/** Options passed through to transport adapters. */
export interface BrokerOptions extends BrokerConnectionOptions {
  /** Redis: seconds before an unacknowledged message is restored (kombu's visibility_timeout). Default 3600. */
  visibilityTimeout?: number;
  /** Redis: a prefix for every key and channel (kombu's global_keyprefix). Default ''. */
  keyPrefix?: string;
  /** amqp, redis: where reconnects and other transport warnings go. Default `console`. */
  logger?: BrokerLogger;
}

/** Make a broker for a URL: `memory://`, `redis://`, `rediss://`, `amqp://`, `amqps://`. */
export async function createBroker(url: string, options: BrokerOptions = {}): Promise<Broker> {
  const scheme = url.split(':', 1)[0]?.toLowerCase();
  switch (scheme) {
    case 'memory':
      return new MemoryBroker(url);
    case 'redis':
    case 'rediss': {
      const { RedisBroker } = await import('./redis.js');
      return new RedisBroker(url, options);
    }
    case 'amqp':
    case 'amqps': {
      const { AmqpBroker, amqpOptionsOf } = await import('./amqp.js');
      return new AmqpBroker(url, amqpOptionsOf(options));
    }
    default:
      throw new ConfigurationError(`No broker for URL scheme "${scheme}:" (use memory://, redis://, rediss://, amqp:// or amqps://)`);
  }
}
