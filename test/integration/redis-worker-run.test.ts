/**
 * A celeriac worker on a real Redis (broker database 11, backend database 12,
 * flushed before and after): what it leaves behind matches what a Celery
 * worker leaves (redis-worker-backend-db-final.json, redis-worker-broker-db-state.json),
 * and bad input — garbage, wrong shapes, unknown tasks, huge payloads, Python's
 * NaN / Infinity / big integers — gets a clear error and loses nothing else.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, chord, group, type Celeriac, type Worker } from '../../src/index.js';
import { flushDb, requireRedis } from '../support/redis-db.js';
import { setTransport } from '../support/transport.js';
import { makeApp } from '../support/tasks.js';

const BROKER_DB = 11;
const BACKEND_DB = 12;
const QUEUE = 'celery';
const T = { timeout: 10 };

await requireRedis();
await flushDb(BROKER_DB);
await flushDb(BACKEND_DB);
setTransport({ broker: `redis://127.0.0.1:6379/${BROKER_DB}`, backend: `redis://127.0.0.1:6379/${BACKEND_DB}`, uniqueQueues: false });

const t = makeApp({ logLevel: 'silent' });
const { app, add, tsum, fail } = t;
app.task('run.inspect_args', (...a: unknown[]) => a.map((x) => `${typeof x}:${String(x)}`));
const size = app.task('run.size', (xs: number[]) => xs.length);
const broker = new Redis({ host: '127.0.0.1', port: 6379, db: BROKER_DB });
const backend = new Redis({ host: '127.0.0.1', port: 6379, db: BACKEND_DB });
let worker: Worker;

beforeAll(async () => {
  worker = await app.worker({ concurrency: 4 });
});
afterAll(async () => {
  await (app as Celeriac).close();
  broker.disconnect();
  backend.disconnect();
  await flushDb(BROKER_DB);
  await flushDb(BACKEND_DB);
});

function envelope(body: string, headers: Record<string, unknown>): string {
  return JSON.stringify({
    body: Buffer.from(body).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers,
    properties: { correlation_id: headers.id, reply_to: 'x', delivery_mode: 2, delivery_info: { exchange: '', routing_key: QUEUE }, priority: 0, body_encoding: 'base64', delivery_tag: `tag-${Math.random()}` },
  });
}

const EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}';

async function settled(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await broker.llen(QUEUE)) === 0 && (await broker.hlen('unacked')) === 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('messages left in the queue or in unacked');
}

describe('after a run, Redis holds what a Celery worker leaves', () => {
  it('result keys, fields in Celery’s order, TTLs; no chord counters left; broker keys are kombu’s', async () => {
    await (await add.delay(2, 3)).get(T);
    await (await group(add.s(0, 0), add.s(1, 1), add.s(2, 2)).delay()).get(T);
    await (await chord([add.s(0, 0), add.s(1, 1), add.s(2, 2)], tsum.s()).delay()).get(T);
    await (await chain(add.s(1, 2), add.s(3), add.s(10)).delay()).get(T);
    await (await fail.delay()).get(T).catch(() => undefined);
    await settled();
    const capture = JSON.parse(readFileSync('test/fixtures/wire-samples/redis-worker-backend-db-final.json', 'utf8')) as { keys: Record<string, { type: string; ttl: number; value: Record<string, unknown> }> };
    const pythonFieldOrders = new Set(Object.values(capture.keys).filter((k) => k.type === 'string' && k.value !== null && typeof k.value === 'object' && 'status' in k.value).map((k) => Object.keys(k.value).join(',')));
    const keys = await backend.keys('*');
    expect(keys.length).toBeGreaterThan(10);
    for (const key of keys) {
      expect(key).toMatch(/^celery-task(set)?-meta-[0-9a-f-]{36}$/);
      const ttl = await backend.ttl(key);
      expect(ttl).toBeGreaterThan(86300);
      expect(ttl).toBeLessThanOrEqual(86400);
      const meta = JSON.parse((await backend.get(key)) as string) as Record<string, unknown>;
      if (key.startsWith('celery-task-meta-')) {
        expect(pythonFieldOrders).toContain(Object.keys(meta).join(','));
        expect(meta.date_done).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      }
    }
    const brokerKeys = (await broker.keys('*')).filter((k) => !k.startsWith('_celeriac.'));
    for (const k of brokerKeys) expect(['_kombu.binding.celery', 'unacked', 'unacked_index', 'unacked_mutex', '_kombu.binding.celery.pidbox', '_kombu.binding.celeryev']).toContain(k);
    expect(await broker.smembers('_kombu.binding.celery')).toEqual(['celery\x06\x16\x06\x16celery']);
    for (const k of (await broker.keys('_celeriac.*'))) expect(await broker.ttl(k)).toBeGreaterThan(0);
  });
});

describe('bad input on Redis: a clear error, nothing else lost, the worker keeps going', () => {
  it('garbage, a raw-array body, missing headers and a wrong body shape are dropped; good work around them runs', async () => {
    await broker.lpush(QUEUE, 'this is not json');
    await broker.lpush(QUEUE, JSON.stringify({ body: [[1, 2], {}, null], headers: { task: 'tasks.add', id: 'raw-array' }, properties: { delivery_tag: 'a', delivery_info: { exchange: '', routing_key: QUEUE } } }));
    await broker.lpush(QUEUE, envelope(`[[1, 2], {}, ${EMBED}]`, { id: 'no-task-header' }));
    await broker.lpush(QUEUE, envelope('{"args": "nope"}', { task: 'tasks.add', id: 'wrong-shape' }));
    await broker.lpush(QUEUE, envelope(`[[1, 2], {}, ${EMBED}]`, { task: 'tasks.add' }));
    const good = await add.delay(20, 22);
    expect(await good.get(T)).toBe(42);
    await settled();
    expect(await app.asyncResult('wrong-shape').state()).toBe('PENDING');
  });

  it('an unknown task name is stored as FAILURE NotRegistered, as Celery stores it, and the message is gone', async () => {
    const r = await app.sendTask('no.such.task', [1, 2]);
    const err = (await r.get(T).catch((e: unknown) => e)) as Error & { excModule: string };
    expect(err.name).toBe('NotRegistered');
    expect(err.excModule).toBe('celery.exceptions');
    const raw = JSON.parse((await backend.get(`celery-task-meta-${r.id}`)) as string);
    expect(raw.status).toBe('FAILURE');
    expect(raw.result).toEqual({ exc_type: 'NotRegistered', exc_message: ['no.such.task'], exc_module: 'celery.exceptions' });
    await settled();
  });

  it('a huge payload (8 MB of arguments) goes through and does not block the rest', async () => {
    const big = Array.from({ length: 1_000_000 }, (_, i) => i % 97);
    const r = await size.delay(big);
    const small = await add.delay(1, 1);
    expect(await small.get(T)).toBe(2);
    expect(await r.get({ timeout: 30 })).toBe(1_000_000);
  });

  it('NaN, Infinity and integers above 2^53 from Python are read without loss', async () => {
    const id = 'python-json-values';
    await broker.lpush(QUEUE, envelope(`[[NaN, Infinity, -Infinity, 1180591620717411303424], {}, ${EMBED}]`, { task: 'run.inspect_args', id, root_id: id, lang: 'py' }));
    expect(await app.asyncResult(id).get(T)).toEqual(['number:NaN', 'number:Infinity', 'number:-Infinity', 'bigint:1180591620717411303424']);
  });

  it('the worker is still running and its queue drained', async () => {
    expect(worker.processed).toBeGreaterThan(5);
    expect(await (await add.delay(5, 5)).get(T)).toBe(10);
    await settled();
  });
});
