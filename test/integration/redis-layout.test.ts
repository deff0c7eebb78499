/**
 * The exact Redis layout of the broker and result backend, compared with the
 * captures of a real Celery 5.2.6 / kombu 5.2.4 (test/fixtures/wire-samples),
 * plus the broker's behaviour when Redis kills its connections. Uses
 * database 3 at 127.0.0.1:6379, flushed before, between and after the tests.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backend/redis.js';
import type { TaskMeta } from '../../src/backend/index.js';
import { RedisBroker } from '../../src/broker/redis.js';
import type { Delivery } from '../../src/broker/index.js';
import { emptyEmbed, encodeTaskMessage, fromEnvelope, newTaskId, parseEnvelope } from '../../src/protocol/index.js';
import { sleep, until } from '../../src/testing/poll.js';

const HOST = '127.0.0.1';
const PORT = 6379;
const DB = 3;
const URL = `redis://${HOST}:${PORT}/${DB}`;
const START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no';
const SEP = '\x06\x16';

function sample<T>(file: string): T {
  return JSON.parse(readFileSync(new globalThis.URL(`../fixtures/wire-samples/${file}`, import.meta.url), 'utf8')) as T;
}

interface DbKey<T = unknown> {
  type: string;
  ttl: number;
  value: T;
  raw?: string;
}
interface DbState {
  keys: Record<string, DbKey>;
}
interface RestoreSample {
  while_held_by_worker_a: Record<string, DbKey>;
  restored_messages_on_queue: Array<{ redis_key: string; raw_string: string; envelope: Record<string, unknown> }>;
  db_after_restore: Record<string, DbKey>;
}
interface BrokerSample {
  messages: Array<{ redis_key: string; raw_string: string; envelope: Record<string, unknown> }>;
}
interface SuccessSample {
  meta: { key: string; ttl: number; raw: string; value: TaskMeta };
  pubsub_messages_on_channel: Array<{ channel: string; data: TaskMeta }>;
}
interface ChordSample {
  group_id: string;
  during: Record<string, DbKey>;
  after: Record<string, DbKey>;
  header_metas: Array<{ key: string; raw: string; value: TaskMeta }>;
}

const redis = new Redis({ host: HOST, port: PORT, db: DB, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1, connectTimeout: 2000 });
let cause = '';
redis.on('error', (err: Error) => (cause = err.message));
let problem: string | null = null;
try {
  await redis.connect();
  await redis.ping();
} catch (err) {
  problem = cause || (err as Error).message;
}
const reachable = (): void => {
  if (problem) throw new Error(`Redis is not reachable at ${HOST}:${PORT} (${problem}). Start it with: ${START}`);
};

const quiet = { warn: () => undefined };
const open: Array<{ close(): Promise<void> }> = [];
function track<T extends { close(): Promise<void> }>(x: T): T {
  open.push(x);
  return x;
}

beforeAll(async () => {
  if (!problem) await redis.flushdb();
});
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
  if (!problem) await redis.flushdb();
});
afterAll(async () => {
  if (!problem) await redis.flushdb();
  redis.disconnect();
});

/** JSON text with keys in order, whatever the separators. */
const canonical = (text: string): string => JSON.stringify(JSON.parse(text));

it(`Redis is reachable at ${HOST}:${PORT}`, () => reachable());

