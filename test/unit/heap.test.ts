/**
 * tuneHeap: the young generation stays at its cap, the old generation is
 * collected in smaller steps, and undo gives V8 its own growth back. V8's
 * heap is per process, so each case runs in a child of its own.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/**
 * Allocates 1.5 M small objects, 30,000 of them alive at any time (so V8
 * sees survivors and wants to grow), yielding between batches as a worker
 * does; prints the largest young and old generation it saw.
 */
const CHURN = `
import { getHeapSpaceStatistics } from 'node:v8';
const { tuneHeap, youngGenerationBytes } = await import('./src/worker/heap.ts');
const e = process.env;
let release = () => {};
const hold = e.HOLD ? new Promise((r) => (release = r)) : undefined;
const start = youngGenerationBytes();
const undo = e.CAP || e.GROW ? tuneHeap({ maxSemiSpaceMb: Number(e.CAP ?? 0), heapGrowingPercent: Number(e.GROW ?? 0) }, hold) : null;
let held = 0;
const old = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_size;
const ring = new Array(30000);
let k = 0, young = 0, oldest = 0;
for (let i = 0; i < 300; i++) {
  for (let j = 0; j < 5000; j++) ring[k++ % ring.length] = { i, j, s: 'item ' + i + ' ' + j };
  await new Promise((r) => setImmediate(r));
  young = Math.max(young, youngGenerationBytes());
  oldest = Math.max(oldest, old());
  if (i === 100 && e.UNDO) { undo(); young = 0; }
  if (i === 100 && e.HOLD) { held = young; release(); }
}
console.log(JSON.stringify({ youngMb: young / 1048576, oldMb: oldest / 1048576, startMb: start / 1048576, heldMb: held / 1048576 }));
`;

async function churn(env: Record<string, string>): Promise<{ youngMb: number; oldMb: number; startMb: number; heldMb: number }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHURN], { env: { ...process.env, ...env }, timeout: 60_000 });
  return JSON.parse(stdout) as { youngMb: number; oldMb: number; startMb: number; heldMb: number };
}

describe('tuneHeap', () => {
  it('keeps the young generation at the cap, where V8 alone grows it to its maximum', async () => {
    const [own, capped] = await Promise.all([churn({}), churn({ CAP: '2' })]);
    expect(own.youngMb).toBeGreaterThan(8);
    // Two semi-spaces of 2 MB.
    expect(capped.youngMb).toBeLessThanOrEqual(4);
  }, 60_000);

  it('collects the old generation in smaller steps with heapGrowingPercent', async () => {
    const [own, stepped] = await Promise.all([churn({ CAP: '2' }), churn({ CAP: '2', GROW: '50' })]);
    expect(stepped.oldMb).toBeLessThan(own.oldMb * 0.75);
  }, 60_000);

  it('gives V8 its own growth back when undone', async () => {
    const undone = await churn({ CAP: '2', UNDO: '1' });
    expect(undone.youngMb).toBeGreaterThan(8);
  }, 60_000);

  it('holds the young generation at its size until holdUntil settles, then grows it to the cap', async () => {
    const r = await churn({ CAP: '8', HOLD: '1' });
    expect(r.heldMb).toBe(r.startMb);
    expect(r.youngMb).toBe(16);
  }, 60_000);

  it('refuses negative settings', async () => {
    const { tuneHeap } = await import('../../src/worker/heap.js');
    expect(() => tuneHeap({ maxSemiSpaceMb: -1 })).toThrow(RangeError);
  });
});
