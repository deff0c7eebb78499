/**
 * A chord header message delivered twice (a copy LPUSHed next to it, as a
 * broker glitch or a double publish would) must not fire the chord body
 * twice, whether the copy runs after the chord completed or at the same time
 * as the original.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, chord } from '../../src/index.js';
import { type Child } from '../support/interop-process.js';
import { counter, settle, startWorker, until, closeFaultEnv, openFaultEnv } from './fault-support.js';

const Q = `ctl-fault-dup-${process.pid.toString(36)}`;
let broker: Redis;
let backend: Redis;
let client: Celeriac;

beforeAll(async () => {
  ({ broker, backend, client } = await openFaultEnv(Q));
});

afterAll(async () => {
  await closeFaultEnv({ broker, backend, client });
});

/**
 * Send a chord of `n` fault.work parts (into fault.total, on Q) with its
 * header on `queue`, which no worker consumes; returns the result and the raw
 * header messages, oldest first.
 */
async function queuedChord(n: number, queue: string) {
  const header = Array.from({ length: n }, (_, i) => client.signature('fault.work', { args: [i, 50], queue }));
  const result = await chord(header, client.signature('fault.total')).applyAsync();
  const raw = (await broker.lrange(queue, 0, -1)).reverse();
  expect(raw).toHaveLength(n);
  return { result, raw, bodyId: result.id };
}

describe('a chord header message delivered twice', () => {
  let worker: Child;
  const concurrent: Array<{ bodyId: string; value: Promise<unknown> }> = [];

  it('copies of every part run at the same time as the originals: each body gets each part\'s value once', { timeout: 60_000 }, async () => {
    // Five chords of five parts, every header message followed by a copy of itself, so a worker with
    // concurrency 10 runs each part and its copy at once, the completing part included.
    for (let c = 0; c < 5; c++) {
      const side = `${Q}-side`;
      const { result, raw, bodyId } = await queuedChord(5, side);
      await broker.del(side);
      for (const m of raw) await broker.lpush(Q, m, m);
      concurrent.push({ bodyId, value: result.get({ timeout: 30 }) });
    }
    worker = await startWorker(Q, 'fault-dup@%h', ['-c', '10']);
    for (const c of concurrent) await expect(c.value).resolves.toBe(2 * (0 + 1 + 2 + 3 + 4));
    await until('the queue to drain', async () => (await broker.llen(Q)) === 0 && (await broker.hlen('unacked')) === 0, 20_000);
    await new Promise((r) => setTimeout(r, 500));
  });

  /*
   * A copy of the completing part that is not marked redelivered never completes the chord again
   * (store-part.lua answers "ready" to a re-report only for a redelivered message), so each body is sent once.
   */
  it('… and each body is sent once (no fresh execution twice)', async () => {
    const fresh = await counter(backend, 'fault:fresh');
    const sent = concurrent.map((c) => fresh.get(c.bodyId));
    console.info(`chord-duplicate-header: times each of the ${sent.length} bodies was sent: ${sent.join(', ')}`);
    expect(sent).toEqual(concurrent.map(() => 1));
  });

  it('a copy of the last part, run after the chord completed: the body does not fire again', { timeout: 60_000 }, async () => {
    const n = 4;
    const side = `${Q}-side`;
    const { result, raw, bodyId } = await queuedChord(n, side);
    // The originals go to the worker; the copy is held back until the chord is done.
    await broker.del(side);
    for (const m of raw) await broker.lpush(Q, m);
    await expect(result.get({ timeout: 20 })).resolves.toBe(2 * (0 + 1 + 2 + 3));
    await broker.lpush(Q, raw[n - 1]);
    await until('the copy to be taken and settled', async () => (await broker.llen(Q)) === 0 && (await broker.hlen('unacked')) === 0, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    const fresh = await counter(backend, 'fault:fresh');
    expect(fresh.get(bodyId)).toBe(1);
    const s = await settle(backend, [bodyId], 1000);
    expect(s.get(bodyId)?.status).toBe('SUCCESS');
  });

  it('the worker is still up', async () => {
    expect(worker.proc.exitCode).toBeNull();
    const r = await client.signature('fault.work', { args: [21] }).applyAsync();
    await expect(r.get({ timeout: 10 })).resolves.toBe(42);
  });
});
