/**
 * The Redis hot path's shortcuts keep the guarantees of the long way round:
 * a message a worker sends to its own queue and takes at once (lua/take.lua)
 * is recorded as unacknowledged like a popped one, never jumps messages that
 * were waiting (unless handed over before the reply, and then only what was
 * queued without a wake-up, which is delivered next), and goes back to the
 * queue when the consumer stops before acking it; acks of one tick go out as one call; a backend on the broker's
 * URL shares its command connection; result stores of one turn are one
 * script call. Database 0 under the key prefix
 * `hotpath-test:` (only those keys are touched, and deleted afterwards).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisBackend } from '../../src/backend/redis.js';
import { HANDS_PER_TURN, RedisBroker } from '../../src/broker/redis.js';
import type { Delivery } from '../../src/broker/index.js';
import { AsyncResult, Celeriac, chain, type TaskContext } from '../../src/index.js';
import { newTaskId, parseEnvelope, toEnvelope } from '../../src/protocol/index.js';
import { prefixedDb, requireRedis, taskMessage } from '../support/redis-db.js';
import { watch } from '../support/redis-monitor.js';
import { oneWritePerTurn } from '../../src/redis/index.js';
import { until } from '../../src/testing/poll.js';

const URL = 'redis://127.0.0.1:6379/0';
const PREFIX = 'hotpath-test:';
const quiet = { warn: () => undefined };

await requireRedis();
const redis = prefixedDb(PREFIX);

const message = (queue: string, n: number) => taskMessage('hot.task', queue, n);

/** The first argument of every message queued in `list`, in the order they will be popped. */
async function queuedArgs(list: string): Promise<number[]> {
  const texts = await redis.lrange(`${PREFIX}${list}`, 0, -1);
  return texts.reverse().map((t) => JSON.parse(Buffer.from((JSON.parse(t) as { body: string }).body, 'base64').toString())[0][0] as number);
}

function argOf(d: Delivery): number {
  return JSON.parse(d.message?.body ?? '[[-1]]')[0][0] as number;
}

type TestConsumer = { id: string; cancel(): Promise<void>; eager(): boolean; hold(delta: number): void };
/** What a test gets from withConsumer. */
type ConsumerTest = { broker: RedisBroker; consumer: TestConsumer; got: Delivery[] };

/**
 * A broker polling once a minute (only wake-ups and takes deliver soon) and a consumer of `queue`, both closed after
 * `fn`. Takes wait for Redis's reply unless `eagerTakeWindow` says otherwise.
 */
async function withConsumer(
  queue: string,
  prefetch: number,
  fn: (t: ConsumerTest) => Promise<void>,
  eagerTakeWindow = 0,
  ackAtOnce = false,
): Promise<void> {
  const broker = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX, pollInterval: 60_000, eagerTakeWindow });
  const got: Delivery[] = [];
  const onDelivery = (d: Delivery): void => {
    got.push(d);
    // As a worker acks early: as the task starts, when it starts at once.
    if (ackAtOnce) void d.ack();
  };
  const consumer = (await broker.consume([queue], onDelivery, { prefetch })) as unknown as TestConsumer;
  try {
    await fn({ broker, consumer, got });
  } finally {
    await consumer.cancel();
    await broker.close();
  }
}

/** withConsumer with eager takes on (a window of a minute), once the consumer has found its queue empty and waits. */
async function withIdleConsumer(queue: string, fn: (t: ConsumerTest) => Promise<void>, ackAtOnce = false): Promise<void> {
  await withConsumer(
    queue,
    4,
    async (t) => {
      await until('the consumer idle after finding its queue empty', () => t.consumer.eager());
      await fn(t);
    },
    60_000,
    ackAtOnce,
  );
}

