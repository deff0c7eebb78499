/** Redis for integration tests: a probe that says how to start it, and a flush of a test file's own database. */
import { Redis } from 'ioredis';

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
