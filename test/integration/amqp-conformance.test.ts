/**
 * The broker conformance suite against a real RabbitMQ at 127.0.0.1:5672, in
 * a vhost of its own that is deleted afterwards: once as Celery declares
 * queues by default (no arguments, so priorities are ignored) and once with
 * `maxPriority` (x-max-priority, higher first).
 */
import * as amqp from 'amqplib';
import { afterAll, beforeAll, it } from 'vitest';
import { AmqpBroker } from '../../src/broker/amqp.js';
import type { Broker } from '../../src/broker/index.js';
import { runBrokerConformance } from '../../src/testing/index.js';
import { dropVhost, freshVhost, lockRabbit, memoryLogger, probe, unreachable, vhostUrl } from './amqp-support.js';

const VHOST = 'celeriac_test_conformance';
const URL = vhostUrl(VHOST);
const problem = await probe();
let release: (() => void) | null = null;

beforeAll(async () => {
  if (problem) return;
  release = await lockRabbit();
  await freshVhost(VHOST);
}, 660_000);

afterAll(async () => {
  if (!problem) await dropVhost(VHOST);
  release?.();
});

it('RabbitMQ is reachable at 127.0.0.1:5672', () => {
  if (problem) throw unreachable(problem);
});

/**
 * Raw text on a queue that the adapter cannot read as a message: the text
 * followed by a byte that is not UTF-8, in a message that says its content
 * encoding is utf-8 (what a broken or foreign producer can send).
 */
async function injectRaw(queue: string, raw: string, _broker: Broker): Promise<void> {
  const conn = await amqp.connect(URL);
  try {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true });
    ch.sendToQueue(queue, Buffer.concat([Buffer.from(raw, 'utf8'), Buffer.from([0xff])]), { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

function create(maxPriority?: number): () => Promise<Broker> {
  return async () => {
    if (problem) throw unreachable(problem);
    return new AmqpBroker(URL, { maxPriority, logger: memoryLogger(), timeout: 10_000 });
  };
}

runBrokerConformance({ name: 'amqp', create: create(), priority: 'none', injectRaw, hold: false });

runBrokerConformance({ name: 'amqp with maxPriority 10', create: create(10), priority: 'higher-first', injectRaw, hold: false });
