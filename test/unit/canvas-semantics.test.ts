/**
 * canvas-semantics.md as tests (C-0xx), the 15 hardest among them (§O).
 * Uses `sub` where argument order matters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncResult, chain, Chain, chord, Chord, ChordError, fromDict, group, Group, GroupResult, Signature, TaskError } from '../../src/index.js';
import { makeApp } from '../support/tasks.js';
import { until } from '../../src/testing/poll.js';

const t = makeApp();
const { app, add, sub, mul, tsum, identity, echo, fail, calls } = t;
const T = { timeout: 5 };

beforeAll(async () => {
  await app.worker({ concurrency: 8 });
});
afterAll(() => app.close());

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('O.1 prepend order everywhere (C-009, C-101)', () => {
  it('partial args are prepended: sub.s(10).delay(30) is 20', async () => {
    expect(await (await sub.s(10).delay(30)).get(T)).toBe(20);
  });
  it('a chain parent value is prepended: chain(add.s(5, 5), sub.s(3)) is 7', async () => {
    expect(await (await chain(add.s(5, 5), sub.s(3)).delay()).get(T)).toBe(7);
  });
  it('a link callback gets the parent value first', async () => {
    const r = await add.applyAsync([20, 20], {}, { link: sub.s(1) });
    await r.get(T);
    expect(await (await r.children())[0].get(T)).toBe(39);
  });
  it('the chord list comes before the body partial args (C-101)', async () => {
    const r = await chord([add.s(1, 1)], echo.s('extra')).delay();
    expect(await r.get(T)).toEqual([[2], 'extra']);
  });
});

describe('O.2 group upgraded to chord, every path the same (C-032, C-035, C-052)', () => {
  it('group | task is a chord', () => {
    expect(group(add.s(1, 1), add.s(2, 2)).pipe(tsum.s())).toBeInstanceOf(Chord);
  });
  it('pipe, the chain constructor and a deserialized chain all give 22', async () => {
    const g = group([0, 1, 2, 3].map((i) => add.s(i)));
    const viaPipe = add.s(2, 2).pipe(g).pipe(tsum.s());
    const viaCtor = chain(add.s(2, 2), g, tsum.s());
    const viaDict = fromDict(JSON.parse(JSON.stringify(viaCtor)), app);
    for (const c of [viaPipe, viaCtor, viaDict]) {
      const res = await c.delay();
      expect(await res.get(T)).toBe(22);
      expect(res.parent).toBeInstanceOf(GroupResult);
      expect(res.parent!.parent).toBeInstanceOf(AsyncResult);
    }
  });
  it('a group followed by a group: each member of the second gets the list (C-035)', async () => {
    const res = await chain(add.s(1, 1), group(add.s(1), add.s(2)), group(echo.s(10), echo.s(20))).delay();
    expect(await res.get(T)).toEqual([
      [[3, 4], 10],
      [[3, 4], 20],
    ]);
  });
});

describe('O.3 a group of one (C-034)', () => {
  it('in a chain it unrolls: the next task gets a scalar', async () => {
    expect(await (await chain(group(add.s(1, 1)), echo.s()).delay()).get(T)).toEqual([2]);
  });
  it('group(a) | b is a chord: b gets a one-item list', async () => {
    expect(await (await group(add.s(1, 1)).pipe(echo.s()).delay()).get(T)).toEqual([[2]]);
  });
  it('sent directly it is still a group (C-064)', async () => {
    const r = await group(add.s(1, 1)).delay();
    expect(r).toBeInstanceOf(GroupResult);
    expect(await r.get(T)).toEqual([2]);
  });
});

describe('O.4 nested groups in a chord header are flattened in order (C-108, deliberate)', () => {
  it('[a, group(b, c, d), e] gives [2, 4, 6, 8, 10], not Celery 5.2.6’s reversed [2, 8, 6, 4, 10]', async () => {
    const res = await chord([add.s(1, 1), group(add.s(2, 2), add.s(3, 3), add.s(4, 4)), add.s(5, 5)], identity.s()).delay();
    expect(await res.get(T)).toEqual([2, 4, 6, 8, 10]);
  });
  it('results come back in definition order whatever the completion order (C-061, C-101)', async () => {
    const res = await chord([0, 1, 2, 3, 4].map((i) => t.sleepy.s(i, 0.1 - 0.02 * i)), identity.s()).delay();
    expect(await res.get(T)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('O.5/O.6 chord completion with mixed outcomes (C-115, C-119, C-121, C-122)', () => {
  it('the body does not run; other header tasks run; ChordError names the first failure in header order', async () => {
    const late = app.task('sem.late_fail', async () => {
      await new Promise((r) => setTimeout(r, 100));
      const e = new Error('late');
      e.name = 'KeyError';
      throw e;
    });
    const res = await chord([late.s(), fail.s(), add.s(1, 1)], tsum.s()).delay();
    const header = res.parent as GroupResult;
    await expect(res.get({ ...T, followParents: false })).rejects.toThrow(`Dependency ${header.results[0].id} raised KeyError('late')`);
    expect(await header.results[2].get(T)).toBe(2);
    expect(await header.results[1].state()).toBe('FAILURE');
  });
  it('get() raises the original header exception; followParents false shows the ChordError', async () => {
    const res = await chord([add.s(4, 4), fail.s(), add.s(8, 8)], tsum.s()).delay();
    const err = await res.get(T).catch((e: Error) => e);
    expect((err as Error).name).toBe('ValueError');
    expect((err as Error).message).toBe('boom []');
    const chordErr = await res.get({ ...T, followParents: false }).catch((e: Error) => e);
    expect(chordErr).toBeInstanceOf(ChordError);
    expect(await res.result()).toBeInstanceOf(ChordError);
  });
  it('a REVOKED header member fails the chord too (C-120)', async () => {
    const r1 = add.s(1, 1);
    const c = chord([r1, add.s(2, 2).set({ countdown: 3 })], tsum.s());
    const res = await c.delay();
    const header = res.parent as GroupResult;
    await header.results[1].revoke();
    await expect(res.get({ ...T, followParents: false })).rejects.toThrow(/TaskRevokedError\('revoked'\)/);
  });
});

describe('O.7/O.8 errbacks: conventions and where they land (C-029, C-046, C-047, C-066, C-067, C-113, C-123)', () => {
  it('a chain errback is on every task but fires once, with the failing task id', async () => {
    calls.length = 0;
    const c = chain(add.s(1, 2), fail.s(), add.s(3, 4)).onError(t.onError.s());
    const res = await c.delay();
    await expect(res.get(T)).rejects.toThrow('boom [3]');
    await waitFor(() => calls.some((x) => x.name === 'on_error'));
    await new Promise((r) => setTimeout(r, 50));
    const errCalls = calls.filter((x) => x.name === 'on_error');
    expect(errCalls).toHaveLength(1);
    expect(errCalls[0].args[0]).toBe(res.parent!.id);
  });
  it('an old-style errback is sent as a task with the failed id first', async () => {
    calls.length = 0;
    const res = await fail.applyAsync([], {}, { linkError: t.oldErr.s() });
    await expect(res.get(T)).rejects.toThrow();
    await waitFor(() => calls.some((x) => x.name === 'old_err'));
    expect(calls.find((x) => x.name === 'old_err')!.args).toEqual([res.id]);
  });
  it('group.link_error lands on every member: two failures, two calls', async () => {
    calls.length = 0;
    const g = group(fail.si(1), fail.si(2), add.si(1, 1));
    g.linkError(t.onError.s());
    const r = await g.delay();
    await r.join({ ...T, propagate: false });
    await waitFor(() => calls.filter((x) => x.name === 'on_error').length === 2);
  });
  it('group.link lands on the first member only, as an immutable clone', async () => {
    calls.length = 0;
    const g = group(add.si(1, 1), add.si(2, 2));
    g.link(t.record.s('gl'));
    expect(g.tasks[0].options.link).toHaveLength(1);
    expect(g.tasks[1].options.link).toBeUndefined();
    await (await g.delay()).get(T);
    await waitFor(() => calls.some((x) => x.name === 'record'));
    expect(calls.find((x) => x.name === 'record')!.args).toEqual(['gl']);
  });
  it('chord.link_error fires once on the body with the ChordError; chain.link attaches to the last task', async () => {
    calls.length = 0;
    const c = chord([add.s(1, 1), fail.s(), fail.s()], tsum.s());
    c.linkError(t.onError.s());
    const res = await c.delay();
    await expect(res.get({ ...T, followParents: false })).rejects.toBeInstanceOf(ChordError);
    await waitFor(() => calls.some((x) => x.name === 'on_error'));
    await new Promise((r) => setTimeout(r, 50));
    const errCalls = calls.filter((x) => x.name === 'on_error');
    expect(errCalls).toHaveLength(1);
    expect(errCalls[0].args[0]).toBe(res.id);
    expect(errCalls[0].args[1]).toBe('ChordError');
    const ch = chain(add.s(1, 1), add.s(2));
    ch.link(t.record.s('k'));
    calls.length = 0;
    await (await ch.delay()).get(T);
    await waitFor(() => calls.some((x) => x.name === 'record'));
    expect(calls.find((x) => x.name === 'record')!.args).toEqual([4, 'k']);
  });
  it('an errback that throws is logged and the worker keeps working (C-031)', async () => {
    const boom = app.task('sem.boom_errback', (_r: unknown, _e: unknown, _tb: unknown) => {
      throw new Error('errback exploded');
    }, { errback: true });
    const res = await fail.applyAsync([], {}, { linkError: boom.s() });
    await expect(res.get(T)).rejects.toThrow('boom');
    expect(await (await add.delay(1, 1)).get(T)).toBe(2);
  });
});

describe('O.9 a failure mid-chain is written under later ids (C-048)', () => {
  it('later results are FAILURE with the same exception; earlier stay SUCCESS', async () => {
    const res = await chain(add.s(1, 2), fail.s(), add.s(3, 4)).delay();
    await expect(res.get(T)).rejects.toThrow('boom [3]');
    // As in Celery, a step's result is stored after the next step was sent: the first SUCCESS may land after the failure.
    await until('every step to be ready', async () => (await res.ready()) && (await res.parent!.ready()) && (await res.parent!.parent!.ready()));
    expect(await res.state()).toBe('FAILURE');
    expect(await res.parent!.state()).toBe('FAILURE');
    expect(await res.parent!.parent!.state()).toBe('SUCCESS');
    const err = (await res.result()) as TaskError;
    expect(err.name).toBe('ValueError');
    expect(err.message).toBe('boom [3]');
  });
});

describe('O.10 a failing header with a chain or group body (C-125, C-126, deliberate fix)', () => {
  it('every body result of a chain body becomes terminal', async () => {
    const res = await group(add.s(1, 1), fail.s()).pipe(identity.s()).pipe(identity.s()).delay();
    await expect(res.get({ ...T, followParents: false })).rejects.toBeInstanceOf(ChordError);
    await until('the first body step to be ready', () => res.parent!.ready());
    expect(await res.state()).toBe('FAILURE');
    expect(await res.parent!.state()).toBe('FAILURE');
  });
  it('every member of a group body becomes terminal', async () => {
    const res = (await chord([add.s(1, 1), fail.s()], group(identity.s(), tsum.s())).delay()) as unknown as GroupResult;
    await expect(res.join({ ...T, propagate: true })).rejects.toBeInstanceOf(ChordError);
    expect(await res.ready()).toBe(true);
  });
});

describe('O.11 freezing fixes ids before sending (C-016, C-017, C-045)', () => {
  it('s.freeze().id is the id delay() uses', async () => {
    const s = add.s(2, 2);
    const r = s.freeze();
    expect((await s.delay()).id).toBe(r.id);
  });
  it('a chain with taskId gives the last task that id; the chain id is the last id', async () => {
    const c = chain(add.s(1, 1), add.s(1));
    const r = await c.applyAsync([], {}, { taskId: 'fixed-id-1' });
    expect(r.id).toBe('fixed-id-1');
    expect(await r.get(T)).toBe(3);
  });
  it('chord.freeze returns the body result whose parent is the header group; chord.id is the group id', () => {
    const c = chord([add.s(1, 1), add.s(2, 2)], tsum.s());
    const r = c.freeze();
    expect(r.id).toBe(c.body!.id);
    expect(r.parent).toBeInstanceOf(GroupResult);
    expect(r.parent!.id).toBe(c.id);
  });
  it('a frozen chord sends with the frozen ids', async () => {
    const c = chord([add.s(1, 1), add.s(2, 2)], tsum.s());
    const frozen = c.freeze();
    const sent = await c.delay();
    expect(sent.id).toBe(frozen.id);
    expect(await sent.get(T)).toBe(6);
  });
  it('chain parents link back (C-043, C-044): each step is its predecessor’s child', async () => {
    const ch = await chain(add.s(1, 1), add.s(1), add.s(1)).delay();
    await ch.get(T);
    const kids = await ch.parent!.parent!.children();
    expect(kids.map((k) => k.id)).toEqual([ch.parent!.id]);
  });
});

describe('O.12 partial args and kwargs through primitives (C-041, C-062, C-104)', () => {
  it('a chain passes them to its first task only', async () => {
    const r = await chain(add.s(1), add.s(2)).applyAsync([10], { z: 100 });
    expect(await r.get(T)).toBe(113);
    expect(await r.parent!.get(T)).toBe(111);
  });
  it('a group passes them to every mutable member; immutable ones ignore them', async () => {
    expect(await (await group(add.s(1), add.s(2)).delay(10)).get(T)).toEqual([11, 12]);
    expect(await (await group(add.si(1, 1), add.s(2)).delay(10)).get(T)).toEqual([2, 12]);
  });
  it('a chord passes them to the header, not the body (kwargs forwarded, as Celery 5.3+)', async () => {
    expect(await (await chord([add.s(1), add.s(2)], tsum.s()).delay(10)).get(T)).toBe(23);
    expect(await (await chord([add.s(1), add.s(2)], tsum.s()).applyAsync([10], { z: 100 })).get(T)).toBe(223);
  });
});

describe('O.13 options merge rules (C-011, C-008, C-037)', () => {
  it('null call options are ignored; group_id is protected', () => {
    const s = add.s(1, 1).set({ priority: 5, groupId: 'A' });
    const c = s.clone({ priority: undefined, groupId: 'B' });
    expect(c.options.priority).toBe(5);
    expect(c.options.group_id).toBe('A');
  });
  it('clones do not share link lists', () => {
    const s = add.s(1, 1);
    s.link(mul.s(2));
    const c = s.clone();
    c.link(mul.s(3));
    expect((s.options.link as unknown[]).length).toBe(1);
    expect((c.options.link as unknown[]).length).toBe(2);
  });
  it('pipe does not change its operands', () => {
    const x = chain(add.s(1, 1), add.s(1));
    const before = JSON.stringify(x);
    x.pipe(add.s(5));
    expect(JSON.stringify(x)).toBe(before);
  });
  it('link twice with the same signature keeps one (C-018)', () => {
    const s = add.s(2, 2);
    s.link(mul.s(4));
    s.link(mul.s(4));
    expect(s.options.link).toHaveLength(1);
  });
});

describe('O.14 the chord counter (C-115…C-118)', () => {
  // Only sizes are counted here; these canvases are never sent, so untyped signatures stand in.
  const anySig = () => app.signature('tasks.add');
  it('sizes follow nested groups, chains and chords', () => {
    expect(chord([add.s(), add.s(), add.s()], tsum.s()).size()).toBe(3);
    expect(new Chord(chain(anySig(), anySig(), anySig(), anySig()), tsum.s()).size()).toBe(4);
    expect(chord([chain(add.s(1), group(anySig(), anySig(), anySig(), anySig())), chain(add.s(1), group(anySig(), anySig(), anySig(), anySig()))], anySig()).size()).toBe(8);
    expect(chord([chord([anySig(), anySig(), anySig(), anySig(), anySig()], group(anySig(), anySig(), anySig()))], anySig()).size()).toBe(3);
  });
  it('a header chain contributes its final value; a chain ending in a group its list (C-109)', async () => {
    expect(await (await chord([chain(add.s(1, 1), add.s(1)), add.s(5, 5)], identity.s()).delay()).get(T)).toEqual([3, 10]);
    expect(await (await chord([chain(identity.s(42), group(identity.s(), identity.s()))], identity.s()).delay()).get(T)).toEqual([[42, 42]]);
  });
  it('a nested chord contributes its body value (C-109)', async () => {
    const res = await chord([chord([add.s(1, 2), add.s(3, 4)], tsum.s()), chord([add.s(6, 7)], tsum.s())], identity.s()).delay();
    expect(await res.get(T)).toEqual([10, 13]);
  });
  it('header tasks that ignore their results still complete the chord (C-117)', async () => {
    const ign = app.task('sem.ign', (x: number) => x, { ignoreResult: true });
    expect(await (await chord([ign.s(1), ign.s(2)], identity.s()).delay()).get(T)).toEqual([1, 2]);
  });
  it('a part reported twice counts once, and the body fires once', async () => {
    const backend = await app.resultBackend();
    await backend.setChordSize('g-dup', 2);
    const meta = (id: string) => ({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: id });
    expect((await backend.store(meta('p1'), { groupId: 'g-dup', groupIndex: 0 })).chord).toEqual({ ready: false });
    expect((await backend.store(meta('p1'), { groupId: 'g-dup', groupIndex: 0 })).chord).toEqual({ ready: false });
    expect((await backend.store(meta('p2'), { groupId: 'g-dup', groupIndex: 1 })).chord?.ready).toBe(true);
    await backend.chordDone('g-dup');
    expect((await backend.store(meta('p2'), { groupId: 'g-dup', groupIndex: 1 })).chord).toEqual({ ready: false });
  });
});

describe('O.15 exceptions rebuilt for the caller (C-160…C-162)', () => {
  it('keeps the type name, module, args and traceback', async () => {
    const custom = app.task('sem.custom', () => {
      class HttpError extends Error {
        override name = 'HttpError';
      }
      throw new HttpError('503 from upstream');
    });
    const r = await custom.delay();
    const err = (await r.get(T).catch((e: unknown) => e)) as TaskError;
    expect(err).toBeInstanceOf(TaskError);
    expect(err.name).toBe('HttpError');
    expect(err.excModule).toBe('celeriac.errors');
    expect(err.excArgs).toEqual(['503 from upstream']);
    expect(err.message).toBe('503 from upstream');
    expect(await r.traceback()).toContain('HttpError: 503 from upstream');
  });
  it('registered error classes come back as instances of themselves', async () => {
    class QuotaError extends Error {
      override name = 'QuotaError';
    }
    const t2 = makeApp({ errors: [QuotaError] });
    t2.app.task('sem.quota', () => {
      throw new QuotaError('over quota');
    });
    await t2.app.worker();
    const r = await t2.app.sendTask('sem.quota');
    const err = await r.get(T).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaError);
    expect((err as Error).message).toBe('over quota');
    await t2.app.close();
  });
});

describe('more chain, group and chord behaviour', () => {
  it('a chord inside a chain passes its body value on: 107 (C-054)', async () => {
    const res = await chain(add.s(1, 1), chord([add.s(1), add.s(2)], tsum.s()), add.s(100)).delay();
    expect(await res.get(T)).toBe(107);
    expect(res.parent).toBeInstanceOf(AsyncResult);
    expect(res.parent!.parent).toBeInstanceOf(GroupResult);
    expect(res.parent!.parent!.parent).toBeInstanceOf(AsyncResult);
  });
  it('several chords in a chain: 12 (C-056)', async () => {
    const c = add.si(1, 0).pipe(group(add.s(1), add.s(1))).pipe(tsum.s()).pipe(add.s(1)).pipe(group(add.s(1), add.s(1))).pipe(tsum.s());
    expect(await (await c.delay()).get(T)).toBe(12);
  });
  it('groups mid-chain inside groups do not leak state: [42, 42] and [14, 14] (C-055)', async () => {
    expect(await (await chain(identity.s(42), group(identity.s(), identity.s()), identity.s()).delay()).get(T)).toEqual([42, 42]);
    expect(await (await add.s(5, 6).pipe(group(add.s(1).pipe(add.s(2)), add.s(3))).delay()).get(T)).toEqual([14, 14]);
  });
  it('nested groups flatten (C-063) and nesting of chain-ending groups is kept (C-073)', async () => {
    expect(await (await group(add.si(1, 10), group(add.si(1, 100), group(add.si(1, 1000), add.si(1, 2000)))).delay()).get(T)).toEqual([11, 101, 1001, 2001]);
    const r = await group(identity.si(1), identity.si(2), chain(identity.si(5), group(identity.si(3), identity.si(4)))).delay();
    expect(await r.get(T)).toEqual([1, 2, [3, 4]]);
  });
  it('chord bodies: a group body (C-110), a chord body (C-111), a chain body (C-112)', async () => {
    expect(await (await chord([add.s(1, 1), add.s(2, 2)], group(identity.s(), tsum.s())).delay()).get(T)).toEqual([[2, 4], 6]);
    expect(await (await chord([add.s(1, 1), add.s(2, 2)], chord([identity.s(), identity.s()], identity.s())).delay()).get(T)).toEqual([
      [2, 4],
      [2, 4],
    ]);
    const res = await chord([add.s(1, 1), add.s(2, 2)], tsum.s().pipe(add.s(100))).delay();
    expect(await res.get(T)).toBe(106);
  });
  it('an empty header runs the body with [] (C-106); an immutable body gets no values (C-102)', async () => {
    expect(await (await chord([], identity.s()).delay()).get(T)).toEqual([]);
    expect(await (await group([]).pipe(identity.s()).delay()).get(T)).toEqual([]);
    expect(await (await chord([add.s(1, 1), add.s(2, 2)], echo.si('fixed')).delay()).get(T)).toEqual(['fixed']);
  });
  it('an empty chain sends nothing; an empty group is an empty frozen GroupResult (C-050, C-068)', async () => {
    expect(await new Chain([], {}, app).applyAsync()).toBeNull();
    const g = await new Group([], {}, app).applyAsync();
    expect(g.results).toEqual([]);
    expect(g.id).toMatch(/^[0-9a-f-]{36}$/);
  });
  it('a group cannot take link at send time (C-065)', async () => {
    await expect(group(add.s(1, 1)).applyAsync([], {}, { link: add.s(1) })).rejects.toThrow('Cannot add link to group: use a chord');
  });
  it('a chord of a chain header runs the chain members in parallel (C-100)', async () => {
    const c = new Chord(chain(add.s(1, 1), add.s(2, 2), add.s(3, 3)), tsum.s(), {}, app);
    expect(c.header.tasks).toHaveLength(3);
    expect(await (await c.delay()).get(T)).toBe(12);
  });
  it('a failing body gives the body’s own exception (C-127)', async () => {
    await expect((await chord([add.s(1, 1), add.s(2, 2)], fail.s()).delay()).get(T)).rejects.toThrow('boom [[2,4]]');
  });
  it('map and starmap run inside groups (C-137)', async () => {
    expect(await (await group(identity.map([1, 2]), add.starmap([[1, 1]])).delay()).get(T)).toEqual([[1, 2], [2]]);
  });
  it('chunks inside a chain runs as a celery.chunks message', async () => {
    const res = await chain(add.si(0, 0), add.chunks([[1, 1], [2, 2], [3, 3]], 2).set({ immutable: true })).delay();
    const tuple = await res.get(T);
    expect(Array.isArray(tuple)).toBe(true);
  });
});

describe('signatures as data (C-001, C-006, C-007, C-020)', () => {
  it('the dict form has the six keys and round-trips through JSON', () => {
    const s = add.s(1).set({ countdown: 3 }).onError(tsum.si([1]));
    const d = JSON.parse(JSON.stringify(s));
    expect(Object.keys(d).sort()).toEqual(['args', 'immutable', 'kwargs', 'options', 'subtask_type', 'task']);
    expect(d.options.link_error[0]).toEqual({ task: 'tasks.tsum', args: [[1]], kwargs: {}, options: {}, subtask_type: null, immutable: true });
    const back = fromDict(d, app);
    expect(JSON.stringify(back)).toBe(JSON.stringify(s));
  });
  it('chains, groups and chords rebuild as themselves; map stays a plain signature', () => {
    expect(fromDict(JSON.parse(JSON.stringify(add.s(1, 1).pipe(add.s(2)))), app)).toBeInstanceOf(Chain);
    expect(fromDict(JSON.parse(JSON.stringify(group(add.s(1, 1)))), app)).toBeInstanceOf(Group);
    expect(fromDict(JSON.parse(JSON.stringify(chord([add.s(1, 1)], tsum.s()))), app)).toBeInstanceOf(Chord);
    const m = fromDict(JSON.parse(JSON.stringify(identity.map([1]))), app);
    expect(m).toBeInstanceOf(Signature);
    expect(m.task).toBe('celery.map');
  });
  it('repr formats', () => {
    expect(add.s(2, 2).toString()).toBe('tasks.add(2, 2)');
    expect(chain(add.s(2), mul.s(3)).toString()).toBe('tasks.add(2) | mul(3)');
    expect(chord([add.s(1, 1)], tsum.s()).toString()).toBe('%tasks.tsum([tasks.add(1, 1)])');
  });
});

describe('results (C-080…C-088, C-140…C-153)', () => {
  it('GroupResult: ready/waiting/failed/successful, completedCount counts successes, join order', async () => {
    const r = await group(add.s(2, 2), fail.s(), t.sleepy.s(7, 1)).delay();
    await until('the failure to be stored', () => r.failed());
    expect(await r.ready()).toBe(false);
    expect(await r.waiting()).toBe(true);
    expect(await r.failed()).toBe(true);
    expect(await r.successful()).toBe(false);
    const values = await r.join({ ...T, propagate: false });
    expect(values[0]).toBe(4);
    expect((values[1] as unknown as Error).message).toBe('boom []');
    expect(values[2]).toBe(7);
    expect(await r.completedCount()).toBe(2);
    await expect(r.get(T)).rejects.toThrow('boom []');
  });
  it('save, restore and delete (C-086)', async () => {
    const r = await group([0, 1, 2].map((i) => add.s(i, i))).delay();
    await r.save();
    const back = await app.restoreGroup(r.id);
    expect(back!.results.map((x) => x.id)).toEqual(r.results.map((x) => x.id));
    expect(await back!.join(T)).toEqual([0, 2, 4]);
    await r.delete();
    expect(await app.restoreGroup(r.id)).toBeNull();
  });
  it('unknown ids read PENDING; forget drops the result (C-142, C-149)', async () => {
    expect(await app.asyncResult('nonexistent-id').state()).toBe('PENDING');
    const r = await add.delay(1, 1);
    await r.get(T);
    await r.forget();
    expect(await app.asyncResult(r.id).state()).toBe('PENDING');
  });
  it('get times out with TimeoutError (C-143)', async () => {
    const r = await t.sleepy.delay(1, 0.5);
    await expect(r.get({ timeout: 0.05 })).rejects.toThrow('The operation timed out.');
  });
  it('a revoked task reads REVOKED and raises TaskRevokedError (C-150)', async () => {
    const r = await add.applyAsync([1, 1], {}, { countdown: 3 });
    await r.revoke();
    await expect(r.get(T)).rejects.toThrow('revoked');
    expect(await r.state()).toBe('REVOKED');
  });
  it('an expired task is REVOKED with "expired"', async () => {
    const r = await add.applyAsync([1, 1], {}, { countdown: 0.1, expires: 0.05 });
    await expect(r.get(T)).rejects.toThrow('expired');
  });
  it('retry: RETRY between retries, then SUCCESS', async () => {
    const r = await t.flaky.delay(5);
    expect(await r.get(T)).toBe(5);
  });
  it('a task that sends a group has it among its children (C-071)', async () => {
    const parent = app.task('sem.spawner', async () => {
      const g = await group(add.s(1, 1), add.s(2, 2)).delay();
      return g.id;
    });
    const r = await parent.delay();
    const gid = await r.get(T);
    const kids = await r.children();
    expect(kids.map((k) => k.id)).toEqual([gid]);
  });
  it('replace: chain(identity.s(42), replace_with_chain.s(), identity.s()) is 42 (C-170)', async () => {
    const replacer = app.task('sem.replacer', async (self, x: number) => self.replace(chain(identity.s(x), identity.s())), { bind: true });
    expect(await (await chain(identity.s(42), replacer.s(), identity.s()).delay()).get(T)).toBe(42);
  });
  it('updateState stores a custom state that get() keeps waiting through', async () => {
    const progress = app.task('sem.progress', async (self, n: number) => {
      await self.updateState('PROGRESS', { done: 1, total: n });
      await new Promise((r) => setTimeout(r, 1000));
      return n;
    }, { bind: true });
    const r = await progress.delay(3);
    await until('the PROGRESS state', async () => (await r.state()) === 'PROGRESS');
    expect(await r.state()).toBe('PROGRESS');
    expect(await r.result()).toEqual({ done: 1, total: 3 });
    expect(await r.get(T)).toBe(3);
  });
});
