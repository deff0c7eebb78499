/**
 * celeriac's half of the interop suite: the same task names as
 * test/interop/py/interop_tasks.py, so a step can run on either side. Loaded
 * by `celeriac worker -A test/support/interop-tasks.ts`; configured from the
 * same variables as the Python module (INTEROP_BROKER, INTEROP_BACKEND,
 * INTEROP_QUEUE), with CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND from the
 * CLI's -b / --result-backend taking precedence.
 */
import { Redis } from 'ioredis';
import { Celeriac, type CeleriacOptions, type TaskContext, type TaskRequest } from '../../src/index.js';

/** Which side ran a step. */
export const SIDE = 'ts';

/** Build an app with the interop tasks registered. */
export function makeInteropApp(options: CeleriacOptions = {}) {
  const env = process.env;
  const app = new Celeriac({
    broker: env.CELERIAC_BROKER_URL ?? env.INTEROP_BROKER ?? 'redis://127.0.0.1:6379/8',
    backend: env.CELERIAC_RESULT_BACKEND ?? env.INTEROP_BACKEND ?? 'redis://127.0.0.1:6379/9',
    defaultQueue: env.INTEROP_QUEUE ?? 'interop-ts',
    resultExpires: 600,
    logLevel: (env.CELERIAC_LOG_LEVEL as CeleriacOptions['logLevel']) ?? 'warn',
    ...options,
  });
  let redis: Redis | null = null;
  const markKey = async (key: string, payload: Record<string, unknown>): Promise<void> => {
    redis ??= new Redis(app.conf.backend, { lazyConnect: false, maxRetriesPerRequest: 3 });
    await redis.set(key, JSON.stringify({ ...payload, side: SIDE }), 'EX', 600);
  };
  const valueError = (...args: unknown[]) => Object.assign(new Error(String(args[0])), { name: 'ValueError', excArgs: args });

  const tasks = {
    add: app.task('interop_tasks.add', (x: number, y: number) => x + y),
    sub: app.task('interop_tasks.sub', (x: number, y: number) => x - y),
    mul: app.task('interop_tasks.mul', (x: number, y: number) => x * y),
    tsum: app.task('interop_tasks.tsum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0)),
    fail: app.task('interop_tasks.fail', (..._args: unknown[]): never => {
      throw valueError('boom', 42);
    }),
    flaky: app.task(
      'interop_tasks.flaky',
      (self: TaskContext, x: number) => {
        if (self.request.retries < 2) self.retry({ countdown: 0.1, exc: Object.assign(new Error('transient'), { name: 'RuntimeError' }) });
        return [x, self.request.retries] as [number, number];
      },
      { bind: true, maxRetries: 5 },
    ),
    side: app.task('interop_tasks.side', (x: unknown) => [x, SIDE] as [unknown, string]),
    trail: app.task('interop_tasks.trail', (acc: string[] | null = null) => [...(acc ?? []), SIDE]),
    summarize: app.task('interop_tasks.summarize', (parts: unknown[]) => ({ parts, body: SIDE })),
    mark: app.task('interop_tasks.mark', async (value: unknown, key: string) => {
      await markKey(`interop:mark:${key}`, { value });
      return value;
    }),
    markError: app.task('interop_tasks.mark_error', async (taskId: string) => {
      await markKey(`interop:errback:${taskId}`, { style: 'old' });
      return taskId;
    }),
    onError: app.task(
      'interop_tasks.on_error',
      async (request: TaskRequest, exc: Error, _traceback: string) => {
        const e = exc as Error & { excType?: string; excArgs?: unknown[] };
        await markKey(`interop:errback:${request.id}`, { style: 'new', exc_type: e.excType ?? e.name, args: e.excArgs ?? [e.message] });
      },
      { errback: true },
    ),
  };
  const close = async (): Promise<void> => {
    await app.close();
    redis?.disconnect();
    redis = null;
  };
  return { app, tasks, close };
}

const built = makeInteropApp();
/** The app `celeriac worker -A` loads. */
export const app = built.app;
