/**
 * kill -9 of a `celeriac worker --acks-late` in the middle of 2,000 tasks
 * (1,800 plain tasks and 20 chords of 10 parts), then a new worker with a
 * 2 s visibility timeout: the messages the dead worker held are restored by
 * the new worker's visibility sweep and run again.
 *
 * What must hold: every task and every chord body ends SUCCESS with its value
 * (nothing stays PENDING); each message that was published once ran at most
 * once as a fresh (not redelivered) message, so nothing was sent twice; a
 * task ran a second time only as the redelivery of a message the dead worker
 * held; every chord body was sent exactly once.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, chord, type AsyncResult } from '../../src/index.js';
import { type Child } from '../support/interop-process.js';
import { counter, settle, startWorker, tally, until, closeFaultEnv, openFaultEnv } from './fault-support.js';

const Q = `ctl-fault-kill-${process.pid.toString(36)}`;
const PLAIN = 1800;
const CHORDS = 20;
const PARTS = 10;
const TASK_MS = 5;

let broker: Redis;
let backend: Redis;
let client: Celeriac;
let first: Child;
let second: Child;

beforeAll(async () => {
  ({ broker, backend, client } = await openFaultEnv(Q));
});

afterAll(async () => {
  await closeFaultEnv({ broker, backend, client });
}, 30_000);

describe('kill -9 of an --acks-late worker in the middle of 2,000 tasks', () => {
  const plain: AsyncResult[] = [];
  const chords: Array<{ body: AsyncResult; expected: number; parts: string[] }> = [];

  it('every task and chord body ends SUCCESS once a new worker has restored what the dead one held', { timeout: 180_000 }, async () => {
    first = await startWorker(Q, 'fault-kill-a@%h', ['--acks-late', '-c', '10']);

    // Plain tasks and chords interleaved, sent while the first worker runs.
    for (let c = 0; c < CHORDS; c++) {
      const batch = await Promise.all(Array.from({ length: PLAIN / CHORDS }, (_, k) => client.signature('fault.work', { args: [c * 1000 + k, TASK_MS] }).applyAsync()));
      plain.push(...(batch as AsyncResult[]));
      const header = Array.from({ length: PARTS }, (_, k) => client.signature('fault.work', { args: [k, TASK_MS] }));
      const body = (await chord(header, client.signature('fault.total')).applyAsync()) as AsyncResult;
      chords.push({ body, expected: 2 * ((PARTS * (PARTS - 1)) / 2), parts: [] });
    }
    const sent = PLAIN + CHORDS * PARTS;
    expect(plain).toHaveLength(PLAIN);

    // Kill it once about a quarter of the work has run: it holds up to 40 unacked messages, some mid-run.
    await until('a quarter of the tasks to run', async () => (await backend.hlen('fault:exec')) >= sent / 4, 60_000, 20);
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe(128 + 9);
    const heldAtKill = await broker.hlen('unacked');
    const ranAtKill = await backend.hlen('fault:exec');
    expect(heldAtKill).toBeGreaterThan(0);

    second = await startWorker(Q, 'fault-kill-b@%h', ['--acks-late', '-c', '10'], { FAULT_VISIBILITY_TIMEOUT: '2' });

    const ids = [...plain.map((r) => r.id), ...chords.map((c) => c.body.id)];
    const s = await settle(backend, ids, 120_000);
    expect(tally(s)).toEqual({ SUCCESS: PLAIN + CHORDS });
    plain.forEach((r, i) => {
      const c = Math.floor(i / (PLAIN / CHORDS));
      const k = i % (PLAIN / CHORDS);
      expect(s.get(r.id)?.result).toBe(2 * (c * 1000 + k));
    });
    for (const c of chords) expect(s.get(c.body.id)?.result).toBe(c.expected);

    // Nothing left queued or unacknowledged.
    await until('the queue and unacked to drain', async () => (await broker.llen(Q)) === 0 && (await broker.hlen('unacked')) === 0, 20_000);

    const exec = await counter(backend, 'fault:exec');
    const fresh = await counter(backend, 'fault:fresh');
    const bodies = new Set(chords.map((c) => c.body.id));
    // Every plain task and header part ran; each chord body ran.
    expect([...exec.keys()].filter((id) => !bodies.has(id))).toHaveLength(sent);
    for (const id of bodies) expect(exec.get(id)).toBeGreaterThanOrEqual(1);
    // Nothing was sent twice: no message ran twice as a fresh delivery (a chord body fired twice would).
    expect([...fresh.entries()].filter(([, n]) => n > 1)).toEqual([]);
    for (const id of bodies) expect(fresh.get(id) ?? 0).toBeLessThanOrEqual(1);
    // Re-runs are redeliveries of what the dead worker held, and there are no more of them than it held.
    const reruns = [...exec.entries()].filter(([, n]) => n > 1);
    expect(reruns.every(([, n]) => n === 2)).toBe(true);
    expect(reruns.length).toBeLessThanOrEqual(heldAtKill);
    console.info(`worker-kill: killed after ${ranAtKill} executions holding ${heldAtKill} unacked; ${reruns.length} task(s) ran again after the restore`);
  });

  it('the new worker is still up and answers ping', async () => {
    expect(second.proc.exitCode).toBeNull();
    const replies = await client.control.ping({ timeout: 1 });
    expect(Object.keys(replies)).toEqual([expect.stringMatching(/^fault-kill-b@/)]);
  });
});