describe('broker layout (kombu 5.2.4)', () => {
  const state = sample<DbState>('redis-worker-broker-db-state.json');
  const [tag, entry] = Object.entries(state.keys.unacked.value as Record<string, string>)[0];
  const suffix = ', "", "celery"]';
  /** The message as the Python worker popped it: the unacked entry's first element, byte for byte. */
  const pythonRaw = entry.slice(1, entry.length - suffix.length);

  it('records a taken message in unacked and unacked_index exactly as kombu does', async () => {
    reachable();
    expect(entry.endsWith(suffix)).toBe(true);
    expect(parseEnvelope(pythonRaw).properties.delivery_tag).toBe(tag);
    await redis.lpush('celery', pythonRaw);
    const broker = track(new RedisBroker(URL, { logger: quiet }));
    const got: Delivery[] = [];
    const before = Date.now() / 1000;
    await broker.consume(['celery'], (d) => got.push(d), { prefetch: 1 });
    await until('the delivery', () => got.length === 1);
    const after = Date.now() / 1000;

    expect(got[0].deliveryTag).toBe(tag);
    expect(await redis.hgetall('unacked')).toEqual({ [tag]: entry });
    const index = await redis.zrange('unacked_index', 0, -1, 'WITHSCORES');
    expect(index[0]).toBe(tag);
    // Epoch seconds, as kombu's sweep compares them; rounded up to the whole second (kombu writes a fraction), which a
    // small sorted set stores as an integer instead of text that every insert parses again.
    const score = Number(index[1]);
    expect(score).toBeGreaterThanOrEqual(before);
    expect(score).toBeLessThanOrEqual(Math.ceil(after));
    expect(Number.isInteger(score)).toBe(true);
    for (const key of ['unacked', 'unacked_index', '_kombu.binding.celery']) {
      expect(await redis.type(key)).toBe(state.keys[key].type);
      expect(await redis.ttl(key)).toBe(state.keys[key].ttl);
    }
    expect(await redis.smembers('_kombu.binding.celery')).toEqual(state.keys['_kombu.binding.celery'].value);
    expect(await redis.smembers('_kombu.binding.celery')).toEqual([`celery${SEP}${SEP}celery`]);

    await got[0].ack();
    expect(await redis.exists('unacked', 'unacked_index')).toBe(0);
  });

  it('records an unreadable message as a JSON string, so the entry stays valid JSON for Python sweepers', async () => {
    reachable();
    await redis.lpush('celery', 'not json at all');
    const broker = track(new RedisBroker(URL, { logger: quiet }));
    const got: Delivery[] = [];
    await broker.consume(['celery'], (d) => got.push(d), { prefetch: 1 });
    await until('the delivery', () => got.length === 1);
    expect(got[0].message).toBeNull();
    const entries = await redis.hgetall('unacked');
    expect(JSON.parse(entries[got[0].deliveryTag])).toEqual(['not json at all', '', 'celery']);
    await got[0].ack();
    expect(await redis.exists('unacked', 'unacked_index')).toBe(0);
  });

  for (const file of ['redis-broker-plain-task.json', 'redis-broker-priority-5.json', 'redis-broker-priority-9.json']) {
    it(`publishes on kombu's list for the priority, with kombu's envelope (${file})`, async () => {
      reachable();
      const captured = sample<BrokerSample>(file).messages[0];
      const message = fromEnvelope(parseEnvelope(captured.raw_string));
      const broker = track(new RedisBroker(URL, { logger: quiet }));
      await broker.publish(message, { queue: 'celery' });
      expect(await redis.llen(captured.redis_key)).toBe(1);
      const raw = (await redis.lrange(captured.redis_key, 0, -1))[0];
      const ours = JSON.parse(raw) as Record<string, Record<string, unknown>>;
      const theirs = captured.envelope as Record<string, Record<string, unknown>>;
      expect(Object.keys(ours)).toEqual(Object.keys(theirs));
      expect(Object.keys(ours.properties)).toEqual(Object.keys(theirs.properties));
      expect({ ...ours, properties: { ...ours.properties, delivery_tag: 'x' } }).toEqual({ ...theirs, properties: { ...theirs.properties, delivery_tag: 'x' } });
      expect(ours.properties.delivery_tag).toMatch(/^[0-9a-f-]{36}$/);
      expect(await redis.smembers('_kombu.binding.celery')).toEqual([`celery${SEP}${SEP}celery`]);
    });
  }

  it('cancel gives a held message back with RPUSH and the redelivered flags kombu sets', async () => {
    reachable();
    const restore = sample<RestoreSample>('redis-broker-unacked-restore.json');
    const [heldTag, heldEntry] = Object.entries(restore.while_held_by_worker_a.unacked.value as Record<string, string>)[0];
    const raw = heldEntry.slice(1, heldEntry.length - suffix.length);
    await redis.lpush('celery', raw);
    const broker = track(new RedisBroker(URL, { logger: quiet }));
    const got: Delivery[] = [];
    const consumer = await broker.consume(['celery'], (d) => got.push(d), { prefetch: 1 });
    await until('the delivery', () => got.length === 1);
    await redis.lpush('celery', 'a later message');
    await consumer.cancel();
    // RPUSH: the restored message is at the consumer-near (right) end, next to be taken.
    const list = await redis.lrange('celery', 0, -1);
    expect(list.length).toBe(2);
    expect(list[0]).toBe('a later message');
    expect(canonical(list[1])).toBe(canonical(restore.restored_messages_on_queue[0].raw_string));
    expect(parseEnvelope(list[1]).properties.delivery_tag).toBe(heldTag);
    expect(await redis.exists('unacked', 'unacked_index')).toBe(0);
  });

  it("restores a dead worker's message after the visibility timeout, as kombu's sweep does", async () => {
    reachable();
    const restore = sample<RestoreSample>('redis-broker-unacked-restore.json');
    const [heldTag, heldEntry] = Object.entries(restore.while_held_by_worker_a.unacked.value as Record<string, string>)[0];
    // Worker A died holding the message 10 s ago; the timeout is 5 s.
    await redis.hset('unacked', heldTag, heldEntry);
    await redis.zadd('unacked_index', String(Date.now() / 1000 - 10), heldTag);
    // A fresh entry (held 1 s) must stay.
    await redis.hset('unacked', 'fresh-tag', heldEntry.replace(heldTag, 'fresh-tag'));
    await redis.zadd('unacked_index', String(Date.now() / 1000 - 1), 'fresh-tag');
    const broker = track(new RedisBroker(URL, { logger: quiet, visibilityTimeout: 5 }));
    // Worker B consumes another queue; starting to consume sweeps.
    await broker.consume(['celery.other'], () => undefined, { prefetch: 1 });
    await until('the restore', async () => (await redis.llen('celery')) === 1);
    const restored = (await redis.lrange('celery', 0, -1))[0];
    expect(canonical(restored)).toBe(canonical(restore.db_after_restore.celery.value instanceof Array ? (restore.db_after_restore.celery.value as string[])[0] : ''));
    expect(canonical(restored)).toBe(canonical(restore.restored_messages_on_queue[0].raw_string));
    expect(await redis.hkeys('unacked')).toEqual(['fresh-tag']);
    expect(await redis.zrange('unacked_index', 0, -1)).toEqual(['fresh-tag']);
    expect(await redis.exists('unacked_mutex')).toBe(0);
    expect(await redis.smembers('_kombu.binding.celery.other')).toEqual(restore.db_after_restore['_kombu.binding.celery.other'].value);
  });

  it('a sweep does nothing while another process holds unacked_mutex', async () => {
    reachable();
    const restore = sample<RestoreSample>('redis-broker-unacked-restore.json');
    const [heldTag, heldEntry] = Object.entries(restore.while_held_by_worker_a.unacked.value as Record<string, string>)[0];
    await redis.hset('unacked', heldTag, heldEntry);
    await redis.zadd('unacked_index', String(Date.now() / 1000 - 10), heldTag);
    await redis.set('unacked_mutex', 'python-lock-token', 'PX', 300_000);
    const broker = track(new RedisBroker(URL, { logger: quiet, visibilityTimeout: 5 }));
    expect(await broker.sweep()).toBe(0);
    expect(await redis.llen('celery')).toBe(0);
    expect(await redis.get('unacked_mutex')).toBe('python-lock-token');
    await redis.del('unacked_mutex');
    expect(await broker.sweep()).toBe(1);
    expect(await redis.llen('celery')).toBe(1);
  });

  it('broadcasts on /<db>.<exchange>/<routing key>, and hears Python-style channel names', async () => {
    reachable();
    const broker = track(new RedisBroker(URL, { logger: quiet }));
    const listener = redis.duplicate();
    listener.on('error', () => undefined);
    const heard: Array<[string, string]> = [];
    listener.on('pmessage', (_p: string, ch: string, data: string) => heard.push([ch, data]));
    await listener.psubscribe(`/${DB}.celeryev/*`, `/${DB}.celery.pidbox`);
    try {
      const m = encodeTaskMessage({ name: 't', id: newTaskId(), args: [], kwargs: {}, embed: emptyEmbed(), origin: 'o', replyTo: 'r' });
      await broker.broadcast('celeryev', 'task.succeeded', m);
      await broker.broadcast('celery.pidbox', '', m);
      await until('both broadcasts', () => heard.length === 2);
      expect(heard.map(([ch]) => ch)).toEqual([`/${DB}.celeryev/task.succeeded`, `/${DB}.celery.pidbox`]);
      const env = JSON.parse(heard[0][1]) as { properties: { delivery_info: unknown } };
      expect(env.properties.delivery_info).toEqual({ exchange: 'celeryev', routing_key: 'task.succeeded' });

      const got: string[] = [];
      await broker.subscribe('celeryev', 'task.#', (b) => got.push(b.routingKey));
      await redis.publish(`/${DB}.celeryev/task.failed`, JSON.stringify({ body: '', 'content-encoding': 'utf-8', 'content-type': 'application/json', headers: {}, properties: { body_encoding: 'base64', delivery_info: { exchange: 'celeryev', routing_key: 'task.failed' }, delivery_tag: 't' } }));
      await until('the Python-style broadcast', () => got.length === 1);
      expect(got).toEqual(['task.failed']);
    } finally {
      listener.disconnect();
    }
  });

  it('keyPrefix prefixes every key and channel', async () => {
    reachable();
    const broker = track(new RedisBroker(URL, { logger: quiet, keyPrefix: 'app1:' }));
    const m = encodeTaskMessage({ name: 't', id: newTaskId(), args: [], kwargs: {}, embed: emptyEmbed(), origin: 'o', replyTo: 'r', priority: 6 });
    await broker.publish(m, { queue: 'celery' });
    expect(await redis.llen(`app1:celery${SEP}6`)).toBe(1);
    const got: Delivery[] = [];
    await broker.consume(['celery'], (d) => got.push(d), { prefetch: 1 });
    await until('the delivery', () => got.length === 1);
    expect(await redis.hlen('app1:unacked')).toBe(1);
    expect(await redis.zcard('app1:unacked_index')).toBe(1);
    expect(await redis.smembers('app1:_kombu.binding.celery')).toEqual([`celery${SEP}${SEP}celery`]);
    // The entry names the queue without the prefix, as kombu's prefixed client does.
    expect(JSON.parse(Object.values(await redis.hgetall('app1:unacked'))[0])[2]).toBe('celery');
    expect(await redis.exists('unacked', 'celery', '_kombu.binding.celery')).toBe(0);
    await got[0].ack();
  });
});

