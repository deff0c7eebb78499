/**
 * Type tests for groups and chords: a group produces the list of its
 * members' values (nested groups flattened), every member gets the same
 * args, and a chord body must accept the list of header values.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { AsyncResult, Celeriac, Chain, Chord, Group, GroupResult, chain, chord, group, type AnyResult, type InOf } from '../../src/index.js';

const app = new Celeriac({ broker: 'memory://', backend: 'memory://' });
const add = app.task('tasks.add', (x: number, y: number) => x + y);
const mul = app.task('tasks.mul', (x: number, y: number) => x * y);
const xsum = app.task('tasks.xsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
const toStr = app.task('tasks.to_str', (n: number) => String(n));
const upper = app.task('tasks.upper', (s: string) => s.toUpperCase());
const joinAll = app.task('tasks.join_all', (xs: string[]) => xs.join(','));
const report = app.task('tasks.report', () => 'done');

describe('group', () => {
  it('a group of complete signatures needs nothing and produces number[]', () => {
    const g = group(add.s(1, 1), add.s(2, 2));
    expectTypeOf(g).toEqualTypeOf<Group<[], number[]>>();
    expectTypeOf(g.delay()).toEqualTypeOf<Promise<GroupResult<number[]>>>();
    expectTypeOf(g.delay()).resolves.toHaveProperty('get').returns.toEqualTypeOf<Promise<number[]>>();
  });

  it('group([...]) takes a list, as the guide’s range(10) example does', () => {
    const g = group(Array.from({ length: 10 }, (_, i) => add.s(i, i)));
    expectTypeOf(g).toEqualTypeOf<Group<[], number[]>>();
    expectTypeOf(group([add.s(1, 1)], add.s(2, 2))).toEqualTypeOf<Group<[], number[]>>();
  });

  it('mixed members produce a list of the union of their values', () => {
    expectTypeOf(group(add.s(1, 1), toStr.s(1))).toEqualTypeOf<Group<[], Array<number | string>>>();
  });

  it('nested groups are flattened into the parent’s list (C-063)', () => {
    expectTypeOf(group(add.si(1, 10), group(add.si(1, 100), group(toStr.si(1), add.si(1, 2000))))).toEqualTypeOf<Group<unknown[], Array<number | string>>>();
  });

  it('a chain member ending in a group keeps its list (C-073)', () => {
    expectTypeOf(group(add.s(1, 1), chain(add.s(1, 1), group(mul.s(2), mul.s(3))))).toEqualTypeOf<Group<[], Array<number | number[]>>>();
  });

  it('every member gets the group’s args, so it needs what they all accept', () => {
    const g = group(mul.s(2), mul.s(3));
    expectTypeOf<InOf<typeof g>>().toEqualTypeOf<[x: number]>();
    expectTypeOf(g.delay(5)).resolves.toEqualTypeOf<GroupResult<number[]>>();
    // @ts-expect-error x is needed by every member
    void g.delay();
  });

  it('immutable members ignore the args', () => {
    expectTypeOf<InOf<ReturnType<typeof group<[ReturnType<typeof add.si>, ReturnType<typeof mul.s<[number]>>]>>>>().toEqualTypeOf<[x: number]>();
    expectTypeOf(group(add.si(1, 1), mul.s(2)).delay(10)).resolves.toEqualTypeOf<GroupResult<number[]>>();
    expectTypeOf(group(add.si(1, 1), report.si()).delay).toBeCallableWith('anything', 1);
  });

  it('members that need different args make a group that cannot be sent with any', () => {
    const g = group(mul.s(2), upper.s());
    expectTypeOf<InOf<typeof g>>().toBeNever();
    // @ts-expect-error no value fits both x: number and s: string
    void g.delay(1);
  });

  it('map, starmap and chunks in a group produce their lists', () => {
    expectTypeOf(group(xsum.map([[1, 2]]), add.starmap([[1, 1]]))).toEqualTypeOf<Group<unknown[], number[][]>>();
    expectTypeOf(group(add.chunks([[1, 1]], 1))).toEqualTypeOf<Group<unknown[], number[][][]>>();
  });
});

describe('chord', () => {
  it('chord(header, xsum.s()): the body takes the list of header values; the chord produces the body’s value', () => {
    const c = chord(
      Array.from({ length: 100 }, (_, i) => add.s(i, i)),
      xsum.s(),
    );
    expectTypeOf(c).toEqualTypeOf<Chord<[], number, AsyncResult<number>>>();
    expectTypeOf(c.delay()).resolves.toEqualTypeOf<AsyncResult<number>>();
    expectTypeOf(c.delay()).resolves.toHaveProperty('get').returns.toEqualTypeOf<Promise<number>>();
  });

  it('the header may be a group', () => {
    expectTypeOf(chord(group(add.s(1, 1), add.s(2, 2)), xsum.s())).toEqualTypeOf<Chord<[], number, AsyncResult<number>>>();
  });

  it('a body that cannot take the header values fails to compile', () => {
    // @ts-expect-error the body needs string[], the header gives number[]
    void chord([add.s(1, 1), add.s(2, 2)], joinAll.s());
    // @ts-expect-error the body needs a number, the header gives number[]
    void chord([add.s(1, 1), add.s(2, 2)], toStr.s());
    // @ts-expect-error the same through a group header
    void chord(group(add.s(1, 1), add.s(2, 2)), joinAll.s());
    // @ts-expect-error a complete body has no room for the values
    void chord([add.s(1, 1)], add.s(1, 1));
  });

  it('a body of the right type fits', () => {
    expectTypeOf(chord([toStr.s(1), toStr.s(2)], joinAll.s())).toEqualTypeOf<Chord<[], string, AsyncResult<string>>>();
  });

  it('the chord’s result type follows the body: a chain body, a group body', () => {
    expectTypeOf(chord([add.s(1, 1), add.s(2, 2)], chain(xsum.s(), toStr.s()))).toEqualTypeOf<Chord<[], string, AsyncResult<string>>>();
    expectTypeOf(chord([add.s(1, 1), add.s(2, 2)], group(xsum.s(), xsum.s())).delay()).resolves.toEqualTypeOf<GroupResult<number[]>>();
  });

  it('an immutable body ignores the values (C-102)', () => {
    expectTypeOf(chord([add.s(1, 1)], report.si())).toEqualTypeOf<Chord<[], string, AsyncResult<string>>>();
  });

  it('an empty header gives the body [] (C-106)', () => {
    expectTypeOf(chord([], xsum.s())).toEqualTypeOf<Chord<unknown[], number, AsyncResult<number>>>();
  });

  it('a header needing args makes a chord needing them', () => {
    expectTypeOf(chord([mul.s(2), mul.s(3)], xsum.s()).delay(5)).resolves.toEqualTypeOf<AsyncResult<number>>();
  });

  it('a chord without a body has no result type until withBody', () => {
    expectTypeOf(chord([add.s(1, 1)])).toEqualTypeOf<Chord<[], unknown, AnyResult>>();
  });

  it('a chord is a chain step: it takes the previous value into its header and passes the body’s on', () => {
    expectTypeOf(chain(add.s(1, 1), chord([mul.s(2), mul.s(3)], xsum.s()), toStr.s())).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
    // @ts-expect-error the chord produces a number
    void chain(chord([add.s(1, 1)], xsum.s()), upper.s());
  });
});
