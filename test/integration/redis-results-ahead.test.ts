/**
 * Listening for results ahead (src/backend/redis-notify.ts): a process that
 * has just waited for a result subscribes to the next task's result channel
 * before it sends the task, so `get()` needs neither a SUBSCRIBE round trip
 * nor a read; a process that does not wait pays nothing. What each producer
 * sends Redis is watched with MONITOR. Database 0 under the key prefix
 * `ahead-test:` (only those keys are touched, and deleted afterwards).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, chain } from '../../src/index.js';
import { AHEAD_KEEP_MAX, AHEAD_WINDOW_MS, ID_BATCH } from '../../src/backend/redis-notify.js';
import { prefixedDb, requireRedis } from '../support/redis-db.js';
import { watch as watchRedis, type Seen } from '../support/redis-monitor.js';
import { until } from '../../src/testing/poll.js';

const URL = 'redis://127.0.0.1:6379/0';
const PREFIX = 'ahead-test:';
const QUEUE = 'ahead-q';
const META = `${PREFIX}celery-task-meta-`;

await requireRedis();
const redis = prefixedDb(PREFIX);

function makeApp() {
  const app = new Celeriac({ broker: URL, backend: URL, keyPrefix: PREFIX, defaultQueue: QUEUE, logLevel: 'silent' });
  return {
    app,
    add: app.task('ahead.add', (x: number, y: number) => x + y),
    boom: app.task('ahead.boom', (): number => {
      throw new Error('boom');
    }),
    quiet: app.task('ahead.quiet', () => 1, { ignoreResult: true }),
    big: app.task('ahead.big', (n: number) => 'x'.repeat(n)),
  };
}

/** What Redis runs for this file's keys while `fn` runs. */
const watch = <T>(fn: () => Promise<T>) => watchRedis(redis, (args) => args.some((a) => a.includes(PREFIX) || a.includes(QUEUE)), fn);

const isClient = (s: Seen) => s.source !== 'lua';
const named = (s: Seen, ...names: string[]) => names.includes(s.args[0]?.toLowerCase() ?? '');
/** Commands a client (not a script) sent that subscribe to, or read, the result of `id`. */
const subscribes = (seen: Seen[], id: string) => seen.filter((s) => isClient(s) && named(s, 'subscribe') && s.args.includes(META + id));
const reads = (seen: Seen[], id: string) => seen.filter((s) => isClient(s) && named(s, 'get', 'mget') && s.args.includes(META + id));
/** The first command a client sent that carries the task's message (its envelope names the id). */
const sendOf = (seen: Seen[], id: string) => seen.findIndex((s) => isClient(s) && !named(s, 'subscribe', 'unsubscribe', 'get', 'mget') && s.args.some((a) => a.includes(`"id":"${id}"`) || a.includes(`"id": "${id}"`)));

const worker = makeApp();
beforeAll(async () => {
  await worker.app.worker({ concurrency: 4 });
});
afterAll(async () => {
  await worker.app.close();
});

