/** Result backends, chosen by URL scheme. */
import type { Redis } from 'ioredis';
import { ConfigurationError } from '../protocol/index.js';
import { MemoryBackend } from './memory.js';
import type { ResultBackend } from './types.js';

export * from './types.js';
export { MemoryBackend } from './memory.js';

/** Options passed through to backend adapters. */
export interface BackendOptions {
  /** Seconds every result key lives (Celery's result_expires). 0 keeps them for ever. Default 86400. */
  resultExpires?: number;
  /** Redis: a prefix for every key and channel. Default ''. */
  keyPrefix?: string;
  /** @internal Redis: the command connection of a Redis broker on the same URL, shared (see RedisBroker.sharedConnection). */
  connection?: Redis;
}

/** Make a result backend for a URL: `memory://`, `redis://`, `rediss://`. */
export async function createBackend(url: string, options: BackendOptions = {}): Promise<ResultBackend> {
  const scheme = url.split(':', 1)[0]?.toLowerCase();
  switch (scheme) {
    case 'memory':
      return new MemoryBackend(url);
    case 'redis':
    case 'rediss': {
      const { RedisBackend } = await import('./redis.js');
      return new RedisBackend(url, options);
    }
    default:
      throw new ConfigurationError(`No result backend for URL scheme "${scheme}:" (use memory://, redis:// or rediss://)`);
  }
}
