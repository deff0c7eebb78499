/** TurnBatch: what one event-loop turn adds is one call; each added item gets its result, joined items share one promise. */
import { describe, expect, it } from 'vitest';
import { TurnBatch } from '../../src/redis/turn-batch.js';

describe('TurnBatch', () => {
  it('sends one turn’s items as one call, in order; add() gets its own result, join() items share one promise', async () => {
    const calls: string[][] = [];
    const b = new TurnBatch<string, string>(async (items) => {
      calls.push(items);
      return items.map((i) => i.toUpperCase());
    });
    const a = b.add('a');
    const j1 = b.join('j1');
    const c = b.add('c');
    const j2 = b.join('j2');
    expect(j1).toBe(j2);
    expect(await Promise.all([a, c])).toEqual(['A', 'C']);
    await j1;
    expect(calls).toEqual([['a', 'j1', 'c', 'j2']]);
    // The next turn is a call of its own, with a promise of its own.
    const j3 = b.join('j3');
    expect(j3).not.toBe(j1);
    await j3;
    expect(calls).toEqual([['a', 'j1', 'c', 'j2'], ['j3']]);
  });

  it('rejects every item of a failed call, added and joined alike, with its error', async () => {
    const b = new TurnBatch<string, string>(async () => {
      throw new Error('connection lost');
    }, true);
    const a = b.add('a');
    const j = b.join('j');
    await expect(a).rejects.toThrow('connection lost');
    await expect(j).rejects.toThrow('connection lost');
  });
});
