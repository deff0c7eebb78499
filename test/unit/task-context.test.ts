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

describe('with plain functions only', () => {
  const t = appWithTasks('ctx-plain');
  beforeAll(() => t.app.worker({ concurrency: 4 }).then(() => undefined));
  afterAll(() => t.app.close());

  it("a plain function's synchronous send is its child", async () => {
    const r = await t.plainSender.delay(2);
    const id = (await r.get(T)) as string;
    expect(await childOf(t.app, r, id)).toEqual({ parentId: r.id, inChildren: true });
  });

  it("a plain function's promise callbacks send as their own roots unless it sets asyncContext", async () => {
    const r = await t.callbackSender(false).delay(3);
    const id = (await r.get(T)) as string;
    const child = await childOf(t.app, r, id);
    expect(child.parentId).toBeNull();
    expect(child.inChildren).toBe(false);
  });
});

describe('with async functions and asyncContext', () => {
  const t = appWithTasks('ctx-async');
  beforeAll(() => t.app.worker({ concurrency: 4 }).then(() => undefined));
  afterAll(() => t.app.close());

  it("an async function's send after an await is its child", async () => {
    const r = await t.asyncSender.delay(4);
    const id = (await r.get(T)) as string;
    expect(await childOf(t.app, r, id)).toEqual({ parentId: r.id, inChildren: true });
  });

  it("with asyncContext a plain function's promise callbacks send as its children", async () => {
    const r = await t.callbackSender(true).delay(5);
    const id = (await r.get(T)) as string;
    expect(await childOf(t.app, r, id)).toEqual({ parentId: r.id, inChildren: true });
  });

  it('tasks running side by side each see their own request', async () => {
    const rs = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => (x % 2 ? t.asyncSender : t.plainSender).delay(x)));
    for (const r of rs) {
      const id = (await r.get(T)) as string;
      expect(await childOf(t.app, r, id)).toEqual({ parentId: r.id, inChildren: true });
    }
  });
});

describe('asyncContext default', () => {
  it('is on for async functions and off for plain ones', () => {
    const { plainSender, asyncSender } = appWithTasks('ctx-defaults');
    expect(asyncSender.options.asyncContext).toBe(true);
    expect(plainSender.options.asyncContext).toBe(false);
  });
});
