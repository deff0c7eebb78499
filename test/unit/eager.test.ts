/** Inline and eager runs (C-022, C-023, C-057, C-075, C-129): in the caller's process, and they say so. */
import { afterAll, describe, expect, it } from 'vitest';
import { chain, chord, group, Signature } from '../../src/index.js';
import { makeApp } from '../support/tasks.js';

const t = makeApp();
afterAll(() => t.app.close());

describe('eager apply', () => {
  it('task.apply() runs here and returns an EagerResult; a failure does not throw until get()', async () => {
    const r = await t.add.apply([2, 2]);
    expect(await r.get()).toBe(4);
    expect(await r.state()).toBe('SUCCESS');
    const f = await t.fail.apply([]);
    expect(await f.state()).toBe('FAILURE');
    await expect(f.get()).rejects.toThrow('boom []');
  });
  it('chain.apply() is 26 with parents 16 and 8; a failing step throws at apply (C-057)', async () => {
    const r = await chain(t.add.s(4, 4), t.add.s(8), t.add.s(10)).apply();
    expect(await r.get()).toBe(26);
    expect(await r.parent!.get()).toBe(16);
    await expect(chain(t.add.s(1, 1), t.fail.s(), t.add.s(1)).apply()).rejects.toThrow('boom [2]');
  });
  it('group.apply() is [2, 4] (C-075); chord.apply() is 6 (C-129)', async () => {
    expect(await (await group(t.add.s(1, 1), t.add.s(2, 2)).apply()).get()).toEqual([2, 4]);
    expect(await (await chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s()).apply()).get()).toBe(6);
  });
  it('sig.call() runs the function inline with partial args prepended (C-022)', async () => {
    expect(await t.sub.s(10).call(30)).toBe(20);
    expect(await (t.app.signature('tasks.sub', { args: [10] }) as Signature<[number], number>).call(30)).toBe(20);
  });
});
