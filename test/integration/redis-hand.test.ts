/**
 * Handing a message to an idle consumer (lua/hand.lua): a consumer that found
 * its queues empty registers (pop.lua), and a publisher in another process
 * then records the next message for it in `unacked` and sends it on the
 * consumer's push channel instead of the list, so it starts without a wake-up
 * and a pop first. The guarantees of the list stay: never beyond the
 * consumer's room, never to a consumer that has gone (the message goes to
 * the list), given back when the consumer stops, found again after the push
 * channel was down. Database 0 under the key prefix `hand-test:` (only those
 * keys are touched, and deleted afterwards).
 */
import { describe, expect, it, vi } from 'vitest';
import { RedisBroker } from '../../src/broker/redis.js';
import type { Delivery } from '../../src/broker/index.js';
import { encodeEnvelope, toEnvelope } from '../../src/protocol/index.js';
import { prefixedDb, requireRedis, taskMessage } from '../support/redis-db.js';
import { until } from '../../src/testing/poll.js';

const URL = 'redis://127.0.0.1:6379/0';
const PREFIX = 'hand-test:';
const quiet = { warn: () => undefined };

await requireRedis();
const redis = prefixedDb(PREFIX);

const message = (queue: string, n: number) => taskMessage('hand.task', queue, n);

function argOf(d: Delivery): number {
  return JSON.parse(d.message?.body ?? '[[-1]]')[0][0] as number;
}

type HandConsumer = { id: string; cancel(): Promise<void>; handedOver(payload: string): void };
type Spied = { celeriacHand: (...a: unknown[]) => Promise<number>; celeriacPublish: (...a: unknown[]) => Promise<number>; celeriacPopBuffer: (...a: unknown[]) => Promise<unknown> };

/** The replies of a connection's calls of one script (only the connection's own calls: a pipeline would call it again on itself). */
function replies(client: Spied, name: 'celeriacHand' | 'celeriacPublish') {
  const spy = vi.spyOn(client, name);
  return {
    calls: () => spy.mock.calls.filter((_, i) => spy.mock.contexts[i] === client).length,
    results: () => Promise.all(spy.mock.results.filter((_, i) => spy.mock.contexts[i] === client).map((r) => r.value as Promise<number>)),
  };
}

const idleKey = (id: string) => `${PREFIX}_celeriac.idle.${id}`;
const idlers = (queue: string) => `${PREFIX}_celeriac.idlers.${queue}`;

/**
 * A consumer of `queue` on one broker (polling once a minute, so that only wake-ups and handed messages deliver
 * soon), registered as idle, and a publisher on another broker (another process, as far as Redis can tell).
 */
async function withIdle(
  queue: string,
  prefetch: number,
  fn: (t: { consumer: HandConsumer; got: Delivery[]; publisher: RedisBroker; pub: Spied; consuming: RedisBroker }) => Promise<void>,
  connectionName = 'hand-test',
): Promise<void> {
  const consuming = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX, pollInterval: 60_000, connectionName });
  const publisher = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX });
  const got: Delivery[] = [];
  const consumer = (await consuming.consume([queue], (d) => got.push(d), { prefetch })) as unknown as HandConsumer;
  try {
    await until('the consumer registered as idle', async () => (await redis.get(idleKey(consumer.id))) === String(prefetch));
    expect(await redis.sismember(idlers(queue), consumer.id)).toBe(1);
    await fn({ consumer, got, publisher, pub: (publisher as unknown as { client: Spied }).client, consuming });
  } finally {
    await consumer.cancel();
    await Promise.all([consuming.close(), publisher.close()]);
  }
}

