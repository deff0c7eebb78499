/**
 * get() with followParents (C-049) reads the states of every ancestor in one
 * backend call, however long the chain, and throws the earliest failure.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AsyncResult, Celeriac, serializeException, type TaskMeta } from '../../src/index.js';

const apps: Celeriac[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  vi.restoreAllMocks();
});

function failure(id: string, message: string): TaskMeta {
  const e = new Error(message);
  e.name = 'KeyError';
  return { status: 'FAILURE', result: serializeException(e), traceback: null, children: [], date_done: '2026-12-06T00:00:00.000000', task_id: id };
}

/** A chain's results as a client holds them: the last one, each with its predecessor as parent. */
function chainResults(app: Celeriac, n: number): AsyncResult[] {
  const rs: AsyncResult[] = [];
  for (let i = 0; i < n; i++) rs.push(new AsyncResult(`step-${i}`, app, rs[i - 1] ?? null));
  return rs;
}

describe('get() with followParents', () => {
  it('throws the earliest failed ancestor of a result that never completes, reading all 99 ancestors in one call', async () => {
    const app = new Celeriac({ broker: 'memory://', backend: 'memory://', logLevel: 'silent' });
    apps.push(app);
    const backend = await app.resultBackend();
    const rs = chainResults(app, 100);
    await backend.store(failure('step-40', 'second'));
    await backend.store(failure('step-30', 'first'));
    const many = vi.spyOn(backend, 'getMetas');
    await expect(rs[99].get({ timeout: 2 })).rejects.toThrow('first');
    expect(many).toHaveBeenCalledTimes(1);
    expect(many.mock.calls[0][0]).toEqual(rs.slice(0, 99).map((r) => r.id));
  });

  it('returns the value when every ancestor is fine, with one read of the ancestors before waiting', async () => {
    const app = new Celeriac({ broker: 'memory://', backend: 'memory://', logLevel: 'silent' });
    apps.push(app);
    const backend = await app.resultBackend();
    const rs = chainResults(app, 50);
    const many = vi.spyOn(backend, 'getMetas');
    const got = rs[49].get({ timeout: 2 });
    await new Promise((r) => setTimeout(r, 50));
    await backend.store({ status: 'SUCCESS', result: 7, traceback: null, children: [], date_done: '2026-12-06T00:00:00.000000', task_id: 'step-49' });
    expect(await got).toBe(7);
    expect(many).toHaveBeenCalledTimes(1);
  });
});