describe('taking a message published to a queue this process consumes', () => {
  it('is taken at once when nothing waits: never pushed, recorded in unacked as a pop records it, gone after the ack', async () => {
    await withConsumer('take-a', 4, async ({ broker, got }) => {
      const m = message('take-a', 1);
      await broker.publishMany([m], { takeLocally: true });
      expect(got.map(argOf)).toEqual([1]);
      expect(await redis.llen(`${PREFIX}take-a`)).toBe(0);
      const tag = got[0].deliveryTag;
      const entry = JSON.parse((await redis.hget(`${PREFIX}unacked`, tag)) ?? 'null') as [Record<string, unknown>, string, string];
      expect(entry[1]).toBe('');
      expect(entry[2]).toBe('take-a');
      expect(parseEnvelope(JSON.stringify(entry[0])).headers?.id).toBe(m.id);
      expect(await redis.zscore(`${PREFIX}unacked_index`, tag)).not.toBeNull();
      await got[0].ack();
      expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
      expect(await redis.zcard(`${PREFIX}unacked_index`)).toBe(0);
    });
  });

  /** A message pushed by a publisher that sends no wake-up (as Python's), then one taken locally; the arguments in delivery order. */
  async function behindUnseen(queue: string, { broker, got }: ConsumerTest): Promise<number[]> {
    await redis.lpush(`${PREFIX}${queue}`, JSON.stringify(toEnvelope(message(queue, 1).message, '', queue)));
    await broker.publishMany([message(queue, 2)], { takeLocally: true });
    // The consumer polls once a minute: only a wake-up or a take's reply makes it look now.
    await until('both deliveries', () => got.length === 2);
    await Promise.all(got.map((d) => d.ack()));
    expect(await redis.llen(`${PREFIX}${queue}`)).toBe(0);
    expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
    return got.map(argOf);
  }

  it('is pushed behind messages already waiting, which are delivered first', async () => {
    await withConsumer('take-b', 4, async (t) => {
      expect(await behindUnseen('take-b', t)).toEqual([1, 2]);
    });
  });

  it('handed over before the reply, it may overtake a message queued without a wake-up meanwhile, which is then delivered at once', async () => {
    await withIdleConsumer('take-g', async (t) => {
      expect(await behindUnseen('take-g', t)).toEqual([2, 1]);
    });
  });

  it('is not taken beyond the prefetch: the rest is pushed and waits', async () => {
    await withConsumer('take-c', 2, async ({ broker, got }) => {
      await broker.publishMany([message('take-c', 1), message('take-c', 2), message('take-c', 3)], { takeLocally: true });
      expect(got.map(argOf)).toEqual([1, 2]);
      expect(await redis.llen(`${PREFIX}take-c`)).toBe(1);
      await got[0].ack();
      await until('the third after room came back', () => got.length === 3);
      expect(argOf(got[2])).toBe(3);
      await Promise.all(got.map((d) => d.ack()));
    });
  });

  it('is taken while the deliveries that fill the prefetch are only storing their results (held), and is not while they are unsettled', async () => {
    await withConsumer('take-h', 2, async ({ broker, consumer, got }) => {
      await broker.publishMany([message('take-h', 1), message('take-h', 2)], { takeLocally: true });
      expect(got.map(argOf)).toEqual([1, 2]);
      // Both unsettled: no room, the next one is pushed.
      await broker.publishMany([message('take-h', 3)], { takeLocally: true });
      expect(got).toHaveLength(2);
      expect(await redis.llen(`${PREFIX}take-h`)).toBe(1);
      await redis.del(`${PREFIX}take-h`);
      // Both acknowledged and storing their results (the worker holds them): a task's next step is still taken.
      consumer.hold(2);
      await Promise.all(got.map((d) => d.ack()));
      await broker.publishMany([message('take-h', 4)], { takeLocally: true });
      expect(got.map(argOf)).toEqual([1, 2, 4]);
      expect(await redis.llen(`${PREFIX}take-h`)).toBe(0);
      consumer.hold(-2);
      await got[2].ack();
    });
  });

  it('goes back to the queue, marked redelivered, when the consumer stops before acking it', async () => {
    await withConsumer('take-d', 4, async ({ broker, consumer, got }) => {
      const m = message('take-d', 7);
      await broker.publishMany([m], { takeLocally: true });
      expect(got).toHaveLength(1);
      await consumer.cancel();
      await broker.close();
      const back = await redis.lrange(`${PREFIX}take-d`, 0, -1);
      expect(back).toHaveLength(1);
      const env = parseEnvelope(back[0]);
      expect(env.headers?.id).toBe(m.id);
      expect(env.headers?.redelivered).toBe(true);
      expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
    });
  });

  it('is handed over before Redis replies when the consumer saw its queue empty just now, and recorded all the same', async () => {
    await withIdleConsumer('take-f', async ({ broker, got }) => {
      const client = (broker as unknown as { client: { celeriacTake: (...a: unknown[]) => Promise<number> } }).client;
      const real = client.celeriacTake;
      let replied = false;
      // The reply to the take comes 300 ms late. (Auto-pipelining calls the method again on its pipeline: passed through.)
      const spy = vi.spyOn(client, 'celeriacTake').mockImplementation(async function (this: unknown, ...a: unknown[]) {
        if (this !== client) return real.apply(this, a);
        const r = await real.apply(client, a);
        await new Promise((resolve) => setTimeout(resolve, 300));
        replied = true;
        return r;
      });
      try {
        const m = message('take-f', 5);
        const sending = broker.publishMany([m], { takeLocally: true });
        await until('the delivery', () => got.length === 1);
        expect(replied).toBe(false);
        // Recorded before any ack can reach Redis: the script went out first on the same connection.
        const entry = JSON.parse((await redis.hget(`${PREFIX}unacked`, got[0].deliveryTag)) ?? 'null') as [Record<string, unknown>, string, string] | null;
        expect(entry?.[2]).toBe('take-f');
        await sending;
        expect(replied).toBe(true);
        expect(await redis.llen(`${PREFIX}take-f`)).toBe(0);
        await got[0].ack();
        expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
      } finally {
        spy.mockRestore();
      }
    });
  });

  it('handed over to a consumer that acks it as it is delivered (an early ack), records nothing: no unacked entry, no claim, no ack script', async () => {
    await withIdleConsumer(
      'take-i',
      async ({ broker, consumer, got }) => {
        const client = (broker as unknown as { client: { celeriacTake: (...a: unknown[]) => Promise<number>; celeriacAck: (...a: unknown[]) => Promise<number> } }).client;
        const takes = vi.spyOn(client, 'celeriacTake');
        const acks = vi.spyOn(client, 'celeriacAck');
        try {
          const m = message('take-i', 7);
          // What Redis runs for this file's keys: a script's writes too.
          const { seen } = await watch(
            redis,
            (args) => args.some((a) => a.includes(PREFIX)),
            async () => {
              await broker.publishMany([m], { takeLocally: true });
              await until('the delivery', () => got.length === 1);
              await got[0].ack();
            },
          );
          expect(got.map(argOf)).toEqual([7]);
          expect(got[0].message?.headers.id).toBe(m.id);
          // Taken (the consumer's registration counted down, the queue looked at), with no envelope sent.
          expect(takes).toHaveBeenCalledTimes(1);
          const args = takes.mock.calls[0] ?? [];
          expect(args[9]).toBe('');
          expect(await redis.llen(`${PREFIX}take-i`)).toBe(0);
          expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
          expect(await redis.zcard(`${PREFIX}unacked_index`)).toBe(0);
          expect(await redis.exists(`${PREFIX}_celeriac.claim.${consumer.id}.take`)).toBe(0);
          expect(acks).not.toHaveBeenCalled();
          // Nothing recorded and removed again: no write to unacked, its index or a claim at all.
          expect(seen.filter((c) => /^(hset|zadd|zrem|hdel)$/i.test(c.args[0] ?? '')).map((c) => c.args.join(' '))).toEqual([]);
        } finally {
          takes.mockRestore();
          acks.mockRestore();
        }
      },
      true,
    );
  });

  it('handed over before the reply to a consumer that stops first, it goes back to the queue, not lost and not delivered', async () => {
    await withIdleConsumer('take-h', async ({ broker, consumer, got }) => {
      const m = message('take-h', 3);
      const sending = broker.publishMany([m], { takeLocally: true });
      // The hand-over is due once this turn's code has run; the consumer stops before it.
      const stopping = consumer.cancel();
      await Promise.all([sending, stopping]);
      expect(got).toHaveLength(0);
      const back = await redis.lrange(`${PREFIX}take-h`, 0, -1);
      expect(back.map((t) => parseEnvelope(t).headers?.id)).toEqual([m.id]);
      expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
      expect(await redis.zcard(`${PREFIX}unacked_index`)).toBe(0);
    });
  });

  it('without takeLocally, a publish is a plain push even with a local consumer (no take claim is written)', async () => {
    await withConsumer('take-e', 4, async ({ broker, consumer, got }) => {
      const claim = `${PREFIX}_celeriac.claim.${consumer.id}.take`;
      await broker.publishMany([message('take-e', 1)]);
      await until('the delivery', () => got.length === 1);
      expect(await redis.exists(claim)).toBe(0);
      await got[0].ack();
      await broker.publishMany([message('take-e', 2)], { takeLocally: true });
      expect(got).toHaveLength(2);
      expect(await redis.exists(claim)).toBe(1);
      await got[1].ack();
    });
  });
});

