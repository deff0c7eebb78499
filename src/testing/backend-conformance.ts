/**
 * The suite every ResultBackend adapter passes (memory, Redis): one `it` per
 * clause of the contract in `backend/types.ts`. Call it from a test file:
 *
 * ```ts
 * runBackendConformance({ name: 'memory', create: async () => new MemoryBackend() });
 * ```
 */
import { afterEach, describe, expect, it } from 'vitest';
import { celeryDateDone, READY_STATES, States, type ResultBackend, type ResultTuple, type StoreOutcome, type TaskMeta } from '../backend/index.js';
import { newTaskId } from '../protocol/index.js';
import { sleep, until as waitUntil } from './poll.js';

/** Options of `runBackendConformance`. */
export interface BackendConformanceOptions {
  /** Name shown in the suite title. */
  name: string;
  /** Make a fresh backend for one test (the suite connects it and closes it). */
  create: () => Promise<ResultBackend>;
  /** Run after each test, once its backend is closed (e.g. FLUSHDB). Default: nothing. */
  cleanup?: () => Promise<void>;
  /** How long (ms) to wait when checking that nothing more arrives. Default 200. */
  quietPeriod?: number;
  /** How long (ms) to wait for something that must arrive. Default 5000. */
  timeout?: number;
}

/** A meta with Celery's field order. */
function meta(id: string, status: string, result: unknown = null, extra: Partial<TaskMeta> = {}): TaskMeta {
  return {
    status,
    result,
    traceback: null,
    children: [],
    date_done: READY_STATES.has(status) ? celeryDateDone(Date.now()) : null,
    ...extra,
    task_id: id,
  };
}

function ready(o: StoreOutcome): boolean {
  return o.chord !== null && o.chord.ready;
}

function parts(o: StoreOutcome): Array<{ id: string; state: string; result: unknown }> {
  if (!o.chord || !o.chord.ready) throw new Error('chord is not ready');
  return o.chord.parts;
}

