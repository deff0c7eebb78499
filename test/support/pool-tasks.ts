/** An app module for the threads pool tests: each thread imports it. */
import { Celeriac, type TaskContext } from '../../src/index.js';

export const app = new Celeriac({ broker: 'memory://', backend: 'memory://', logLevel: 'silent' });

/** CPU-bound work that never yields. */
export const spin = app.task('pool.spin', (ms: number) => {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) n++;
  return n > 0;
}, { timeLimit: 0.3 });

/** Never returns and never yields: only terminating the thread stops it. */
export const forever = app.task('pool.forever', (): number => {
  for (;;) {
    // busy
  }
}, { timeLimit: 0.2 });

export const add = app.task('pool.add', (x: number, y: number) => x + y);

export const boom = app.task('pool.boom', (): number => {
  throw Object.assign(new Error('bad input'), { name: 'ValueError' });
});

export const again = app.task('pool.again', (self: TaskContext, x: number) => {
  if (self.request.retries < 1) self.retry({ countdown: 0, exc: new Error('once more') });
  return x * 2;
}, { bind: true });
