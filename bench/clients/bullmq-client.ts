/**
 * The BullMQ producer of the benchmark (see agent.ts for the protocol), with
 * BullMQ's own closest equivalents:
 *
 * - W1: `queue.add('noop')` per task, up to 1,000 in flight;
 * - W2: `queue.add('add')`, then `job.waitUntilFinished(queueEvents)`;
 * - W3: a FlowProducer parent `xsum` with N `add` children;
 * - W4: a flow N levels deep, each `add` job adding 1 to its only child's
 *   value (the result passes from step to step as in a chain); `chainSeq`
 *   is the other reading, N jobs sent one after the other from the client.
 */
import { FlowProducer, Queue, QueueEvents, type FlowJob } from 'bullmq';
import { serve, since, TIMEOUT_S, windowed } from './agent.js';
import { connection, QUEUE } from './bullmq-common.js';

const WINDOW = Number(process.env.BENCH_ENQUEUE_WINDOW ?? 1000);

const queue = new Queue(QUEUE, { connection: connection() });
const events = new QueueEvents(QUEUE, { connection: connection() });
const flows = new FlowProducer({ connection: connection() });
await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), flows.waitUntilReady()]);

function chainFlow(n: number): FlowJob {
  let node: FlowJob = { name: 'add', queueName: QUEUE, data: { x: 0, y: 1 } };
  for (let k = 1; k < n; k++) node = { name: 'add', queueName: QUEUE, data: { y: 1 }, children: [node] };
  return node;
}

await serve(
  {
    async enqueue(c) {
      const n = c.n ?? 0;
      const t0 = Date.now();
      const ids = await windowed(n, WINDOW, async () => (await queue.add('noop', {})).id as string);
      return { t0, t1: Date.now(), ids };
    },
    async rt(c) {
      const lat: number[] = [];
      const warmup = c.warmup ?? 0;
      for (let i = 0; i < warmup + (c.n ?? 0); i++) {
        const t = performance.now();
        const job = await queue.add('add', { x: 1, y: 1 });
        const v = (await job.waitUntilFinished(events, TIMEOUT_S * 1000)) as number;
        const ms = since(t);
        if (v !== 2) throw new Error(`add(1, 1) returned ${String(v)}`);
        if (i >= warmup) lat.push(ms);
      }
      return { lat };
    },
    async chord(c) {
      const n = c.n ?? 0;
      const t = performance.now();
      const tree = await flows.add({
        name: 'xsum',
        queueName: QUEUE,
        data: {},
        children: Array.from({ length: n }, (_, i) => ({ name: 'add', queueName: QUEUE, data: { x: i, y: i } })),
      });
      const value = await tree.job.waitUntilFinished(events, TIMEOUT_S * 1000);
      return { ms: since(t), value };
    },
    async chain(c) {
      const t = performance.now();
      const tree = await flows.add(chainFlow(c.n ?? 0));
      const value = await tree.job.waitUntilFinished(events, TIMEOUT_S * 1000);
      return { ms: since(t), value };
    },
    async chainSeq(c) {
      const t = performance.now();
      let value = 0;
      for (let k = 0; k < (c.n ?? 0); k++) {
        const job = await queue.add('add', { x: value, y: 1 });
        value = (await job.waitUntilFinished(events, TIMEOUT_S * 1000)) as number;
      }
      return { ms: since(t), value };
    },
  },
  async () => {
    await Promise.all([queue.close(), events.close(), flows.close()]);
  },
);
