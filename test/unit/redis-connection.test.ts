/**
 * openRedis reports a connection's errors at most once a second (ioredis
 * emits one per failed reconnect attempt), the first one always, even in a
 * process's first second. No server is needed: the connection is lazy and
 * the errors are emitted on it directly.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openRedis } from '../../src/redis/connection.js';

afterEach(() => vi.restoreAllMocks());

describe('openRedis error reports', () => {
  it('reports the first error at once, then at most one a second', () => {
    let now = 200; // the process started 200 ms ago (performance.now()'s origin is its start)
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const warnings: string[] = [];
    const redis = openRedis('redis://127.0.0.1:6379/0', 'reports', { warn: (m) => void warnings.push(m) });
    try {
      redis.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6379'));
      redis.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6379'));
      expect(warnings).toEqual(['celeriac: Redis connection "reports" error: connect ECONNREFUSED 127.0.0.1:6379']);
      now += 1000;
      redis.emit('error', new Error('connect ETIMEDOUT'));
      expect(warnings).toHaveLength(2);
      expect(warnings[1]).toBe('celeriac: Redis connection "reports" error: connect ETIMEDOUT');
    } finally {
      redis.disconnect();
    }
  });
});