describe('popping a queue that holds more than the room', () => {
  it('asks for the next batch before it delivers a full one, and delivers every message once, in order', async () => {
    const broker = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX, pollInterval: 60_000, eagerTakeWindow: 0 });
    const got: Array<{ arg: number; popsSent: number }> = [];
    let pops = 0;
    let consumer: TestConsumer | null = null;
    try {
      consumer = (await broker.consume(['pop-ahead'], (d) => {
        got.push({ arg: argOf(d), popsSent: pops });
        void d.ack();
      }, { prefetch: 200 })) as unknown as TestConsumer;
      await until('the consumer idle', async () => (await redis.exists(`${PREFIX}_celeriac.idle.${consumer?.id}`)) === 1);
      const conn = (consumer as unknown as { conn: { celeriacPopBuffer: (...a: unknown[]) => Promise<unknown> } }).conn;
      const real = conn.celeriacPopBuffer.bind(conn);
      vi.spyOn(conn, 'celeriacPopBuffer').mockImplementation((...a: unknown[]) => {
        pops++;
        return real(...a);
      });
      await broker.publishMany(Array.from({ length: 300 }, (_, i) => message('pop-ahead', i)));
      await until('all 300 delivered', () => got.length === 300);
      expect(got.map((g) => g.arg)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      // The first batch (64, a pop's most) filled its count with room left: it arrived while the next pop was on its way.
      expect(got[0].popsSent).toBe(2);
      await until('every ack settled', async () => (await redis.hlen(`${PREFIX}unacked`)) === 0);
    } finally {
      await consumer?.cancel();
      await broker.close();
    }
  });

  it('a consumer stopped while a pop is ahead gives back what that pop took: nothing left unacked, all back in the queue', async () => {
    const broker = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX, pollInterval: 60_000, eagerTakeWindow: 0 });
    await broker.publishMany(Array.from({ length: 200 }, (_, i) => message('pop-stop', i)));
    let stopping: Promise<void> | null = null;
    let consumer: TestConsumer | null = null;
    try {
      consumer = (await broker.consume(['pop-stop'], () => {
        // Stop at the first delivery: the batch after it has been asked for already.
        stopping ??= consumer?.cancel() ?? null;
      }, { prefetch: 150 })) as unknown as TestConsumer;
      await until('the consumer stopping', () => stopping !== null);
      await stopping;
      expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
      expect((await queuedArgs('pop-stop')).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    } finally {
      await consumer?.cancel();
      await broker.close();
      await redis.del(`${PREFIX}pop-stop`);
    }
  });
});