describe('result backend layout (Celery 5.2.6)', () => {
  it('writes a task meta with SETEX 86400 and PUBLISHes the same text on the key name', async () => {
    reachable();
    const s = sample<SuccessSample>('redis-worker-success-meta.json');
    const backend = track(new RedisBackend(URL, { logger: quiet }));
    const listener = redis.duplicate();
    listener.on('error', () => undefined);
    const heard: Array<[string, string]> = [];
    listener.on('message', (ch: string, data: string) => heard.push([ch, data]));
    await listener.subscribe(s.meta.key);
    try {
      expect((await backend.store(s.meta.value)).stored).toBe(true);
      const raw = await redis.get(s.meta.key);
      expect(raw).not.toBeNull();
      expect(canonical(raw ?? '')).toBe(canonical(s.meta.raw));
      const ttl = await redis.ttl(s.meta.key);
      expect(ttl).toBeGreaterThan(s.meta.ttl - 5);
      expect(ttl).toBeLessThanOrEqual(s.meta.ttl);
      await until('the notification', () => heard.length === 1);
      expect(heard[0][0]).toBe(s.pubsub_messages_on_channel[0].channel);
      expect(heard[0][1]).toBe(raw);
      expect(JSON.parse(heard[0][1])).toEqual(s.pubsub_messages_on_channel[0].data);
    } finally {
      listener.disconnect();
    }
  });

  it("reads Python's meta text as it is", async () => {
    reachable();
    const s = sample<SuccessSample>('redis-worker-success-meta.json');
    await redis.set(s.meta.key, s.meta.raw);
    const backend = track(new RedisBackend(URL, { logger: quiet }));
    expect(await backend.getMeta(s.meta.value.task_id)).toEqual(s.meta.value);
    // A Python SUCCESS (spaced JSON) is not overwritten either.
    expect((await backend.store({ ...s.meta.value, status: 'FAILURE' })).stored).toBe(false);
    expect(await redis.get(s.meta.key)).toBe(s.meta.raw);
  });

  it('resultExpires 0 writes keys without expiry', async () => {
    reachable();
    const backend = track(new RedisBackend(URL, { logger: quiet, resultExpires: 0 }));
    const id = newTaskId();
    await backend.store({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: id });
    expect(await redis.ttl(`celery-task-meta-${id}`)).toBe(-1);
  });

  it('counts chord parts in .j with the member text and score a Python worker writes, .s as the client writes it', async () => {
    reachable();
    const s = sample<ChordSample>('redis-worker-chord-counter.json');
    const gid = s.group_id;
    const j = `celery-taskset-meta-${gid}.j`;
    const sKey = `celery-taskset-meta-${gid}.s`;
    const backend = track(new RedisBackend(URL, { logger: quiet }));
    await backend.setChordSize(gid, 3);
    expect(await redis.get(sKey)).toBe(s.during[sKey].raw);
    const [m0, m1, m2] = s.header_metas.map((h) => h.value);
    expect((await backend.store(m0, { groupId: gid, groupIndex: 0 })).chord).toEqual({ ready: false });
    expect((await backend.store(m1, { groupId: gid, groupIndex: 1 })).chord).toEqual({ ready: false });
    const members = await redis.zrange(j, 0, -1, 'WITHSCORES');
    const expected = (s.during[j].value as Array<[string, number]>).flatMap(([m, score]) => [m, String(score)]);
    expect(members).toEqual(expected);
    for (const key of [j, sKey]) {
      expect(await redis.type(key)).toBe(s.during[key].type);
      expect(await redis.ttl(key)).toBeGreaterThan(86390);
    }
    for (const h of s.header_metas.slice(0, 2)) expect(canonical((await redis.get(h.key)) ?? '')).toBe(canonical(h.raw));
    const done = await backend.store(m2, { groupId: gid, groupIndex: 2 });
    expect(done.chord).toEqual({
      ready: true,
      parts: s.header_metas.map((h) => ({ id: h.value.task_id, state: 'SUCCESS', result: h.value.result })),
    });
    await backend.chordDone(gid);
    const left = await redis.keys(`celery-taskset-meta-${gid}*`);
    expect(left).toEqual(Object.keys(s.after));
  });

  it('saves a group as {"result": tuple} under celery-taskset-meta-<gid>, with the result expiry', async () => {
    reachable();
    const backend = track(new RedisBackend(URL, { logger: quiet }));
    const gid = newTaskId();
    const a = newTaskId();
    await backend.saveGroup(gid, [[gid, null], [[[a, null], null]]]);
    expect(JSON.parse((await redis.get(`celery-taskset-meta-${gid}`)) ?? '')).toEqual({ result: [[gid, null], [[[a, null], null]]] });
    expect(await redis.ttl(`celery-taskset-meta-${gid}`)).toBeGreaterThan(86390);
  });
});

