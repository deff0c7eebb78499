/**
 * Nothing is lost when RabbitMQ goes away: an app and an in-process worker
 * keep going across `rabbitmqctl stop_app` / `start_app` and across
 * `rabbitmqctl close_all_connections`; publishes made during the outage wait
 * for the reconnection, unsettled deliveries come back redelivered. Results go
 * to Redis database 10. RabbitMQ is always started again, whatever happens.
 */
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpBroker, AmqpUnavailableError } from '../../src/broker/amqp.js';
import type { Delivery } from '../../src/broker/index.js';
import { Celeriac } from '../../src/index.js';
import { emptyEmbed, encodeTaskMessage, type WireMessage } from '../../src/protocol/index.js';
import { dropVhost, freshVhost, lockRabbit, memoryLogger, probe, rabbitmqctl, sleep, unreachable, until, vhostUrl } from './amqp-support.js';

const VHOST = 'celeriac_test_restart';
const BROKER = vhostUrl(VHOST);
const REDIS_DB = 10;
const BACKEND = `redis://127.0.0.1:6379/${REDIS_DB}`;
const REDIS_HINT = 'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no';

const problem = await probe();
const redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1 });
redis.on('error', () => undefined);
const redisProblem = await redis.connect().then(
  () => null,
  (err: Error) => err.message,
);
let release: (() => void) | null = null;
/** True between our stop_app and the matching start_app. */
let stopped = false;

/** Start the RabbitMQ app again (idempotent), bounded in time. */
async function startRabbit(): Promise<void> {
  await rabbitmqctl(['start_app'], 120_000);
  await rabbitmqctl(['await_startup'], 120_000);
  stopped = false;
}

async function stopRabbit(): Promise<void> {
  stopped = true;
  await rabbitmqctl(['stop_app'], 120_000);
}

// Last resort if the test process is torn down between stop and start.
process.once('exit', () => {
  if (stopped) {
    try {
      execFileSync('rabbitmqctl', ['start_app'], { timeout: 60_000 });
    } catch {
      // Nothing more can be done here; the next run's probe says how to start it.
    }
  }
});

beforeAll(async () => {
  if (problem || redisProblem) return;
  release = await lockRabbit();
  await freshVhost(VHOST);
  await redis.flushdb();
}, 660_000);

afterAll(async () => {
  try {
    if (!problem) await startRabbit();
  } finally {
    if (!problem) await dropVhost(VHOST);
    if (!redisProblem) await redis.flushdb().catch(() => undefined);
    redis.disconnect();
    release?.();
  }
}, 300_000);

function need(): void {
  if (problem) throw unreachable(problem);
  if (redisProblem) throw new Error(`Redis is not reachable at 127.0.0.1:6379 (${redisProblem}); ${REDIS_HINT}`);
}

let n = 0;
const queueName = (what: string): string => `celeriac-test-amqp-${what}-${process.pid}-${n++}`;

function task(i: number): WireMessage {
  return encodeTaskMessage({ name: 'restart.echo', id: crypto.randomUUID(), args: [i], kwargs: {}, embed: emptyEmbed(), origin: 'restart@test', replyTo: 'r' });
}

function appFor(queue: string): { app: Celeriac; mul: ReturnType<typeof defineMul> } {
  const app = new Celeriac({ broker: BROKER, backend: BACKEND, defaultQueue: queue, logLevel: 'silent' });
  return { app, mul: defineMul(app) };
}

function defineMul(app: Celeriac) {
  return app.task('restart.mul', async (x: number, y: number) => {
    await sleep(40);
    return x * y;
  });
}

it('RabbitMQ and Redis are reachable', () => {
  need();
});

