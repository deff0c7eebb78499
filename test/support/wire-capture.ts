/**
 * An app on memory:// with the probe's task names (wp_tasks.*) whose broker
 * publishes are recorded, so a test can compare what celeriac sends with what
 * Celery 5.2.6 sent for the same canvas. No worker is started: messages stay
 * queued, exactly as in the `*-broker-*` captures.
 */
import { Celeriac, type CeleriacOptions, type Clock, type TaskRequest } from '../../src/index.js';
import type { PublishTarget } from '../../src/broker/index.js';
import { decodeJson, toEnvelope, type KombuEnvelope, type WireMessage } from '../../src/protocol/index.js';

/** One published message, as the broker received it and as a Redis list would hold it. */
export interface Published {
  message: WireMessage;
  target: PublishTarget;
  /** The kombu envelope the memory and Redis transports store (a JSON round trip of `toEnvelope`). */
  envelope: KombuEnvelope;
  /** `[args, kwargs, embed]`. */
  body: [unknown[], Record<string, unknown>, Record<string, unknown>];
}

/** A clock that stands still at `now` (epoch ms), so `eta`/`expires` are exact. */
export function fixedClock(now: number): Clock {
  return { now: () => now, setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
}

/** Make the app, register the probe's tasks under their Celery names, and start recording publishes. */
export async function makeWireApp(options: CeleriacOptions = {}) {
  const app = new Celeriac({ broker: 'memory://', backend: 'memory://', logLevel: 'silent', ...options });
  const add = app.task('wp_tasks.add', (x: number, y: number) => x + y);
  const mul = app.task('wp_tasks.mul', (x: number, y: number) => x * y);
  const tsum = app.task('wp_tasks.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  const echo = app.task('wp_tasks.echo', (...a: unknown[]) => a);
  const fail = app.task('wp_tasks.fail', (...a: unknown[]): number => {
    const e = new Error(String(a[0] ?? 'boom'));
    e.name = 'ValueError';
    throw e;
  });
  const onErr = app.task('wp_tasks.on_err', (_request: TaskRequest, _exc: Error, _tb: string) => undefined, { errback: true });
  const oldErr = app.task('wp_tasks.old_err', (taskId: string) => taskId);

  const broker = await app.broker();
  const published: Published[] = [];
  const record = (message: WireMessage, target: PublishTarget): void => {
    const envelope = JSON.parse(JSON.stringify(toEnvelope(message, target.exchange ?? '', target.routingKey ?? target.queue))) as KombuEnvelope;
    published.push({ message, target, envelope, body: decodeJson(message.body) as Published['body'] });
  };
  const publish = broker.publish.bind(broker);
  const publishMany = broker.publishMany.bind(broker);
  broker.publish = async (message, target) => {
    record(message, target);
    return publish(message, target);
  };
  broker.publishMany = async (items) => {
    for (const { message, target } of items) record(message, target);
    return publishMany(items);
  };

  /** Everything published since the last call, in publish order. */
  const take = (): Published[] => published.splice(0);
  /** How many messages were published since the last `take()`. */
  const count = (): number => published.length;
  return { app, add, mul, tsum, echo, fail, onErr, oldErr, take, count };
}
