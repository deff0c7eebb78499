/**
 * What a task sends becomes its child (parent id, root id, `children`):
 * from a plain function's synchronous code, from an async function after its
 * awaits, and from a plain function's promise callbacks with asyncContext.
 * Each describe has an app of its own: an app keeps the AsyncLocalStorage on
 * once an async task ran on it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncResult, Celeriac } from '../../src/index.js';

const T = { timeout: 5 };

function appWithTasks(queue: string) {
  const app = new Celeriac({ broker: 'memory://', backend: 'memory://', logLevel: 'silent', defaultQueue: queue });
  const add = app.task('ctx.add', (x: number, y: number) => x + y);
  /** Sends add(x, x) from its synchronous code (the message leaves after it returned) and returns the child's id. */
  const plainSender = app.task('ctx.plain_sender', (x: number) => add.delay(x, x).then((r) => r.id));
  /** Awaits first, then sends add(x, x). */
  const asyncSender = app.task('ctx.async_sender', async (x: number) => {
    await new Promise((r) => setTimeout(r, 5));
    return (await add.delay(x, x)).id;
  });
  /** A plain function that sends from a promise callback. */
  const callbackSender = (asyncContext: boolean) =>
    app.task(`ctx.callback_sender_${asyncContext}`, (x: number) => new Promise((r) => setTimeout(r, 5)).then(async () => (await add.delay(x, x)).id), { asyncContext });
  return { app, add, plainSender, asyncSender, callbackSender };
}

/** How the child with `childId` is linked to `parent`: the parent id its message carried (stored in its meta, as Celery does) and whether the parent lists it. */
async function childOf(app: Celeriac, parent: AsyncResult, childId: string): Promise<{ parentId: unknown; inChildren: boolean }> {
  const backend = await app.resultBackend();
  await app.asyncResult(childId).get(T);
  const children = (await parent.children()).map((c) => c.id);
  const meta = (await backend.getMeta(childId)) as unknown as { parent_id?: string };
  return { parentId: meta.parent_id ?? null, inChildren: children.includes(childId) };
}

/** An app with the tasks and a worker, for one describe block. */
function withWorker(queue: string): ReturnType<typeof appWithTasks> {
  const t = appWithTasks(queue);
  beforeAll(() => t.app.worker({ concurrency: 4 }).then(() => undefined));
  afterAll(() => t.app.close());
  return t;
}

/** Run `sender(x)`; how the child it sent is linked to it, and whether that is the link a child has. */
async function sentBy(app: Celeriac, sender: { delay(x: number): Promise<AsyncResult> }, x: number): Promise<{ parentId: unknown; inChildren: boolean; linked: boolean }> {
  const r = await sender.delay(x);
  const child = await childOf(app, r, (await r.get(T)) as string);
  return { ...child, linked: child.parentId === r.id && child.inChildren };
}

describe('with plain functions only', () => {
  const t = withWorker('ctx-plain');

  it("a plain function's synchronous send is its child", async () => {
    expect((await sentBy(t.app, t.plainSender, 2)).linked).toBe(true);
  });

  it("a plain function's promise callbacks send as their own roots unless it sets asyncContext", async () => {
    expect(await sentBy(t.app, t.callbackSender(false), 3)).toEqual({ parentId: null, inChildren: false, linked: false });
  });
});

describe('with async functions and asyncContext', () => {
  const t = withWorker('ctx-async');

  it("an async function's send after an await is its child", async () => {
    expect((await sentBy(t.app, t.asyncSender, 4)).linked).toBe(true);
  });

  it("with asyncContext a plain function's promise callbacks send as its children", async () => {
    expect((await sentBy(t.app, t.callbackSender(true), 5)).linked).toBe(true);
  });

  it('tasks running side by side each see their own request', async () => {
    const links = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => sentBy(t.app, x % 2 ? t.asyncSender : t.plainSender, x)));
    expect(links.map((l) => l.linked)).toEqual([true, true, true, true, true, true]);
  });
});

describe('asyncContext default', () => {
  it('is on for async functions and off for plain ones', () => {
    const { plainSender, asyncSender } = appWithTasks('ctx-defaults');
    expect(asyncSender.options.asyncContext).toBe(true);
    expect(plainSender.options.asyncContext).toBe(false);
  });
});
