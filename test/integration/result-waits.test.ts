/**
 * How `get()` waits (src/result/wake-clock.ts): every wait of a process
 * sleeps on one shared timer until a notification wakes it or its poll
 * interval or timeout is up, on a monotonic clock (a wall-clock change
 * during a wait moves neither). Database 0 under the key prefix `waits-test:`
 * (only those keys are touched, and deleted afterwards).
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Celeriac, TimeoutError } from '../../src/index.js';
import { formatPythonDatetime } from '../../src/protocol/index.js';
import { prefixedDb, requireRedis } from '../support/redis-db.js';

const URL = 'redis://127.0.0.1:6379/0';
const PREFIX = 'waits-test:';
const QUEUE = 'waits-q';
const META = `${PREFIX}celery-task-meta-`;

await requireRedis();
const redis = prefixedDb(PREFIX);

function makeApp() {
  const app = new Celeriac({ broker: URL, backend: URL, keyPrefix: PREFIX, defaultQueue: QUEUE, logLevel: 'silent' });
  return { app, add: app.task('waits.add', (x: number, y: number) => x + y) };
}

/** A SUCCESS meta as a worker stores it. */
function successMeta(id: string, result: unknown): string {
  return JSON.stringify({ status: 'SUCCESS', result, traceback: null, children: [], date_done: formatPythonDatetime(new Date(), ''), task_id: id });
}

/** The timers holding this process open, sampled every 10 ms while `ms` pass: the most seen at once. */
async function mostTimers(ms: number): Promise<number> {
  const end = Date.now() + ms;
  let most = 0;
  while (Date.now() < end) {
    // Counted from inside the sampling timer's own callback: it is not among them.
    most = Math.max(most, await new Promise<number>((r) => setTimeout(() => r(process.getActiveResourcesInfo().filter((t) => t === 'Timeout').length), 10)));
  }
  return most;
}

/** Run `body` with Date.now() moved by `ms` (as a wall clock set back or forward would move it), then put it back. */
async function withWallClockMoved(ms: number, body: () => Promise<unknown>): Promise<void> {
  const now = Date.now.bind(Date);
  const spy = vi.spyOn(Date, 'now').mockImplementation(() => now() + ms);
  try {
    await body();
  } finally {
    spy.mockRestore();
  }
}

const HOUR = 3_600_000;

const p = makeApp();
afterAll(() => p.app.close());

describe('get() waiting for results', () => {
  it('many waits at once hold one timer between them, and each gets its own result', async () => {
    await p.app.connect();
    const sent = await Promise.all(Array.from({ length: 100 }, (_, i) => p.add.delay(i, i)));
    const before = await mostTimers(50);
    const waits = sent.map((r) => r.get({ timeout: 30 }));
    // No worker yet: all 100 sleep.
    const during = await mostTimers(300);
    expect(during).toBeLessThanOrEqual(before + 2);
    const w = makeApp();
    try {
      await w.app.worker({ concurrency: 8 });
      expect(await Promise.all(waits)).toEqual(sent.map((_, i) => 2 * i));
    } finally {
      await w.app.close();
    }
    // Nothing left sleeping: the shared timer no longer holds the process open.
    expect(await mostTimers(50)).toBeLessThanOrEqual(before);
  });

  it('finds a result stored without a notification when its poll interval is up', async () => {
    const r = p.app.asyncResult<number>('polled-1');
    const got = r.get({ timeout: 20, interval: 0.1 });
    await new Promise((done) => setTimeout(done, 150));
    // Stored as a writer that does not PUBLISH would store it: only the poll can find it.
    await redis.set(META + 'polled-1', successMeta('polled-1', 42));
    expect(await got).toBe(42);
  });

  it('keeps a short timeout while a wait with a long poll interval sleeps', async () => {
    const long = p.app.asyncResult<number>('long-1').get({ timeout: 60, interval: 30 });
    await new Promise((done) => setTimeout(done, 50));
    // Woken by its own deadline, not by the other wait's 30 s poll (this test gives up after 20 s).
    await expect(p.app.asyncResult('short-1').get({ timeout: 0.2 })).rejects.toBeInstanceOf(TimeoutError);
    // The long wait hears its result as a worker would announce it.
    await redis.set(META + 'long-1', successMeta('long-1', 7));
    await redis.publish(META + 'long-1', successMeta('long-1', 7));
    expect(await long).toBe(7);
  }, 20_000);

  it('times out on time when the wall clock is set back an hour during the wait', async () => {
    const got = p.app.asyncResult('clock-back-1').get({ timeout: 0.3, interval: 0.05 });
    // Timeouts and poll intervals run on a monotonic clock: this test gives up after 10 s, not an hour.
    await withWallClockMoved(-HOUR, () => expect(got).rejects.toBeInstanceOf(TimeoutError));
  }, 10_000);

  it('keeps waiting when the wall clock is set forward an hour during the wait', async () => {
    const got = p.app.asyncResult<number>('clock-fwd-1').get({ timeout: 20, interval: 0.1 });
    await withWallClockMoved(HOUR, async () => {
      // Several poll intervals pass first: each would have found the 20 s timeout gone by the wall clock.
      await new Promise((done) => setTimeout(done, 400));
      await redis.set(META + 'clock-fwd-1', successMeta('clock-fwd-1', 11));
      await redis.publish(META + 'clock-fwd-1', successMeta('clock-fwd-1', 11));
      expect(await got).toBe(11);
    });
  });
});
