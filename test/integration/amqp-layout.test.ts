/**
 * What celeriac leaves on RabbitMQ is what Celery 5.2.6 leaves there
 * (celery-wire.md §3, §8): the queue, exchange and binding declarations
 * (`amqp-broker-declarations-after-client-publish.json`), the message
 * properties and headers (`amqp-broker-*.json`), the pidbox, reply and event
 * entities, and entities a Python peer declared first are accepted. Runs in a
 * vhost of its own, deleted afterwards.
 */
import * as amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AmqpBroker, type AmqpBrokerOptions } from '../../src/broker/amqp.js';
import type { Delivery } from '../../src/broker/index.js';
import { emptyEmbed, encodeJson, encodeTaskMessage, type WireMessage } from '../../src/protocol/index.js';
import { amqpMessageProperties, brokerSampleFiles, loadSample, wireFromAmqp, type AmqpCapturedMessage, type BrokerSample } from '../support/wire-fixtures.js';
import { dropVhost, freshVhost, listing, lockRabbit, memoryLogger, probe, unreachable, until, vhostUrl } from './amqp-support.js';

const VHOST = 'celeriac_test_layout';
const URL = vhostUrl(VHOST);
const PREFIX = 'celeriac-test-amqp-';
const problem = await probe();
let release: (() => void) | null = null;
let raw: amqp.ChannelModel | null = null;
const brokers: AmqpBroker[] = [];

beforeAll(async () => {
  if (problem) return;
  release = await lockRabbit();
  await freshVhost(VHOST);
  raw = await amqp.connect(URL);
}, 660_000);

afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
});

afterAll(async () => {
  await raw?.close().catch(() => undefined);
  if (!problem) await dropVhost(VHOST);
  release?.();
});

function needRabbit(): void {
  if (problem) throw unreachable(problem);
}

async function broker(options: AmqpBrokerOptions = {}): Promise<{ b: AmqpBroker; log: ReturnType<typeof memoryLogger> }> {
  needRabbit();
  const log = memoryLogger();
  const b = new AmqpBroker(URL, { logger: log, timeout: 10_000, ...options });
  brokers.push(b);
  await b.connect();
  return { b, log };
}

/** A channel on the raw connection (a Python peer, or rabbitmqctl's eyes). */
async function channel(): Promise<amqp.Channel> {
  needRabbit();
  const ch = await raw!.createChannel();
  ch.on('error', () => undefined);
  return ch;
}

let n = 0;
const queueName = (what: string): string => `${PREFIX}${what}-${process.pid}-${n++}`;

function task(name = 'wp_tasks.add', args: unknown[] = [2, 3]): WireMessage {
  return encodeTaskMessage({ name, id: crypto.randomUUID(), args, kwargs: {}, embed: emptyEmbed(), origin: 'gen1@test', replyTo: '1b183032-c9b4-3654-b6be-6838db12c15c' });
}