describe('publishing a batch (a chord header, a group)', () => {
  it('pushes consecutive messages for one list in one script call per 1,000, each list in publish order', async () => {
    const broker = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX });
    try {
      const client = (broker as unknown as { client: { celeriacPublish: (...a: string[]) => Promise<number>; celeriacHand: (...a: unknown[]) => Promise<number> } }).client;
      const spy = vi.spyOn(client, 'celeriacPublish');
      const hands = vi.spyOn(client, 'celeriacHand');
      const batch = Array.from({ length: 2500 }, (_, i) => message('batch-a', i));
      await broker.publishMany(batch);
      // (Only the calls made on the connection itself: a pipeline would call the command again on itself.)
      const onClient = () => spy.mock.calls.filter((_, i) => spy.mock.contexts[i] === client);
      expect(onClient().map((c) => c.length - 2)).toEqual([1000, 1000, 500]);
      expect(await queuedArgs('batch-a')).toEqual(batch.map((_, i) => i));
      expect(hands.mock.calls.filter((_, i) => hands.mock.contexts[i] === client)).toHaveLength(0);
      // Alternating priorities: a call per change of list (each one message: it may be handed to an idle consumer), and each list keeps its order.
      spy.mockClear();
      const mixed = Array.from({ length: 6 }, (_, i) => {
        const m = message('batch-b', i);
        if (i % 2) m.message.properties.priority = 9;
        return m;
      });
      await broker.publishMany(mixed);
      expect(onClient()).toHaveLength(0);
      expect(hands.mock.calls.filter((_, i) => hands.mock.contexts[i] === client)).toHaveLength(6);
      expect(await queuedArgs('batch-b')).toEqual([0, 2, 4]);
      expect(await redis.llen(`${PREFIX}batch-b\x06\x169`)).toBe(3);
    } finally {
      await broker.close();
    }
  });
});

describe('publishing messages one at a time (delay())', () => {
  it('puts each in the list of its queue and priority and declares each queue once, for more queues than the broker keeps names of', async () => {
    const broker = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX });
    try {
      const queues = Array.from({ length: 300 }, (_, i) => `single-${i}`);
      for (const [i, q] of queues.entries()) {
        const m = message(q, i);
        if (i % 3 === 0) m.message.properties.priority = 9;
        await broker.publishMany([m]);
      }
      // The first queues again, after 300 others: their names are made again, right.
      for (const [i, q] of queues.slice(0, 5).entries()) await broker.publish(message(q, 1000 + i).message, { queue: q });
      for (const [i, q] of queues.entries()) {
        const again = i < 5 ? [1000 + i] : [];
        if (i % 3 === 0) {
          expect(await redis.llen(`${PREFIX}${q}\x06\x169`)).toBe(1);
          expect(await queuedArgs(q)).toEqual(again);
        } else expect(await queuedArgs(q)).toEqual([i, ...again]);
        expect(await redis.smembers(`${PREFIX}_kombu.binding.${q}`)).toEqual([`${q}\x06\x16\x06\x16${q}`]);
      }
    } finally {
      await broker.close();
    }
  });

  it('rejects once the broker is closed, and pushes nothing', async () => {
    const broker = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX });
    await broker.connect();
    await broker.close();
    await expect(broker.publish(message('single-closed', 1).message, { queue: 'single-closed' })).rejects.toThrow('The Redis broker is closed');
    await expect(broker.publishMany([message('single-closed', 2)])).rejects.toThrow('The Redis broker is closed');
    expect(await redis.llen(`${PREFIX}single-closed`)).toBe(0);
  });
});

