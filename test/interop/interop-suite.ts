/**
 * Interop with the real Python Celery 5 (Debian python3-celery, run with
 * /usr/bin/python3): a Python client with the celeriac worker (the CLI, as a
 * child process), the celeriac client with a Python worker, and canvases whose
 * steps alternate between the two, routed by queue. One suite, run once per
 * broker by celery-interop-redis.test.ts and celery-interop-amqp.test.ts;
 * the result backend is Redis in both.
 *
 * Queues are interop-py-<run> and interop-ts-<run>. Skipped, loudly, only
 * when `/usr/bin/python3 -c 'import celery'` fails; with
 * CELERIAC_REQUIRE_INTEROP=1 (CI) that fails instead.
 * CELERIAC_INTEROP_PYTHON names another interpreter.
 */
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, chord, group, type AnyResult, type AsyncResult } from '../../src/index.js';
import { killAll, PYTHON, pythonCeleryAvailable, redisOn, ROOT, run, start, startCli, type Child } from '../support/interop-process.js';
import { makeInteropApp } from '../support/interop-tasks.js';

/** The broker a run of the suite uses, and how to get it ready. */
export interface InteropBroker {
  /** Names the run, e.g. 'Redis broker'. */
  readonly label: string;
  /** The broker URL both sides use. */
  readonly url: string;
  /** The Redis database of the result backend (flushed before and after). */
  readonly backendDb: number;
  /**
   * Make the broker ready before the workers start (reachable, empty, locked
   * for this file if others must wait); resolves to what undoes it once the
   * workers have stopped.
   */
  prepare(): Promise<() => Promise<void>>;
  /** Tests that only make sense on this broker, run with both workers up. */
  extra?(ctx: InteropContext): void;
}

/** What broker-specific tests get from the suite. */
export interface InteropContext {
  /** The Python worker's queue and the celeriac worker's. */
  readonly pyQueue: string;
  readonly tsQueue: string;
  /** The celeriac client (its default queue is the Python worker's). */
  readonly client: ReturnType<typeof makeInteropApp>;
  /** Run a test/interop/py/client.py scenario with `queue` as the Python client's default queue. */
  py(scenario: string, arg: string | undefined, queue: string): Promise<PyOutcome>;
  /** The celeriac worker's output so far. */
  tsWorkerOutput(): string;
}

// A per-run suffix keeps two runs of a file off each other's queues.
const RUN = process.pid.toString(36);
const PY_Q = `interop-py-${RUN}`;
const TS_Q = `interop-ts-${RUN}`;
const PY_DIR = resolve(ROOT, 'test/interop/py');
const LONG = { timeout: 60_000 };
// Long enough to wait for the RabbitMQ test lock (lockRabbit waits up to 600 s).
const PREPARE_TIMEOUT = 700_000;

/** Register the interop suite on `broker`: skipped loudly without Python Celery, failing instead with CELERIAC_REQUIRE_INTEROP=1. */
export function interopSuite(broker: InteropBroker): void {
  const celery = pythonCeleryAvailable();
  const required = process.env.CELERIAC_REQUIRE_INTEROP === '1';
  const title = `interop with Python Celery (${broker.label})`;
  if (!celery.ok && !required) {
    const line = '!'.repeat(78);
    console.warn(`\n${line}\n!! INTEROP SUITE SKIPPED (${broker.label}): ${celery.reason}\n!! Install Python Celery (apt-get install python3-celery) to run it;\n!! CI sets CELERIAC_REQUIRE_INTEROP=1 so that this fails instead.\n${line}\n`);
    describe.skip(`${title}: SKIPPED because ${celery.reason}`, () => {
      it(`needs ${PYTHON} with celery importable`, () => undefined);
    });
  } else if (!celery.ok) {
    describe(title, () => {
      it('has Python Celery available (CELERIAC_REQUIRE_INTEROP=1)', () => {
        throw new Error(`CELERIAC_REQUIRE_INTEROP=1 but ${celery.reason}; install python3-celery`);
      });
    });
  } else {
    suite(broker, title);
  }
}

