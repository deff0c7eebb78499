/**
 * The celeriac app of `npm run bench`: three tasks, named as in the Python
 * peer (bench/peers/celery_app.py), on the queue `bench`. The worker runs it
 * through the real CLI:
 *
 *   node src/cli/main.js worker -A bench/tasks.js -Q bench -c 10 -l warn
 *
 * (from the transpiled snapshot, see bench/lib/build.ts).
 * URLs come from the variables the CLI's -b/--result-backend set.
 */
import { Celeriac } from '../src/index.js';

/** The app the CLI loads. */
export const app = new Celeriac({
  broker: process.env.CELERIAC_BROKER_URL ?? 'redis://127.0.0.1:6379/13',
  backend: process.env.CELERIAC_RESULT_BACKEND ?? process.env.CELERIAC_BROKER_URL ?? 'redis://127.0.0.1:6379/13',
  defaultQueue: 'bench',
  logLevel: 'warn',
});

/** W1: does nothing (its result, null, is stored as every system stores it). */
export const noop = app.task('bench.noop', () => null);
/** W2, W3 header, W4 links. */
export const add = app.task('bench.add', (x: number, y: number) => x + y);
/** W3 body. */
export const xsum = app.task('bench.xsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
