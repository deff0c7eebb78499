/**
 * An app's `brokerOptions` on a real RabbitMQ: `maxPriority` reaches the
 * queue declarations (Celery's task_queue_max_priority) and makes higher
 * priorities come first, without it queues carry no arguments as Celery
 * declares them, `connectionName` names the connections, and the transport's
 * warnings go to the app's logger. A vhost of this file's own; results stay
 * in memory (the worker runs in this process).
 */
import * as amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Celeriac, type CeleriacOptions, type Logger } from '../../src/index.js';
import { dropVhost, freshVhost, listing, lockRabbit, probe, rabbitmqctl, unreachable, until, vhostUrl } from './amqp-support.js';

const VHOST = 'celeriac_test_app_options';
const URL = vhostUrl(VHOST);

const problem = await probe();
let release: (() => void) | null = null;
let raw: amqp.ChannelModel | null = null;
const apps: Celeriac[] = [];

beforeAll(async () => {
  if (problem) throw unreachable(problem);
  release = await lockRabbit();
  await freshVhost(VHOST);
  raw = await amqp.connect(URL);
}, 660_000);

afterEach(async () => {
  vi.restoreAllMocks();
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
const queueName = (what: string): string => `celeriac-test-options-${what}-${process.pid}-${n++}`;

function makeApp(options: CeleriacOptions) {
  const app = new Celeriac({ broker: URL, logLevel: 'silent', ...options });
  apps.push(app);
  const ran: number[] = [];
  const work = app.task('options.work', (priority: number) => {
    ran.push(priority);
    return priority;
  });
  return { app, work, ran };
}

/** `name durable auto_delete exclusive arguments` of one queue, as rabbitmqctl lists it. */
async function queueRow(q: string): Promise<string | undefined> {
  return (await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments'])).find((r) => r.startsWith(`${q}\t`));
}

describe('maxPriority', () => {
  it('declares the queues an app publishes to with x-max-priority (Celery: task_queue_max_priority)', async () => {
    const q = queueName('publish');
    const { work } = makeApp({ defaultQueue: q, brokerOptions: { maxPriority: 10 } });
    await work.delay(1);
    expect(await queueRow(q)).toBe(`${q}\ttrue\tfalse\tfalse\t[{"x-max-priority",10}]`);
  });

  it("declares the queues a worker consumes with x-max-priority too, before anything was sent", async () => {
    const q = queueName('consume');
    const { app } = makeApp({ defaultQueue: q, brokerOptions: { maxPriority: 5 } });
    await app.worker({ queues: [q], concurrency: 1 });
    expect(await queueRow(q)).toBe(`${q}\ttrue\tfalse\tfalse\t[{"x-max-priority",5}]`);
  });

  it('makes higher priorities come first', async () => {
    const q = queueName('order');
    const { app, work, ran } = makeApp({ defaultQueue: q, brokerOptions: { maxPriority: 10 } });
    for (const p of [1, 9, 5, 0, 7]) await work.applyAsync([p], {}, { priority: p });
    await until('the queued tasks', async () => (await (await app.broker()).queueLength(q)) === 5);
    await app.worker({ queues: [q], concurrency: 1, prefetchMultiplier: 1 });
    await until('every task', () => ran.length === 5);
    expect(ran).toEqual([9, 7, 5, 1, 0]);
  });

  it('is not set by default: queues carry no arguments, as a Python Celery peer declares them', async () => {
    const q = queueName('plain');
    const { work } = makeApp({ defaultQueue: q });
    await work.delay(1);
    expect(await queueRow(q)).toBe(`${q}\ttrue\tfalse\tfalse\t[]`);
  });
});

describe('connection and logging', () => {
  it('connectionName names the publishing and consuming connections', async () => {
    const q = queueName('named');
    const name = `billing-${process.pid}`;
    const { app, work } = makeApp({ defaultQueue: q, brokerOptions: { connectionName: name } });
    await app.worker({ queues: [q], concurrency: 1 });
    await work.delay(1);
    const rows = await rabbitmqctl(['-q', '--no-table-headers', 'list_connections', 'vhost', 'client_properties']);
    const ours = rows.split('\n').filter((r) => r.startsWith(`${VHOST}\t`) && r.includes(name));
    expect(ours.some((r) => r.includes(`"connection_name","${name}:publish"`))).toBe(true);
    expect(ours.some((r) => r.includes(`"connection_name","${name}:consume"`))).toBe(true);
  });

  it("the transport's warnings go to the app's logger, not to console", async () => {
    const q = queueName('mismatch');
    // A queue someone declared with another x-max-priority: celeriac uses it as it is and warns once.
    const ch = await raw!.createChannel();
    await ch.assertQueue(q, { durable: true, arguments: { 'x-max-priority': 3 } });
    await ch.close();
    const lines: Array<{ obj: object; msg?: string }> = [];
    const logger: Logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (obj, msg) => void lines.push({ obj, msg }) };
    const consoleWarn = vi.spyOn(console, 'warn');
    const { work } = makeApp({ defaultQueue: q, brokerOptions: { maxPriority: 10 }, logger });
    await work.delay(1);
    expect(lines.filter((l) => l.msg?.includes(`queue "${q}" exists with other settings`))).toHaveLength(1);
    expect(consoleWarn).not.toHaveBeenCalled();
    expect(await queueRow(q)).toBe(`${q}\ttrue\tfalse\tfalse\t[{"x-max-priority",3}]`);
  });
});
