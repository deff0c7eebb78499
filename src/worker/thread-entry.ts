/**
 * A task thread of the threads pool: imports the app module, then runs the
 * requests the main thread sends, one at a time, and replies with plain data.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeException, type ExceptionInfo } from '../protocol/index.js';
import type { AnyResult } from '../result/index.js';
import type { TaskRequest } from './request.js';
import { Celeriac } from '../app.js';
import { RunControl, runTask } from './executor.js';
import type { ThreadReply, ThreadRequest } from './thread-pool.js';

const port = parentPort;
if (!port) throw new Error('thread-entry runs only as a worker thread');

function describe(err: Error): ExceptionInfo & { name: string; message: string } {
  return { ...serializeException(err), name: err.name, message: err.message };
}

function findApp(mod: Record<string, unknown>): Celeriac | null {
  for (const v of [mod.app, mod.default, ...Object.values(mod)]) if (v instanceof Celeriac) return v;
  return null;
}

let app: Celeriac;
try {
  const mod = (await import((workerData as { moduleUrl: string }).moduleUrl)) as Record<string, unknown>;
  const found = findApp(mod);
  if (!found) throw new Error(`no Celeriac app exported by ${(workerData as { moduleUrl: string }).moduleUrl}`);
  app = found;
  port.postMessage({ kind: 'ready' } satisfies ThreadReply);
} catch (err) {
  port.postMessage({ kind: 'load-error', message: (err as Error).message } satisfies ThreadReply);
  throw err;
}

port.on('message', (msg: { request: ThreadRequest; limits: [number | null, number | null] }) => {
  void (async () => {
    const req: TaskRequest = { ...msg.request, children: [] as AnyResult[] };
    const task = app.tasks.get(req.name);
    let reply: ThreadReply;
    if (!task) {
      const err = Object.assign(new Error(req.name), { name: 'NotRegistered', excModule: 'celery.exceptions' });
      reply = { kind: 'failure', error: describe(err), traceback: `NotRegistered: '${req.name}'`, children: [] };
    } else {
      const outcome = await runTask(app, task, req, new RunControl(), msg.limits);
      const children = req.children.map((c) => c.asTuple());
      if (outcome.kind === 'success') reply = { kind: 'success', value: outcome.value, children };
      else if (outcome.kind === 'failure') reply = { kind: 'failure', error: describe(outcome.error), traceback: outcome.traceback, children };
      else if (outcome.kind === 'retry') {
        const { exc: _exc, eta, ...options } = outcome.retry.options;
        reply = {
          kind: 'retry',
          message: outcome.retry.message,
          when: outcome.retry.when,
          exc: outcome.retry.exc ? describe(outcome.retry.exc) : null,
          options: { ...options, ...(eta ? { eta: eta.getTime() } : {}) },
          children,
        };
      } else reply = { kind: 'ignored', children };
    }
    port.postMessage(reply);
  })();
});
