/** More of canvas-semantics.md: construction, accessors, results and task-side APIs. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncResult, chain, Chord, chord, ConfigurationError, fromDict, group, GroupResult, IncompleteStream, ResultSet, Signature, type TaskContext } from '../../src/index.js';
import { makeApp } from '../support/tasks.js';
import { until } from '../../src/testing/poll.js';

const t = makeApp();
const { app, add, sub, tsum, identity } = t;
const T = { timeout: 5 };

beforeAll(async () => {
  await app.worker({ concurrency: 8 });
});
afterAll(() => app.close());

describe('construction and accessors (C-002, C-004, C-012, C-014, C-015)', () => {
  it('signature(sig) clones; signature(dict) rebuilds', () => {
    const s = add.s(1, 2);
    const c = app.signature(s);
    expect(c).not.toBe(s);
    expect(c.toDict()).toEqual(s.toDict());
    expect(app.signature(s.toDict()).toDict()).toEqual(s.toDict());
  });
  it('id, name, parentId and rootId are derived and generate nothing until frozen', () => {
    const s = add.s(1, 1);
    expect(s.id).toBeNull();
    expect(s.name).toBe('tasks.add');
    s.freeze({ rootId: 'r', parentId: 'p' });
    expect(s.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(s.rootId).toBe('r');
    expect(s.parentId).toBe('p');
  });
  it('set returns the same signature; set immutable on a group changes every member, on a chord only the header', () => {
    const s = add.s(2, 2);
    expect(s.set({ countdown: 1 })).toBe(s);
    const g = group(add.s(1), add.s(2)).set({ immutable: true });
    expect(g.tasks.every((m) => m.immutable)).toBe(true);
    const c = chord([add.s(1)], tsum.s()).set({ immutable: true });
    expect(c.header.tasks[0].immutable).toBe(true);
    expect(c.body!.immutable).toBe(false);
  });
  it('replace swaps whole sections', () => {
    expect(add.s(1).replace({ args: [9, 9] }).args).toEqual([9, 9]);
    expect(add.s(1).set({ countdown: 3 }).replace({ options: { queue: 'q' } }).options).toEqual({ queue: 'q' });
  });
  it('an immutable clone ignores partial args but merges options (C-008, C-013)', () => {
    const c = add.si(2, 2).clone({ args: [9], countdown: 5 });
    expect(c.args).toEqual([2, 2]);
    expect(c.options.countdown).toBe(5);
  });
  it('a signature for a task not registered here can still be sent (C-003)', async () => {
    const r = await app.signature('elsewhere.only').applyAsync();
    expect(r).toBeInstanceOf(AsyncResult);
  });
});

describe('results (C-080, C-088, C-141, C-145, C-146, C-148, C-153)', () => {
  it('a GroupResult equals its id; its children are its results', async () => {
    const r = await group(add.s(1, 1), add.s(2, 2)).delay();
    expect(String(r)).toBe(r.id);
    expect(r.equals(r.id)).toBe(true);
    expect(await r.children()).toEqual(r.results);
    expect(await r.get(T)).toEqual([2, 4]);
  });
  it('group members carry the group id in their metas (C-070)', async () => {
    const r = await group(add.s(1, 1), add.s(2, 2)).delay();
    await r.get(T);
    for (const m of r.results) expect((await (m as AsyncResult).meta()).group_id).toBe(r.id);
  });
  it('ResultSet add skips duplicates, remove throws when absent, discard does not', async () => {
    const a = await add.delay(1, 1);
    const b = await add.delay(2, 2);
    const rs = new ResultSet([a], app);
    rs.add(a);
    rs.add(b);
    expect(rs.length).toBe(2);
    expect(await rs.get(T)).toEqual([2, 4]);
    rs.remove(a);
    expect(() => rs.remove(a)).toThrow();
    rs.discard(a);
    rs.update([a, b]);
    expect(rs.results.map((r) => r.id)).toEqual([b.id, a.id]);
  });
  it('the tuple form round-trips with parents (C-146)', async () => {
    const r = await chain(add.s(1, 1), add.s(1)).delay();
    const back = app.resultFromTuple(JSON.parse(JSON.stringify(r.asTuple())));
    expect(back.id).toBe(r.id);
    expect(back.parent!.id).toBe(r.parent!.id);
    const g = await group(add.s(1, 1)).delay();
    expect(app.resultFromTuple(g.asTuple())).toBeInstanceOf(GroupResult);
  });
  it('a task returning a result object stores its tuple form', async () => {
    const spawner = app.task('more.spawner', async () => (await add.delay(1, 1)).asTuple());
    const v = (await (await spawner.delay()).get(T)) as unknown[];
    expect(Array.isArray(v)).toBe(true);
  });
  it('graph() on an unfinished result raises IncompleteStream (C-148)', async () => {
    const r = await t.sleepy.delay(1, 0.3);
    await expect(r.graph()).rejects.toBeInstanceOf(IncompleteStream);
    await r.get(T);
  });
  it('get() inside a task refuses to wait (C-153)', async () => {
    const waiter = app.task('more.waiter', async () => (await add.delay(1, 1)).get(T));
    await expect((await waiter.delay()).get(T)).rejects.toThrow('Never call result.get() within a task');
  });
  it('RETRY then SUCCESS are visible states (C-141, C-144)', async () => {
    const seen: string[] = [];
    const slowRetry = app.task('more.slow_retry', (self: TaskContext) => {
      if (self.request.retries === 0) self.retry({ countdown: 1 });
      return 'ok';
    }, { bind: true });
    const r = await slowRetry.delay();
    await until('the RETRY state', async () => (await r.state()) === 'RETRY');
    seen.push(await r.state());
    seen.push(String(await r.get(T)));
    seen.push(await r.state());
    expect(seen).toEqual(['RETRY', 'ok', 'SUCCESS']);
  });
  it('a chord body’s parent is the header group, and chord.id is the group id (C-103, C-105)', async () => {
    const c = chord([add.s(1, 1), add.s(2, 2)], tsum.s());
    const r = await c.applyAsync([], {}, { taskId: 'body-id-1' });
    expect(r.id).toBe('body-id-1');
    expect(r.parent).toBeInstanceOf(GroupResult);
    expect(r.parent!.id).toBe(c.id);
    expect(await r.get(T)).toBe(6);
  });
  it('a header of one still gives the body a list (C-107)', async () => {
    const addToAll = app.task('more.add_to_all', (xs: number[], n: number) => xs.map((x) => x + n));
    expect(await (await chord([add.s(2, 5)], addToAll.s(9)).delay()).get(T)).toEqual([16]);
    expect(await (await group(add.s(2, 5)).pipe(addToAll.s(9)).delay()).get(T)).toEqual([16]);
  });
  it('a group whose only member is a chain ending in a group gives the inner list (C-072)', async () => {
    expect(await (await group(add.s(1, 2).pipe(group(add.s(1), add.s(2)))).delay()).get(T)).toEqual([[4, 5]]);
  });
  it('a chain of one returns that task’s result (C-051)', async () => {
    expect(await (await chain(add.s(3, 4)).delay()).get(T)).toBe(7);
  });
  it('chain link_error survives merging into a bigger chain (C-036)', () => {
    const inner = chain(add.s(1, 1), add.s(1));
    inner.linkError(t.onError.s());
    const outer = chain(inner, add.s(2));
    expect(JSON.stringify(outer)).toContain('tasks.on_error');
    expect(inner.tasks[0].options.link_error).toBeUndefined();
  });
});

describe('task-side APIs (C-130, C-170, C-171)', () => {
  it('addToChord grows the running chord: the body gets 4 values', async () => {
    const grower = app.task('more.grower', async (self: TaskContext, x: number) => {
      for (const i of [10, 20, 30]) await self.addToChord(identity.si(i));
      return x;
    }, { bind: true });
    expect(await (await chord([grower.s(1)], identity.s()).delay()).get(T)).toEqual([1, 10, 20, 30]);
  });
  it('replace with an empty chain is refused', async () => {
    const bad = app.task('more.bad_replace', async (self: TaskContext) => self.replace(chain()), { bind: true });
    await expect((await bad.delay()).get(T)).rejects.toThrow('Cannot replace with an empty chain');
  });
  it('replace with a group gives the list in order (C-170)', async () => {
    const toGroup = app.task('more.to_group', async (self: TaskContext, n: number) => self.replace(group([1, 2, 3].map((i) => add.si(i, n)))), { bind: true });
    expect(await (await toGroup.delay(10)).get(T)).toEqual([11, 12, 13]);
  });
  it('the replacement keeps the callbacks: link on a replaced task still fires with its value', async () => {
    const toSub = app.task('more.to_sub', async (self: TaskContext) => self.replace(sub.s(10, 4)), { bind: true });
    const r = await toSub.applyAsync([], {}, { link: add.s(100) });
    expect(await r.get(T)).toBe(6);
    const [callback] = await r.children();
    expect(await callback.get(T)).toBe(106);
  });
  it('chain() with a bound-less empty chain cannot be sent without an app', async () => {
    await expect(new Signature({ task: 'x' }).applyAsync()).rejects.toBeInstanceOf(ConfigurationError);
  });
});

describe('celery.chord_unlock, the polling fallback Python clients may send (C-116)', () => {
  it('fires the body once every header result is ready', async () => {
    const header = await group(add.s(1, 1), add.s(2, 2)).delay();
    const body = tsum.s();
    body.freeze();
    await app.sendTask('celery.chord_unlock', [header.id, body.toDict()], { result: header.results.map((r) => r.asTuple()) });
    expect(await app.asyncResult(body.id!).get(T)).toBe(6);
  });
  it('a rebuilt chord dict sends like the original', async () => {
    const c = fromDict(JSON.parse(JSON.stringify(chord([add.s(1, 1)], tsum.s()))), app) as Chord;
    expect(await (await c.delay()).get(T)).toBe(2);
  });
});