describe('publishing once (a chord body, which a redelivered completer may send again)', () => {
  it('pushes a message the first time its task id is published and drops it after; other ids and plain publishes are not held back', async () => {
    const broker = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX });
    try {
      const m = message('once-a', 1);
      await broker.publishMany([m], { once: true });
      await broker.publishMany([m], { once: true });
      expect(await redis.llen(`${PREFIX}once-a`)).toBe(1);
      const ttl = await redis.ttl(`${PREFIX}_celeriac.sent.${m.id}`);
      expect(ttl).toBeGreaterThan(86_000);
      expect(ttl).toBeLessThanOrEqual(86_400);
      await broker.publishMany([message('once-a', 2)], { once: true });
      await broker.publishMany([m]);
      expect(await redis.llen(`${PREFIX}once-a`)).toBe(3);
    } finally {
      await broker.close();
    }
  });
});

describe('result stores of one event-loop turn', () => {
  it('go to Redis in one script call, each stored and published, and a SUCCESS already there is kept', async () => {
    const backend = new RedisBackend(URL, { keyPrefix: PREFIX, logger: quiet });
    const sub = new Redis({ host: '127.0.0.1', port: 6379, db: 0 });
    // Counts the calls on the backend's own connection; each still runs for real.
    const calls = vi.spyOn((backend as unknown as { client: { celeriacStoreMany(...a: unknown[]): Promise<number[]> } }).client, 'celeriacStoreMany');
    try {
      await backend.connect();
      const ids = [newTaskId(), newTaskId(), newTaskId()];
      const heard: string[] = [];
      sub.on('message', (channel: string) => heard.push(channel));
      await sub.subscribe(...ids.map((id) => backend.taskKey(id)));
      const meta = (id: string, status: string) => ({ status, result: 1, traceback: null, children: [], date_done: null, task_id: id });
      const outcomes = await Promise.all(ids.map((id) => backend.store(meta(id, 'SUCCESS'))));
      expect(outcomes.map((o) => o.stored)).toEqual([true, true, true]);
      for (const id of ids) expect((await backend.getMeta(id)).status).toBe('SUCCESS');
      await until('three notifications', () => heard.length === 3);
      // A later FAILURE for the same id does not overwrite SUCCESS (Celery's rule), in the same batched call.
      const [kept, fresh] = await Promise.all([backend.store(meta(ids[0], 'FAILURE')), backend.store(meta(newTaskId(), 'FAILURE'))]);
      expect(kept.stored).toBe(false);
      expect(fresh.stored).toBe(true);
      expect((await backend.getMeta(ids[0])).status).toBe('SUCCESS');
      // numKeys of each call: three stores, then two.
      const distinct = [...new Set(calls.mock.calls.map((c) => JSON.stringify(c)))].map((c) => (JSON.parse(c) as unknown[])[0]);
      expect(distinct).toEqual([3, 2]);
    } finally {
      calls.mockRestore();
      sub.disconnect();
      await backend.close();
    }
  });
});

