/**
 * Errors after a task ran: an errback that throws, a callback whose task no
 * worker registers, a result the backend refuses to store. Each gets a clear
 * error where a caller looks for it, nothing else is lost, and the worker
 * goes on.
 *
 * The backend is made to refuse a result honestly: Redis's
 * `proto-max-bulk-len` (512 MB by default, so a real refusal would need a
 * 512 MB result) is lowered to its minimum, 1 MB, with CONFIG SET for the one
 * test, and restored after it whatever happens.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, type AsyncResult } from '../../src/index.js';
import { type Child } from '../support/interop-process.js';
import { settle, startWorker, until, closeFaultEnv, openFaultEnv } from './fault-support.js';

const Q = `ctl-fault-err-${process.pid.toString(36)}`;

let broker: Redis;
let backend: Redis;
let client: Celeriac;
let worker: Child;

beforeAll(async () => {
  ({ broker, backend, client } = await openFaultEnv(Q));
  worker = await startWorker(Q, 'fault-err@%h', ['-c', '4']);
}, 60_000);

afterAll(async () => {
  await closeFaultEnv({ broker, backend, client });
});

async function meta(id: string): Promise<{ status: string; result: { exc_type?: string; exc_message?: unknown } | unknown; traceback: string | null }> {
  const raw = await backend.get(`celery-task-meta-${id}`);
  return raw ? JSON.parse(raw) : { status: 'PENDING', result: null, traceback: null };
}

/** The worker still runs tasks. */
async function stillWorks(): Promise<void> {
  expect(worker.proc.exitCode).toBeNull();
  const r = await client.signature('fault.work', { args: [21] }).applyAsync();
  await expect(r.get({ timeout: 10 })).resolves.toBe(42);
}

describe('errors after a task ran', () => {
  it('an inline errback that throws: the task keeps its own FAILURE, the errback error is logged', async () => {
    const r = (await client.signature('fault.fail').applyAsync([], {}, { linkError: client.signature('fault.broken_errback') })) as AsyncResult;
    await expect(r.get({ timeout: 10 })).rejects.toMatchObject({ name: 'ValueError', message: 'planned' });
    await until('the errback error in the log', () => worker.stderr().includes('errback raised; ignored'));
    expect(worker.stderr()).toContain('the errback broke');
    await stillWorks();
  });

  it('an errback task that throws: its own result is FAILURE with its error, the failed task keeps its own', async () => {
    const errbackId = client.newId();
    const r = (await client.signature('fault.fail').applyAsync([], {}, { linkError: client.signature('fault.broken_errback_task', { taskId: errbackId }) })) as AsyncResult;
    await expect(r.get({ timeout: 10 })).rejects.toMatchObject({ name: 'ValueError', message: 'planned' });
    const eb = client.asyncResult(errbackId);
    await expect(eb.get({ timeout: 10 })).rejects.toMatchObject({ name: 'RuntimeError', message: `errback task for ${r.id} broke` });
    await stillWorks();
  });

  it('a callback whose task is not registered: the parent succeeds, the callback is FAILURE NotRegistered, the message is dropped', async () => {
    const callbackId = client.newId();
    const r = (await client.signature('fault.work').applyAsync([5], {}, { link: client.signature('no.such.task', { taskId: callbackId }) })) as AsyncResult;
    await expect(r.get({ timeout: 10 })).resolves.toBe(10);
    const cb = client.asyncResult(callbackId);
    await expect(cb.get({ timeout: 10 })).rejects.toMatchObject({ name: 'NotRegistered' });
    expect(String((await meta(callbackId)).result && JSON.stringify((await meta(callbackId)).result))).toContain('no.such.task');
    await until('nothing queued or unacknowledged', async () => (await broker.llen(Q)) === 0 && (await broker.hlen('unacked')) === 0);
    await stillWorks();
  });

  describe('a result the backend refuses (proto-max-bulk-len lowered to 1 MB)', () => {
    let saved: string | null = null;

    beforeAll(async () => {
      saved = ((await backend.config('GET', 'proto-max-bulk-len')) as string[])[1];
      await backend.config('SET', 'proto-max-bulk-len', String(1024 * 1024));
    });

    afterAll(async () => {
      if (saved !== null) await backend.config('SET', 'proto-max-bulk-len', saved);
    });

    it('the task is FAILURE with an error that says its result could not be stored; the worker goes on', { timeout: 60_000 }, async () => {
      const r = (await client.signature('fault.big').applyAsync([2 * 1024 * 1024])) as AsyncResult;
      // Before the fix the task stayed PENDING for ever: the store failed and nothing else was written.
      const s = await settle(backend, [r.id], 20_000);
      expect(s.get(r.id)?.status).toBe('FAILURE');
      await expect(r.get({ timeout: 5 })).rejects.toMatchObject({
        name: 'BackendError',
        message: expect.stringMatching(/^the result of fault\.big\[[0-9a-f-]{36}\] could not be stored by the result backend: ERR Protocol error: invalid bulk length$/),
      });
      expect((await meta(r.id)).result).toMatchObject({ exc_type: 'BackendError', exc_module: 'celery.exceptions' });
      expect(worker.stderr()).toContain('result could not be stored; marking the task FAILURE');
      // Small results are still stored while the limit is low.
      await stillWorks();
    });
  });

  it('with the limit restored, the same result is stored', { timeout: 30_000 }, async () => {
    const r = (await client.signature('fault.big').applyAsync([2 * 1024 * 1024])) as AsyncResult;
    const value = await r.get({ timeout: 20 });
    expect((value as string).length).toBe(2 * 1024 * 1024);
  });
});