describe('a message published to a queue whose celeriac consumer idles', () => {
  it('is handed to it: never on the list, recorded in unacked for it as a pop records it, delivered without a pop, gone after the ack', async () => {
    await withIdle('hand-a', 4, async ({ consumer, got, publisher, pub }) => {
      const hands = replies(pub, 'celeriacHand');
      const pops = vi.spyOn((consumer as unknown as { conn: Spied }).conn, 'celeriacPopBuffer');
      const m = message('hand-a', 1);
      await publisher.publishMany([m]);
      expect(await hands.results()).toEqual([0]);
      expect(await redis.llen(`${PREFIX}hand-a`)).toBe(0);
      await until('the handed message', () => got.length === 1);
      expect(argOf(got[0])).toBe(1);
      expect(pops).not.toHaveBeenCalled();
      const tag = got[0].deliveryTag;
      const entry = JSON.parse((await redis.hget(`${PREFIX}unacked`, tag)) ?? 'null') as [Record<string, unknown>, string, string];
      expect(entry.slice(1)).toEqual(['', 'hand-a']);
      expect(Number(await redis.zscore(`${PREFIX}unacked_index`, tag))).toBeGreaterThan(Date.now() / 1000 - 60);
      // One taken from its registration; the push claim names it.
      expect(await redis.get(idleKey(consumer.id))).toBe('3');
      expect(await redis.ttl(idleKey(consumer.id))).toBeGreaterThan(0);
      expect((await redis.lrange(`${PREFIX}_celeriac.pushed.${consumer.id}`, 0, -1))[0]).toMatch(new RegExp(`^${tag} `));
      await got[0].ack();
      expect(await redis.hexists(`${PREFIX}unacked`, tag)).toBe(0);
      expect(await redis.zscore(`${PREFIX}unacked_index`, tag)).toBeNull();
    });
  });

  it('is handed only while the consumer has room: the rest waits on the list and is popped as room comes back', async () => {
    await withIdle('hand-b', 2, async ({ consumer, got, publisher, pub }) => {
      const hands = replies(pub, 'celeriacHand');
      for (const n of [1, 2, 3]) await publisher.publishMany([message('hand-b', n)]);
      // Two handed (the registration's room), the third pushed: the reply is the list's length.
      expect(await hands.results()).toEqual([0, 0, 1]);
      await until('two handed', () => got.length === 2);
      expect(got.map(argOf)).toEqual([1, 2]);
      expect(await redis.llen(`${PREFIX}hand-b`)).toBe(1);
      expect(await redis.exists(idleKey(consumer.id))).toBe(0);
      // Its room used up, it is no longer among the queue's idlers.
      expect(await redis.sismember(idlers('hand-b'), consumer.id)).toBe(0);
      await got[0].ack();
      await until('the third after room came back', () => got.length === 3);
      expect(argOf(got[2])).toBe(3);
      await Promise.all(got.slice(1).map((d) => d.ack()));
      expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
    });
  });

  it('is named in the push claim, which keeps the last 64 handed', async () => {
    await withIdle('hand-g', 100, async ({ consumer, got, publisher, pub }) => {
      const hands = replies(pub, 'celeriacHand');
      for (let n = 0; n < 70; n++) await publisher.publishMany([message('hand-g', n)]);
      expect((await hands.results()).every((r) => r === 0)).toBe(true);
      await until('all 70 handed', () => got.length === 70);
      // Still among the idlers: room for 30 more.
      expect(await redis.sismember(idlers('hand-g'), consumer.id)).toBe(1);
      expect(await redis.get(idleKey(consumer.id))).toBe('30');
      const claim = await redis.lrange(`${PREFIX}_celeriac.pushed.${consumer.id}`, 0, -1);
      expect(claim.map((c) => c.split(' ')[0])).toEqual(got.slice(6).map((d) => d.deliveryTag).reverse());
      await Promise.all(got.map((d) => d.ack()));
    });
  });

  it('is pushed behind messages already waiting, which are delivered first', async () => {
    await withIdle('hand-c', 4, async ({ got, publisher, pub }) => {
      // Queued by a publisher that hands nothing and sends no wake-up (as Python's does).
      await redis.lpush(`${PREFIX}hand-c`, encodeEnvelope(toEnvelope(message('hand-c', 1).message, '', 'hand-c')));
      const hands = replies(pub, 'celeriacHand');
      await publisher.publishMany([message('hand-c', 2)]);
      expect(await hands.results()).toEqual([2]);
      await publisher.publishMany([message('hand-c', 3)]);
      // The list had messages waiting: the next message goes out as a plain push.
      expect(hands.calls()).toBe(1);
      await until('all three', () => got.length === 3);
      expect(got.map(argOf)).toEqual([1, 2, 3]);
      await Promise.all(got.map((d) => d.ack()));
    });
  });
});

