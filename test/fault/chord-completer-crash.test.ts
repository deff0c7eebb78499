/**
 * The worst moment for a kill -9 in a chord: the worker running the part that
 * completes the chord has stored its result and counted the part (one atomic
 * step), but dies before it sends the body. Its message was never
 * acknowledged, so the visibility timeout brings it back, redelivered. That
 * redelivery must complete the chord — the body is sent, once — although the
 * part's own result is already final and the part is not run again.
 *
 * The crash is staged exactly rather than hoped for with a timed kill: the
 * completing part's store is made here through the backend API (what the dead
 * worker did), and its message is then handed to a worker marked redelivered
 * (what the visibility sweep does).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, chord, type AsyncResult } from '../../src/index.js';
import { type Child } from '../support/interop-process.js';
import { counter, startWorker, until, closeFaultEnv, openFaultEnv } from './fault-support.js';

const Q = `ctl-fault-completer-${process.pid.toString(36)}`;
const SIDE = `${Q}-side`;

let broker: Redis;
let backend: Redis;
let client: Celeriac;
let worker: Child;

beforeAll(async () => {
  ({ broker, backend, client } = await openFaultEnv(Q));
  worker = await startWorker(Q, 'fault-completer@%h', ['-c', '4']);
}, 60_000);

afterAll(async () => {
  await closeFaultEnv({ broker, backend, client });
});

interface Envelope {
  headers: Record<string, unknown>;
  properties: { delivery_info: Record<string, unknown> };
}

/** The message as kombu's visibility sweep puts it back: headers.redelivered and delivery_info.redelivered set. */
function redelivered(raw: string): string {
  const env = JSON.parse(raw) as Envelope;
  env.headers.redelivered = true;
  env.properties.delivery_info.redelivered = true;
  return JSON.stringify(env);
}

describe('the worker completing a chord dies after storing its part, before sending the body', () => {
  it('the redelivered message completes the chord: the body is sent once, the part does not run again', { timeout: 60_000 }, async () => {
    // A chord of two parts whose header waits on a queue no worker reads.
    const header = [0, 1].map((i) => client.signature('fault.work', { args: [i + 1], queue: SIDE }));
    const body = (await chord(header, client.signature('fault.total')).applyAsync()) as AsyncResult;
    const [first, second] = (await broker.lrange(SIDE, 0, -1)).reverse();
    await broker.del(SIDE);
    const secondHeaders = (JSON.parse(second) as Envelope).headers as { id: string; group: string; group_index: number };

    // Part 1 runs normally on the worker: counted, the chord is not complete yet.
    await broker.lpush(Q, first);
    await until('part 1 to be stored', async () => (await backend.exists(`celery-task-meta-${(JSON.parse(first) as Envelope).headers.id}`)) === 1);

    // Part 2 "runs" on a worker that stores and counts it — completing the chord — and dies right there.
    const store = await client.resultBackend();
    const outcome = await store.store(
      { status: 'SUCCESS', result: 4, traceback: null, children: [], date_done: new Date().toISOString(), task_id: secondHeaders.id },
      { groupId: secondHeaders.group, groupIndex: secondHeaders.group_index, redelivered: false },
    );
    expect(outcome.chord?.ready).toBe(true);

    // The visibility timeout gives part 2's message back, redelivered.
    await broker.lpush(Q, redelivered(second));
    await expect(body.get({ timeout: 15 })).resolves.toBe(2 + 4);

    await until('the queue to drain', async () => (await broker.llen(Q)) === 0 && (await broker.hlen('unacked')) === 0);
    const exec = await counter(backend, 'fault:exec');
    expect(exec.get(secondHeaders.id)).toBeUndefined();
    expect(exec.get(body.id)).toBe(1);
  });

  it('the worker is still up', async () => {
    expect(worker.proc.exitCode).toBeNull();
    await expect((await client.signature('fault.work', { args: [21] }).applyAsync()).get({ timeout: 10 })).resolves.toBe(42);
  });
});
