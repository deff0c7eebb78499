/**
 * Redis URLs and ioredis connections, shared by the Redis broker and the Redis result backend: `redis://[:password@]host:port/db`
 * and `rediss://` (TLS). Connections reconnect on their own (ioredis retries
 * with a capped backoff) and report errors to the broker's logger.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigurationError } from '../protocol/index.js';

/** What the broker needs from its URL. */
export interface RedisUrlInfo {
  /** The database number from the path (`/3`), 0 when absent. */
  db: number;
  /** The URL with its password replaced by `***`. */
  masked: string;
}

/** Read the database number and a printable form of a Redis URL. */
export function parseRedisUrl(url: string): RedisUrlInfo {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new ConfigurationError(`Invalid Redis URL ${JSON.stringify(url)}: expected redis://[:password@]host:port/db`, { cause: err });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ConfigurationError(`Not a Redis URL: ${JSON.stringify(url)} (use redis:// or rediss://)`);
  }
  const path = u.pathname.replace(/^\/+/, '');
  if (path !== '' && !/^\d+$/.test(path)) {
    throw new ConfigurationError(`Invalid Redis database ${JSON.stringify(path)} in ${JSON.stringify(url)}: the path must be a number`);
  }
  const db = path === '' ? 0 : Number(path);
  if (u.password) u.password = '***';
  return { db, masked: u.toString() };
}

/** The reporter connection errors go to. */
export interface RedisLogger {
  warn(message: string, ...details: unknown[]): void;
}

/** Reconnect delay: 100 ms more per attempt, at most 2 s. */
export function retryDelay(attempt: number): number {
  return Math.min(attempt * 100, 2000);
}

/** Open (lazily) one ioredis connection for a URL. */
export function openRedis(url: string, name: string, log: RedisLogger, extra: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: name,
    retryStrategy: retryDelay,
    ...extra,
  });
  // -Infinity, not 0: performance.now() counts from the process's start, so the first error is reported even in its first second.
  let last = -Infinity;
  redis.on('error', (err: Error) => {
    // ioredis emits one error per failed reconnect attempt; report at most one a second.
    const now = performance.now();
    if (now - last < 1000) return;
    last = now;
    log.warn(`celeriac: Redis connection "${name}" error: ${err.message}`);
  });
  return redis;
}

/** Connect if not connected yet (idempotent; waits while a connection is being made). */
export async function ensureConnected(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait' || redis.status === 'end') {
    await redis.connect();
    return;
  }
  await redis.ping();
}

/** Close a connection for good: QUIT when connected (else drop it), resolved once it has ended. */
export async function shutdown(redis: Redis): Promise<void> {
  if (redis.status === 'end' || redis.status === 'wait') {
    if (redis.status === 'wait') redis.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    timer.unref();
    redis.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
  await ended;
}

/**
 * Commands sent in one event-loop turn leave in one socket write: the socket
 * is corked at the turn's first command and uncorked after the turn's I/O
 * callbacks and promise jobs (setImmediate), in call order. What ioredis's
 * auto-pipelining does, without a Pipeline object per turn.
 */
export function oneWritePerTurn(redis: Redis): Redis {
  const send = redis.sendCommand.bind(redis);
  let corked = false;
  redis.sendCommand = (command, stream) => {
    const socket = redis.status === 'ready' ? (redis as unknown as { stream?: { cork(): void; uncork(): void } }).stream : undefined;
    if (!corked && socket) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    return send(command, stream);
  };
  return redis;
}