describe('a registration', () => {
  it('of a consumer that has gone (nobody on its push channel) is dropped, and the message goes to the list', async () => {
    const publisher = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX });
    try {
      await redis.set(idleKey('gone'), '5', 'EX', 60);
      await redis.sadd(idlers('hand-d'), 'gone');
      const m = message('hand-d', 1);
      await publisher.publishMany([m]);
      expect(await redis.llen(`${PREFIX}hand-d`)).toBe(1);
      expect(await redis.exists(idleKey('gone'))).toBe(0);
      expect(await redis.scard(idlers('hand-d'))).toBe(0);
      expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
      expect(await redis.zcard(`${PREFIX}unacked_index`)).toBe(0);
      expect(await redis.llen(`${PREFIX}_celeriac.pushed.gone`)).toBe(0);
    } finally {
      await publisher.close();
      await redis.del(`${PREFIX}hand-d`);
    }
  });

  it('is dropped when its consumer stops; what is published after waits on the list', async () => {
    let id = '';
    await withIdle('hand-e', 4, async ({ consumer }) => {
      id = consumer.id;
      await consumer.cancel();
      expect(await redis.exists(idleKey(id))).toBe(0);
      expect(await redis.sismember(idlers('hand-e'), id)).toBe(0);
    });
    const publisher = new RedisBroker(URL, { logger: quiet, keyPrefix: PREFIX });
    try {
      await publisher.publishMany([message('hand-e', 1)]);
      expect(await redis.llen(`${PREFIX}hand-e`)).toBe(1);
      expect(await redis.hlen(`${PREFIX}unacked`)).toBe(0);
    } finally {
      await publisher.close();
      await redis.del(`${PREFIX}hand-e`);
    }
  });

  it('lives no longer than the visibility timeout, like every key of celeriac', async () => {
    await withIdle('hand-f', 4, async ({ consumer }) => {
      expect(await redis.ttl(idleKey(consumer.id))).toBeGreaterThan(0);
      expect(await redis.ttl(idlers('hand-f'))).toBeGreaterThan(0);
    });
  });
});

/** What hand.lua leaves for a consumer when it hands `m`: the unacked record, the push claim entry; and the payload it sends. */
async function recordHanded(consumerId: string, queue: string, m: ReturnType<typeof message>): Promise<{ tag: string; raw: string; payload: string }> {
  const env = toEnvelope(m.message, '', queue);
  const raw = encodeEnvelope(env);
  const tag = env.properties.delivery_tag;
  const score = String(Math.ceil(Date.now() / 1000));
  await redis.hset(`${PREFIX}unacked`, tag, `[${raw}, "", ${JSON.stringify(queue)}]`);
  await redis.zadd(`${PREFIX}unacked_index`, score, tag);
  await redis.lpush(`${PREFIX}_celeriac.pushed.${consumerId}`, `${tag} ${score}`);
  return { tag, raw, payload: `${tag}\n${score}\n${JSON.stringify(queue)}\n${raw}` };
}

describe('a handed message that its consumer cannot run', () => {
  it('goes back to the consumer-near end of its queue, unmarked, when it reaches a consumer that is stopping', async () => {
    await withIdle('hand-g', 4, async ({ consumer }) => {
      await redis.lpush(`${PREFIX}hand-g`, 'older');
      const { tag, raw, payload } = await recordHanded(consumer.id, 'hand-g', message('hand-g', 1));
      const stopping = consumer.cancel();
      consumer.handedOver(payload);
      await stopping;
      await until('given back', async () => (await redis.llen(`${PREFIX}hand-g`)) === 2);
      expect(await redis.lrange(`${PREFIX}hand-g`, 0, -1)).toEqual(['older', raw]);
      expect(await redis.hexists(`${PREFIX}unacked`, tag)).toBe(0);
      expect(await redis.zscore(`${PREFIX}unacked_index`, tag)).toBeNull();
    });
    await redis.del(`${PREFIX}hand-g`);
  });

  it('handed while the push channel was down is found through the push claim when it comes back, and delivered once', async () => {
    await withIdle(
      'hand-h',
      4,
      async ({ consumer, got }) => {
        const a = await recordHanded(consumer.id, 'hand-h', message('hand-h', 1));
        // Settled or taken by someone else since: not delivered again.
        const b = await recordHanded(consumer.id, 'hand-h', message('hand-h', 2));
        await redis.zadd(`${PREFIX}unacked_index`, '1', b.tag);
        const list = (await redis.client('LIST')) as string;
        const subs = list.split('\n').filter((l) => l.includes('name=hand-test-recover:subscriber'));
        expect(subs).toHaveLength(1);
        const subId = /id=(\d+)/.exec(subs[0])?.[1] ?? '';
        await redis.client('KILL', 'ID', subId);
        await until('the missed message', () => got.length === 1);
        expect(got[0].deliveryTag).toBe(a.tag);
        expect(argOf(got[0])).toBe(1);
        // Pushed again on the channel after all: still once.
        consumer.handedOver(a.payload);
        await got[0].ack();
        expect(got).toHaveLength(1);
        expect(await redis.hexists(`${PREFIX}unacked`, a.tag)).toBe(0);
        await redis.hdel(`${PREFIX}unacked`, b.tag);
        await redis.zrem(`${PREFIX}unacked_index`, b.tag);
      },
      'hand-test-recover',
    );
  });
});
