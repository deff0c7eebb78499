/**
 * The README's quick start: a real Canvas workflow on the embedded memory://
 * broker and backend. Every step below is encoded as a Celery protocol v2
 * message, queued, and run by a worker in this process.
 *
 *   npm ci && npm run demo
 */
import { Celeriac, chain, chord, group, type AsyncResult } from '../src/index.js';

const app = new Celeriac({ broker: 'memory://', backend: 'memory://' });

const add = app.task('tasks.add', (x: number, y: number) => x + y);
const mul = app.task('tasks.mul', (x: number, y: number) => x * y);
const xsum = app.task('tasks.xsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
const fetchPrice = app.task('tasks.fetch_price', (sku: string): number => {
  if (sku === 'missing') throw new RangeError(`no price for ${sku}`);
  return sku.length;
});

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

async function main(): Promise<void> {
  const worker = await app.worker({ concurrency: 8 });

  // chain: each value is prepended to the next task's arguments.
  const pipeline = await chain(add.s(4, 4), mul.s(8), mul.s(10)).delay();
  console.log('chain(add(4, 4), mul(8), mul(10))       =', await pipeline.get({ timeout: 10 }));

  // group: run in parallel, results in definition order.
  const squares = await group(range(10).map((i) => add.s(i, i))).delay();
  console.log('group(add(i, i) for i in 0..9)          =', JSON.stringify(await squares.get({ timeout: 10 })));

  // chord: fan out, then fan in with the list of header values.
  const total = await chord(range(100).map((i) => add.s(i, i)), xsum.s()).delay();
  console.log('chord(add(i, i) for i in 0..99, xsum)   =', await total.get({ timeout: 10 }));

  // chunks: 100 pairs in 10 messages of 10.
  const chunks = await add.chunks(range(100).map((i) => [i, i] as [number, number]), 10).delay();
  const matrix = await chunks.get({ timeout: 10 });
  console.log('add.chunks(zip(0..99, 0..99), 10)      =', `${matrix.length} chunks, last ${JSON.stringify(matrix[9])}`);

  // A failing task inside a chain: later steps fail with the same error.
  const failing = await chain(fetchPrice.s('missing'), mul.s(2)).delay();
  try {
    await failing.get({ timeout: 10 });
  } catch (err) {
    console.log('chain(fetch_price("missing"), mul(2))   failed with', `${(err as Error).name}: ${(err as Error).message}`);
  }

  // The result graph of the first chain, in Graphviz dot.
  const first = pipeline.parent!.parent as AsyncResult;
  console.log('\nresult graph of the chain (dot):');
  console.log((await first.graph()).toDot());

  await worker.stop();
  await app.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
