/**
 * The broker and backend conformance suites against a real Redis at
 * 127.0.0.1:6379: broker in database 1, result backend in database 2. Both
 * databases are flushed before and after the file; each test uses queues
 * and ids of its own. Two runs of this file at once share the databases and
 * disturb each other.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, it } from 'vitest';
import { RedisBackend } from '../../src/backend/redis.js';
import { RedisBroker } from '../../src/broker/redis.js';
import { runBackendConformance, runBrokerConformance } from '../../src/testing/index.js';

const HOST = '127.0.0.1';
const PORT = 6379;
const BROKER_DB = 1;
const BACKEND_DB = 2;
const START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no';

function admin(db: number): Redis {
  return new Redis({ host: HOST, port: PORT, db, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1, connectTimeout: 2000 });
}

async function probe(): Promise<string | null> {
  const r = admin(0);
  let cause = '';
  r.on('error', (err: Error) => (cause = err.message));
  try {
    await r.connect();
    await r.ping();
    return null;
  } catch (err) {
    return cause || (err as Error).message;
  } finally {
    r.disconnect();
  }
}

const problem = await probe();
const unreachable = (): Error => new Error(`Redis is not reachable at ${HOST}:${PORT} (${problem}). Start it with: ${START}`);

const brokerDb = admin(BROKER_DB);
const backendDb = admin(BACKEND_DB);
brokerDb.on('error', () => undefined);
backendDb.on('error', () => undefined);

beforeAll(async () => {
  if (problem) return;
  await brokerDb.flushdb();
  await backendDb.flushdb();
});

afterAll(async () => {
  if (!problem) {
    await brokerDb.flushdb();
    await backendDb.flushdb();
  }
  brokerDb.disconnect();
  backendDb.disconnect();
});

it(`Redis is reachable at ${HOST}:${PORT}`, () => {
  if (problem) throw unreachable();
});

const quiet = { warn: () => undefined };

runBrokerConformance({
  name: 'redis',
  create: async () => {
    if (problem) throw unreachable();
    return new RedisBroker(`redis://${HOST}:${PORT}/${BROKER_DB}`, { pollInterval: 20, logger: quiet });
  },
  // Tests use queues of their own, so the database is only flushed before and after the file.
  priority: 'lower-first',
  injectRaw: async (queue, raw) => {
    await brokerDb.lpush(queue, raw);
  },
});

runBackendConformance({
  name: 'redis',
  create: async () => {
    if (problem) throw unreachable();
    return new RedisBackend(`redis://${HOST}:${PORT}/${BACKEND_DB}`, { logger: quiet });
  },
});
