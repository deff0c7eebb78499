/** Redis for integration tests: a probe that says how to start it, and a flush of a test file's own database or keys. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { emptyEmbed, encodeTaskMessage, newTaskId } from '../../src/protocol/index.js';

export const REDIS_START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no';

/** Throws with the start command when Redis at 127.0.0.1:6379 does not answer. */
export async function requireRedis(): Promise<void> {
  const r = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    throw new Error(`Redis is not reachable at 127.0.0.1:6379 (${(err as Error).message}). Start it with: ${REDIS_START}`);
  } finally {
    r.disconnect();
  }
}

/** Empty one database. */
export async function flushDb(db: number): Promise<void> {
  const r = new Redis({ host: '127.0.0.1', port: 6379, db, maxRetriesPerRequest: 1 });
  try {
    await r.flushdb();
  } finally {
    r.disconnect();
  }
}

/** Delete every key of the connection's database that starts with `prefix` (a test file's own keys in a shared database). */
export async function deletePrefixed(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

/**
 * A connection to database 0 for a test file whose keys all start with
 * `prefix`: they are deleted before and after the file's tests, and the
 * connection is closed after them.
 */
export function prefixedDb(prefix: string): Redis {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, db: 0 });
  beforeAll(() => deletePrefixed(redis, prefix));
  afterAll(async () => {
    await deletePrefixed(redis, prefix);
    redis.disconnect();
  });
  return redis;
}

/** A task message `name(n)` for `queue`, as a broker's publishMany takes it. */
export function taskMessage(name: string, queue: string, n: number) {
  const id = newTaskId();
  return { id, message: encodeTaskMessage({ id, name, args: [n], kwargs: {}, embed: emptyEmbed(), origin: 'test', replyTo: 'test' }), target: { queue } };
}
