/**
 * The app module of the fault suite (`celeriac worker -A test/fault/fault-tasks.ts`).
 *
 * Every task counts its executions in Redis hashes keyed by task id, on the
 * backend's database, so a test can tell "ran once", "ran again after a
 * crash" (the message came back redelivered) and "was sent twice" (a second
 * execution of a message that was never redelivered):
 *
 *   fault:exec   id → executions
 *   fault:fresh  id → executions of a message not marked redelivered
 *
 * Configured from the environment: CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND
 * (the CLI's -b / --result-backend), FAULT_QUEUE (default queue),
 * FAULT_VISIBILITY_TIMEOUT (seconds, default 3600).
 */
import { Redis } from 'ioredis';
import { Celeriac, type TaskContext, type TaskRequest } from '../../src/index.js';

const env = process.env;
const level = env.CELERIAC_LOG_LEVEL as 'debug' | 'info' | 'warn' | 'error' | 'silent' | undefined;

/** The app the CLI loads. */
export const app = new Celeriac({
  broker: env.CELERIAC_BROKER_URL ?? 'redis://127.0.0.1:6379/13',
  backend: env.CELERIAC_RESULT_BACKEND ?? 'redis://127.0.0.1:6379/14',
  defaultQueue: env.FAULT_QUEUE ?? 'ctl-fault',
  visibilityTimeout: Number(env.FAULT_VISIBILITY_TIMEOUT ?? 3600),
  resultExpires: 3600,
  logLevel: level ?? 'warn',
});

let counters: Redis | null = null;

/** Count one execution of the running task. */
async function count(request: TaskRequest): Promise<void> {
  counters ??= new Redis(app.conf.backend, { maxRetriesPerRequest: null });
  const pipe = counters.multi().hincrby('fault:exec', request.id, 1);
  if (!request.deliveryInfo.redelivered) pipe.hincrby('fault:fresh', request.id, 1);
  await pipe.exec();
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts itself, sleeps `ms`, returns 2 × i. */
export const work = app.task(
  'fault.work',
  async (self: TaskContext, i: number, ms = 0) => {
    await count(self.request);
    if (ms > 0) await pause(ms);
    return 2 * i;
  },
  { bind: true },
);

/** A chord body: counts itself and sums its header's values. */
export const total = app.task(
  'fault.total',
  async (self: TaskContext, values: number[]) => {
    await count(self.request);
    return values.reduce((a, b) => a + b, 0);
  },
  { bind: true },
);

/** Fails with ValueError('planned'). */
export const fail = app.task('fault.fail', (): never => {
  throw Object.assign(new Error('planned'), { name: 'ValueError' });
});

/** A new-style errback (called inline) that throws itself. */
export const brokenErrback = app.task(
  'fault.broken_errback',
  (_request: TaskRequest, _exc: Error, _traceback: string): never => {
    throw Object.assign(new Error('the errback broke'), { name: 'RuntimeError' });
  },
  { errback: true },
);

/** An old-style errback (sent as a task with the failed id) that throws. */
export const brokenErrbackTask = app.task('fault.broken_errback_task', (failedId: string): never => {
  throw Object.assign(new Error(`errback task for ${failedId} broke`), { name: 'RuntimeError' });
});

/** Returns a string of `bytes` characters (for results the backend refuses). */
export const big = app.task('fault.big', (bytes: number) => 'x'.repeat(bytes));
