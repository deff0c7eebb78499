/**
 * Compile-time budget: a 20-link chain (and a 20-step pipe) must type-check,
 * with every link checked, without hitting the compiler's depth limits.
 * `npx tsc --noEmit -p . --extendedDiagnostics` shows the cost; the typed
 * canvas should stay a small share of the project's instantiations.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { AsyncResult, Celeriac, Chain, Signature, chain } from '../../src/index.js';

const app = new Celeriac({ broker: 'memory://', backend: 'memory://' });
const add = app.task('tasks.add', (x: number, y: number) => x + y);
const mul = app.task('tasks.mul', (x: number, y: number) => x * y);
const toStr = app.task('tasks.to_str', (n: number) => String(n));
const len = app.task('tasks.len', (s: string) => s.length);
const upper = app.task('tasks.upper', (s: string) => s.toUpperCase());
const notify = app.task('tasks.notify', (channel: string) => `sent to ${channel}`);

describe('compile-time budget', () => {
  it('a 20-link chain type-checks and is typed by its last link', () => {
    const c = chain(
      add.s(1, 1),
      mul.s(2),
      toStr.s(),
      len.s(),
      add.s(1),
      notify.si('ops'),
      upper.s(),
      len.s(),
      mul.s(2),
      toStr.s(),
      len.s(),
      add.s(1),
      notify.si('ops'),
      upper.s(),
      len.s(),
      mul.s(2),
      toStr.s(),
      len.s(),
      add.s(1),
      toStr.s(),
    );
    expectTypeOf(c).toEqualTypeOf<Chain<[], string, AsyncResult<string>>>();
  });

  it('the 20th link is still checked', () => {
    void chain(
      add.s(1, 1),
      mul.s(2),
      toStr.s(),
      len.s(),
      add.s(1),
      notify.si('ops'),
      upper.s(),
      len.s(),
      mul.s(2),
      toStr.s(),
      len.s(),
      add.s(1),
      notify.si('ops'),
      upper.s(),
      len.s(),
      mul.s(2),
      toStr.s(),
      len.s(),
      add.s(1),
      // @ts-expect-error a number into s: string, at link 20
      upper.s(),
    );
  });

  it('a 20-step pipe type-checks', () => {
    const p = add
      .s(1, 1)
      .pipe(mul.s(2))
      .pipe(toStr.s())
      .pipe(len.s())
      .pipe(add.s(1))
      .pipe(notify.si('ops'))
      .pipe(upper.s())
      .pipe(len.s())
      .pipe(mul.s(2))
      .pipe(toStr.s())
      .pipe(len.s())
      .pipe(add.s(1))
      .pipe(notify.si('ops'))
      .pipe(upper.s())
      .pipe(len.s())
      .pipe(mul.s(2))
      .pipe(toStr.s())
      .pipe(len.s())
      .pipe(add.s(1))
      .pipe(toStr.s());
    expectTypeOf(p).toEqualTypeOf<Signature<[], string, AsyncResult<string>>>();
  });
});