/** A basic.get message's properties written as py-amqp names them (absent ones left out). */
function asCaptured(m: amqp.GetMessage): Record<string, unknown> {
  const p = m.properties;
  const out: Record<string, unknown> = {
    content_type: p.contentType,
    content_encoding: p.contentEncoding,
    application_headers: p.headers,
    delivery_mode: p.deliveryMode,
    priority: p.priority,
    correlation_id: p.correlationId,
    reply_to: p.replyTo,
    expiration: p.expiration,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

async function getOne(ch: amqp.Channel, queue: string): Promise<amqp.GetMessage> {
  const m = await ch.get(queue, { noAck: true });
  if (!m) throw new Error(`queue ${queue} is empty`);
  return m;
}

it('RabbitMQ is reachable at 127.0.0.1:5672', () => {
  needRabbit();
});

describe('task queues', () => {
  it('a publish declares the queue, its direct exchange and its binding exactly as a Celery client does', async () => {
    const sample = loadSample<{ queues: string[]; exchanges: string[]; bindings: string[] }>('amqp-broker-declarations-after-client-publish');
    const { b, log } = await broker();
    const q = queueName('layout');
    await b.publish(task(), { queue: q });
    const as = (rows: string[]): string[] => rows.map((r) => r.split('wprobe').join(q));
    // The capture's columns: name durable auto_delete exclusive arguments (messages aside).
    const queues = await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments']);
    expect(queues).toContain(as(sample.queues.slice(1)).map((r) => r.split('\t').slice(0, 5).join('\t'))[0]);
    const exchanges = await listing('list_exchanges', VHOST, ['name', 'type', 'durable', 'auto_delete', 'arguments']);
    expect(exchanges).toContain(as(sample.exchanges.filter((r) => r.startsWith('wprobe\t')))[0]);
    const bindings = await listing('list_bindings', VHOST, ['source_name', 'destination_name', 'routing_key', 'arguments']);
    for (const row of as(sample.bindings.slice(1))) expect(bindings).toContain(row);
    expect(bindings.filter((r) => r.includes(q))).toHaveLength(2);
    expect(log.lines).toEqual([]);
  });

  it('a celeriac task message carries the properties and headers of amqp-broker-plain-task.json, in the same order', async () => {
    const [captured] = loadSample<BrokerSample<AmqpCapturedMessage>>('amqp-broker-plain-task').messages;
    const { b } = await broker();
    const q = queueName('plain');
    const m = task('wp_tasks.add', [2, 3]);
    await b.publish(m, { queue: q });
    const got = await getOne(await channel(), q);
    expect(got.fields.exchange).toBe(captured.delivery_info.exchange);
    expect(got.fields.routingKey).toBe(q);
    const props = asCaptured(got);
    expect(Object.keys(props).sort()).toEqual(Object.keys(captured.properties).sort());
    expect(Object.keys(props.application_headers as object)).toEqual(Object.keys(captured.properties.application_headers));
    expect(props).toMatchObject({ content_type: 'application/json', content_encoding: 'utf-8', delivery_mode: 2, priority: 0, correlation_id: m.headers.id, reply_to: captured.properties.reply_to });
    expect(props.application_headers).toEqual(m.headers);
    expect(got.content.toString('utf8')).toBe(encodeJson([[2, 3], {}, emptyEmbed()]));
    expect(JSON.parse(got.content.toString('utf8'))).toEqual(captured.decoded_body);
  });

  describe('every Celery 5.2.6 capture, re-published by celeriac, is the same AMQP message', () => {
    for (const file of brokerSampleFiles('amqp')) {
      it(file, async () => {
        const sample = loadSample<BrokerSample<AmqpCapturedMessage>>(file);
        const { b } = await broker();
        const q = queueName('golden');
        await b.publishMany(sample.messages.map((m) => ({ message: wireFromAmqp(m), target: { queue: q } })));
        const ch = await channel();
        for (const captured of sample.messages) {
          const got = await getOne(ch, q);
          expect(asCaptured(got)).toEqual(captured.properties);
          expect(got.content.toString('utf8')).toBe(captured.raw_body);
          expect(got.fields.exchange).toBe('');
        }
        // And celeriac reads them back as the WireMessage a Python-published one gives.
        await b.publishMany(sample.messages.map((m) => ({ message: wireFromAmqp(m), target: { queue: q } })));
        const seen: Delivery[] = [];
        const c = await b.consume([q], (d) => seen.push(d), { prefetch: 50 });
        await until('every message', () => seen.length === sample.messages.length);
        sample.messages.forEach((captured, i) => {
          const d = seen[i];
          expect(d.error).toBeNull();
          expect(d.message?.headers).toEqual(captured.properties.application_headers);
          expect(d.message?.body).toBe(captured.raw_body);
          const { delivery_info, ...props } = d.message?.properties ?? {};
          expect(props).toEqual(amqpMessageProperties(captured));
          expect(delivery_info).toEqual({ exchange: '', routing_key: q, redelivered: false });
        });
        for (const d of seen) await d.ack();
        await c.cancel();
      });
    }
  });

  it('a queue a Python client declared first (durable, no arguments) is used without a warning', async () => {
    const q = queueName('python');
    const ch = await channel();
    // kombu's maybe_declare of Queue(q, Exchange(q, 'direct'), routing_key=q).
    await ch.assertExchange(q, 'direct', { durable: true, autoDelete: false });
    await ch.assertQueue(q, { durable: true, exclusive: false, autoDelete: false });
    await ch.bindQueue(q, q, q);
    const before = await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments']);
    const { b, log } = await broker();
    await b.publish(task(), { queue: q });
    const seen: Delivery[] = [];
    const c = await b.consume([q], (d) => seen.push(d), { prefetch: 1 });
    await until('the delivery', () => seen.length === 1);
    await seen[0].ack();
    await c.cancel();
    expect(await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments'])).toEqual(before);
    expect(log.lines).toEqual([]);
  });

  it('a queue declared with other arguments (x-max-priority) is used as it is, with one warning', async () => {
    const q = queueName('prio-python');
    const ch = await channel();
    await ch.assertQueue(q, { durable: true, arguments: { 'x-max-priority': 10 } });
    const { b, log } = await broker();
    await b.publish(task(), { queue: q });
    await b.publish(task(), { queue: q });
    expect(await b.queueLength(q)).toBe(2);
    expect(log.lines.filter((l) => l.includes(`queue "${q}" exists with other settings`))).toHaveLength(1);
    const [row] = (await listing('list_queues', VHOST, ['name', 'arguments'])).filter((r) => r.startsWith(`${q}\t`));
    expect(row).toBe(`${q}\t[{"x-max-priority",10}]`);
  });

  it('maxPriority declares task queues with x-max-priority, as task_queue_max_priority does', async () => {
    const { b } = await broker({ maxPriority: 10 });
    const q = queueName('prio');
    await b.publish(task(), { queue: q });
    const [row] = (await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments'])).filter((r) => r.startsWith(`${q}\t`));
    expect(row).toBe(`${q}\ttrue\tfalse\tfalse\t[{"x-max-priority",10}]`);
  });

  it('a target with a named exchange is published there and the queue is bound with its routing key', async () => {
    const { b } = await broker();
    const q = queueName('routed');
    const x = `${q}.exchange`;
    await b.publish(task(), { queue: q, exchange: x, routingKey: 'rk' });
    expect(await b.queueLength(q)).toBe(1);
    const bindings = await listing('list_bindings', VHOST, ['source_name', 'destination_name', 'routing_key']);
    expect(bindings).toContain(`${x}\t${q}\trk`);
    const got = await getOne(await channel(), q);
    expect(got.fields.exchange).toBe(x);
    expect(got.fields.routingKey).toBe('rk');
  });

  it('a message RabbitMQ returns as unroutable (its queue was deleted behind our back) is declared again and delivered, not lost', async () => {
    const { b } = await broker();
    const q = queueName('deleted');
    await b.publish(task(), { queue: q });
    await (await channel()).deleteQueue(q);
    await b.publish(task(), { queue: q });
    expect(await b.queueLength(q)).toBe(1);
  });
});

describe('remote control and events', () => {
  const args = (row: string): string => row.split('\t').pop() ?? '';

  it('subscribing to celery.pidbox declares the fanout exchange and an exclusive auto-delete queue with kombu pidbox TTLs', async () => {
    const { b } = await broker();
    const heard: WireMessage[] = [];
    const stop = await b.subscribe('celery.pidbox', '#', (m) => heard.push(m.message));
    const exchanges = await listing('list_exchanges', VHOST, ['name', 'type', 'durable', 'auto_delete', 'arguments']);
    expect(exchanges).toContain('celery.pidbox\tfanout\tfalse\tfalse\t[]');
    const queues = (await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments'])).filter((r) => r.includes('.celery.pidbox\t'));
    expect(queues).toHaveLength(1);
    expect(queues[0]).toMatch(/^celeriac-[0-9a-f-]+\.celery\.pidbox\tfalse\ttrue\ttrue\t/);
    expect(args(queues[0])).toContain('{"x-expires",10000}');
    expect(args(queues[0])).toContain('{"x-message-ttl",300000}');
    const qname = queues[0].split('\t')[0];
    const bindings = await listing('list_bindings', VHOST, ['source_name', 'destination_name', 'routing_key']);
    expect(bindings).toContain(`celery.pidbox\t${qname}\t`);
    await stop();
    await until('the queue to go', async () => !(await listing('list_queues', VHOST, ['name'])).includes(qname));
  });

  it('a broadcast is transient and reaches a queue a Python worker bound to celery.pidbox', async () => {
    const ch = await channel();
    // A Python worker's mailbox: kombu declares exchange and queue this way.
    await ch.assertExchange('celery.pidbox', 'fanout', { durable: false, autoDelete: false });
    const q = 'wprobe@test.celery.pidbox';
    await ch.assertQueue(q, { durable: false, autoDelete: true, arguments: { 'x-expires': 10_000, 'x-message-ttl': 300_000 } });
    await ch.bindQueue(q, 'celery.pidbox', '');
    const { b, log } = await broker();
    const msg: WireMessage = {
      headers: { clock: 7, expires: 1795302738.5496135 },
      properties: { delivery_mode: 2 },
      body: '{"method": "ping", "arguments": {}, "destination": null, "pattern": null, "matcher": null}',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
    };
    await b.broadcast('celery.pidbox', '', msg);
    const got = await getOne(ch, q);
    expect(got.properties.deliveryMode).toBe(1);
    expect(got.properties.headers).toEqual(msg.headers);
    expect(got.content.toString('utf8')).toBe(msg.body);
    expect(got.fields.exchange).toBe('celery.pidbox');
    expect(log.lines).toEqual([]);
    await ch.deleteQueue(q);
  });

  it('a reply to <oid>.reply.celery.pidbox declares kombu reply queue and exchange, so a Python client is answered', async () => {
    const oid = crypto.randomUUID();
    const q = `${oid}.reply.celery.pidbox`;
    const ch = await channel();
    // The Python client declared its reply queue first.
    await ch.assertExchange('reply.celery.pidbox', 'direct', { durable: false, autoDelete: false });
    await ch.assertQueue(q, { durable: false, autoDelete: true, arguments: { 'x-expires': 10_000, 'x-message-ttl': 300_000 } });
    await ch.bindQueue(q, 'reply.celery.pidbox', oid);
    const { b, log } = await broker();
    await b.publish({ headers: { ticket: 't', clock: 1 }, properties: { delivery_mode: 1 }, body: '{"w@h": {"ok": "pong"}}', contentType: 'application/json', contentEncoding: 'utf-8' }, { queue: q });
    const got = await getOne(ch, q);
    expect(got.content.toString('utf8')).toBe('{"w@h": {"ok": "pong"}}');
    expect(got.properties.deliveryMode).toBe(1);
    expect(log.lines).toEqual([]);
    // And without a Python client, celeriac declares the same entities.
    const oid2 = crypto.randomUUID();
    await b.publish({ headers: {}, properties: {}, body: '{}', contentType: 'application/json', contentEncoding: 'utf-8' }, { queue: `${oid2}.reply.celery.pidbox` });
    const row = (await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments'])).find((r) => r.startsWith(`${oid2}.`));
    expect(row).toMatch(/\tfalse\ttrue\tfalse\t/);
    expect(args(row ?? '')).toContain('{"x-expires",10000}');
    expect(args(row ?? '')).toContain('{"x-message-ttl",300000}');
    expect(await listing('list_bindings', VHOST, ['source_name', 'destination_name', 'routing_key'])).toContain(`reply.celery.pidbox\t${oid2}.reply.celery.pidbox\t${oid2}`);
    expect(await listing('list_exchanges', VHOST, ['name', 'type', 'durable', 'auto_delete'])).toContain('reply.celery.pidbox\tdirect\tfalse\tfalse');
  });

  it('subscribing to celeryev declares the durable topic exchange and a celeryev.<uuid> queue bound with the pattern', async () => {
    const { b } = await broker();
    const heard: string[] = [];
    const stop = await b.subscribe('celeryev', 'worker.#', (m) => heard.push(m.routingKey));
    expect(await listing('list_exchanges', VHOST, ['name', 'type', 'durable', 'auto_delete', 'arguments'])).toContain('celeryev\ttopic\ttrue\tfalse\t[]');
    const [row] = (await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments'])).filter((r) => r.startsWith('celeryev.'));
    expect(row).toMatch(/^celeryev\.[0-9a-f-]+\tfalse\ttrue\ttrue\t/);
    expect(args(row)).toContain('{"x-message-ttl",5000}');
    expect(args(row)).toContain('{"x-expires",60000}');
    expect(await listing('list_bindings', VHOST, ['source_name', 'destination_name', 'routing_key'])).toContain(`celeryev\t${row.split('\t')[0]}\tworker.#`);
    const ev: WireMessage = { headers: { hostname: 'w@h' }, properties: {}, body: '{"type": "worker-heartbeat"}', contentType: 'application/json', contentEncoding: 'utf-8' };
    await b.broadcast('celeryev', 'worker.heartbeat', ev);
    await b.broadcast('celeryev', 'task.succeeded', ev);
    await until('the heartbeat', () => heard.length === 1);
    expect(heard).toEqual(['worker.heartbeat']);
    await stop();
  });
});
