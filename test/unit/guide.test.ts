/**
 * Every example of the Canvas guide (shared/seed/canvas.rst), with the guide's
 * numbers, run through real protocol messages on memory://.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncResult, chain, chord, ChordError, group, GroupResult, Signature } from '../../src/index.js';
import { makeApp } from '../support/tasks.js';
import { until } from '../../src/testing/poll.js';

const t = makeApp();
const { app, add, mul, xsum, tsum, sub } = t;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

beforeAll(async () => {
  await app.worker({ concurrency: 8 });
});
afterAll(() => app.close());

describe('Signatures', () => {
  it("signature('tasks.add', args=(2, 2), countdown=10) keeps args and options", () => {
    const s = app.signature('tasks.add', { args: [2, 2], countdown: 10 });
    expect(s.toString()).toBe('tasks.add(2, 2)');
    expect(s.options).toEqual({ countdown: 10 });
  });

  it('add.signature((2, 2), {debug: true}, countdown=10) exposes args, kwargs, options', () => {
    const s = add.signature([2, 2], { debug: true }, { countdown: 10 });
    expect(s.args).toEqual([2, 2]);
    expect(s.kwargs).toEqual({ debug: true });
    expect(s.options).toEqual({ countdown: 10 });
  });

  it('add(2, 2) and add.s(2, 2)() run inline: 4', async () => {
    expect(await add.call(2, 2)).toBe(4);
    expect(await add.s(2, 2).call()).toBe(4);
  });

  it('add.delay(2, 2).get() is 4', async () => {
    expect(await (await add.delay(2, 2)).get({ timeout: 5 })).toBe(4);
  });

  it('apply_async with countdown and signature().set(countdown=1) run later with the same value', async () => {
    const r1 = await add.applyAsync([2, 2], {}, { countdown: 0.05 });
    const r2 = await add.s(2, 2).set({ countdown: 0.05 }).delay();
    expect(await r1.get({ timeout: 5 })).toBe(4);
    expect(await r2.get({ timeout: 5 })).toBe(4);
  });

  it('partial: add.s(2).delay(4) is add(4, 2); sub shows the order', async () => {
    expect(await (await add.s(2).delay(4)).get({ timeout: 5 })).toBe(6);
    expect(await (await sub.s(10).delay(30)).get({ timeout: 5 })).toBe(20);
    expect(await (await sub.s(10).applyAsync([30])).get({ timeout: 5 })).toBe(20);
  });

  it('partial kwargs merge: s.delay(z=10)', async () => {
    const s = add.s(2, 2);
    expect(await (await s.applyAsync([], { z: 10 })).get({ timeout: 5 })).toBe(14);
  });

  it('options merge: countdown 10 overridden by 1 at apply', () => {
    const s = add.signature([2, 2], {}, { countdown: 10 });
    const c = s.clone({ countdown: 1 });
    expect(c.options.countdown).toBe(1);
    expect(s.options.countdown).toBe(10);
  });

  it('clone prepends args: add.s(2).clone(args=(4,), kwargs={z: 1}) is add(4, 2, z=1)', () => {
    const c = add.s(2).clone({ args: [4], kwargs: { z: 1 } });
    expect(c.args).toEqual([4, 2]);
    expect(c.kwargs).toEqual({ z: 1 });
  });

  it('immutable callback: link=add.si(2, 2) ignores the parent value', async () => {
    const r = await add.applyAsync([2, 2], {}, { link: add.si(10, 10) });
    expect(await r.get({ timeout: 5 })).toBe(4);
    const [child] = await r.children();
    expect(await child.get({ timeout: 5 })).toBe(20);
  });

  it('callbacks: add.apply_async((2, 2), link=add.s(8)) computes add(4, 8) = 12', async () => {
    const r = await add.applyAsync([2, 2], {}, { link: add.s(8) });
    expect(await r.get({ timeout: 5 })).toBe(4);
    const [child] = await r.children();
    expect(await child.get({ timeout: 5 })).toBe(12);
  });

  it('~sig sends and waits', async () => {
    expect(await add.s(3, 4).getValue({ timeout: 5 })).toBe(7);
  });
});

describe('The primitives', () => {
  it('chain(add.s(2, 2), add.s(4), add.s(8)) is 16, also with pipe', async () => {
    expect(await (await chain(add.s(2, 2), add.s(4), add.s(8)).delay()).get({ timeout: 5 })).toBe(16);
    expect(await (await add.s(2, 2).pipe(add.s(4)).pipe(add.s(8)).delay()).get({ timeout: 5 })).toBe(16);
  });

  it('immutable chain (add.si(2, 2) | add.si(4, 4) | add.si(8, 8)) is 16, parents 8 and 4', async () => {
    const res = await chain(add.si(2, 2), add.si(4, 4), add.si(8, 8)).delay();
    expect(await res.get({ timeout: 5 })).toBe(16);
    expect(await res.parent!.get({ timeout: 5 })).toBe(8);
    expect(await res.parent!.parent!.get({ timeout: 5 })).toBe(4);
  });

  it('group(add.s(i, i) for i in range(10)) is [0, 2, ..., 18]', async () => {
    const res = await group(range(10).map((i) => add.s(i, i))).delay();
    expect(await res.get({ timeout: 5 })).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });

  it('chord((add.s(i, i) for i in range(10)), xsum.s()) is 90', async () => {
    expect(await (await chord(range(10).map((i) => add.s(i, i)), xsum.s()).delay()).get({ timeout: 5 })).toBe(90);
  });

  it('c1 = (add.s(4) | mul.s(8)); c1(16) is 160', async () => {
    const c1 = chain(add.s(4), mul.s(8));
    expect(await (await c1.delay(16)).get({ timeout: 5 })).toBe(160);
  });

  it('c2 = (add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8))) is 352', async () => {
    const c2 = add.s(4, 16).pipe(mul.s(2)).pipe(add.s(4).pipe(mul.s(8)));
    expect(await (await c2.delay()).get({ timeout: 5 })).toBe(352);
  });

  it('c3 = (group(add.s(i, i) for i in range(10)) | xsum.s()) is 90', async () => {
    const c3 = group(range(10).map((i) => add.s(i, i))).pipe(xsum.s());
    expect(await (await c3.delay()).get({ timeout: 5 })).toBe(90);
  });

  it('(add.s(4, 4) | group(add.si(i, i) for i in range(10))) returns the group; its parent is 8', async () => {
    const res = (await add.s(4, 4).pipe(group(range(10).map((i) => add.si(i, i)))).delay()) as GroupResult;
    expect(res).toBeInstanceOf(GroupResult);
    expect(res.results).toHaveLength(10);
    expect(res.results.every((r) => typeof r.id === 'string' && r.id.length === 36)).toBe(true);
    expect(await res.get({ timeout: 5 })).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(await res.parent!.get({ timeout: 5 })).toBe(8);
  });

  it('new_user_workflow: a group after a task gets the value in every member, kwargs to the first task', async () => {
    const createUser = app.task('guide.create_user', (username: string, first: string, last: string) => `${first} ${last} (${username})`, {
      params: ['username', 'first', 'last', 'email'],
      acceptsKwargs: true,
    });
    const importContacts = app.task('guide.import_contacts', (user: string) => `contacts of ${user}`);
    const sendWelcome = app.task('guide.send_welcome_email', (user: string) => `welcome ${user}`);
    const wf = createUser.s().pipe(group(importContacts.s(), sendWelcome.s()));
    const res = await wf.applyAsync([], { username: 'artv', first: 'Art', last: 'Vandelay', email: 'art@vandelay.com' });
    expect(await res.get({ timeout: 5 })).toEqual(['contacts of Art Vandelay (artv)', 'welcome Art Vandelay (artv)']);
  });
});

describe('Chains', () => {
  it('res = chain(add.s(4, 4), mul.s(8), mul.s(10))(): 640, parent 64, grandparent 8', async () => {
    const res = await chain(add.s(4, 4), mul.s(8), mul.s(10)).delay();
    expect(await res.get({ timeout: 5 })).toBe(640);
    expect(await res.parent!.get({ timeout: 5 })).toBe(64);
    expect(await res.parent!.parent!.get({ timeout: 5 })).toBe(8);
    expect(res.parent!.parent!.parent).toBeNull();
  });

  it('res.children after link=mul.s(16): [child] and child is 64; collect() yields (r, 4), (child, 64)', async () => {
    const res = await add.applyAsync([2, 2], {}, { link: mul.s(16) });
    expect(await res.get({ timeout: 5 })).toBe(4);
    const children = await res.children();
    expect(children).toHaveLength(1);
    expect(await children[0].get({ timeout: 5 })).toBe(64);
    const seen: Array<[string, unknown]> = [];
    for await (const [r, v] of res.collect()) seen.push([r.id, v]);
    expect(seen).toEqual([
      [res.id, 4],
      [children[0].id, 64],
    ]);
  });

  it('s.link(mul.s(4)); s.link(log_result.s()) both run', async () => {
    const s = add.s(2, 2);
    s.link(mul.s(4));
    s.link(t.record.s());
    const res = await s.delay();
    expect(await res.get({ timeout: 5 })).toBe(4);
    const [g] = await res.children();
    expect(g).toBeInstanceOf(GroupResult);
    expect(await (g as GroupResult).get({ timeout: 5 })).toEqual([16, [4]]);
  });

  it('link_error=log_error.s() runs on failure', async () => {
    t.calls.length = 0;
    const res = await t.fail.applyAsync([], {}, { linkError: t.onError.s() });
    await expect(res.get({ timeout: 5 })).rejects.toThrow('boom');
    await waitFor(() => t.calls.some((c) => c.name === 'on_error'));
    expect(t.calls.find((c) => c.name === 'on_error')!.args[0]).toBe(res.id);
  });

  it('the result graph of chain(add.s(4, 4), mul.s(8), mul.s(10))', async () => {
    const res = await chain(add.s(4, 4), mul.s(8), mul.s(10)).delay();
    await res.get({ timeout: 5 });
    const first = res.parent!.parent as AsyncResult;
    // A step's result is stored after the next step was sent (and, on RabbitMQ, confirmed), so the first can land
    // after the last: wait for both before drawing the graph, as graph() wants every node ready.
    await until('the first two results', async () => (await first.ready()) && (await res.parent!.ready()));
    const graph = await first.graph();
    expect(graph.nodes()).toEqual([first.id, res.parent!.id, res.id]);
    expect(graph.edges()).toEqual([
      [first.id, res.parent!.id],
      [res.parent!.id, res.id],
    ]);
    expect(graph.format()).toBe(`${first.id}(2)\n    ${res.parent!.id}(1)\n        ${res.id}(0)`);
    const dot = graph.toDot();
    expect(dot).toMatch(/^digraph dependencies \{/);
    expect(dot).toContain(`"${first.id}" -> "${res.parent!.id}"`);
  });
});

describe('Groups', () => {
  it('group(add.s(2, 2), add.s(4, 4)) is [4, 8]', async () => {
    expect(await (await group(add.s(2, 2), add.s(4, 4)).delay()).get({ timeout: 5 })).toEqual([4, 8]);
  });

  it('group(add.s(i, i) for i in range(100)) has 100 results', async () => {
    const r = await group(range(100).map((i) => add.s(i, i))).delay();
    expect(r.results).toHaveLength(100);
    expect((await r.get({ timeout: 5 }))[99]).toBe(198);
  });

  it('job of five: ready, successful, get [4, 8, 16, 32, 64], completedCount', async () => {
    const job = group([add.s(2, 2), add.s(4, 4), add.s(8, 8), add.s(16, 16), add.s(32, 32)]);
    const result = await job.applyAsync();
    expect(await result.get({ timeout: 5 })).toEqual([4, 8, 16, 32, 64]);
    expect(await result.ready()).toBe(true);
    expect(await result.successful()).toBe(true);
    expect(await result.failed()).toBe(false);
    expect(await result.waiting()).toBe(false);
    expect(await result.completedCount()).toBe(5);
    expect(await result.revoke()).toBeUndefined();
  });
});

describe('Chords', () => {
  it('chord(add.s(i, i) for i in range(100))(tsum.s()) is 9900', async () => {
    const res = await chord(range(100).map((i) => add.s(i, i))).withBody(tsum.s()).delay();
    expect(await res.get({ timeout: 10 })).toBe(9900);
  });

  it('callback = tsum.s(); header = [...]; chord(header)(callback) is 9900', async () => {
    const callback = tsum.s();
    const header = range(100).map((i) => add.s(i, i));
    const result = await chord(header).withBody(callback).delay();
    expect(await result.get({ timeout: 10 })).toBe(9900);
  });

  it('error handling: chord([add.s(4, 4), raising_task.s(), add.s(8, 8)]) raises ChordError naming the dependency', async () => {
    const c = chord([add.s(4, 4), t.fail.s(), add.s(8, 8)], tsum.s());
    const result = await c.delay();
    let err: unknown;
    try {
      await result.get({ timeout: 5, followParents: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChordError);
    const failing = (result.parent as GroupResult).results[1];
    expect((err as Error).message).toBe(`Dependency ${failing.id} raised ValueError('boom []')`);
    expect(await result.state()).toBe('FAILURE');
  });
});

describe('Map & Starmap', () => {
  it('~xsum.map([range(10), range(100)]) is [45, 4950]', async () => {
    expect(await xsum.map([range(10), range(100)]).getValue({ timeout: 5 })).toEqual([45, 4950]);
  });

  it('~add.starmap(zip(range(10), range(10))) is [0, 2, ..., 18]', async () => {
    expect(await add.starmap(range(10).map((i) => [i, i] as [number, number])).getValue({ timeout: 5 })).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });

  it('starmap with countdown', async () => {
    const r = await add.starmap(range(10).map((i) => [i, i] as [number, number])).applyAsync([], {}, { countdown: 0.05 });
    expect((await r.get({ timeout: 5 }))[9]).toBe(18);
  });
});

describe('Chunks', () => {
  const pairs = range(100).map((i) => [i, i] as [number, number]);

  it('add.chunks(zip(range(100), range(100)), 10)() is the 10×10 matrix', async () => {
    const res = await add.chunks(pairs, 10).delay();
    const matrix = await res.get({ timeout: 5 });
    expect(matrix).toEqual(range(10).map((row) => range(10).map((col) => 2 * (row * 10 + col))));
  });

  it('chunks(...).group().skew(start=1, stop=10) sets countdowns 1..10', () => {
    const g = add.chunks(pairs, 10).group().skew({ start: 1, stop: 10 });
    expect(g.tasks.map((s) => s.options.countdown)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(g.tasks.every((s: Signature) => s.task === 'celery.starmap')).toBe(true);
  });

  it('a skewed chunks group still returns the matrix', async () => {
    const g = add.chunks(pairs.slice(0, 20), 10).group().skew({ start: 0.01, stop: 0.05, step: 0.01 });
    expect(await (await g.delay()).get({ timeout: 5 })).toEqual([range(10).map((i) => 2 * i), range(10).map((i) => 2 * (i + 10))]);
  });
});

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