describe('RabbitMQ restarts while an app sends and a worker runs tasks', () => {
  it('all 200 tasks run and every result is right', async () => {
    need();
    const q = queueName('restart');
    const { app, mul } = appFor(q);
    try {
      const worker = await app.worker({ queues: [q], concurrency: 4, prefetchMultiplier: 2 });
      let processedWhenDown = -1;
      const sends: Promise<Awaited<ReturnType<typeof mul.delay>>>[] = [];
      for (let i = 0; i < 100; i++) sends.push(mul.delay(i, 3));
      await Promise.all(sends);
      let restart: Promise<void> | null = null;
      try {
        restart = (async () => {
          await stopRabbit();
          processedWhenDown = worker.processed;
          await sleep(1000);
          await startRabbit();
        })();
        // The second half is sent while RabbitMQ goes down: these publishes wait for it to come back.
        for (let i = 100; i < 200; i++) {
          sends.push(mul.delay(i, 3));
          await sleep(10);
        }
        const results = await Promise.all(sends);
        await restart;
        const values = await Promise.all(results.map((r) => r.get({ timeout: 90 })));
        expect(values).toEqual(Array.from({ length: 200 }, (_, i) => i * 3));
        // The restart did fall in the middle of the work.
        expect(processedWhenDown).toBeGreaterThanOrEqual(0);
        expect(processedWhenDown).toBeLessThan(200);
      } finally {
        await restart?.catch(() => undefined);
        if (stopped) await startRabbit();
      }
    } finally {
      await app.close();
    }
  }, 240_000);

  it('a publish that cannot reach RabbitMQ in time rejects with a clear error', async () => {
    need();
    const down = new AmqpBroker('amqp://guest:guest@127.0.0.1:1/', { timeout: 800, logger: memoryLogger() });
    const started = Date.now();
    const err = await down.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmqpUnavailableError);
    expect((err as Error).message).toMatch(/RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1\/ was not reachable in time \(last error: .*ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(down.publish(task(1), { queue: 'x' })).rejects.toBeInstanceOf(AmqpUnavailableError);
    await down.close();
  });

  it('wrong credentials fail at once instead of waiting for the timeout', async () => {
    need();
    const bad = new AmqpBroker(`amqp://guest:wrong@127.0.0.1:5672/${VHOST}`, { timeout: 20_000, logger: memoryLogger() });
    const started = Date.now();
    await expect(bad.connect()).rejects.toThrow(/refused the connection: .*ACCESS[-_]REFUSED/);
    expect(Date.now() - started).toBeLessThan(5000);
    await bad.close();
  });
});

describe('connections killed mid-consume', () => {
  it('unsettled deliveries come back redelivered, acks of dead deliveries are no-ops, and nothing is lost', async () => {
    need();
    const log = memoryLogger();
    const b = new AmqpBroker(BROKER, { logger: log, timeout: 30_000 });
    await b.connect();
    const q = queueName('kill');
    const sent = Array.from({ length: 60 }, (_, i) => task(i));
    await b.publishMany(sent.map((message) => ({ message, target: { queue: q } })));
    const seen = new Map<string, number>();
    const redelivered: string[] = [];
    const held: Delivery[] = [];
    let handled = 0;
    let killed = false;
    const consumer = await b.consume(
      [q],
      (d: Delivery) => {
        const id = String(d.message?.headers.id);
        seen.set(id, (seen.get(id) ?? 0) + 1);
        if (d.redelivered) redelivered.push(id);
        // After 20, hold a full prefetch window unsettled until the connection is killed.
        if (!killed && handled >= 20) {
          held.push(d);
          return;
        }
        handled++;
        void d.ack();
      },
      { prefetch: 10 },
    );
    try {
      await until('20 handled and 10 held', () => handled >= 20 && held.length === 10, 20_000);
      const heldIds = held.map((d) => String(d.message?.headers.id));
      // The window is full, so nothing more arrives on this channel until it dies.
      killed = true;
      await rabbitmqctl(['close_all_connections', '-p', VHOST, 'celeriac restart test']);
      await until('the consumer to notice', () => log.lines.filter((l) => l.includes('lost the connection')).length >= 2, 20_000);
      // Too late: these deliveries died with their channel, so the acks are no-ops and RabbitMQ delivers them again.
      for (const d of held) await d.ack();
      // Published after the kill: waits for the publishing connection to come back.
      const late = Array.from({ length: 10 }, (_, i) => task(100 + i));
      await b.publishMany(late.map((message) => ({ message, target: { queue: q } })));
      const all = [...sent, ...late].map((m) => String(m.headers.id));
      await until('every message', () => all.every((id) => seen.has(id)), 30_000);
      await until('an empty queue', async () => (await b.queueLength(q)) === 0, 30_000);
      await sleep(300);
      expect(redelivered.sort()).toEqual(heldIds.sort());
      expect([...seen.keys()].sort()).toEqual([...all].sort());
      expect(handled).toBe(all.length);
      expect(log.lines.some((l) => l.includes('reconnected'))).toBe(true);
    } finally {
      await consumer.cancel();
      await b.close();
    }
    // Nothing unacked was left behind: a fresh look finds the queue empty.
    const check = new AmqpBroker(BROKER, { logger: log });
    await check.connect();
    expect(await check.queueLength(q)).toBe(0);
    await check.close();
  }, 120_000);

  it('an in-process worker finishes every task with the right result', async () => {
    need();
    const q = queueName('kill-worker');
    const { app, mul } = appFor(q);
    try {
      const worker = await app.worker({ queues: [q], concurrency: 4, prefetchMultiplier: 4 });
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => mul.delay(i, 7)));
      await until('30 processed', () => worker.processed >= 30, 30_000);
      await rabbitmqctl(['close_all_connections', '-p', VHOST, 'celeriac restart test']);
      const values = await Promise.all(results.map((r) => r.get({ timeout: 60 })));
      expect(values).toEqual(Array.from({ length: 100 }, (_, i) => i * 7));
    } finally {
      await app.close();
    }
  }, 120_000);
});

describe('a channel that dies while its connection lives', () => {
  it('a consumer whose queue is deleted behind its back declares it again and keeps consuming', async () => {
    need();
    const log = memoryLogger();
    const b = new AmqpBroker(BROKER, { logger: log });
    await b.connect();
    const q = queueName('deleted');
    const got: string[] = [];
    const consumer = await b.consume(
      [q],
      (d) => {
        got.push(String(d.message?.headers.id));
        void d.ack();
      },
      { prefetch: 5 },
    );
    try {
      const first = task(1);
      await b.publish(first, { queue: q });
      await until('the first message', () => got.length === 1);
      await rabbitmqctl(['delete_queue', '-p', VHOST, q]);
      await until('the consumer to come back', async () => (await rabbitmqctl(['-q', '--no-table-headers', 'list_queues', '-p', VHOST, 'name', 'consumers'])).includes(`${q}\t1`), 20_000);
      const second = task(2);
      await b.publish(second, { queue: q });
      await until('the second message', () => got.length === 2);
      expect(got).toEqual([first.headers.id, second.headers.id]);
      expect(log.lines.some((l) => l.includes('RabbitMQ cancelled the consumer'))).toBe(true);
    } finally {
      await consumer.cancel();
      await b.close();
    }
  }, 60_000);
});
