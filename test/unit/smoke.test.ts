import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, chord, group } from '../../src/index.js';
import { makeApp } from '../support/tasks.js';

const t = makeApp();
beforeAll(async () => {
  await t.app.worker({ concurrency: 4 });
});
afterAll(() => t.app.close());

describe('smoke', () => {
  it('delay + get', async () => {
    const r = await t.add.delay(2, 2);
    expect(await r.get({ timeout: 5 })).toBe(4);
  });
  it('chain', async () => {
    const r = await chain(t.add.s(2, 2), t.add.s(4), t.add.s(8)).delay();
    expect(await r.get({ timeout: 5 })).toBe(16);
  });
  it('group', async () => {
    const r = await group(Array.from({ length: 10 }, (_, i) => t.add.s(i, i))).delay();
    expect(await r.get({ timeout: 5 })).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });
  it('chord', async () => {
    const r = await chord(Array.from({ length: 100 }, (_, i) => t.add.s(i, i)), t.xsum.s()).delay();
    expect(await r.get({ timeout: 5 })).toBe(9900);
  });
});
