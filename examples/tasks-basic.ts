/**
 * A tasks module for `celeriac worker`:
 *
 *   celeriac worker -A examples/tasks-basic.ts -Q celery -c 4 -l info
 *   celeriac call tasks.add --args '[2, 3]' --wait            # prints the id, then SUCCESS and 5
 *
 * The app reads its URLs from the variables the CLI sets for -b and
 * --result-backend (see src/cli/load-app.ts), so both flags work here.
 * CELERIAC_DEFAULT_QUEUE is this module's own convention.
 */
import { Celeriac, type TaskContext } from '../src/index.js';

const level = process.env.CELERIAC_LOG_LEVEL as 'debug' | 'info' | 'warn' | 'error' | 'silent' | undefined;

/** The app the CLI loads (named export `app`; a default export works too). */
export const app = new Celeriac({
  broker: process.env.CELERIAC_BROKER_URL ?? 'redis://127.0.0.1:6379/0',
  backend: process.env.CELERIAC_RESULT_BACKEND,
  defaultQueue: process.env.CELERIAC_DEFAULT_QUEUE ?? 'celery',
  logLevel: level ?? 'warn',
});

/** x + y */
export const add = app.task('tasks.add', (x: number, y: number) => x + y);
/** x - y (argument order matters) */
export const sub = app.task('tasks.sub', (x: number, y: number) => x - y);
/** x * y */
export const mul = app.task('tasks.mul', (x: number, y: number) => x * y);
/** The sum of a list (a chord body). */
export const tsum = app.task('tasks.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
/** Sleep `seconds`, then return `value` (for shutdown tests and progress). */
export const sleep = app.task('tasks.sleep', async (seconds: number, value: unknown = null) => {
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return value;
});
/** Always fails with ValueError('boom', 42), as Python would raise it. */
export const fail = app.task('tasks.fail', (): never => {
  throw Object.assign(new Error('boom'), { name: 'ValueError', excArgs: ['boom', 42] });
});
/** Retries twice, then returns `x`. */
export const flaky = app.task(
  'tasks.flaky',
  (self: TaskContext, x: number) => {
    if (self.request.retries < 2) self.retry({ countdown: 0.1, exc: new Error('transient') });
    return x;
  },
  { bind: true },
);
