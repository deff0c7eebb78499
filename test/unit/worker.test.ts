/** The worker on memory://: bad input, time limits, ETA and expiry on a virtual clock, rate limits, redelivery. */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, MemoryBroker, type TaskContext } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { makeApp } from '../support/tasks.js';

const T = { timeout: 5 };
const apps: Celeriac[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});
function track<A extends { app: Celeriac }>(x: A): A {
  apps.push(x.app);
  return x;
}
const tick = () => new Promise((r) => setTimeout(r, 20));

describe('bad input', () => {
  it('an unknown task name is stored as FAILURE NotRegistered and the worker goes on', async () => {
    const { app, add } = track(makeApp());
    await app.worker();
    const r = await app.sendTask('no.such.task', [1]);
    const err = (await r.get(T).catch((e) => e)) as Error;
    expect(err.name).toBe('NotRegistered');
    expect(err.message).toBe('no.such.task');
    expect(await (await add.delay(1, 2)).get(T)).toBe(3);
  });

  it('malformed messages are discarded with an error; good ones around them still run', async () => {
    const { app, add } = track(makeApp());
    const broker = (await app.broker()) as MemoryBroker;
    broker.pushRaw('celery', 'not json at all');
    broker.pushRaw('celery', JSON.stringify({ body: [1, 2], headers: {}, properties: {} }));
    broker.pushRaw('celery', JSON.stringify({ body: Buffer.from('{"x": 1}').toString('base64'), headers: { task: 'tasks.add', id: 'bad-shape' }, properties: { body_encoding: 'base64', delivery_info: { exchange: '', routing_key: 'celery' }, delivery_tag: 't' } }));
    const good = await add.delay(2, 3);
    await app.worker();
    expect(await good.get(T)).toBe(5);
    await tick();
    expect(await broker.queueLength('celery')).toBe(0);
  });

  it('wrong argument counts fail the task with Python’s TypeError text', async () => {
    const { app, sub } = track(makeApp());
    await app.worker();
    // @ts-expect-error deliberately one argument too many: the worker must say so
    const tooMany = await sub.applyAsync([1, 2, 3]);
    await expect(tooMany.get(T)).rejects.toThrow('tasks.sub() takes 2 positional arguments but 3 were given');
    // @ts-expect-error deliberately one argument short: the worker must say so
    const missing = await sub.applyAsync([1]);
    await expect(missing.get(T)).rejects.toThrow("tasks.sub() missing 1 required positional argument: 'y'");
    const unexpected = await sub.applyAsync([1, 2], { q: 1 });
    await expect(unexpected.get(T)).rejects.toThrow("tasks.sub() got an unexpected keyword argument 'q'");
    const byName = await sub.applyAsync([], { y: 1, x: 10 });
    expect(await byName.get(T)).toBe(9);
  });

  it('a return value JSON cannot encode fails with EncodeError (C-163)', async () => {
    const { app } = track(makeApp());
    const bad = app.task('w.bad_return', () => (() => 1) as unknown as number);
    await app.worker();
    await expect((await bad.delay()).get(T)).rejects.toMatchObject({ name: 'EncodeError' });
  });
});

describe('time limits (async pool)', () => {
  it('the hard limit fails the task with TimeLimitExceeded and frees its slot', async () => {
    const { app, add } = track(makeApp());
    const hang = app.task('w.hang', () => new Promise<number>(() => undefined), { timeLimit: 0.05 });
    await app.worker({ concurrency: 1 });
    const r = await hang.delay();
    const err = (await r.get(T).catch((e) => e)) as Error;
    expect(err.name).toBe('TimeLimitExceeded');
    expect(await (await add.delay(1, 1)).get(T)).toBe(2);
  });

  it('the soft limit aborts the task’s signal with SoftTimeLimitExceeded, which it can catch', async () => {
    const { app } = track(makeApp());
    const polite = app.task(
      'w.polite',
      (self: TaskContext) =>
        new Promise<string>((resolve) => {
          self.signal.addEventListener('abort', () => resolve(`cleaned up after ${(self.signal.reason as Error).name}`));
        }),
      { bind: true, softTimeLimit: 0.05 },
    );
    await app.worker();
    expect(await (await polite.delay()).get(T)).toBe('cleaned up after SoftTimeLimitExceeded');
  });

  it('the timelimit header [hard, soft] from the message wins over task options', async () => {
    const { app } = track(makeApp());
    const slow = app.task('w.slow', () => new Promise<number>((r) => setTimeout(() => r(1), 500)));
    await app.worker();
    const r = await slow.applyAsync([], {}, { timeLimit: 0.05 });
    await expect(r.get(T)).rejects.toMatchObject({ name: 'TimeLimitExceeded' });
  });
});

