/**
 * 1,000 malformed messages interleaved with 1,000 good ones on one queue: a
 * `celeriac worker` drops each bad one (logged, acknowledged so it is not
 * redelivered forever), runs every good one, and stays up.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, type AsyncResult } from '../../src/index.js';
import { type Child } from '../support/interop-process.js';
import { settle, startWorker, tally, until, closeFaultEnv, openFaultEnv } from './fault-support.js';

const Q = `ctl-fault-bad-${process.pid.toString(36)}`;
const GOOD = 1000;
const BAD = 1000;

let broker: Redis;
let backend: Redis;
let client: Celeriac;
let worker: Child;

beforeAll(async () => {
  ({ broker, backend, client } = await openFaultEnv(Q));
});

afterAll(async () => {
  await closeFaultEnv({ broker, backend, client });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A kombu envelope around `body` (already encoded) with these headers and overrides. */
function envelope(body: unknown, headers: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    body,
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers,
    properties: { delivery_mode: 2, delivery_info: { exchange: '', routing_key: Q }, priority: 0, body_encoding: 'base64', delivery_tag: randomUUID() },
    ...extra,
  });
}

const goodHeaders = () => ({ lang: 'py', task: 'fault.work', id: randomUUID(), root_id: null, parent_id: null, group: null, argsrepr: '(1,)', kwargsrepr: '{}' });

/** The kinds of bad input, each a fresh raw string. */
const MALFORMED: ReadonlyArray<[string, () => string]> = [
  ['not JSON', () => 'this is not json {'],
  ['binary garbage', () => '\u0000\u0001\u00ff\ufffd'],
  ['a JSON array', () => '[1, 2, 3]'],
  ['a JSON string', () => '"just a string"'],
  ['an empty object', () => '{}'],
  ['a body that is not base64 JSON', () => envelope('!!!not base64!!!', goodHeaders())],
  ['a body that is not a [args, kwargs, embed] tuple', () => envelope(b64('{"not": "a tuple"}'), goodHeaders())],
  ['args that are not a list', () => envelope(b64('["x", {}, {}]'), goodHeaders())],
  ['kwargs that are not an object', () => envelope(b64('[[], [1], {}]'), goodHeaders())],
  ['no task name', () => envelope(b64('[[1], {}, {}]'), { ...goodHeaders(), task: undefined })],
  ['no task id', () => envelope(b64('[[1], {}, {}]'), { ...goodHeaders(), id: undefined })],
  ['a numeric task id', () => envelope(b64('[[1], {}, {}]'), { ...goodHeaders(), id: 12345 })],
  ['headers that are a list', () => envelope(b64('[[1], {}, {}]'), ['task', 'fault.work'])],
  ['a pickle content type', () => envelope(b64('\u0080\u0004K\u0001.'), goodHeaders(), { 'content-type': 'application/x-python-serialize', 'content-encoding': 'binary' })],
  ['a null body', () => envelope(null, goodHeaders())],
  ['properties missing', () => JSON.stringify({ body: b64('[[1], {}, {}]'), 'content-type': 'application/json', headers: goodHeaders() })],
];

describe('1,000 malformed messages among 1,000 good ones', () => {
  it('every good task succeeds, every bad message is dropped, and the worker stays up', { timeout: 120_000 }, async () => {
    const good: AsyncResult[] = [];
    for (let i = 0; i < GOOD; i++) {
      const [, make] = MALFORMED[i % MALFORMED.length];
      await broker.lpush(Q, make());
      good.push((await client.signature('fault.work', { args: [i] }).applyAsync()) as AsyncResult);
    }
    expect(await broker.llen(Q)).toBe(GOOD + BAD);

    worker = await startWorker(Q, 'fault-bad@%h', ['-c', '10']);
    const s = await settle(backend, good.map((r) => r.id), 90_000);
    expect(tally(s)).toEqual({ SUCCESS: GOOD });
    good.forEach((r, i) => expect(s.get(r.id)?.result).toBe(2 * i));

    // Bad messages are not left queued or unacknowledged (they would come back forever).
    await until('the queue and unacked to drain', async () => (await broker.llen(Q)) === 0 && (await broker.hlen('unacked')) === 0, 20_000);
    expect(worker.proc.exitCode).toBeNull();
    expect(worker.stderr()).toContain('discarding malformed message');

    // Still working, and still answering remote control.
    await expect((await client.signature('fault.work', { args: [21] }).applyAsync()).get({ timeout: 10 })).resolves.toBe(42);
    expect(Object.keys(await client.control.ping({ timeout: 1 }))).toEqual([expect.stringMatching(/^fault-bad@/)]);
  });
});
