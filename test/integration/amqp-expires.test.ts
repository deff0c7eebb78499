/**
 * `expires` on RabbitMQ, as Celery 5.2 does it (celery-wire.md §1.9, §3.3):
 * the message carries the `expiration` TTL in milliseconds, so RabbitMQ drops
 * a task that waits in its queue past it and no result is ever stored (the
 * state stays PENDING, `expires-redis-vs-amqp.json`); a task our worker
 * received in time but would run too late (prefetched behind a busy slot, or
 * held for its ETA) is stored REVOKED with exc_message ["expired"], as a
 * Celery worker stores it. A vhost of this file's own; results stay in
 * memory, since client and worker are one app here (the interop suite checks
 * the same on Redis, read back by Python).
 */
import * as amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, type Worker } from '../../src/index.js';
import { loadSample, type AmqpCapturedMessage, type BrokerSample } from '../support/wire-fixtures.js';
import { dropVhost, freshVhost, lockRabbit, probe, sleep, unreachable, until, vhostUrl } from './amqp-support.js';

const VHOST = 'celeriac_test_expires';
const URL = vhostUrl(VHOST);
const T = { timeout: 10 };

const problem = await probe();
let release: (() => void) | null = null;
let raw: amqp.ChannelModel | null = null;
const apps: Celeriac[] = [];
const workers: Worker[] = [];

beforeAll(async () => {
  if (problem) throw unreachable(problem);
  release = await lockRabbit();
  await freshVhost(VHOST);
  raw = await amqp.connect(URL);
}, 660_000);

afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop();
  for (const a of apps.splice(0)) await a.close();
});

afterAll(async () => {
  try {
    await raw?.close().catch(() => undefined);
    if (!problem) await dropVhost(VHOST);
  } finally {
    release?.();
  }
});

let n = 0;
const queueName = (what: string): string => `celeriac-test-expires-${what}-${process.pid}-${n++}`;

/** An app on this file's vhost with a task that adds (recording its calls in `ran`) and one that sleeps. */
function makeApp(queue: string) {
  const app = new Celeriac({ broker: URL, backend: 'memory://', defaultQueue: queue, logLevel: 'silent', brokerOptions: { timeout: 10 } });
  apps.push(app);
  const ran: Array<[number, number]> = [];
  const add = app.task('expires.add', (x: number, y: number) => {
    ran.push([x, y]);
    return x + y;
  });
  const sleepy = app.task('expires.sleepy', async (seconds: number) => {
    await sleep(seconds * 1000);
    return seconds;
  });
  return { app, add, sleepy, ran };
}

async function startWorker(app: Celeriac, queue: string, concurrency: number): Promise<Worker> {
  const w = await app.worker({ queues: [queue], concurrency, hostname: `expires-${n}@test` });
  workers.push(w);
  return w;
}

/** Celery's REVOKED meta for an expired task (the `redis` half of expires-redis-vs-amqp.json). */
const celeryExpired = (loadSample('expires-redis-vs-amqp') as { redis: { meta_after_worker: { status: string; result: unknown } } }).redis.meta_after_worker;

describe('the expiration TTL', () => {
  it('a task sent with expires carries expiration in ms and the expires header, as Celery sends add.apply_async((2, 3), countdown=30, expires=120)', async () => {
    const [captured] = loadSample<BrokerSample<AmqpCapturedMessage>>('amqp-broker-countdown-expires').messages;
    const q = queueName('ttl');
    const { add } = makeApp(q);
    const sent = Date.now();
    await add.applyAsync([2, 3], {}, { countdown: 30, expires: 120 });
    const ch = await raw!.createChannel();
    const got = await ch.get(q, { noAck: true });
    await ch.close();
    expect(got).not.toBe(false);
    const m = got as amqp.GetMessage;
    expect(m.properties.expiration).toBe(captured.properties.expiration);
    expect(m.properties.expiration).toBe('120000');
    const headers = m.properties.headers as Record<string, string>;
    expect(headers.expires).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    expect(Math.abs(Date.parse(headers.expires) - (sent + 120_000))).toBeLessThan(2000);
    expect(Date.parse(headers.expires) - Date.parse(headers.eta)).toBe(Date.parse(captured.properties.application_headers.expires as string) - Date.parse(captured.properties.application_headers.eta as string));
  });

  it('RabbitMQ drops a task that waited in its queue past expires: no result is ever stored, the state stays PENDING', async () => {
    const q = queueName('dropped');
    const { app, add } = makeApp(q);
    const expired = await add.applyAsync([1, 1], {}, { expires: 0.3 });
    // Nobody consumes q yet: RabbitMQ removes the message once its TTL is up.
    await until('RabbitMQ to drop the expired message', async () => (await (await app.broker()).queueLength(q)) === 0, 5000);
    await startWorker(app, q, 1);
    // A later task on the same queue runs, so the worker is consuming; the expired one never reached it.
    await expect((await add.applyAsync([2, 2])).get(T)).resolves.toBe(4);
    await sleep(200);
    expect(await expired.state()).toBe('PENDING');
    expect((await (await app.resultBackend()).getMeta(expired.id)).status).toBe('PENDING');
  });
});

describe('expired tasks the worker sees', () => {
  it('a task prefetched behind a busy slot and past expires when its turn comes is stored REVOKED ["expired"] and not run', async () => {
    const q = queueName('prefetched');
    const { app, add, sleepy, ran } = makeApp(q);
    await startWorker(app, q, 1);
    const busy = await sleepy.delay(1.2);
    // Delivered at once (prefetch 1 × 4) and held, unacknowledged, so RabbitMQ cannot drop it.
    const late = await add.applyAsync([7, 7], {}, { expires: 0.4 });
    await sleep(600);
    expect(await (await app.broker()).queueLength(q)).toBe(0);
    await expect(busy.get(T)).resolves.toBe(1.2);
    await expect(late.get(T)).rejects.toMatchObject({ name: 'TaskRevokedError' });
    const meta = await (await app.resultBackend()).getMeta(late.id);
    expect({ status: meta.status, result: meta.result }).toEqual({ status: celeryExpired.status, result: celeryExpired.result });
    expect(meta.result).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' });
    expect(ran).toEqual([]);
    // Settled: nothing comes back on the queue.
    await sleep(200);
    expect(await (await app.broker()).queueLength(q)).toBe(0);
  });

  it('a task held for its ETA that expires before the ETA comes is stored REVOKED ["expired"] and not run', async () => {
    const q = queueName('eta');
    const { app, add, ran } = makeApp(q);
    await startWorker(app, q, 2);
    const sent = Date.now();
    // The TTL (0.4 s) is far shorter than the countdown: only a worker holding the message can see it expire.
    const late = await add.applyAsync([7, 7], {}, { countdown: 1.2, expires: 0.4 });
    await expect(late.get(T)).rejects.toMatchObject({ name: 'TaskRevokedError' });
    expect(Date.now() - sent).toBeGreaterThanOrEqual(1100);
    const meta = await (await app.resultBackend()).getMeta(late.id);
    expect({ status: meta.status, result: meta.result }).toEqual({ status: 'REVOKED', result: { exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' } });
    expect(ran).toEqual([]);
    await sleep(200);
    expect(await (await app.broker()).queueLength(q)).toBe(0);
  });
});
