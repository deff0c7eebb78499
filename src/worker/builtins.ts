/** Celery's built-in tasks (celery-wire.md §7), registered in every worker. */
import { Chord, fromDict, Group, xstarmap, splitChunks, type Signature } from '../canvas/index.js';
import { ChordError, excRepr, serializeException, type SignatureDict } from '../protocol/index.js';
import { Continuation } from './continuation.js';
import type { Celeriac } from '../app.js';
import type { TaskContext } from '../worker/request.js';

/** Register celery.map, celery.starmap, celery.chunks, celery.chord_unlock, celery.accumulate, celery.chain, celery.group, celery.chord. */
export function registerBuiltins(app: Celeriac): void {
  if (app.tasks.has('celery.map')) return;
  const inner = (task: unknown): Signature => fromDict(task as SignatureDict, app);

  app.task('celery.map', async (task: unknown, it: unknown[]) => {
    const sig = inner(task);
    const out: unknown[] = [];
    for (const item of it) out.push(await app.callInline(sig.task, [item, ...sig.args], sig.kwargs));
    return out;
  }, { params: ['task', 'it'] });

  app.task('celery.starmap', async (task: unknown, it: unknown[][]) => {
    const sig = inner(task);
    const out: unknown[] = [];
    for (const item of it) out.push(await app.callInline(sig.task, [...item, ...sig.args], sig.kwargs));
    return out;
  }, { params: ['task', 'it'] });

  app.task('celery.chunks', async (task: unknown, it: unknown[][], n: number) => {
    const sig = inner(task);
    const g = new Group(splitChunks(it, n).map((part) => xstarmap(sig, part, app)), {}, app);
    const r = await g.applyAsync();
    return r.asTuple();
  }, { params: ['task', 'it', 'n'] });

  app.task(
    'celery.accumulate',
    (...args: unknown[]) => {
      const last = args[args.length - 1];
      const kw = last && typeof last === 'object' && !Array.isArray(last) && 'index' in last ? (args.pop() as { index: number | null }) : { index: null };
      return kw.index === null || kw.index === undefined ? args : args[kw.index];
    },
    { params: [], acceptsKwargs: true },
  );

  app.task(
    'celery.chord_unlock',
    async (self: TaskContext, groupId: string, body: unknown, kwargs: Record<string, unknown> = {}) => {
      const results = ((kwargs.result as unknown[]) ?? []).map((t) => app.resultFromTuple(t as never));
      for (const r of results) {
        if (!(await r.ready())) self.retry({ countdown: 1, maxRetries: null });
      }
      const values: unknown[] = [];
      for (const r of results) {
        const v = await r.get({ propagate: false, allowInsideTask: true });
        if (v instanceof Error) {
          const info = serializeException(v);
          const err = new ChordError(`Dependency ${r.id} raised ${excRepr(info.exc_type, info.exc_message as unknown[])}`);
          await new Continuation(app).failBody(self.request, fromDict(body as SignatureDict, app), err);
          return null;
        }
        values.push(v);
      }
      void groupId;
      await fromDict(body as SignatureDict, app).applyAsync([values]);
      return null;
    },
    { bind: true, params: ['group_id', 'body'], acceptsKwargs: true, ignoreResult: true },
  );

  app.task('celery.chain', () => {
    throw new Error('NotImplementedError: chains are never sent as a celery.chain message');
  }, { params: [], acceptsKwargs: true });

  app.task('celery.group', async (tasks: unknown[], result: unknown, groupId: string, partialArgs: unknown[] = []) => {
    const g = new Group(tasks.map(inner), { task_id: groupId }, app);
    void result;
    await g.applyAsync(partialArgs);
    return null;
  }, { params: ['tasks', 'result', 'group_id', 'partial_args'], acceptsKwargs: true });

  app.task('celery.chord', async (header: unknown, body: unknown, partialArgs: unknown[] = []) => {
    const h = Array.isArray(header) ? header.map(inner) : inner(header);
    await new Chord(h as Group, inner(body), {}, app).applyAsync(partialArgs);
    return null;
  }, { params: ['header', 'body', 'partial_args'], acceptsKwargs: true });
}
