/** Brokers, chosen by URL scheme. */
import { ConfigurationError } from '../protocol/index.js';
import { MemoryBroker } from './memory.js';
import type { Broker } from './types.js';

export * from './types.js';
export { MemoryBroker, priorityStep } from './memory.js';

/** Options passed through to transport adapters. */
export interface BrokerOptions {
  /** Redis: seconds before an unacknowledged message is restored (kombu's visibility_timeout). Default 3600. */
  visibilityTimeout?: number;
  /** Redis: a prefix for every key and channel (kombu's global_keyprefix). Default ''. */
  keyPrefix?: string;
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
      const { AmqpBroker } = await import('./amqp.js');
      return new AmqpBroker(url, options);
    }
    default:
      throw new ConfigurationError(`No broker for URL scheme "${scheme}:" (use memory://, redis://, rediss://, amqp:// or amqps://)`);
  }
}