describe('connection loss', () => {
  async function kill(name: string): Promise<number> {
    let n = 0;
    for (const line of String(await redis.client('LIST')).split('\n')) {
      const id = line.includes(` name=${name} `) ? /(?:^|\s)id=(\d+)/.exec(line)?.[1] : undefined;
      if (id) {
        await redis.client('KILL', 'ID', id);
        n++;
      }
    }
    return n;
  }

  it('a result waiter whose subscriber connection is killed still hears the result (resubscribe, then MGET)', async () => {
    reachable();
    const name = `celeriac-sub-${process.pid}-${Date.now()}`;
    const backend = track(new RedisBackend(URL, { connectionName: name, logger: quiet }));
    const id = newTaskId();
    const later = newTaskId();
    const heard: TaskMeta[] = [];
    const heardLater: TaskMeta[] = [];
    await backend.subscribe(id, (m) => heard.push(m));
    await backend.subscribe(later, (m) => heardLater.push(m));
    expect(await kill(`${name}:results-subscriber`)).toBe(1);
    // Stored while the subscriber is away: the PUBLISH is missed, the read-back after reconnecting finds it.
    await backend.store({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: id });
    await until('the missed result', () => heard.some((m) => m.status === 'SUCCESS'));
    // Stored after the reconnect: heard through the restored subscription.
    await until('the subscriber is back', async () => String(await redis.client('LIST')).includes(` name=${name}:results-subscriber `));
    await sleep(100);
    await backend.store({ status: 'SUCCESS', result: 2, traceback: null, children: [], date_done: null, task_id: later });
    await until('the later result', () => heardLater.some((m) => m.result === 2));
  });

  it('a broadcast subscription survives a killed subscriber connection', async () => {
    reachable();
    const name = `celeriac-bsub-${process.pid}-${Date.now()}`;
    const broker = track(new RedisBroker(URL, { connectionName: name, logger: quiet }));
    const got: string[] = [];
    await broker.subscribe('celeryev', '#', (m) => got.push(m.routingKey));
    expect(await kill(`${name}:subscriber`)).toBe(1);
    const m = encodeTaskMessage({ name: 't', id: newTaskId(), args: [], kwargs: {}, embed: emptyEmbed(), origin: 'o', replyTo: 'r' });
    await until('the resubscribed broadcast', async () => {
      await broker.broadcast('celeryev', 'task.sent', m);
      await sleep(50);
      return got.length > 0;
    });
    expect(got.every((k) => k === 'task.sent')).toBe(true);
  });

  it('a consumer whose connections are killed with CLIENT KILL loses and duplicates nothing', async () => {
    reachable();
    const name = `celeriac-kill-${process.pid}-${Date.now()}`;
    const warnings: string[] = [];
    const broker = track(new RedisBroker(URL, { connectionName: name, pollInterval: 10, logger: { warn: (m: string) => warnings.push(m) } }));
    const total = 400;
    const sent = Array.from({ length: total }, (_, i) =>
      encodeTaskMessage({ name: 'kill.test', id: newTaskId(), args: [i], kwargs: {}, embed: emptyEmbed(), origin: 'o', replyTo: 'r' }),
    );
    await broker.publishMany(sent.map((message) => ({ message, target: { queue: 'kill' } })));

    const seen = new Map<string, number>();
    let acked = 0;
    await broker.consume(
      ['kill'],
      (d) => {
        const id = String(d.message?.headers.id);
        seen.set(id, (seen.get(id) ?? 0) + 1);
        setTimeout(() => void d.ack().then(() => acked++), Math.random() * 4);
      },
      { prefetch: 8 },
    );

    // Every 40 ms, kill one of the broker's connections: mostly the consumer's own (mid-pop), sometimes the
    // command connection (mid-ack) or the subscriber (wake-ups).
    let kills = 0;
    let round = 0;
    const roles = ['consumer', 'consumer', 'command', 'consumer', 'subscriber'];
    const killer = setInterval(() => {
      void (async () => {
        const role = roles[round++ % roles.length];
        const list = String(await redis.client('LIST'));
        for (const line of list.split('\n')) {
          if (!line.includes(` name=${name}:${role} `)) continue;
          const id = /(?:^|\s)id=(\d+)/.exec(line)?.[1];
          if (id) {
            await redis.client('KILL', 'ID', id);
            kills++;
          }
        }
      })().catch(() => undefined);
    }, 40);
    try {
      await until('every message acked', () => acked === total, 25_000);
    } catch (err) {
      // Say where it stuck.
      console.log({ acked, seen: seen.size, kills, warnings: warnings.slice(-10), unacked: await redis.hlen('unacked'), waiting: await broker.queueLength('kill') });
      throw err;
    } finally {
      clearInterval(killer);
    }
    await sleep(300);
    expect(kills).toBeGreaterThan(3);
    expect(seen.size).toBe(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    for (const m of sent) expect(seen.get(String(m.headers.id))).toBe(1);
    expect(await broker.queueLength('kill')).toBe(0);
    expect(await redis.hlen('unacked')).toBe(0);
    expect(await redis.zcard('unacked_index')).toBe(0);
  }, 40_000);
});

describe('the delivery tag a pop records a message under', () => {
  // pop.lua reads it from the end of the text when the envelope ends with properties.delivery_tag (kombu's layout and
  // celeriac's, with or without spaces), and decodes the envelope otherwise: the tag is the same either way.
  const cases: Array<[string, string, string]> = [
    ['celeriac (compact)', '{"body":"e30=","headers":{},"properties":{"priority":0,"delivery_tag":"tag-compact"}}', 'tag-compact'],
    ['kombu (spaces)', '{"body": "e30=", "headers": {}, "properties": {"priority": 0, "delivery_tag": "tag-spaced"}}', 'tag-spaced'],
    ['not last in properties', '{"body":"e30=","properties":{"delivery_tag":"tag-first","priority":0}}', 'tag-first'],
    ['a header of that name after properties', '{"properties":{"delivery_tag":"tag-props"},"headers":{"delivery_tag":"tag-header"}}', 'tag-props'],
    ['an escaped quote in it', '{"properties":{"delivery_tag":"tag-\\"quoted\\""}}', 'tag-"quoted"'],
  ];
  it.each(cases)('%s', async (_what, raw, tag) => {
    reachable();
    await redis.lpush('tags', raw);
    const broker = track(new RedisBroker(URL, { logger: quiet }));
    const got: Delivery[] = [];
    await broker.consume(['tags'], (d) => got.push(d), { prefetch: 1 });
    await until('the delivery', () => got.length === 1);
    expect(got[0].deliveryTag).toBe(tag);
    expect(await redis.hget('unacked', tag)).toBe(`[${raw}, "", "tags"]`);
    await got[0].ack();
    expect(await redis.hlen('unacked')).toBe(0);
  });
});
