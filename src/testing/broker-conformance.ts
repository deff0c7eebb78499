/**
 * The suite every Broker adapter passes (memory, Redis, AMQP): one `it` per
 * clause of the contract in `broker/types.ts`. Call it from a test file:
 *
 * ```ts
 * runBrokerConformance({ name: 'memory', create: async () => new MemoryBroker() });
 * ```
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BroadcastMessage, Broker, Consumer, Delivery } from '../broker/index.js';
import { emptyEmbed, encodeTaskMessage, newTaskId, type WireMessage } from '../protocol/index.js';
import { sleep, until as waitUntil } from './poll.js';

/** How an adapter orders priorities. */
export type PriorityOrder = 'lower-first' | 'higher-first' | 'none';

/** Options of `runBrokerConformance`. */
export interface BrokerConformanceOptions {
  /** Name shown in the suite title. */
  name: string;
  /** Make a fresh broker for one test (the suite connects it and closes it). */
  create: () => Promise<Broker>;
  /** Run after each test, once its broker is closed (e.g. FLUSHDB). Default: nothing. */
  cleanup?: () => Promise<void>;
  /** The adapter's priority order: Redis and memory 'lower-first' (the default), AMQP with x-max-priority 'higher-first', 'none' when priorities are ignored. */
  priority?: PriorityOrder;
  /**
   * Put raw text on a queue as-is, for the malformed-message tests; those
   * tests are skipped when the adapter has no way to do that. The broker of
   * the running test is passed too.
   */
  injectRaw?: (queue: string, raw: string, broker: Broker) => Promise<void>;
  /** The adapter counts `Consumer.hold` against the prefetch (Redis, memory). Default true; RabbitMQ's qos cannot. */
  hold?: boolean;
  /** How long (ms) to wait when checking that nothing more arrives. Default 200. */
  quietPeriod?: number;
  /** How long (ms) to wait for something that must arrive. Default 5000. */
  timeout?: number;
}

/** A task message with a fresh id, to tell deliveries apart. */
function task(args: unknown[] = [], priority?: number): WireMessage {
  return encodeTaskMessage({
    name: 'conformance.echo',
    id: newTaskId(),
    args,
    kwargs: {},
    embed: emptyEmbed(),
    origin: 'conformance@test',
    replyTo: 'conformance-reply',
    priority: priority ?? null,
  });
}

function idOf(m: WireMessage | null): string {
  return String(m?.headers.id);
}