describe('chord part reports of one event-loop turn', () => {
  it('go to Redis in one script call, counted one after the other: only the part that completes the chord gets the members, in group order', async () => {
    const backend = new RedisBackend(URL, { keyPrefix: PREFIX, logger: quiet });
    const client = (backend as unknown as { client: { celeriacStoreParts(...a: unknown[]): Promise<unknown> } }).client;
    const calls = vi.spyOn(client, 'celeriacStoreParts');
    try {
      await backend.connect();
      const gid = newTaskId();
      await backend.setChordSize(gid, 3);
      const ids = [newTaskId(), newTaskId(), newTaskId()];
      const meta = (id: string, result: number) => ({ status: 'SUCCESS', result, traceback: null, children: [], date_done: null, task_id: id });
      // Reported in the order 2, 0, 1 (as parts finish), in one turn.
      const order = [2, 0, 1];
      const outcomes = await Promise.all(order.map((i) => backend.store(meta(ids[i], 10 * i), { groupId: gid, groupIndex: i })));
      expect(outcomes.map((o) => o.chord?.ready)).toEqual([false, false, true]);
      expect(outcomes[2].chord).toEqual({ ready: true, parts: ids.map((id, i) => ({ id, state: 'SUCCESS', result: 10 * i })) });
      for (const [i, id] of ids.entries()) expect(await backend.getMeta(id)).toMatchObject({ status: 'SUCCESS', result: 10 * i });
      // Three meta keys and the chord's five keys, once.
      expect(calls.mock.calls.filter((_, i) => calls.mock.contexts[i] === client).map((c) => c[0])).toEqual([8]);
      // The chord's keys expire with the results (refreshed once, after the last part of the call).
      for (const suffix of ['.j', '.p', '.d']) {
        const ttl = await redis.ttl(`${PREFIX}celery-taskset-meta-${gid}${suffix}`);
        expect(ttl).toBeGreaterThan(86_000);
      }
      // The same part reported again (a copy, not redelivered) counts once and completes nothing.
      const again = await backend.store(meta(ids[1], 10), { groupId: gid, groupIndex: 1 });
      expect(again.chord).toEqual({ ready: false });
      await backend.chordDone(gid);
    } finally {
      calls.mockRestore();
      await backend.close();
    }
  });

  it('of two chords interleaved in one turn are each counted in their own chord', async () => {
    const backend = new RedisBackend(URL, { keyPrefix: PREFIX, logger: quiet });
    try {
      await backend.connect();
      const [ga, gb] = [newTaskId(), newTaskId()];
      await backend.setChordSize(ga, 2);
      await backend.setChordSize(gb, 2);
      const a = [newTaskId(), newTaskId()];
      const b = [newTaskId(), newTaskId()];
      const meta = (id: string, result: number) => ({ status: 'SUCCESS', result, traceback: null, children: [], date_done: null, task_id: id });
      const outcomes = await Promise.all([
        backend.store(meta(a[0], 1), { groupId: ga, groupIndex: 0 }),
        backend.store(meta(b[1], 20), { groupId: gb, groupIndex: 1 }),
        backend.store(meta(b[0], 10), { groupId: gb, groupIndex: 0 }),
        backend.store(meta(a[1], 2), { groupId: ga, groupIndex: 1 }),
      ]);
      expect(outcomes.map((o) => o.chord?.ready)).toEqual([false, false, true, true]);
      expect(outcomes[2].chord).toEqual({ ready: true, parts: [{ id: b[0], state: 'SUCCESS', result: 10 }, { id: b[1], state: 'SUCCESS', result: 20 }] });
      expect(outcomes[3].chord).toEqual({ ready: true, parts: [{ id: a[0], state: 'SUCCESS', result: 1 }, { id: a[1], state: 'SUCCESS', result: 2 }] });
      await backend.chordDone(ga);
      await backend.chordDone(gb);
    } finally {
      await backend.close();
    }
  });
});

describe('a worker on one Redis for broker and results', () => {
  let app: Celeriac;
  beforeAll(() => {
    app = new Celeriac({ broker: URL, backend: URL, keyPrefix: PREFIX, defaultQueue: 'hot-chain', logLevel: 'silent', brokerOptions: { connectionName: 'hotpath-test' } });
  });
  afterAll(async () => {
    await app.close();
  });

  it('shares one command connection between broker and backend, and closes it with the app', async () => {
    await app.connect();
    const names = async () =>
      String(await redis.client('LIST'))
        .split('\n')
        .map((l) => / name=(\S*)/.exec(l)?.[1] ?? '')
        .filter((n) => n.startsWith('hotpath-test') || n === 'celeriac:results');
    expect(await names()).toContain('hotpath-test:command');
    expect(await names()).not.toContain('celeriac:results');
  });

  it('runs a chain of 50 (each step taken by the worker that sends it): every step SUCCESS, nothing left unacked or queued', async () => {
    const add = app.task('hot.add', (x: number, y: number) => x + y);
    const worker = await app.worker({ concurrency: 2 });
    try {
      const res = await chain(add.s(0, 1), ...Array.from({ length: 49 }, () => add.s(1))).delay();
      expect(await res.get({ timeout: 20 })).toBe(50);
      let steps = 0;
      for (let r: typeof res.parent = res; r; r = r.parent) {
        expect(await r.state()).toBe('SUCCESS');
        steps++;
      }
      expect(steps).toBe(50);
      await until('every ack to land', async () => (await redis.hlen(`${PREFIX}unacked`)) === 0);
      expect(await redis.llen(`${PREFIX}hot-chain`)).toBe(0);
    } finally {
      await worker.stop();
    }
  });

  it(`runs up to ${HANDS_PER_TURN} steps of a chain in one turn: their stores and next steps leave in one socket write, not one each`, async () => {
    const inc = app.task('hot.inc', (x: number) => x + 1);
    const worker = await app.worker({ concurrency: 2 });
    try {
      // Warm: the consumer has found its queue empty, so the steps it sends itself are handed over eagerly.
      expect(await (await inc.delay(0)).get({ timeout: 20 })).toBe(1);
      const socket = (app as unknown as { _broker: { client: { stream: { _write: () => unknown; _writev: () => unknown } } } })._broker.client.stream;
      const single = vi.spyOn(socket, '_write');
      const many = vi.spyOn(socket, '_writev');
      try {
        const res = await chain(inc.s(0), ...Array.from({ length: 63 }, () => inc.s())).delay();
        expect(await res.get({ timeout: 20 })).toBe(64);
        const writes = single.mock.calls.length + many.mock.calls.length;
        // One write per step without it; with it about one per HANDS_PER_TURN steps (plus the acks' and the get's).
        expect(writes).toBeLessThan(64 / 2);
      } finally {
        single.mockRestore();
        many.mockRestore();
      }
      await until('every ack to land', async () => (await redis.hlen(`${PREFIX}unacked`)) === 0);
    } finally {
      await worker.stop();
    }
  });
});

