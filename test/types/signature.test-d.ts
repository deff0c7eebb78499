/**
 * Type tests: a task's parameter and return types flow into its signatures,
 * partials, sends and results. Failures are `// @ts-expect-error` lines: if
 * one of them ever compiles, the type check fails.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { AsyncResult, Celeriac, Chunks, EagerResult, GroupResult, Signature, Task, type Immutable, type InOf, type OutOf, type ResOf, type TaskContext } from '../../src/index.js';

const app = new Celeriac({ broker: 'memory://', backend: 'memory://' });
const add = app.task('tasks.add', (x: number, y: number) => x + y);
const sub = app.task('tasks.sub', (x: number, y: number) => x - y);
const add3 = app.task('tasks.add3', (x: number, y: number, z: number = 0) => x + y + z);
const xsum = app.task('tasks.xsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
const repeat = app.task('tasks.repeat', (s: string, n: number) => s.repeat(n));
const echo = app.task('tasks.echo', (...a: unknown[]) => a);
const fetchUser = app.task('tasks.fetch_user', async (id: number) => ({ id, name: `user ${id}` }));
const double = app.task('tasks.double', (self: TaskContext, x: number) => (self.request.retries ? x : x * 2), { bind: true });

describe('tasks', () => {
  it('a task carries its parameter tuple and its (awaited) return type', () => {
    expectTypeOf(add).toEqualTypeOf<Task<[x: number, y: number], number>>();
    expectTypeOf(xsum).toEqualTypeOf<Task<[xs: number[]], number>>();
  });

  it('an async task function has its Promise unwrapped', () => {
    expectTypeOf(fetchUser).toEqualTypeOf<Task<[id: number], { id: number; name: string }>>();
    expectTypeOf(fetchUser.delay(1)).resolves.toEqualTypeOf<AsyncResult<{ id: number; name: string }>>();
  });

  it('a bound task drops its TaskContext parameter', () => {
    expectTypeOf(double).toEqualTypeOf<Task<[x: number], number>>();
    expectTypeOf(double.s()).toEqualTypeOf<Signature<[x: number], number, AsyncResult<number>>>();
    // @ts-expect-error the context is not an argument
    void double.delay({} as TaskContext, 1);
  });

  it('delay takes exactly the parameters and resolves to an AsyncResult of the return type', () => {
    expectTypeOf(add.delay(2, 2)).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(add3.delay(1, 2)).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(add3.delay).toBeCallableWith(1, 2, 3);
    // @ts-expect-error a missing argument
    void add.delay(2);
    // @ts-expect-error one argument too many
    void add.delay(2, 2, 2);
    // @ts-expect-error a string where a number is needed
    void add.delay('2', 2);
  });

  it('applyAsync checks its args, and switches the check off only for keyword arguments', () => {
    expectTypeOf(add.applyAsync([2, 2])).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(add.applyAsync([2, 2], {}, { countdown: 1 })).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(add.applyAsync([], { x: 2, y: 2 })).toEqualTypeOf<Promise<AsyncResult<number>>>();
    // @ts-expect-error a missing argument
    void add.applyAsync([2]);
    // @ts-expect-error a string where a number is needed
    void add.applyAsync(['2', 2], {}, { countdown: 1 });
    // @ts-expect-error an empty kwargs object does not switch the check off
    void add.applyAsync([2], {});
  });

  it('call runs inline and resolves to the value', () => {
    expectTypeOf(add.call(2, 2)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(fetchUser.call(1)).resolves.toEqualTypeOf<{ id: number; name: string }>();
    // @ts-expect-error a missing argument
    void add.call(2);
  });

  it('apply resolves to an EagerResult of the return type', () => {
    expectTypeOf(add.apply([2, 2])).toEqualTypeOf<Promise<EagerResult<number>>>();
    // @ts-expect-error a string where a number is needed
    void add.apply([2, '2']);
  });
});

describe('signatures', () => {
  it('task.s with every argument needs nothing more', () => {
    const sig = add.s(2, 2);
    expectTypeOf(sig).toEqualTypeOf<Signature<[], number, AsyncResult<number>>>();
    expectTypeOf(sig.delay()).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(sig.call()).toEqualTypeOf<Promise<number>>();
    // @ts-expect-error a complete signature takes no more args
    void sig.delay(1);
  });

  it('a partial signature still needs its leading parameters: sub.s(10).delay(30) is sub(30, 10)', () => {
    const partial = sub.s(10);
    expectTypeOf<InOf<typeof partial>>().toEqualTypeOf<[x: number]>();
    expectTypeOf(partial.delay(30)).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(partial.call(30)).toEqualTypeOf<Promise<number>>();
    // @ts-expect-error x is still needed
    void partial.delay();
    // @ts-expect-error only x is still needed
    void partial.delay(30, 10);
  });

  it('task.s with no args needs every parameter', () => {
    expectTypeOf(sub.s()).toEqualTypeOf<Signature<[x: number, y: number], number, AsyncResult<number>>>();
    expectTypeOf(xsum.s()).toEqualTypeOf<Signature<[xs: number[]], number, AsyncResult<number>>>();
  });

  it('partial args fill trailing parameters, so their types must match those', () => {
    // repeat(s: string, n: number): repeat.s(3) fixes n and still needs s.
    expectTypeOf<InOf<ReturnType<typeof repeat.s<[number]>>>>().toEqualTypeOf<[s: string]>();
    expectTypeOf(repeat.s(3).delay('ab')).toEqualTypeOf<Promise<AsyncResult<string>>>();
    // @ts-expect-error 'ab' would land in n: number
    void repeat.s('ab');
    // @ts-expect-error the still-missing s is a string
    void repeat.s(3).delay(3);
  });

  it('optional parameters make the missing part a union of argument lists', () => {
    expectTypeOf<InOf<ReturnType<typeof add3.s<[number, number]>>>>().toEqualTypeOf<[] | [x: number]>();
    expectTypeOf(add3.s(2, 2).delay).toBeCallableWith();
    expectTypeOf(add3.s(2, 2).delay).toBeCallableWith(1);
    expectTypeOf(add3.s(4).delay).toBeCallableWith(1);
    expectTypeOf(add3.s(4).delay).toBeCallableWith(1, 2);
    // @ts-expect-error more args than the task has
    void add3.s(1, 2, 3, 4);
  });

  it('a variadic task takes any number of args of its parameter type', () => {
    expectTypeOf(echo.s(1, 'a')).toEqualTypeOf<Signature<unknown[], unknown[], AsyncResult<unknown[]>>>();
    expectTypeOf(echo.s().delay).toBeCallableWith(1, 2, 3);
  });

  it('task.si takes every argument and then none: it ignores what it is given', () => {
    const imm = add.si(2, 2);
    expectTypeOf(imm).toEqualTypeOf<Immutable<Signature<[], number, AsyncResult<number>>>>();
    expectTypeOf(imm.delay()).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf<InOf<typeof imm>>().toEqualTypeOf<[]>();
    // @ts-expect-error an immutable signature takes no args
    void imm.delay(1);
    // @ts-expect-error an immutable signature needs all its args up front
    void add.si(2);
    expectTypeOf(add3.si(1, 2)).toEqualTypeOf<Immutable<Signature<[], number, AsyncResult<number>>>>();
  });

  it('task.signature fixes trailing args like .s; immutable needs them all; kwargs switch checks off', () => {
    expectTypeOf(sub.signature([10])).toEqualTypeOf<Signature<[x: number], number, AsyncResult<number>>>();
    expectTypeOf(sub.signature()).toEqualTypeOf<Signature<[x: number, y: number], number, AsyncResult<number>>>();
    expectTypeOf(sub.signature([2, 1], {}, { countdown: 10 })).toEqualTypeOf<Signature<[], number, AsyncResult<number>>>();
    expectTypeOf(sub.signature([2, 1], undefined, { immutable: true })).toEqualTypeOf<Immutable<Signature<[], number, AsyncResult<number>>>>();
    expectTypeOf(sub.signature([], { y: 1 })).toEqualTypeOf<Signature<unknown[], number, AsyncResult<number>>>();
    // @ts-expect-error a string where a number is needed
    void sub.signature(['10']);
    // @ts-expect-error an immutable signature needs all its args
    void sub.signature([1], undefined, { immutable: true });
  });

  it('InOf, OutOf and ResOf read a signature', () => {
    type S = Signature<[x: number], string, AsyncResult<string>>;
    expectTypeOf<InOf<S>>().toEqualTypeOf<[x: number]>();
    expectTypeOf<OutOf<S>>().toEqualTypeOf<string>();
    expectTypeOf<ResOf<S>>().toEqualTypeOf<AsyncResult<string>>();
  });

  it('clone and set keep the signature type', () => {
    expectTypeOf(sub.s(10).clone()).toEqualTypeOf<Signature<[x: number], number, AsyncResult<number>>>();
    expectTypeOf(sub.s(10).set({ countdown: 1 })).toEqualTypeOf<Signature<[x: number], number, AsyncResult<number>>>();
  });

  it('applyAsync on a signature takes what it still needs', () => {
    expectTypeOf(sub.s(10).applyAsync([30], {}, { countdown: 1 })).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(sub.s().applyAsync([], { x: 1, y: 2 })).toEqualTypeOf<Promise<AsyncResult<number>>>();
    // @ts-expect-error x is a number
    void sub.s(10).applyAsync(['30']);
  });
});

describe('map, starmap, chunks', () => {
  it('map calls a one-argument task per item and produces the list of values', () => {
    const m = xsum.map([[1, 2], [3]]);
    expectTypeOf(m).toEqualTypeOf<Immutable<Signature<[], number[], AsyncResult<number[]>>>>();
    expectTypeOf(m.delay()).resolves.toEqualTypeOf<AsyncResult<number[]>>();
    // @ts-expect-error items are the task's one argument (number[])
    void xsum.map([1, 2]);
    // @ts-expect-error add needs two arguments, so it cannot be mapped
    void add.map([1, 2]);
  });

  it('starmap spreads each item as the args', () => {
    const s = add.starmap([
      [1, 2],
      [3, 4],
    ]);
    expectTypeOf(s).toEqualTypeOf<Immutable<Signature<[], number[], AsyncResult<number[]>>>>();
    // @ts-expect-error each item is a full argument list
    void add.starmap([[1]]);
  });

  it('chunks produce a GroupResult with one list per part', () => {
    const c = add.chunks(
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      2,
    );
    expectTypeOf(c).toEqualTypeOf<Immutable<Chunks<number>>>();
    expectTypeOf(c.delay()).resolves.toEqualTypeOf<GroupResult<number[][]>>();
    expectTypeOf(c.group().delay()).resolves.toEqualTypeOf<GroupResult<number[][]>>();
    // @ts-expect-error each item is a full argument list
    void add.chunks([[1, '2']], 2);
  });
});

describe('results', () => {
  it('AsyncResult<number>.get() resolves to a number', () => {
    expectTypeOf<AsyncResult<number>['get']>().returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(add.s(2, 2).getValue()).toEqualTypeOf<Promise<number>>();
  });
  it('GroupResult<number[]>.get() resolves to number[]', () => {
    expectTypeOf<GroupResult<number[]>['get']>().returns.toEqualTypeOf<Promise<number[]>>();
  });
});