/** Define the broker conformance suite. */
export function runBrokerConformance(opts: BrokerConformanceOptions): void {
  const quiet = opts.quietPeriod ?? 200;
  const timeout = opts.timeout ?? 5000;
  const priority = opts.priority ?? 'lower-first';

  describe(`Broker conformance: ${opts.name}`, () => {
    let broker: Broker | null = null;
    const consumers: Consumer[] = [];

    async function open(): Promise<Broker> {
      broker = await opts.create();
      await broker.connect();
      return broker;
    }

    afterEach(async () => {
      for (const c of consumers.splice(0)) await c.cancel().catch(() => undefined);
      await broker?.close();
      broker = null;
      await opts.cleanup?.();
    });

    let n = 0;
    const queueName = (): string => `conformance.${process.pid}.${Date.now().toString(36)}.${n++}`;

    const until = (what: string, check: () => boolean): Promise<boolean> => waitUntil(what, check, timeout);

    /** Consume into an array; `auto` acks each delivery at once. */
    async function collect(b: Broker, queues: string[], prefetch: number, auto = false): Promise<{ got: Delivery[]; consumer: Consumer }> {
      const got: Delivery[] = [];
      const consumer = await b.consume(
        queues,
        (d) => {
          got.push(d);
          if (auto) void d.ack();
        },
        { prefetch },
      );
      consumers.push(consumer);
      return { got, consumer };
    }

    async function cancel(c: Consumer): Promise<void> {
      await c.cancel();
      consumers.splice(consumers.indexOf(c), 1);
    }

    it('publish resolves once the broker holds the message', async () => {
      const b = await open();
      const q = queueName();
      await b.publish(task(), { queue: q });
      expect(await b.queueLength(q)).toBe(1);
      await b.publishMany([{ message: task(), target: { queue: q } }, { message: task(), target: { queue: q } }]);
      expect(await b.queueLength(q)).toBe(3);
    });

    it('a delivery carries the message, its queue, a delivery tag and redelivered false', async () => {
      const b = await open();
      const q = queueName();
      const m = task([2, 2]);
      await b.publish(m, { queue: q });
      const { got } = await collect(b, [q], 1);
      await until('one delivery', () => got.length === 1);
      const d = got[0];
      expect(d.error).toBeNull();
      expect(d.message?.headers).toEqual(m.headers);
      expect(d.message?.body).toBe(m.body);
      expect(d.message?.contentType).toBe('application/json');
      expect(d.message?.contentEncoding).toBe('utf-8');
      expect(d.queue).toBe(q);
      expect(d.redelivered).toBe(false);
      expect(typeof d.deliveryTag).toBe('string');
      expect(d.deliveryTag.length).toBeGreaterThan(0);
      await d.ack();
    });

    it('delivers one queue in publish order (FIFO)', async () => {
      const b = await open();
      const q = queueName();
      const sent = Array.from({ length: 10 }, (_, i) => task([i]));
      for (const m of sent.slice(0, 5)) await b.publish(m, { queue: q });
      await b.publishMany(sent.slice(5).map((message) => ({ message, target: { queue: q } })));
      const { got } = await collect(b, [q], 20, true);
      await until('10 deliveries', () => got.length === 10);
      expect(got.map((d) => idOf(d.message))).toEqual(sent.map((m) => idOf(m)));
    });

    it('keeps delivering messages published while consuming', async () => {
      const b = await open();
      const q = queueName();
      const { got } = await collect(b, [q], 4, true);
      await sleep(quiet);
      const sent = Array.from({ length: 5 }, (_, i) => task([i]));
      for (const m of sent) await b.publish(m, { queue: q });
      await until('5 deliveries', () => got.length === 5);
      expect(got.map((d) => idOf(d.message))).toEqual(sent.map((m) => idOf(m)));
    });

    it('never holds more than prefetch unsettled deliveries', async () => {
      const b = await open();
      const q = queueName();
      for (let i = 0; i < 6; i++) await b.publish(task([i]), { queue: q });
      const { got } = await collect(b, [q], 2);
      await until('2 deliveries', () => got.length === 2);
      await sleep(quiet);
      expect(got.length).toBe(2);
      expect(await b.queueLength(q)).toBe(4);
      await got[0].ack();
      await until('a third delivery', () => got.length === 3);
      await sleep(quiet);
      expect(got.length).toBe(3);
      await got[1].reject(false);
      await got[2].ack();
      await until('5 deliveries', () => got.length === 5);
      await sleep(quiet);
      expect(got.length).toBe(5);
    });

    it('setPrefetch raises and lowers the limit', async () => {
      const b = await open();
      const q = queueName();
      for (let i = 0; i < 6; i++) await b.publish(task([i]), { queue: q });
      const { got, consumer } = await collect(b, [q], 1);
      await until('1 delivery', () => got.length === 1);
      consumer.setPrefetch(3);
      await until('3 deliveries', () => got.length === 3);
      await sleep(quiet);
      expect(got.length).toBe(3);
      consumer.setPrefetch(1);
      await got[0].ack();
      await got[1].ack();
      await sleep(quiet);
      expect(got.length).toBe(3);
      await got[2].ack();
      await until('a fourth delivery', () => got.length === 4);
    });

    it(opts.hold === false ? 'hold leaves the prefetch to unacknowledged deliveries (the adapter cannot count more)' : 'hold counts settled deliveries against the prefetch until handed back', async () => {
      const b = await open();
      const q = queueName();
      for (let i = 0; i < 5; i++) await b.publish(task([i]), { queue: q });
      const { got, consumer } = await collect(b, [q], 2);
      await until('2 deliveries', () => got.length === 2);
      consumer.hold(1);
      await got[0].ack();
      await got[1].ack();
      const held = opts.hold === false ? 4 : 3;
      await until(`${held} deliveries`, () => got.length === held);
      await sleep(quiet);
      expect(got.length).toBe(held);
      consumer.hold(-1);
      await until('a fourth delivery', () => got.length === 4);
      await sleep(quiet);
      expect(got.length).toBe(4);
    });

    it('ack removes the message for good', async () => {
      const b = await open();
      const q = queueName();
      await b.publish(task(), { queue: q });
      const { got, consumer } = await collect(b, [q], 1);
      await until('1 delivery', () => got.length === 1);
      await got[0].ack();
      await cancel(consumer);
      expect(await b.queueLength(q)).toBe(0);
      const again = await collect(b, [q], 1);
      await sleep(quiet);
      expect(again.got.length).toBe(0);
    });

    it('reject without requeue drops the message', async () => {
      const b = await open();
      const q = queueName();
      await b.publish(task(), { queue: q });
      const { got, consumer } = await collect(b, [q], 1);
      await until('1 delivery', () => got.length === 1);
      await got[0].reject(false);
      await cancel(consumer);
      expect(await b.queueLength(q)).toBe(0);
      const again = await collect(b, [q], 1);
      await sleep(quiet);
      expect(again.got.length).toBe(0);
    });

    it('reject with requeue delivers the message again', async () => {
      const b = await open();
      const q = queueName();
      const m = task();
      await b.publish(m, { queue: q });
      const { got } = await collect(b, [q], 1);
      await until('1 delivery', () => got.length === 1);
      await got[0].reject(true);
      await until('the redelivery', () => got.length === 2);
      expect(idOf(got[1].message)).toBe(idOf(m));
      await got[1].ack();
    });

    it('ack and reject of a settled delivery are no-ops', async () => {
      const b = await open();
      const q = queueName();
      await b.publish(task(), { queue: q });
      await b.publish(task(), { queue: q });
      const { got } = await collect(b, [q], 1);
      await until('1 delivery', () => got.length === 1);
      await Promise.all([got[0].ack(), got[0].ack()]);
      await got[0].reject(true);
      await got[0].reject(false);
      await until('the second message', () => got.length === 2);
      await got[1].reject(false);
      await got[1].ack();
      await got[1].reject(true);
      await sleep(quiet);
      expect(got.length).toBe(2);
      expect(await b.queueLength(q)).toBe(0);
    });

    it('cancel gives unsettled deliveries back, marked redelivered', async () => {
      const b = await open();
      const q = queueName();
      const sent = [task([1]), task([2]), task([3])];
      for (const m of sent) await b.publish(m, { queue: q });
      const { got, consumer } = await collect(b, [q], 2);
      await until('2 deliveries', () => got.length === 2);
      await cancel(consumer);
      expect(await b.queueLength(q)).toBe(3);
      // Settling after cancel changes nothing: the messages are already back.
      await got[0].ack();
      await got[1].reject(false);
      expect(await b.queueLength(q)).toBe(3);
      const again = await collect(b, [q], 10, true);
      await until('3 deliveries', () => again.got.length === 3);
      const back = again.got.filter((d) => d.redelivered).map((d) => idOf(d.message));
      expect(back.sort()).toEqual([idOf(sent[0]), idOf(sent[1])].sort());
      expect(again.got.find((d) => idOf(d.message) === idOf(sent[2]))?.redelivered).toBe(false);
      for (const d of again.got.filter((x) => x.redelivered)) expect(d.message?.headers.redelivered).toBe(true);
    });

    it('cancel gives deliveries back in the order they came, ahead of the messages not taken', async () => {
      const b = await open();
      const q = queueName();
      const sent = [task([1]), task([2]), task([3]), task([4]), task([5])];
      for (const m of sent) await b.publish(m, { queue: q });
      const { got, consumer } = await collect(b, [q], 3);
      await until('3 deliveries', () => got.length === 3);
      await got[1].ack();
      await cancel(consumer);
      const again = await collect(b, [q], 10, true);
      await until('4 deliveries', () => again.got.length === 4);
      expect(again.got.map((d) => idOf(d.message))).toEqual([sent[0], sent[2], sent[3], sent[4]].map(idOf));
    });

    it('a cancelled consumer takes nothing more', async () => {
      const b = await open();
      const q = queueName();
      const { got, consumer } = await collect(b, [q], 5, true);
      await cancel(consumer);
      await b.publish(task(), { queue: q });
      await sleep(quiet);
      expect(got.length).toBe(0);
      expect(await b.queueLength(q)).toBe(1);
    });

    it('close cancels consumers and gives their deliveries back', async () => {
      const b = await open();
      const q = queueName();
      await b.publish(task(), { queue: q });
      const { got } = await collect(b, [q], 1);
      await until('1 delivery', () => got.length === 1);
      consumers.length = 0;
      await b.close();
      await b.connect();
      expect(await b.queueLength(q)).toBe(1);
    });

    if (priority === 'none') {
      it('ignores priorities: publish order', async () => {
        const b = await open();
        const q = queueName();
        const sent = [9, 5, 0, 3, 7].map((p) => task([p], p));
        for (const m of sent) await b.publish(m, { queue: q });
        const { got } = await collect(b, [q], 1, true);
        await until('5 deliveries', () => got.length === 5);
        expect(got.map((d) => idOf(d.message))).toEqual(sent.map((m) => idOf(m)));
      });
    } else {
      it(`delivers by priority, ${priority === 'lower-first' ? 'lower numbers first (Redis priority steps 0, 3, 6, 9)' : 'higher numbers first'}`, async () => {
        const b = await open();
        const q = queueName();
        const [p9, p5, p0, p3, p7, p0b] = [9, 5, 0, 3, 7, 0].map((p) => task([p], p));
        for (const m of [p9, p5, p0, p3, p7, p0b]) await b.publish(m, { queue: q });
        expect(await b.queueLength(q)).toBe(6);
        const { got } = await collect(b, [q], 1, true);
        await until('6 deliveries', () => got.length === 6);
        // Redis: 5 and 3 share step 3 and stay in publish order.
        const expected = priority === 'lower-first' ? [p0, p0b, p5, p3, p7, p9] : [p9, p7, p5, p3, p0, p0b];
        expect(got.map((d) => idOf(d.message))).toEqual(expected.map((m) => idOf(m)));
      });
    }

    it('consumes several queues, each delivery naming its queue', async () => {
      const b = await open();
      const q1 = queueName();
      const q2 = queueName();
      const a = [task(['a1']), task(['a2'])];
      const c = [task(['b1']), task(['b2'])];
      for (const m of a) await b.publish(m, { queue: q1 });
      for (const m of c) await b.publish(m, { queue: q2 });
      const { got } = await collect(b, [q1, q2], 10, true);
      await until('4 deliveries', () => got.length === 4);
      for (const d of got) {
        const fromQ1 = a.some((m) => idOf(m) === idOf(d.message));
        expect(d.queue).toBe(fromQ1 ? q1 : q2);
      }
      // Within each queue, FIFO.
      expect(got.filter((d) => d.queue === q1).map((d) => idOf(d.message))).toEqual(a.map(idOf));
      expect(got.filter((d) => d.queue === q2).map((d) => idOf(d.message))).toEqual(c.map(idOf));
    });

    it('two consumers of one queue share its messages, each delivered once', async () => {
      const b = await open();
      const q = queueName();
      const one = await collect(b, [q], 2, true);
      const two = await collect(b, [q], 2, true);
      const sent = Array.from({ length: 20 }, (_, i) => task([i]));
      await b.publishMany(sent.map((message) => ({ message, target: { queue: q } })));
      await until('20 deliveries', () => one.got.length + two.got.length === 20);
      await sleep(quiet);
      const ids = [...one.got, ...two.got].map((d) => idOf(d.message));
      expect(ids.length).toBe(20);
      expect(new Set(ids).size).toBe(20);
    });

    it('queueLength counts every priority; purge empties the queue and says how many it removed', async () => {
      const b = await open();
      const q = queueName();
      for (const p of [0, 3, 6, 9, undefined]) await b.publish(task([], p), { queue: q });
      expect(await b.queueLength(q)).toBe(5);
      expect(await b.purge(q)).toBe(5);
      expect(await b.queueLength(q)).toBe(0);
      expect(await b.purge(q)).toBe(0);
      expect(await b.queueLength(queueName())).toBe(0);
    });

    const inject = opts.injectRaw;
    describe.skipIf(!inject)('malformed messages (needs injectRaw)', () => {
      it('delivers unreadable raw text with message null and an error, and ack removes it', async () => {
        const b = await open();
        const q = queueName();
        await inject?.(q, 'this is not JSON', b);
        await inject?.(q, JSON.stringify({ body: [[1, 2], {}, {}], 'content-type': 'application/json', properties: { body_encoding: 'base64' } }), b);
        const good = task(['ok']);
        await b.publish(good, { queue: q });
        const { got } = await collect(b, [q], 10);
        await until('3 deliveries', () => got.length === 3);
        const bad = got.filter((d) => d.message === null);
        expect(bad.length).toBe(2);
        for (const d of bad) {
          expect(d.error).toBeInstanceOf(Error);
          expect(d.queue).toBe(q);
          expect(typeof d.deliveryTag).toBe('string');
        }
        const ok = got.find((d) => d.message !== null);
        expect(idOf(ok?.message ?? null)).toBe(idOf(good));
        expect(ok?.error).toBeNull();
        for (const d of got) await d.ack();
        expect(await b.queueLength(q)).toBe(0);
      });

      it('a malformed message given back by cancel comes back unchanged', async () => {
        const b = await open();
        const q = queueName();
        await inject?.(q, '{"broken": ', b);
        const { got, consumer } = await collect(b, [q], 1);
        await until('1 delivery', () => got.length === 1);
        expect(got[0].message).toBeNull();
        await cancel(consumer);
        expect(await b.queueLength(q)).toBe(1);
        const again = await collect(b, [q], 1);
        await until('the redelivery', () => again.got.length === 1);
        expect(again.got[0].message).toBeNull();
        expect(again.got[0].error).toBeInstanceOf(Error);
        await again.got[0].ack();
      });
    });

    describe('broadcast', () => {
      async function listen(b: Broker, exchange: string, pattern: string): Promise<{ got: BroadcastMessage[]; stop: () => Promise<void> }> {
        const got: BroadcastMessage[] = [];
        const stop = await b.subscribe(exchange, pattern, (m) => got.push(m));
        return { got, stop };
      }

      it('reaches subscribers whose topic pattern matches the routing key', async () => {
        const b = await open();
        const ex = `${queueName()}.ev`;
        const hashTail = await listen(b, ex, 'task.#');
        const star = await listen(b, ex, 'task.*');
        const all = await listen(b, ex, '#');
        const exact = await listen(b, ex, 'worker.online');
        const keys = ['task.succeeded', 'task', 'task.a.b', 'worker.online', 'worker.offline'];
        const sent = new Map<string, WireMessage>();
        for (const k of keys) {
          const m = task([k]);
          sent.set(k, m);
          await b.broadcast(ex, k, m);
        }
        await until('5 broadcasts on #', () => all.got.length === 5);
        await sleep(quiet);
        expect(all.got.map((m) => m.routingKey)).toEqual(keys);
        expect(hashTail.got.map((m) => m.routingKey)).toEqual(['task.succeeded', 'task', 'task.a.b']);
        expect(star.got.map((m) => m.routingKey)).toEqual(['task.succeeded']);
        expect(exact.got.map((m) => m.routingKey)).toEqual(['worker.online']);
        for (const m of all.got) {
          expect(m.exchange).toBe(ex);
          expect(m.message.headers).toEqual(sent.get(m.routingKey)?.headers);
          expect(m.message.body).toBe(sent.get(m.routingKey)?.body);
        }
      });

      it('fanout: an empty pattern hears messages sent with an empty routing key, and exchanges do not mix', async () => {
        const b = await open();
        const ex = `${queueName()}.pidbox`;
        const other = `${queueName()}.other`;
        const fan = await listen(b, ex, '');
        const elsewhere = await listen(b, other, '#');
        const m = task(['ping']);
        await b.broadcast(ex, '', m);
        await until('the fanout message', () => fan.got.length === 1);
        await sleep(quiet);
        expect(fan.got[0].routingKey).toBe('');
        expect(fan.got[0].message.headers.id).toBe(m.headers.id);
        expect(elsewhere.got.length).toBe(0);
      });

      it('an unsubscribed listener hears nothing more; others still do', async () => {
        const b = await open();
        const ex = `${queueName()}.ev`;
        const first = await listen(b, ex, '#');
        const second = await listen(b, ex, '#');
        await b.broadcast(ex, 'a', task());
        await until('both heard it', () => first.got.length === 1 && second.got.length === 1);
        await first.stop();
        await first.stop();
        await b.broadcast(ex, 'b', task());
        await until('the second heard it', () => second.got.length === 2);
        await sleep(quiet);
        expect(first.got.length).toBe(1);
      });

      it('is fire-and-forget: a message sent before subscribing is not heard', async () => {
        const b = await open();
        const ex = `${queueName()}.ev`;
        await b.broadcast(ex, 'early', task());
        const late = await listen(b, ex, '#');
        await b.broadcast(ex, 'late', task());
        await until('the late message', () => late.got.length === 1);
        await sleep(quiet);
        expect(late.got.map((m) => m.routingKey)).toEqual(['late']);
      });
    });
  });
}
