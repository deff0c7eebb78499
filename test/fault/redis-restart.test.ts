/**
 * Redis stopped in the middle of a run (`redis-cli shutdown nosave`) and
 * started again with the command CI uses: the `celeriac worker` child and the
 * client in this process reconnect on their own, every task sent after the
 * restart finishes, and remote control works again.
 *
 * What happens to what was sent before: this Redis keeps nothing on disk
 * (--save "" --appendonly no), so the restart empties every database — queued
 * messages, unacked records and stored results are all gone. A task still
 * queued at the shutdown never runs and its result stays PENDING; only tasks
 * the worker had already taken can still finish (their results are written
 * after the reconnect). That is a property of a Redis without persistence,
 * not something a client can repair; run Redis with AOF or RDB to keep them.
 *
 * Redis is ALWAYS started again (finally / afterAll), whatever happens.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, type AsyncResult } from '../../src/index.js';
import { killAll, type Child } from '../support/interop-process.js';
import { BACKEND_DB, BACKEND_URL, BROKER_DB, BROKER_URL, ensureRedisRunning, redisAnswers, redisDb, settle, shutdownRedis, startWorker, states, tally, until } from './fault-support.js';

const Q = `ctl-fault-restart-${process.pid.toString(36)}`;
const BEFORE = 300;
const AFTER = 200;

let broker: Redis;
let backend: Redis;
let client: Celeriac;
let worker: Child;

beforeAll(async () => {
  await ensureRedisRunning();
  broker = redisDb(BROKER_DB);
  backend = redisDb(BACKEND_DB);
  await Promise.all([broker.flushdb(), backend.flushdb()]);
  client = new Celeriac({ broker: BROKER_URL, backend: BACKEND_URL, defaultQueue: Q, logLevel: 'silent' });
  worker = await startWorker(Q, 'fault-restart@%h', ['-c', '4']);
}, 60_000);

afterAll(async () => {
  // Whatever happened above, Redis is running again when this file ends.
  await ensureRedisRunning();
  await killAll();
  await client?.close();
  await Promise.all([broker?.flushdb(), backend?.flushdb()]);
  broker?.disconnect();
  backend?.disconnect();
}, 60_000);

describe('Redis restarted in the middle of a run', () => {
  const before: AsyncResult[] = [];

  it('runs tasks before the restart', async () => {
    const warm = await Promise.all(Array.from({ length: 20 }, (_, i) => client.signature('fault.work', { args: [i] }).applyAsync()));
    await expect(Promise.all(warm.map((r) => r.get({ timeout: 10 })))).resolves.toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
  });

  it('the worker survives a shutdown in the middle of a run, and queued messages are gone after the restart', { timeout: 60_000 }, async () => {
    for (let i = 0; i < BEFORE; i++) before.push((await client.signature('fault.work', { args: [i, 20] }).applyAsync()) as AsyncResult);
    await until('some of them to run', async () => (await backend.hlen('fault:exec')) >= 60, 20_000, 10);
    try {
      shutdownRedis();
      await until('Redis to stop answering', () => !redisAnswers(), 10_000, 50);
      // Down for a while: the worker keeps running and retries.
      await new Promise((r) => setTimeout(r, 1500));
      expect(worker.proc.exitCode).toBeNull();
    } finally {
      await ensureRedisRunning();
    }
    // Nothing survived the restart: the queue list and the results are gone.
    expect(await broker.llen(Q)).toBe(0);
    expect(worker.proc.exitCode).toBeNull();
  });

  it('every task sent after the restart finishes (worker and client reconnected by themselves)', { timeout: 90_000 }, async () => {
    const after = await Promise.all(Array.from({ length: AFTER }, (_, i) => client.signature('fault.work', { args: [1000 + i] }).applyAsync()));
    const s = await settle(backend, after.map((r) => r.id), 60_000);
    expect(tally(s)).toEqual({ SUCCESS: AFTER });
    after.forEach((r, i) => expect(s.get(r.id)?.result).toBe(2 * (1000 + i)));
    // The client's own result reads work again too.
    await expect(after[0].get({ timeout: 10 })).resolves.toBe(2000);
  });

  it('remote control reaches the worker again (its pidbox subscription came back)', { timeout: 30_000 }, async () => {
    await until('a ping reply', async () => Object.keys(await client.control.ping({ timeout: 1 })).length === 1, 20_000, 100);
  });

  it('of the tasks sent before, those still queued at the shutdown never ran: their results stay PENDING', async () => {
    const s = await states(backend, before.map((r) => r.id));
    const t = tally(s);
    // Results stored before the shutdown went with it; only tasks the worker held then could store a result after
    // the reconnect: at most its prefetch (4 × 4 = 16 unsettled) plus the 4 running, acknowledged already.
    expect(t.SUCCESS ?? 0).toBeLessThanOrEqual(20);
    expect(t.PENDING).toBe(BEFORE - (t.SUCCESS ?? 0));
    console.info(`redis-restart: of ${BEFORE} tasks sent before the shutdown, ${t.SUCCESS ?? 0} have a result after the restart, ${t.PENDING ?? 0} are lost (PENDING)`);
  });
});