describe('a worker whose results go over a connection of their own', () => {
  let app: Celeriac;
  beforeAll(() => {
    // The same database under another URL: the backend opens its own connection.
    app = new Celeriac({ broker: URL, backend: 'redis://127.0.0.1:6379', keyPrefix: PREFIX, defaultQueue: 'hot-split', logLevel: 'silent' });
  });
  afterAll(async () => {
    await app.close();
  });

  it('stores every chain step before the next one: once the last is ready, each step is SUCCESS and lists the next as its only child', async () => {
    const add = app.task('hot.split.add', (x: number, y: number) => x + y);
    const worker = await app.worker({ concurrency: 4 });
    try {
      expect(app.storesAfterSends).toBe(false);
      for (let round = 0; round < 30; round++) {
        const res = await chain(add.s(0, 1), ...Array.from({ length: HANDS_PER_TURN + 2 }, () => add.s(1))).delay();
        expect(await res.get({ timeout: 20 })).toBe(HANDS_PER_TURN + 3);
        let nextId: string | null = null;
        for (let r: typeof res.parent = res; r; r = r.parent) {
          // Read from Redis as stored (a fresh result object caches nothing).
          const stored = new AsyncResult(r.id, app);
          expect(await stored.state()).toBe('SUCCESS');
          expect((await stored.children()).map((c) => c.id)).toEqual(nextId ? [nextId] : []);
          nextId = r.id;
        }
      }
    } finally {
      await worker.stop();
    }
  });

  it('stores a chain step before the next storing one across steps that ignore their results, which are never stored', async () => {
    // The second step holds Redis up just as its worker sends the third (a busy script, from another connection,
    // that Redis runs before that send): the steps after it, handed over before Redis replies, run meanwhile.
    const hold = app.task('hot.split.hold', (x: number) => {
      void redis.eval("local t = redis.call('TIME'); local e = t[1] * 1000000 + t[2] + 20000; repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= e", 0);
      return x + 1;
    });
    const add = app.task('hot.split.add2', (x: number, y: number) => x + y);
    const worker = await app.worker({ concurrency: 4 });
    try {
      for (let round = 0; round < 6; round++) {
        const n = 1 + (round % 3);
        const middle = Array.from({ length: n }, () => add.s(1).set({ ignoreResult: true }));
        // Every result Redis stores meanwhile, in the order it stores them (other test files share the server).
        const META = 'celery-task-meta-';
        const { value: res, seen } = await watch(
          redis,
          (args) => /^set(ex)?$/i.test(args[0] ?? '') && (args[1] ?? '').includes(META),
          async () => {
            const r = await chain(add.s(0, 1), hold.s(), ...middle, add.s(1)).delay();
            expect(await r.get({ timeout: 20 })).toBe(n + 3);
            return r;
          },
        );
        const steps: string[] = [];
        for (let r: typeof res.parent = res; r; r = r.parent) steps.unshift(r.id);
        expect(steps).toHaveLength(n + 3);
        // Stored in the chain's order: the first two steps, then the last.
        const stored = seen.map((c) => (c.args[1] ?? '').split(META)[1] ?? '').filter((id) => steps.includes(id));
        expect(stored).toEqual([steps[0], steps[1], steps[n + 2]]);
        // The first two steps store their results, each listing the next step as its child; the middle ones store nothing.
        for (const i of [0, 1]) {
          const step = new AsyncResult(steps[i], app);
          expect(await step.state()).toBe('SUCCESS');
          expect((await step.children()).map((c) => c.id)).toEqual([steps[i + 1]]);
        }
        for (const id of steps.slice(2, -1)) expect(await new AsyncResult(id, app).state()).toBe('PENDING');
      }
    } finally {
      await worker.stop();
    }
  });
});