/** One JSON line printed by test/interop/py/client.py. */
export interface PyOutcome {
  id?: string;
  result?: unknown;
  error?: { type: string; module: string; args: unknown[]; message: string };
  elapsed?: number;
  state?: string;
  /** The stored result (an exception's exc_type, exc_message, exc_module). */
  meta?: unknown;
}

function suite(broker: InteropBroker, title: string): void {
  const BROKER = broker.url;
  const BACKEND = `redis://127.0.0.1:6379/${broker.backendDb}`;
  const ENV = { PYTHONDONTWRITEBYTECODE: '1', INTEROP_BROKER: BROKER, INTEROP_BACKEND: BACKEND, INTEROP_PY_QUEUE: PY_Q, INTEROP_TS_QUEUE: TS_Q, PYTHONPATH: PY_DIR };
  let redis: Redis;
  let tsWorker: Child;
  let pyWorker: Child;
  let undo: (() => Promise<void>) | null = null;
  // The celeriac client: its default queue is the Python worker's.
  const client = makeInteropApp({ broker: BROKER, backend: BACKEND, defaultQueue: PY_Q, logLevel: 'silent' });
  const t = client.tasks;

  /** Run a client.py scenario (default queue: the celeriac worker's). */
  async function py(scenario: string, arg?: string, queue = TS_Q): Promise<PyOutcome> {
    const r = await run(PYTHON, ['client.py', scenario, ...(arg === undefined ? [] : [arg])], { cwd: PY_DIR, env: { ...ENV, INTEROP_QUEUE: queue }, timeoutMs: 45_000 });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !last.startsWith('{')) throw new Error(`client.py ${scenario} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    return JSON.parse(last) as PyOutcome;
  }

  /** Poll a JSON mark written by a task (interop:mark:*, interop:errback:*). */
  async function markOf(key: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await redis.get(key);
      if (v) return JSON.parse(v) as Record<string, unknown>;
      if (Date.now() > deadline) throw new Error(`no mark ${key} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const get = (r: AnyResult) => r.get({ timeout: 20 });

  describe(title, LONG, () => {
    beforeAll(async () => {
      redis = await redisOn(broker.backendDb);
      await redis.flushdb();
      undo = await broker.prepare();
      tsWorker = startCli(['worker', '-A', 'test/support/interop-tasks.ts', '-b', BROKER, '--result-backend', BACKEND, '-Q', TS_Q, '-c', '4', '-n', 'ts-interop@%h', '-l', 'warn'], {
        env: { ...ENV, INTEROP_QUEUE: TS_Q },
      });
      pyWorker = start(
        PYTHON,
        ['-m', 'celery', '-A', 'interop_tasks', 'worker', '-P', 'solo', '-Q', PY_Q, '--without-gossip', '--without-mingle', '--without-heartbeat', '-l', 'info', '-n', 'py-interop@%h'],
        { cwd: PY_DIR, env: { ...ENV, INTEROP_QUEUE: PY_Q } },
      );
      await Promise.all([tsWorker.waitFor(/ready: queues=interop-ts/, 30_000), pyWorker.waitFor(/py-interop@\S+ ready\./, 30_000)]);
    }, PREPARE_TIMEOUT);

    afterAll(async () => {
      await client.close().catch(() => undefined);
      const codes = await Promise.all([tsWorker?.stop(10_000), pyWorker?.stop(10_000)]);
      await killAll(1000);
      try {
        await undo?.();
      } finally {
        if (redis) {
          await redis.flushdb();
          redis.disconnect();
        }
      }
      // The celeriac worker must have stopped cleanly on SIGTERM.
      if (tsWorker) expect(codes[0]).toBe(0);
    }, 60_000);


    describe('Python client → celeriac worker', () => {
      it('runs a task called with kwargs only', async () => {
        expect((await py('kwargs')).result).toBe(7);
      });

      it('runs a task called with args and kwargs', async () => {
        expect((await py('args-kwargs')).result).toBe(6);
      });

      it('runs a chain (add(1,2) | add(3) | mul(10) = 60)', async () => {
        expect((await py('chain')).result).toBe(60);
      });

      it('prepends the parent value in a chain (add(10,5) | sub(3) = 12)', async () => {
        expect((await py('partial-order')).result).toBe(12);
      });

      it('runs a group', async () => {
        expect((await py('group')).result).toEqual([0, 2, 4, 6, 8]);
      });

      it('runs a chord, with the header results in order', async () => {
        expect((await py('chord')).result).toBe(20);
      });

      it('runs a chain with a group upgraded to a chord', async () => {
        expect((await py('chord-in-chain')).result).toBe(23);
      });

      it('runs chunks', async () => {
        expect((await py('chunks')).result).toEqual([[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]);
      });

      it('runs map', async () => {
        expect((await py('map')).result).toEqual([3, 7, 11]);
      });

      it('runs starmap', async () => {
        expect((await py('starmap')).result).toEqual([3, 7]);
      });

      it('calls a link callback with the result', async () => {
        const out = await py('link', 'py-link');
        expect(out.result).toBe(4);
        expect(await markOf('interop:mark:py-link')).toEqual({ value: 4, side: 'ts' });
      });

      it('sends an old-style link_error errback with the failed task id', async () => {
        const out = await py('link-error-old');
        expect(out.error?.type).toBe('ValueError');
        expect(await markOf(`interop:errback:${out.id}`)).toEqual({ style: 'old', side: 'ts' });
      });

      it('calls a new-style link_error errback inline with the request and the error', async () => {
        const out = await py('link-error-new');
        expect(await markOf(`interop:errback:${out.id}`)).toEqual({ style: 'new', exc_type: 'ValueError', args: ['boom', 42], side: 'ts' });
      });

      it('honours countdown', async () => {
        const out = await py('countdown');
        expect(out.result).toBe(2);
        expect(out.elapsed).toBeGreaterThanOrEqual(1.4);
      });

      it('retries a task (same id) until it succeeds', async () => {
        expect((await py('retry')).result).toEqual([7, 2]);
      });

      it("makes Python's get() raise ValueError('boom', 42) for a failing task", async () => {
        const out = await py('fail');
        expect(out.error).toEqual({ type: 'ValueError', module: 'builtins', args: ['boom', 42], message: "('boom', 42)" });
      });

      it('stores REVOKED ["expired"] for a task whose expires passed while it waited for its ETA; Python\'s get() raises TaskRevokedError', async () => {
        const out = await py('expires-before-eta');
        expect(out.error?.type).toBe('TaskRevokedError');
        expect(out.state).toBe('REVOKED');
        expect(out.meta).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' });
      });

      it('lets Python read results stored by celeriac with AsyncResult(id).get()', async () => {
        const ok = await client.app.sendTask('interop_tasks.add', [20, 22], {}, { queue: TS_Q });
        await get(ok);
        expect(await py('get', ok.id)).toMatchObject({ result: 42, state: 'SUCCESS' });
        const bad = await client.app.sendTask('interop_tasks.fail', [], {}, { queue: TS_Q });
        await expect(get(bad)).rejects.toThrow();
        expect(await py('get', bad.id)).toMatchObject({ state: 'FAILURE', error: { type: 'ValueError', args: ['boom', 42] } });
      });
    });

    describe('celeriac client → Python worker', () => {
      it('runs a task called with kwargs only', async () => {
        await expect(get(await t.sub.applyAsync([], { x: 10, y: 3 }))).resolves.toBe(7);
      });

      it('runs a task called with args and kwargs', async () => {
        await expect(get(await t.sub.applyAsync([10], { y: 4 }))).resolves.toBe(6);
      });

      it('runs a chain (add(1,2) | add(3) | mul(10) = 60)', async () => {
        await expect(get(await chain(t.add.s(1, 2), t.add.s(3), t.mul.s(10)).applyAsync())).resolves.toBe(60);
      });

      it('prepends the parent value in a chain (add(10,5) | sub(3) = 12)', async () => {
        await expect(get(await chain(t.add.s(10, 5), t.sub.s(3)).applyAsync())).resolves.toBe(12);
      });

      it('runs a group', async () => {
        await expect(get(await group([0, 1, 2, 3, 4].map((i) => t.add.s(i, i))).applyAsync())).resolves.toEqual([0, 2, 4, 6, 8]);
      });

      it('runs a chord (the client writes the chord size for the Python worker)', async () => {
        await expect(get(await chord([0, 1, 2, 3, 4].map((i) => t.add.s(i, i)), t.tsum.s()).applyAsync())).resolves.toBe(20);
      });

      it('runs a chain with a group upgraded to a chord', async () => {
        const sig = chain(t.add.s(1, 1), group([t.add.s(1), t.mul.s(10)]), t.tsum.s());
        await expect(get(await sig.applyAsync())).resolves.toBe(23);
      });

      it('runs chunks', async () => {
        const pairs = Array.from({ length: 10 }, (_v, i) => [i, i] as [number, number]);
        await expect(get(await t.add.chunks(pairs, 3).applyAsync())).resolves.toEqual([[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]);
      });

      it('runs map', async () => {
        await expect(get(await t.tsum.map([[1, 2], [3, 4], [5, 6]]).applyAsync())).resolves.toEqual([3, 7, 11]);
      });

      it('runs starmap', async () => {
        await expect(get(await t.add.starmap([[1, 2], [3, 4]]).applyAsync())).resolves.toEqual([3, 7]);
      });

      it('calls a link callback with the result', async () => {
        const r = await t.add.applyAsync([2, 2], {}, { link: t.mark.s('ts-link') });
        await expect(get(r)).resolves.toBe(4);
        expect(await markOf('interop:mark:ts-link')).toEqual({ value: 4, side: 'py' });
      });

      it('sends an old-style link_error errback with the failed task id', async () => {
        const r = await t.fail.applyAsync([], {}, { linkError: t.markError.s() });
        await expect(get(r)).rejects.toThrow();
        expect(await markOf(`interop:errback:${r.id}`)).toEqual({ style: 'old', side: 'py' });
      });

      it('gets a new-style link_error errback called inline by the Python worker', async () => {
        const r = await t.fail.applyAsync([], {}, { linkError: t.onError.s() });
        await expect(get(r)).rejects.toThrow();
        expect(await markOf(`interop:errback:${r.id}`)).toEqual({ style: 'new', exc_type: 'ValueError', args: ['boom', 42], side: 'py' });
      });

      it('honours countdown', async () => {
        const start = Date.now();
        await expect(get(await t.add.applyAsync([1, 1], {}, { countdown: 1.5 }))).resolves.toBe(2);
        expect(Date.now() - start).toBeGreaterThanOrEqual(1400);
      });

      it('sees a Python retry through to the final value', async () => {
        await expect(get(await t.flaky.applyAsync([7]))).resolves.toEqual([7, 2]);
      });

      it('rebuilds the Python exception with excType, excModule, args, message and traceback', async () => {
        const r = (await t.fail.applyAsync()) as AsyncResult;
        const err = await get(r).then(
          () => null,
          (e: unknown) => e as Error & { excType: string; excModule: string; excArgs: unknown[]; remoteTraceback: string },
        );
        expect(err).toMatchObject({ name: 'ValueError', excType: 'ValueError', excModule: 'builtins', excArgs: ['boom', 42], message: 'boom' });
        expect(err?.remoteTraceback).toMatch(/Traceback \(most recent call last\)[\s\S]*ValueError: \('boom', 42\)/);
        expect(await r.state()).toBe('FAILURE');
      });

      it('gets TaskRevokedError for a task the Python worker found expired when its ETA came', async () => {
        const r = await t.add.applyAsync([1, 1], {}, { countdown: 1.2, expires: 0.4 });
        await expect(get(r)).rejects.toMatchObject({ name: 'TaskRevokedError', excType: 'TaskRevokedError' });
        expect(await r.state()).toBe('REVOKED');
        expect((await client.app.resultBackend().then((b) => b.getMeta(r.id))).result).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' });
      });

      it('reads results that a Python client sent to the Python worker', async () => {
        const { id } = await run(PYTHON, ['-c', "import interop_tasks as t, json; print(json.dumps({'id': t.add.delay(40, 2).id}))"], {
          cwd: PY_DIR,
          env: { ...ENV, INTEROP_QUEUE: PY_Q },
          timeoutMs: 30_000,
        }).then((r) => JSON.parse(r.stdout) as { id: string });
        await expect(client.app.asyncResult(id).get({ timeout: 20 })).resolves.toBe(42);
      });
    });

    describe('canvases across both workers', () => {
      const onPy = { queue: PY_Q };
      const onTs = { queue: TS_Q };

      it('chord with the header on Python and the body on celeriac (Python client)', async () => {
        expect((await py('mixed-chord', 'py:ts')).result).toEqual({ parts: [[0, 'py'], [1, 'py'], [2, 'py']], body: 'ts' });
      });

      it('chord with the header on celeriac and the body on Python (Python client)', async () => {
        expect((await py('mixed-chord', 'ts:py')).result).toEqual({ parts: [[0, 'ts'], [1, 'ts'], [2, 'ts']], body: 'py' });
      });

      it('chain alternating Python and celeriac steps (Python client)', async () => {
        expect((await py('mixed-chain')).result).toEqual(['py', 'ts', 'py', 'ts']);
      });

      it('chord with the header on Python and the body on celeriac (celeriac client)', async () => {
        const sig = chord([0, 1, 2].map((i) => t.side.s(i).set(onPy)), t.summarize.s().set(onTs));
        await expect(get(await sig.applyAsync())).resolves.toEqual({ parts: [[0, 'py'], [1, 'py'], [2, 'py']], body: 'ts' });
      });

      it('chord with the header on celeriac and the body on Python (celeriac client)', async () => {
        const sig = chord([0, 1, 2].map((i) => t.side.s(i).set(onTs)), t.summarize.s().set(onPy));
        await expect(get(await sig.applyAsync())).resolves.toEqual({ parts: [[0, 'ts'], [1, 'ts'], [2, 'ts']], body: 'py' });
      });

      it('chord with the header split across both sides', async () => {
        const sig = chord([t.side.s(0).set(onPy), t.side.s(1).set(onTs), t.side.s(2).set(onPy), t.side.s(3).set(onTs)], t.summarize.s().set(onTs));
        await expect(get(await sig.applyAsync())).resolves.toEqual({ parts: [[0, 'py'], [1, 'ts'], [2, 'py'], [3, 'ts']], body: 'ts' });
      });

      it('chain alternating celeriac and Python steps (celeriac client)', async () => {
        const sig = chain(t.trail.s([]).set(onTs), t.trail.s().set(onPy), t.trail.s().set(onTs), t.trail.s().set(onPy));
        await expect(get(await sig.applyAsync())).resolves.toEqual(['ts', 'py', 'ts', 'py']);
      });

      it('a failure on Python fails the rest of a mixed chain with the Python error', async () => {
        const sig = chain(t.add.s(1, 1).set(onTs), t.fail.s().set(onPy), t.add.s(1).set(onTs));
        const r = await sig.applyAsync();
        await expect(get(r)).rejects.toMatchObject({ excType: 'ValueError', excArgs: ['boom', 42] });
      });
    });

    // Last, so that they see what every case above left behind.
    broker.extra?.({ pyQueue: PY_Q, tsQueue: TS_Q, client, py, tsWorkerOutput: () => `${tsWorker?.stdout() ?? ''}${tsWorker?.stderr() ?? ''}` });
  });
}