describe('a process that has just waited for a result', () => {
  const p = makeApp();
  beforeAll(async () => {
    expect(await (await p.add.delay(1, 1)).get({ timeout: 10 })).toBe(2);
  });
  afterAll(() => p.app.close());

  it('subscribes to the next task’s result channel before it sends the task, and get() reads nothing back', async () => {
    const { value, seen } = await watch(async () => {
      const r = await p.add.delay(2, 3);
      return { id: r.id, v: await r.get({ timeout: 10 }) };
    });
    expect(value.v).toBe(5);
    const sub = seen.findIndex((s) => subscribes([s], value.id).length > 0);
    expect(sub).toBeGreaterThanOrEqual(0);
    expect(sendOf(seen, value.id)).toBeGreaterThan(sub);
    expect(reads(seen, value.id)).toEqual([]);
  });

  it('answers get() for a result stored before it was called from what it heard: no subscription, no read', async () => {
    const r = await p.add.delay(4, 4);
    await until('the result to be stored', async () => (await redis.get(META + r.id))?.includes('SUCCESS') === true);
    const { value, seen } = await watch(() => r.get({ timeout: 10 }));
    expect(value).toBe(8);
    expect(subscribes(seen, r.id)).toEqual([]);
    expect(reads(seen, r.id)).toEqual([]);
  });

  it('counts a get() answered from what it heard as a wait: the next send listens ahead', async () => {
    await (await p.add.delay(0, 0)).get({ timeout: 10 });
    const r = await p.add.delay(2, 2);
    await until('the result to be stored', async () => (await redis.exists(META + r.id)) === 1);
    await until('its channel to be let go', async () => ((await redis.pubsub('CHANNELS', META + r.id)) as string[]).length === 0);
    // More than the window after the last wait that ended: only this get() can open it again.
    await new Promise((res) => setTimeout(res, AHEAD_WINDOW_MS + 200));
    expect(await r.get({ timeout: 10 })).toBe(4);
    const { value, seen } = await watch(async () => {
      const next = await p.add.delay(3, 3);
      return { id: next.id, v: await next.get({ timeout: 10 }) };
    });
    expect(value.v).toBe(6);
    // Listened for ahead: its channel was not subscribed after the send (get() subscribes then otherwise), nothing read.
    const send = sendOf(seen, value.id);
    expect(send).toBeGreaterThanOrEqual(0);
    expect(subscribes(seen.slice(send), value.id)).toEqual([]);
    expect(reads(seen, value.id)).toEqual([]);
  });

  it('subscribes to the channels of ids it has not used yet in batches: ten round trips, one SUBSCRIBE at most', async () => {
    await (await p.add.delay(0, 0)).get({ timeout: 10 });
    const { value, seen } = await watch(async () => {
      const got: Array<{ id: string; v: number }> = [];
      for (let i = 0; i < 10; i++) {
        const r = await p.add.delay(i, 1);
        got.push({ id: r.id, v: await r.get({ timeout: 10 }) });
      }
      return got;
    });
    expect(value.map((g) => g.v)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(seen.filter((s) => isClient(s) && named(s, 'subscribe')).length).toBeLessThanOrEqual(1);
    for (const { id } of value) {
      expect(sendOf(seen, id)).toBeGreaterThanOrEqual(0);
      expect(subscribes(seen.slice(sendOf(seen, id)), id)).toEqual([]);
      expect(reads(seen, id)).toEqual([]);
    }
    expect(ID_BATCH).toBeGreaterThan(10);
  });

  it('does not keep a large result it heard ahead: get() reads it', async () => {
    const r = await p.big.delay(AHEAD_KEEP_MAX + 1000);
    await until('the result to be stored', async () => (await redis.exists(META + r.id)) === 1);
    const { value, seen } = await watch(() => r.get({ timeout: 10 }));
    expect(value).toHaveLength(AHEAD_KEEP_MAX + 1000);
    expect(reads(seen, r.id).length).toBeGreaterThan(0);
  });

  it('lets go of the channels of results no one waits for, and still answers a later get() for each', async () => {
    const sent = await Promise.all([1, 2, 3, 4, 5].map((n) => p.add.delay(n, 10)));
    await until('the five results to be stored', async () => (await redis.exists(...sent.map((r) => META + r.id))) === 5);
    await until('no result channel of this file to be subscribed', async () => ((await redis.pubsub('CHANNELS', `${META}*`)) as string[]).length === 0);
    expect(await Promise.all(sent.map((r) => r.get({ timeout: 10 })))).toEqual([11, 12, 13, 14, 15]);
  });

  it('throws a failure it heard ahead', async () => {
    await (await p.add.delay(0, 0)).get({ timeout: 10 });
    const r = await p.boom.delay();
    await expect(r.get({ timeout: 10 })).rejects.toThrow('boom');
  });

  it('listens ahead for a chain’s last step: get() returns the chain’s value', async () => {
    await (await p.add.delay(0, 0)).get({ timeout: 10 });
    const { value, seen } = await watch(async () => {
      const r = await chain(p.add.s(1, 1), p.add.s(3), p.add.s(4)).delay();
      return { id: r.id, v: await r.get({ timeout: 10 }) };
    });
    expect(value.v).toBe(9);
    expect(subscribes(seen, value.id).length).toBe(1);
    expect(reads(seen, value.id)).toEqual([]);
  });

  it('does not listen for a task sent with ignore_result (it stores nothing)', async () => {
    await (await p.add.delay(0, 0)).get({ timeout: 10 });
    const { value, seen } = await watch(async () => (await p.quiet.delay()).id);
    expect(subscribes(seen, value)).toEqual([]);
  });

  it('stops listening ahead once its last wait ended more than a second ago; get() then subscribes and reads as before', async () => {
    await (await p.add.delay(0, 0)).get({ timeout: 10 });
    await new Promise((r) => setTimeout(r, AHEAD_WINDOW_MS + 200));
    const { value, seen } = await watch(async () => {
      const r = await p.add.delay(6, 1);
      return { id: r.id, v: await r.get({ timeout: 10 }) };
    });
    expect(value.v).toBe(7);
    // Sent first; the subscription came with get().
    const sub = seen.findIndex((s) => subscribes([s], value.id).length > 0);
    expect(sendOf(seen, value.id)).toBeGreaterThanOrEqual(0);
    expect(sub).toBeGreaterThan(sendOf(seen, value.id));
  });
});

describe('a process that never waited for a result', () => {
  const p = makeApp();
  afterAll(() => p.app.close());

  it('subscribes to nothing when it sends', async () => {
    const { value, seen } = await watch(async () => Promise.all([1, 2, 3].map(async (n) => (await p.add.delay(n, n)).id)));
    for (const id of value) expect(subscribes(seen, id)).toEqual([]);
    expect(seen.filter((s) => named(s, 'subscribe'))).toEqual([]);
  });
});
