/**
 * The threads pool: a hard time limit stops code that never yields (the
 * thread is terminated and replaced) and the worker goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { app, add, again, boom, forever, spin } from '../support/pool-tasks.js';

const T = { timeout: 10 };

beforeAll(async () => {
  await app.worker({ pool: 'threads', appModule: new URL('../support/pool-tasks.ts', import.meta.url).href, concurrency: 2 });
}, 30_000);
afterAll(() => app.close());

describe("pool: 'threads'", () => {
  it('runs tasks in threads and stores their results', async () => {
    expect(await (await add.delay(2, 3)).get(T)).toBe(5);
    expect(await (await spin.delay(20)).get(T)).toBe(true);
  });
  it('a task that never yields is stopped by the hard limit: TimeLimitExceeded, and the slot is replaced', async () => {
    const r = await forever.delay();
    const err = (await r.get(T).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('TimeLimitExceeded');
    const rs = await Promise.all([add.delay(1, 1), add.delay(2, 2), add.delay(3, 3)]);
    expect(await Promise.all(rs.map((x) => x.get(T)))).toEqual([2, 4, 6]);
  });
  it('failures keep their type name and message; retries go through the main thread', async () => {
    await expect((await boom.delay()).get(T)).rejects.toMatchObject({ name: 'ValueError', message: 'bad input' });
    expect(await (await again.delay(21)).get(T)).toBe(42);
  });
  it('revoke with terminate stops a spinning task', async () => {
    const r = await spin.applyAsync([5000], {}, { timeLimit: 30 });
    await new Promise((res) => setTimeout(res, 200));
    await r.revoke({ terminate: true });
    await expect(r.get(T)).rejects.toThrow('terminated');
  });
});