describe('a chain step its worker takes itself', () => {
  let app: Celeriac;
  beforeAll(() => {
    // Eager takes whenever the queue was seen empty in the last minute (the acks_late steps below sleep first).
    app = new Celeriac({ broker: URL, backend: URL, keyPrefix: PREFIX, defaultQueue: 'hot-steps', logLevel: 'silent', brokerOptions: { connectionName: 'hotpath-steps', eagerTakeWindow: 60_000 } });
  });
  afterAll(async () => {
    await app.close();
  });

  it('is not written to Redis when it starts at once and is acked early: most steps of a chain of 64 never are', async () => {
    const inc = app.task('hot.step', (x: number) => x + 1);
    const worker = await app.worker({ concurrency: 2 });
    // Every command this process sends (client and worker share the one command connection): the task messages in them.
    const client = (app as unknown as { _broker: { client: { sendCommand: (c: { args: unknown[] }, ...r: unknown[]) => unknown } } })._broker.client;
    const written: string[] = [];
    const spy = vi.spyOn(client, 'sendCommand');
    try {
      // Warm: the consumer has found its queue empty, so the steps it sends itself are handed over eagerly.
      expect(await (await inc.delay(0)).get({ timeout: 20 })).toBe(1);
      spy.mockClear();
      const res = await chain(inc.s(0), ...Array.from({ length: 63 }, () => inc.s())).delay();
      expect(await res.get({ timeout: 20 })).toBe(64);
      for (const [command] of spy.mock.calls) for (const a of command.args) if (String(a).startsWith('{"body":"')) written.push(String(a));
      // The first step is sent by this process as a client (pushed); the others by the worker, each to itself.
      // Without this, every one of the 64 is written (recorded in unacked, then removed by its ack).
      expect(written.length).toBeGreaterThanOrEqual(1);
      expect(written.length).toBeLessThan(64 / 4);
      await until('every ack to land', async () => (await redis.hlen(`${PREFIX}unacked`)) === 0);
      expect(await redis.llen(`${PREFIX}hot-steps`)).toBe(0);
    } finally {
      spy.mockRestore();
      await worker.stop();
    }
  });

  it('is recorded as unacknowledged while it runs when it acks late (acks_late), and removed when it is done', async () => {
    /** Whether the running task's own message is in unacked. */
    const recorded = async (id: string): Promise<boolean> =>
      (await redis.hvals(`${PREFIX}unacked`)).some((v) => (JSON.parse(v) as [{ headers: { id: string } }])[0].headers.id === id);
    const step = app.task(
      'hot.late',
      async (self: TaskContext, seen: boolean[]) => {
        // Past this turn, whose writes (the take of this step among them) leave at its end.
        await new Promise((resolve) => setTimeout(resolve, 20));
        return [...seen, await recorded(self.request.id)];
      },
      { acksLate: true, bind: true },
    );
    const worker = await app.worker({ concurrency: 2 });
    try {
      expect(await (await step.delay([])).get({ timeout: 20 })).toEqual([true]);
      const res = await chain(step.s([]), step.s(), step.s(), step.s()).delay();
      // Every step, the three taken by the worker that sent them included, was recorded while it ran.
      expect(await res.get({ timeout: 20 })).toEqual([true, true, true, true]);
      await until('every ack to land', async () => (await redis.hlen(`${PREFIX}unacked`)) === 0);
    } finally {
      await worker.stop();
    }
  });
});

describe('a connection writes what one event-loop turn sends at once (oneWritePerTurn)', () => {
  it('in one socket write, in call order, and each command gets its own reply', async () => {
    const conn = oneWritePerTurn(new Redis({ host: '127.0.0.1', port: 6379, db: 0 }));
    try {
      await conn.ping();
      const socket = (conn as unknown as { stream: { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown } }).stream;
      const single = vi.spyOn(socket, '_write');
      const many = vi.spyOn(socket, '_writev');
      const key = `${PREFIX}turn`;
      const replies = Promise.all([conn.del(key), ...Array.from({ length: 9 }, (_, i) => conn.rpush(key, String(i))), conn.lrange(key, 0, -1)]);
      expect(single.mock.calls.length + many.mock.calls.length).toBe(0);
      const got = await replies;
      expect(single).not.toHaveBeenCalled();
      expect(many).toHaveBeenCalledTimes(1);
      expect(got.slice(1, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(got[10]).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8']);
      // The next turn's commands go in a write of their own.
      await Promise.all([conn.llen(key), conn.del(key)]);
      expect(many).toHaveBeenCalledTimes(2);
    } finally {
      conn.disconnect();
    }
  });
});