describe('ETA, expiry and rate limits on a virtual clock', () => {
  it('a countdown task waits for its ETA, unacknowledged, and runs when the clock gets there', async () => {
    const clock = new FakeClock();
    const { app, add } = track(makeApp({ clock }));
    await app.worker();
    const r = await add.applyAsync([2, 2], {}, { countdown: 60 });
    await tick();
    expect(await r.state()).toBe('PENDING');
    expect(clock.pending).toBeGreaterThan(0);
    clock.advance(59_000);
    await tick();
    expect(await r.state()).toBe('PENDING');
    clock.advance(1_000);
    expect(await r.get(T)).toBe(4);
  });

  it('a task that expires while it waits is REVOKED "expired"', async () => {
    const clock = new FakeClock();
    const { app, add } = track(makeApp({ clock }));
    await app.worker();
    const r = await add.applyAsync([2, 2], {}, { countdown: 60, expires: 30 });
    await tick();
    clock.advance(60_000);
    await expect(r.get(T)).rejects.toThrow('expired');
    expect(await r.state()).toBe('REVOKED');
  });

  it('a rate limit of 2/m spaces runs by 30 s of virtual time', async () => {
    const clock = new FakeClock();
    const { app } = track(makeApp({ clock }));
    const limited = app.task('w.limited', (i: number) => i, { rateLimit: '2/m' });
    await app.worker();
    const rs = await Promise.all([0, 1, 2].map((i) => limited.delay(i)));
    await tick();
    const done = async () => (await Promise.all(rs.map((r) => r.ready()))).filter(Boolean).length;
    expect(await done()).toBe(1);
    clock.advance(30_000);
    await tick();
    expect(await done()).toBe(2);
    clock.advance(30_000);
    await tick();
    expect(await done()).toBe(3);
  });

  it('retry with a countdown re-sends the same id with retries + 1 and stores RETRY in between', async () => {
    const clock = new FakeClock();
    const { app } = track(makeApp({ clock }));
    const seen: number[] = [];
    const retrying = app.task(
      'w.retrying',
      (self: TaskContext) => {
        seen.push(self.request.retries);
        if (self.request.retries < 2) self.retry({ countdown: 10, exc: new Error('not yet') });
        return 'done';
      },
      { bind: true },
    );
    await app.worker();
    const r = await retrying.delay();
    await tick();
    expect(await r.state()).toBe('RETRY');
    expect(((await r.result()) as Error).message).toBe('not yet');
    clock.advance(10_000);
    await tick();
    clock.advance(10_000);
    expect(await r.get(T)).toBe('done');
    expect(seen).toEqual([0, 1, 2]);
  });

  it('retries run out: maxRetries gives the task’s own error', async () => {
    const { app } = track(makeApp());
    const always = app.task('w.always', (self: TaskContext) => self.retry({ countdown: 0, exc: new RangeError('still broken') }), { bind: true, maxRetries: 2 });
    await app.worker();
    await expect((await always.delay()).get(T)).rejects.toThrow('still broken');
  });

  it('autoretryFor with backoff retries listed errors only', async () => {
    const { app } = track(makeApp());
    let n = 0;
    const auto = app.task('w.auto', () => {
      if (++n < 3) throw new RangeError('flaky');
      return n;
    }, { autoretryFor: [RangeError], retryBackoff: 0.001, retryJitter: false, maxRetries: 5 });
    const other = app.task('w.other', () => {
      throw new TypeError('not retried');
    }, { autoretryFor: [RangeError] });
    await app.worker();
    expect(await (await auto.delay()).get(T)).toBe(3);
    await expect((await other.delay()).get(T)).rejects.toThrow('not retried');
  });
});

describe('delivery guarantees on memory://', () => {
  it('a worker stopped with reserved messages gives them back; a new worker runs them once', async () => {
    const { app, sleepy } = track(makeApp());
    const w1 = await app.worker({ concurrency: 1, prefetchMultiplier: 4 });
    const rs = await Promise.all([0, 1, 2, 3].map((i) => sleepy.delay(i, 0.05)));
    await tick();
    await w1.stop();
    await app.worker({ concurrency: 2 });
    expect(await Promise.all(rs.map((r) => r.get(T)))).toEqual([0, 1, 2, 3]);
  });

  it('acksLate keeps the message until the task finished', async () => {
    const { app } = track(makeApp());
    const late = app.task('w.late', async () => {
      await new Promise((r) => setTimeout(r, 50));
      return 'ok';
    }, { acksLate: true });
    await app.worker({ concurrency: 1 });
    const broker = (await app.broker()) as MemoryBroker;
    const r = await late.delay();
    expect(await r.get(T)).toBe('ok');
    expect(await broker.queueLength('celery')).toBe(0);
  });
});
