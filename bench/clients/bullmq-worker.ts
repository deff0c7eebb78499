/**
 * The BullMQ worker of the benchmark: one process, one Worker on the queue
 * `bench` with `--concurrency N`, otherwise BullMQ's defaults (jobs and their
 * return values are kept after completion, as celeriac and Celery keep
 * results). Processors:
 *
 * - `noop`: returns null (W1);
 * - `add`: x + y (W2, W3 children); without `x` it is a W4 link and adds `y`
 *   to the value of its only child;
 * - `xsum`: the sum of its children's values (W3's FlowProducer parent).
 */
import { Worker, type Job } from 'bullmq';
import { connection, QUEUE, type AddData } from './bullmq-common.js';

const i = process.argv.indexOf('--concurrency');
const concurrency = i >= 0 ? Number(process.argv[i + 1]) : 1;

async function childValues(job: Job): Promise<number[]> {
  return Object.values(await job.getChildrenValues<number>());
}

const worker = new Worker(
  QUEUE,
  async (job: Job) => {
    switch (job.name) {
      case 'noop':
        return null;
      case 'add': {
        const d = job.data as AddData;
        if (d.x !== undefined) return d.x + d.y;
        const [prev] = await childValues(job);
        return prev + d.y;
      }
      case 'xsum':
        return (await childValues(job)).reduce((a, b) => a + b, 0);
      default:
        throw new Error(`unknown job ${job.name}`);
    }
  },
  { connection: connection(), concurrency },
);
worker.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
await worker.waitUntilReady();
process.stdout.write(`bullmq worker ready: concurrency=${concurrency}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) process.exit(1);
  stopping = true;
  void worker.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
