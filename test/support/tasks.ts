/** The tasks the guide and canvas-semantics.md use, on a fresh app. */
import { transport } from './transport.js';
import { Celeriac, type CeleriacOptions, type TaskContext, type TaskRequest } from '../../src/index.js';

let appSeq = 0;

export function makeApp(options: CeleriacOptions = {}) {
  const tr = transport();
  const queue = tr.uniqueQueues ? { defaultQueue: `canvas-${process.pid}-${++appSeq}` } : {};
  const app = new Celeriac({ broker: tr.broker, backend: tr.backend, logLevel: 'silent', ...queue, ...options });
  const calls: Array<{ name: string; args: unknown[] }> = [];
  const add = app.task('tasks.add', (x: number, y: number, z = 0) => x + y + z);
  const sub = app.task('tasks.sub', (x: number, y: number) => x - y);
  const mul = app.task('tasks.mul', (x: number, y: number) => x * y);
  const xsum = app.task('tasks.xsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  const tsum = app.task('tasks.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  const identity = app.task('tasks.identity', <T>(x: T) => x);
  const echo = app.task('tasks.echo', (...a: unknown[]) => a, { acceptsKwargs: false });
  const fail = app.task('tasks.fail', (...a: unknown[]): number => {
    const e = new Error(`boom ${JSON.stringify(a)}`);
    e.name = 'ValueError';
    throw e;
  });
  const sleepy = app.task('tasks.sleepy', async (x: number, t: number) => {
    await new Promise((r) => setTimeout(r, t * 1000));
    return x;
  });
  const record = app.task('tasks.record', (...a: unknown[]) => {
    calls.push({ name: 'record', args: a });
    return a;
  });
  const onError = app.task(
    'tasks.on_error',
    (request: TaskRequest, exc: Error, _tb: string) => {
      calls.push({ name: 'on_error', args: [request.id, exc.name, exc.message] });
    },
    { errback: true },
  );
  const oldErr = app.task('tasks.old_err', (taskId: string) => {
    calls.push({ name: 'old_err', args: [taskId] });
    return taskId;
  });
  const flaky = app.task(
    'tasks.flaky',
    (self: TaskContext, x: number) => {
      if (self.request.retries < 2) self.retry({ countdown: 0.01, exc: new Error('transient') });
      return x;
    },
    { bind: true },
  );
  return { app, calls, add, sub, mul, xsum, tsum, identity, echo, fail, sleepy, record, onError, oldErr, flaky };
}
