/**
 * Type tests for chains and `pipe`: each step's value is prepended to the
 * next step's args, so a step must accept the previous value as its one
 * missing argument (or be immutable). A step that does not fit fails to
 * compile; the chain produces what its last step produces.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { AsyncResult, Celeriac, Chain, GroupResult, Signature, chain, group, type AnyResult, type AnySignature, type InOf, type OutOf, type ResOf } from '../../src/index.js';

const app = new Celeriac({ broker: 'memory://', backend: 'memory://' });
const add = app.task('tasks.add', (x: number, y: number) => x + y);
const mul = app.task('tasks.mul', (x: number, y: number) => x * y);
const sub = app.task('tasks.sub', (x: number, y: number) => x - y);
const add3 = app.task('tasks.add3', (x: number, y: number, z: number = 0) => x + y + z);
const xsum = app.task('tasks.xsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
const toStr = app.task('tasks.to_str', (n: number) => String(n));
const upper = app.task('tasks.upper', (s: string) => s.toUpperCase());
const len = app.task('tasks.len', async (s: string) => s.length);
const repeat = app.task('tasks.repeat', (s: string, n: number) => s.repeat(n));
const identity = app.task('tasks.identity', <T>(x: T) => x);
const notify = app.task('tasks.notify', (channel: string) => `sent to ${channel}`);

describe('chain', () => {
  it('chain(add.s(2, 2), mul.s(8)) is a chain needing nothing and producing a number', () => {
    const c = chain(add.s(2, 2), mul.s(8));
    expectTypeOf(c).toEqualTypeOf<Chain<[], number, AsyncResult<number>>>();
    expectTypeOf(c.delay()).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(c.delay()).resolves.toHaveProperty('get').returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(c.call()).toEqualTypeOf<Promise<number>>();
  });

  it('a chain needs what its first step needs', () => {
    const c = chain(sub.s(10), mul.s(2));
    expectTypeOf<InOf<typeof c>>().toEqualTypeOf<[x: number]>();
    expectTypeOf(c.delay(30)).toEqualTypeOf<Promise<AsyncResult<number>>>();
    // @ts-expect-error the first step still needs x
    void c.delay();
  });

  it('2 to 6 links, typed by the last one', () => {
    expectTypeOf(chain(add.s(1, 1), toStr.s())).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
    expectTypeOf(chain(add.s(1, 1), toStr.s(), upper.s())).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
    expectTypeOf(chain(add.s(1, 1), toStr.s(), upper.s(), len.s())).toEqualTypeOf<Chain<[], number, AsyncResult<number>>>();
    expectTypeOf(chain(add.s(1, 1), toStr.s(), upper.s(), len.s(), mul.s(3))).toEqualTypeOf<Chain<[], number, AsyncResult<number>>>();
    expectTypeOf(chain(add.s(1, 1), toStr.s(), upper.s(), len.s(), mul.s(3), toStr.s())).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
  });

  it('the guide chain add.s(2, 2) | add.s(4) | add.s(8) produces a number', () => {
    expectTypeOf(chain(add.s(2, 2), add.s(4), add.s(8)).delay()).resolves.toEqualTypeOf<AsyncResult<number>>();
  });

  it('a step that cannot take the previous value fails to compile', () => {
    // @ts-expect-error a string into x: number
    void chain(add.s(2, 2), toStr.s(), mul.s(2));
    // @ts-expect-error a number into s: string
    void chain(add.s(2, 2), upper.s());
    // @ts-expect-error the mismatch is found at any position
    void chain(add.s(2, 2), mul.s(2), mul.s(2), mul.s(2), toStr.s(), toStr.s());
  });

  it('a step that would still need more than the previous value fails to compile', () => {
    // @ts-expect-error mul.s() needs x and y; the chain gives only x
    void chain(add.s(2, 2), mul.s());
    // @ts-expect-error add.s(1, 1) is complete: the value would be one arg too many
    void chain(add.s(2, 2), add.s(1, 1));
  });

  it('partial args fill trailing parameters: repeat.s(3) takes the previous string as s', () => {
    expectTypeOf(chain(toStr.s(7), repeat.s(3))).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
    // @ts-expect-error repeat.s('x') would put the number into s: string
    void chain(add.s(1, 1), repeat.s('x'));
  });

  it('an optional parameter may take the previous value', () => {
    // add3(x, y, z = 0): add3.s(1, 2) is complete, yet can still take x (and then 1, 2 are y, z).
    expectTypeOf(chain(add.s(1, 1), add3.s(1, 2))).toEqualTypeOf<Chain<[], number, AsyncResult<number>>>();
    expectTypeOf<InOf<ReturnType<typeof chain<[ReturnType<typeof add3.s<[number, number]>>]>>>>().toEqualTypeOf<[] | [x: number]>();
  });

  it('immutable .si() steps fit after anything and need nothing', () => {
    expectTypeOf(chain(toStr.s(1), add.si(2, 2))).toEqualTypeOf<Chain<[], number, AsyncResult<number>>>();
    expectTypeOf(chain(add.s(1, 1), notify.si('ops'), upper.s())).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
    expectTypeOf(chain(add.si(1, 1), mul.s(2))).toEqualTypeOf<Chain<[], number, AsyncResult<number>>>();
    // @ts-expect-error an immutable first step takes no args
    void chain(add.si(1, 1), mul.s(2)).delay(5);
  });

  it('a value the compiler knows nothing about (a generic task, a by-name signature) fits', () => {
    expectTypeOf(chain(identity.s(42), mul.s(2))).toEqualTypeOf<Chain<[], number, AsyncResult<number>>>();
    expectTypeOf(chain(app.signature('tasks.opaque'), mul.s(2))).toEqualTypeOf<Chain<unknown[], number, AsyncResult<number>>>();
    expectTypeOf(chain(add.s(1, 1), app.signature('tasks.opaque'))).toEqualTypeOf<Chain<[], unknown, AnyResult>>();
    // @ts-expect-error still one argument: a complete step has no room for it
    void chain(identity.s(42), add.s(1, 1));
  });

  it('every typed signature is an AnySignature', () => {
    expectTypeOf(sub.s(10)).toExtend<AnySignature>();
    expectTypeOf(chain(add.s(1, 1), toStr.s())).toExtend<AnySignature>();
    expectTypeOf(group(add.s(1, 1))).toExtend<AnySignature>();
    expectTypeOf(add.si(1, 1)).toExtend<AnySignature>();
  });

  it('a chain ending in a group produces the group result', () => {
    const c = chain(add.s(2, 2), group(mul.s(2), mul.s(3)));
    expectTypeOf(c).toEqualTypeOf<Chain<[], number[], GroupResult<number[]>>>();
    expectTypeOf(c.delay()).resolves.toEqualTypeOf<GroupResult<number[]>>();
    expectTypeOf(c.delay()).resolves.toHaveProperty('get').returns.toEqualTypeOf<Promise<number[]>>();
    // @ts-expect-error every group member gets the value: upper.s() cannot take a number
    void chain(add.s(2, 2), group(mul.s(2), upper.s()));
  });

  it('a group followed by a step becomes a chord: the step takes the list of values', () => {
    expectTypeOf(chain(group(add.s(1, 1), add.s(2, 2)), xsum.s())).toEqualTypeOf<Chain<[], number, AsyncResult<number>>>();
    expectTypeOf(chain(add.s(2, 2), group(mul.s(2), mul.s(3)), xsum.s(), toStr.s())).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
    // @ts-expect-error the step after a group gets number[], not a number
    void chain(group(add.s(1, 1), add.s(2, 2)), mul.s(2));
  });

  it('a chain nests in a chain as one step', () => {
    const inner = chain(mul.s(2), toStr.s());
    expectTypeOf(inner).toEqualTypeOf<Chain<[x: number], string, AsyncResult<string>>>();
    expectTypeOf(chain(add.s(1, 1), inner, upper.s())).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
    expectTypeOf(chain(inner, upper.s())).toEqualTypeOf<Chain<[x: number], string, AsyncResult<string>>>();
    // @ts-expect-error the inner chain's first step needs a number
    void chain(toStr.s(1), inner);
    // @ts-expect-error the inner chain produces a string
    void chain(add.s(1, 1), inner, mul.s(2));
  });

  it('a chain spread from a list is typed by its element type (links of unknown count are not checked)', () => {
    const steps = Array.from({ length: 3 }, () => mul.s(2));
    expectTypeOf(chain(...steps)).toEqualTypeOf<Chain<[x: number], number, AsyncResult<number>>>();
  });

  it('OutOf and ResOf of a chain are its last step’s', () => {
    type C = Chain<[], string, AsyncResult<string>>;
    expectTypeOf<OutOf<C>>().toEqualTypeOf<string>();
    expectTypeOf<ResOf<C>>().toEqualTypeOf<AsyncResult<string>>();
  });
});

describe('pipe (Celery’s |)', () => {
  it('the result follows the right operand and needs what the left needs', () => {
    expectTypeOf(add.s(2, 2).pipe(mul.s(8))).toEqualTypeOf<Signature<[], number, AsyncResult<number>>>();
    expectTypeOf(sub.s(10).pipe(toStr.s())).toEqualTypeOf<Signature<[x: number], string, AsyncResult<string>>>();
    expectTypeOf(add.s(2, 2).pipe(mul.s(8)).pipe(toStr.s()).delay()).resolves.toEqualTypeOf<AsyncResult<string>>();
  });

  it('a right operand that cannot take the left value fails to compile', () => {
    // @ts-expect-error a number into s: string
    void add.s(2, 2).pipe(upper.s());
    // @ts-expect-error the left is a chain producing a string
    void chain(add.s(1, 1), toStr.s()).pipe(mul.s(2));
  });

  it('immutable right operands fit', () => {
    expectTypeOf(toStr.s(1).pipe(add.si(1, 1))).toEqualTypeOf<Signature<[], number, AsyncResult<number>>>();
  });

  it('group | body is a chord: the body takes the list of values', () => {
    expectTypeOf(group(add.s(1, 1), add.s(2, 2)).pipe(xsum.s())).toEqualTypeOf<Signature<[], number, AsyncResult<number>>>();
    // @ts-expect-error the body gets number[]
    void group(add.s(1, 1), add.s(2, 2)).pipe(mul.s(2));
  });

  it('x | group produces the group result', () => {
    expectTypeOf(add.s(1, 1).pipe(group(mul.s(2), mul.s(3))).delay()).resolves.toEqualTypeOf<GroupResult<number[]>>();
  });

  it('x | chain needs the chain to take x’s value', () => {
    expectTypeOf(add.s(1, 1).pipe(chain(mul.s(2), toStr.s()))).toEqualTypeOf<Signature<[], string, AsyncResult<string>>>();
    // @ts-expect-error the chain’s first step needs a string
    void add.s(1, 1).pipe(chain(upper.s(), len.s()));
  });
});