/** Define the result backend conformance suite. */
export function runBackendConformance(opts: BackendConformanceOptions): void {
  const quiet = opts.quietPeriod ?? 200;
  const timeout = opts.timeout ?? 5000;

  describe(`ResultBackend conformance: ${opts.name}`, () => {
    let backend: ResultBackend | null = null;

    async function open(): Promise<ResultBackend> {
      backend = await opts.create();
      await backend.connect();
      return backend;
    }

    afterEach(async () => {
      await backend?.close();
      backend = null;
      await opts.cleanup?.();
    });

    const until = (what: string, check: () => boolean): Promise<boolean> => waitUntil(what, check, timeout);

    describe('task metas', () => {
      it('an unknown id is PENDING', async () => {
        const b = await open();
        const id = newTaskId();
        expect(await b.getMeta(id)).toEqual({ status: 'PENDING', result: null, traceback: null, children: [], date_done: null, task_id: id });
      });

      it('a stored meta reads back equal, fields in Celery order', async () => {
        const b = await open();
        const id = newTaskId();
        const m = meta(id, States.SUCCESS, { sum: [1, 2.5, 'x', null, true], nested: { a: 'é' } }, { group_id: newTaskId(), parent_id: newTaskId(), name: 'tasks.add', args: [1, 2], kwargs: { z: 1 }, worker: 'w@h', retries: 0, queue: 'celery' });
        m.children = [[[newTaskId(), null], null]];
        const out = await b.store(m);
        expect(out).toEqual({ stored: true, chord: null });
        const back = await b.getMeta(id);
        expect(back).toEqual(m);
        expect(Object.keys(back)).toEqual(Object.keys(m));
        expect(Object.keys(back)[0]).toBe('status');
        expect(Object.keys(back).at(-1)).toBe('task_id');
      });

      it('a later state replaces an earlier one', async () => {
        const b = await open();
        const id = newTaskId();
        await b.store(meta(id, States.STARTED, { pid: 1, hostname: 'h' }));
        expect((await b.getMeta(id)).status).toBe('STARTED');
        await b.store(meta(id, States.RETRY, { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' }));
        expect((await b.getMeta(id)).status).toBe('RETRY');
        await b.store(meta(id, States.FAILURE, { exc_type: 'ValueError', exc_message: ['y'], exc_module: 'builtins' }));
        const m = await b.getMeta(id);
        expect(m.status).toBe('FAILURE');
        expect(m.result).toEqual({ exc_type: 'ValueError', exc_message: ['y'], exc_module: 'builtins' });
      });

      it('never overwrites a SUCCESS (stored: false)', async () => {
        const b = await open();
        const id = newTaskId();
        expect((await b.store(meta(id, States.SUCCESS, 42))).stored).toBe(true);
        expect((await b.store(meta(id, States.FAILURE, { exc_type: 'ValueError', exc_message: [], exc_module: 'builtins' }))).stored).toBe(false);
        expect((await b.store(meta(id, States.STARTED))).stored).toBe(false);
        expect((await b.store(meta(id, States.SUCCESS, 43))).stored).toBe(false);
        const m = await b.getMeta(id);
        expect(m.status).toBe('SUCCESS');
        expect(m.result).toBe(42);
      });

      it('storeQuietly stores as store does, never over a SUCCESS, and the stores of one turn all land', async () => {
        const b = await open();
        const ids = Array.from({ length: 5 }, () => newTaskId());
        await Promise.all(ids.map((id, i) => b.storeQuietly(meta(id, States.SUCCESS, i))));
        expect((await b.getMetas(ids)).map((m) => [m.status, m.result])).toEqual(ids.map((_, i) => ['SUCCESS', i]));
        await b.storeQuietly(meta(ids[0], States.FAILURE, { exc_type: 'ValueError', exc_message: [], exc_module: 'builtins' }));
        expect((await b.getMeta(ids[0])).status).toBe('SUCCESS');
      });

      it('storeQuietly rejects a meta it cannot write, and the other stores of its turn still land', async () => {
        const b = await open();
        const ok = newTaskId();
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        const bad = meta(newTaskId(), States.SUCCESS, circular);
        const [a, c] = await Promise.allSettled([b.storeQuietly(meta(ok, States.SUCCESS, 1)), b.storeQuietly(bad)]);
        expect(a.status).toBe('fulfilled');
        expect(c.status).toBe('rejected');
        expect((await b.getMeta(ok)).result).toBe(1);
      });

      it('getMetas answers in the order asked, PENDING for unknown ids', async () => {
        const b = await open();
        const [a, c, u] = [newTaskId(), newTaskId(), newTaskId()];
        await b.store(meta(a, States.SUCCESS, 'a'));
        await b.store(meta(c, States.FAILURE, { exc_type: 'E', exc_message: [], exc_module: 'm' }));
        const metas = await b.getMetas([c, u, a, c]);
        expect(metas.map((m) => [m.task_id, m.status])).toEqual([
          [c, 'FAILURE'],
          [u, 'PENDING'],
          [a, 'SUCCESS'],
          [c, 'FAILURE'],
        ]);
        expect(await b.getMetas([])).toEqual([]);
      });

      it('forget deletes a meta: it reads PENDING again', async () => {
        const b = await open();
        const id = newTaskId();
        await b.store(meta(id, States.SUCCESS, 1));
        await b.forget(id);
        expect((await b.getMeta(id)).status).toBe('PENDING');
        await b.forget(id);
      });
    });

    describe('notification', () => {
      it('a subscriber hears every store of its id', async () => {
        const b = await open();
        const id = newTaskId();
        const heard: TaskMeta[] = [];
        const stop = await b.subscribe(id, (m) => heard.push(m));
        await b.store(meta(id, States.STARTED, { pid: 1, hostname: 'h' }));
        await b.store(meta(id, States.SUCCESS, 5));
        await until('two notifications', () => heard.length === 2);
        expect(heard.map((m) => m.status)).toEqual(['STARTED', 'SUCCESS']);
        expect(heard[1]).toEqual(await b.getMeta(id));
        stop();
      });

      it('hears nothing for other ids, nor for a store that kept a SUCCESS', async () => {
        const b = await open();
        const id = newTaskId();
        const heard: TaskMeta[] = [];
        const stop = await b.subscribe(id, (m) => heard.push(m));
        await b.store(meta(newTaskId(), States.SUCCESS, 1));
        await b.store(meta(id, States.SUCCESS, 2));
        await b.store(meta(id, States.FAILURE, { exc_type: 'E', exc_message: [], exc_module: 'm' }));
        await until('one notification', () => heard.length === 1);
        await sleep(quiet);
        expect(heard.map((m) => [m.task_id, m.status])).toEqual([[id, 'SUCCESS']]);
        stop();
      });

      it('every listener of an id hears it; an unsubscribed one no longer does', async () => {
        const b = await open();
        const id = newTaskId();
        const one: TaskMeta[] = [];
        const two: TaskMeta[] = [];
        const stopOne = await b.subscribe(id, (m) => one.push(m));
        const stopTwo = await b.subscribe(id, (m) => two.push(m));
        await b.store(meta(id, States.STARTED));
        await until('both heard it', () => one.length === 1 && two.length === 1);
        stopOne();
        stopOne();
        await b.store(meta(id, States.SUCCESS, 1));
        await until('the second heard it', () => two.length === 2);
        await sleep(quiet);
        expect(one.length).toBe(1);
        stopTwo();
        const late = newTaskId();
        const heard: TaskMeta[] = [];
        const stop = await b.subscribe(late, (m) => heard.push(m));
        stop();
        await b.store(meta(late, States.SUCCESS, 1));
        await sleep(quiet);
        expect(heard.length).toBe(0);
      });

      it('subscribing again after unsubscribing works', async () => {
        const b = await open();
        const id = newTaskId();
        const first = await b.subscribe(id, () => undefined);
        first();
        const heard: TaskMeta[] = [];
        const stop = await b.subscribe(id, (m) => heard.push(m));
        await b.store(meta(id, States.SUCCESS, 1));
        await until('the notification', () => heard.length === 1);
        stop();
      });
    });

    describe('groups', () => {
      it('saveGroup / restoreGroup round-trip the tuple; deleteGroup removes it', async () => {
        const b = await open();
        const gid = newTaskId();
        const tuple: ResultTuple = [[gid, null], [[[newTaskId(), null], null], [[newTaskId(), null], null]]];
        expect(await b.restoreGroup(gid)).toBeNull();
        await b.saveGroup(gid, tuple);
        expect(await b.restoreGroup(gid)).toEqual(tuple);
        await b.deleteGroup(gid);
        expect(await b.restoreGroup(gid)).toBeNull();
      });
    });

    describe('chord counter', () => {
      const ok = (b: ResultBackend, gid: string, index: number | null, id = newTaskId(), result: unknown = index, redelivered = false): Promise<StoreOutcome> =>
        b.store(meta(id, States.SUCCESS, result, { group_id: gid }), { groupId: gid, groupIndex: index, redelivered });

      it('store without a chord part reports chord null; a chord part reports ready false until complete', async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 2);
        expect((await b.store(meta(newTaskId(), States.SUCCESS, 1))).chord).toBeNull();
        expect((await ok(b, gid, 0)).chord).toEqual({ ready: false });
      });

      it('the report that makes the count equal the size is ready, with the parts in header order', async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 3);
        const ids = [newTaskId(), newTaskId(), newTaskId()];
        expect(ready(await ok(b, gid, 2, ids[2], 'two'))).toBe(false);
        expect(ready(await ok(b, gid, 0, ids[0], 'zero'))).toBe(false);
        const last = await ok(b, gid, 1, ids[1], { one: [1] });
        expect(last.stored).toBe(true);
        expect(parts(last)).toEqual([
          { id: ids[0], state: 'SUCCESS', result: 'zero' },
          { id: ids[1], state: 'SUCCESS', result: { one: [1] } },
          { id: ids[2], state: 'SUCCESS', result: 'two' },
        ]);
        expect((await b.getMeta(ids[1])).status).toBe('SUCCESS');
      });

      it('failed parts count too and carry their exception', async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 2);
        const bad = newTaskId();
        const exc = { exc_type: 'ValueError', exc_message: ['header part failed', 42], exc_module: 'builtins' };
        await b.store(meta(bad, States.FAILURE, exc, { group_id: gid }), { groupId: gid, groupIndex: 0 });
        const done = await ok(b, gid, 1, newTaskId(), 7);
        expect(parts(done)[0]).toEqual({ id: bad, state: 'FAILURE', result: exc });
        expect(parts(done)[1].result).toBe(7);
      });

      it('a part without a group index sorts last', async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 3);
        const [x, y, z] = [newTaskId(), newTaskId(), newTaskId()];
        await ok(b, gid, null, x, 'x');
        await ok(b, gid, 1, y, 'y');
        const done = await ok(b, gid, 0, z, 'z');
        expect(parts(done).map((p) => p.id)).toEqual([z, y, x]);
      });

      it('exactly one of many concurrent reports completes the chord', async () => {
        const b = await open();
        const gid = newTaskId();
        const n = 25;
        await b.setChordSize(gid, n);
        const outs = await Promise.all(Array.from({ length: n }, (_, i) => ok(b, gid, i)));
        const winners = outs.filter(ready);
        expect(winners.length).toBe(1);
        expect(parts(winners[0]).map((p) => p.result)).toEqual(Array.from({ length: n }, (_, i) => i));
      });

      it('a part reported twice counts once', async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 2);
        const a = newTaskId();
        expect(ready(await ok(b, gid, 0, a, 'a'))).toBe(false);
        expect(ready(await ok(b, gid, 0, a, 'a'))).toBe(false);
        expect(ready(await b.store(meta(a, States.FAILURE, { exc_type: 'E', exc_message: [], exc_module: 'm' }, { group_id: gid }), { groupId: gid, groupIndex: 0 }))).toBe(false);
        const done = await ok(b, gid, 1, newTaskId(), 'b');
        expect(parts(done).map((p) => p.result)).toEqual(['a', 'b']);
      });

      it("a redelivered re-report of the completer is ready again until chordDone; a plain duplicate and others' are not", async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 2);
        const [a, c] = [newTaskId(), newTaskId()];
        await ok(b, gid, 0, a, 'a');
        const first = await ok(b, gid, 1, c, 'c');
        expect(ready(first)).toBe(true);
        expect(ready(await ok(b, gid, 1, c, 'c'))).toBe(false);
        const again = await ok(b, gid, 1, c, 'c', true);
        expect(ready(again)).toBe(true);
        expect(parts(again)).toEqual(parts(first));
        expect(ready(await ok(b, gid, 0, a, 'a', true))).toBe(false);
        await b.chordDone(gid);
        expect(ready(await ok(b, gid, 1, c, 'c', true))).toBe(false);
        expect(ready(await ok(b, gid, 0, a, 'a'))).toBe(false);
      });

      it('nothing fires after chordDone, even when every part reports again', async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 3);
        const ids = [newTaskId(), newTaskId(), newTaskId()];
        const outs: StoreOutcome[] = [];
        for (let i = 0; i < 3; i++) outs.push(await ok(b, gid, i, ids[i]));
        expect(outs.filter(ready).length).toBe(1);
        await b.chordDone(gid);
        const late: StoreOutcome[] = [];
        for (let i = 0; i < 3; i++) late.push(await ok(b, gid, i, ids[i]));
        for (let i = 0; i < 3; i++) late.push(await ok(b, gid, i, newTaskId()));
        expect(late.filter(ready).length).toBe(0);
      });

      it('a chord whose size was never set never fires', async () => {
        const b = await open();
        const gid = newTaskId();
        const outs = [await ok(b, gid, 0), await ok(b, gid, 1)];
        expect(outs.filter(ready).length).toBe(0);
      });

      it('addToChord raises the number of parts needed', async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 2);
        expect(await b.addToChord(gid, 1)).toBe(1);
        expect(ready(await ok(b, gid, 0))).toBe(false);
        expect(ready(await ok(b, gid, 1))).toBe(false);
        const done = await ok(b, gid, 2);
        expect(parts(done).map((p) => p.result)).toEqual([0, 1, 2]);
      });

      it('addToChord resolves to the number of parts added so far', async () => {
        const b = await open();
        const gid = newTaskId();
        await b.setChordSize(gid, 1);
        expect(await b.addToChord(gid, 1)).toBe(1);
        expect(await b.addToChord(gid, 2)).toBe(3);
      });

      it('chords do not mix', async () => {
        const b = await open();
        const [g1, g2] = [newTaskId(), newTaskId()];
        await b.setChordSize(g1, 1);
        await b.setChordSize(g2, 2);
        expect(ready(await ok(b, g2, 0))).toBe(false);
        expect(parts(await ok(b, g1, 0, newTaskId(), 'g1')).map((p) => p.result)).toEqual(['g1']);
        expect(parts(await ok(b, g2, 1)).length).toBe(2);
      });
    });
  });
}
