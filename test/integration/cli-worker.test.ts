/**
 * `celeriac worker`, `call` and `result` as processes, against real Redis
 * (database 7, queues named cli-*). The worker runs examples/tasks-basic.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, chain, chord, group, type AsyncResult } from '../../src/index.js';
import { transpileSrc } from '../../bench/lib/build.js';
import { killAll, redisOn, ROOT, runCli, start, startCli, type Child } from '../support/interop-process.js';

const URL7 = 'redis://127.0.0.1:6379/7';
const TASKS = 'examples/tasks-basic.ts';
// A per-run suffix keeps two runs of this file (two checkouts, a watcher) off each other's queues.
const RUN = process.pid.toString(36);
const q = (name: string) => `cli-${name}-${RUN}`;
const Q = q('main');

let redis: Redis;
let client: Celeriac;
let worker: Child;
let tmp: string;

function workerArgs(queue: string, ...extra: string[]): string[] {
  return ['worker', '-A', TASKS, '-b', URL7, '--result-backend', URL7, '-Q', queue, '-l', 'warn', ...extra];
}

/** Start a worker and wait for its ready line. */
async function startWorker(queue: string, ...extra: string[]): Promise<Child> {
  const w = startCli(workerArgs(queue, ...extra), { env: { CELERIAC_DEFAULT_QUEUE: queue } });
  await w.waitFor(/ready: queues=/, 30_000);
  return w;
}

function call(...args: string[]) {
  return runCli(['call', '-b', URL7, '--queue', Q, ...args], { timeoutMs: 30_000 });
}

beforeAll(async () => {
  redis = await redisOn(7);
  await redis.flushdb();
  tmp = mkdtempSync(join(tmpdir(), 'celeriac-cli-'));
  writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
  client = new Celeriac({ broker: URL7, backend: URL7, defaultQueue: Q, logLevel: 'silent' });
  worker = await startWorker(Q, '-c', '4', '-n', 'cli1@%h');
});

afterAll(async () => {
  await killAll();
  await client?.close();
  await redis?.flushdb();
  redis?.disconnect();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('celeriac worker runs the tasks of an app module', () => {
  it('prints a ready line with the expanded node name, queues and concurrency', () => {
    expect(worker.stdout()).toContain(`cli1@${hostname()} ready: queues=${Q} concurrency=4 broker=${URL7}`);
  });

  it('runs a task sent by a celeriac client', async () => {
    const r = await client.sendTask('tasks.sub', [10, 3]);
    await expect(r.get({ timeout: 10 })).resolves.toBe(7);
  });

  it('runs a chain, passing each result on as the first argument', async () => {
    const sig = chain(client.signature('tasks.add', { args: [1, 2] }), client.signature('tasks.sub', { args: [1] }), client.signature('tasks.mul', { args: [10] }));
    const r = await sig.applyAsync();
    await expect(r.get({ timeout: 10 })).resolves.toBe(20);
  });

  it('runs a chord: the body gets the header results in order', async () => {
    const header = group([0, 1, 2, 3].map((i) => client.signature('tasks.add', { args: [i, i] })));
    const r = await chord(header, client.signature('tasks.tsum')).applyAsync();
    await expect(r.get({ timeout: 10 })).resolves.toBe(12);
  });

  it('retries a task and returns its final value', async () => {
    const r = (await client.sendTask('tasks.flaky', [9])) as AsyncResult;
    await expect(r.get({ timeout: 10 })).resolves.toBe(9);
  });
});

describe('celeriac call', () => {
  it('prints the task id, and with --wait the state and result', async () => {
    const r = await call('tasks.sub', '--args', '[10]', '--kwargs', '{"y": 4}', '--wait', '--timeout', '10');
    expect(r.stderr).toBe('');
    const [id, state, value] = r.stdout.trim().split('\n');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect([state, value]).toEqual(['SUCCESS', '6']);
    expect(r.code).toBe(0);
    await expect(client.asyncResult(id).get({ timeout: 5 })).resolves.toBe(6);
  });

  it('without --wait prints only the id and sends the task', async () => {
    const r = await call('tasks.mul', '--args', '[6, 7]');
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await expect(client.asyncResult(id).get({ timeout: 10 })).resolves.toBe(42);
  });

  it('--json prints one object with id, state and result', async () => {
    const r = await call('tasks.add', '--args', '[20, 22]', '--wait', '--timeout', '10', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'SUCCESS', result: 42, id: expect.any(String) });
  });

  it('exits 3 and prints the error type, message and traceback when the task fails', async () => {
    const r = await call('tasks.fail', '--wait', '--timeout', '10');
    expect(r.code).toBe(3);
    const lines = r.stdout.split('\n');
    expect(lines[1]).toBe('FAILURE');
    expect(lines[2]).toBe('ValueError: boom');
    expect(r.stdout).toContain('tasks-basic.ts');
  });

  it('exits 4 when --timeout passes first', async () => {
    const r = await call('tasks.sleep', '--args', '[3]', '--wait', '--timeout', '0.5');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/timed out after 0.5 s waiting for [0-9a-f-]{36} \(state (PENDING|STARTED)\)/);
  });

  it('--canvas sends a chord rebuilt from its dict and shows progress lines on a non-TTY stderr', async () => {
    const c = chord(
      [0, 1, 2, 3].map((i) => client.signature('tasks.sleep', { args: [0.2 * i, i] })),
      client.signature('tasks.tsum'),
    );
    const r = await call('--canvas', JSON.stringify(c.toDict()), '--wait', '--timeout', '20');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').slice(1)).toEqual(['SUCCESS', '6']);
    // One line per change of the count, never going back, ending at 5/5.
    const counts = r.stderr.trim().split('\n').map((line) => Number(/^progress: (\d)\/5 tasks done$/.exec(line)?.[1] ?? NaN));
    expect(counts.every((n, i) => n >= 0 && (i === 0 || n > counts[i - 1]))).toBe(true);
    expect(counts.at(-1)).toBe(5);
  });

  it('exits 2 when --args is not a JSON array', async () => {
    const r = await call('tasks.add', '--args', '{"x": 1}');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--args must be a JSON array');
  });
});

describe('celeriac result', () => {
  it('prints the state and value of a finished task', async () => {
    const sent = await client.sendTask('tasks.add', [2, 3]);
    await sent.get({ timeout: 10 });
    const r = await runCli(['result', sent.id, '-b', URL7]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('SUCCESS\n5\n');
  });

  it('prints PENDING for an unknown id', async () => {
    const r = await runCli(['result', 'no-such-task', '-b', URL7]);
    expect([r.code, r.stdout]).toEqual([0, 'PENDING\n']);
  });

  it('--wait waits, then prints the failure and exits 3', async () => {
    const sent = await client.sendTask('tasks.fail', [], {}, { countdown: 0.5 });
    const r = await runCli(['result', sent.id, '-b', URL7, '--wait', '--timeout', '10', '--json']);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ id: sent.id, state: 'FAILURE', exception: { type: 'ValueError', module: 'builtins', args: ['boom', 42] } });
    expect(report.traceback).toContain('ValueError');
  });
});

describe('celeriac worker shutdown', () => {
  it('on SIGTERM finishes the running task, then exits 0', async () => {
    const w = await startWorker(q('term'));
    const r = await client.sendTask('tasks.sleep', [1.5, 'finished'], {}, { queue: q('term') });
    await waitForState(r.id, q('term'), w);
    w.proc.kill('SIGTERM');
    expect(await withTimeout(w.exited, 15_000)).toBe(0);
    await expect(r.get({ timeout: 5 })).resolves.toBe('finished');
    expect(w.stdout()).toMatch(/stopped: processed=1/);
  });

  it('gives back reserved messages on SIGTERM, so another worker runs them', async () => {
    const w = await startWorker(q('giveback'), '-c', '1');
    const slow = await client.sendTask('tasks.sleep', [1, 'slow'], {}, { queue: q('giveback') });
    const waiting = await client.sendTask('tasks.add', [1, 1], {}, { queue: q('giveback') });
    await waitForState(slow.id, q('giveback'), w);
    w.proc.kill('SIGTERM');
    expect(await withTimeout(w.exited, 15_000)).toBe(0);
    await expect(slow.get({ timeout: 5 })).resolves.toBe('slow');
    expect(await client.asyncResult(waiting.id).state()).toBe('PENDING');
    const w2 = await startWorker(q('giveback'));
    await expect(waiting.get({ timeout: 10 })).resolves.toBe(2);
    w2.proc.kill('SIGTERM');
    expect(await withTimeout(w2.exited, 15_000)).toBe(0);
  });

  it('exits 4 when a task is still running at --shutdown-timeout', async () => {
    const w = await startWorker(q('slow'), '--shutdown-timeout', '0.5');
    const r = await client.sendTask('tasks.sleep', [10], {}, { queue: q('slow') });
    await waitForState(r.id, q('slow'), w);
    w.proc.kill('SIGTERM');
    expect(await withTimeout(w.exited, 10_000)).toBe(4);
    expect(w.stderr()).toContain('tasks still running at --shutdown-timeout');
  });

  it('a second signal exits at once with 128 + the signal number', async () => {
    const w = await startWorker(q('cold'));
    const r = await client.sendTask('tasks.sleep', [10], {}, { queue: q('cold') });
    await waitForState(r.id, q('cold'), w);
    w.proc.kill('SIGINT');
    await w.waitFor(/warm shutdown/, 5000);
    w.proc.kill('SIGINT');
    expect(await withTimeout(w.exited, 5000)).toBe(130);
  });
});

describe('celeriac worker startup errors', () => {
  it('exits 1 with a one-line message for a bad -A path', async () => {
    const r = await runCli(['worker', '-A', './no/such/tasks.ts', '-b', URL7]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`celeriac: error: cannot load app module "./no/such/tasks.ts": no such file (looked for ${resolve(ROOT, 'no/such/tasks.ts')})\n`);
  });

  it('exits 1 when the module exports no app', async () => {
    const file = join(tmp, 'no-app.ts');
    writeFileSync(file, 'export const answer: number = 42;\n');
    const r = await runCli(['worker', '-A', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`celeriac: error: app module "${file}" exports no Celeriac app: export it as default or as "app" (it exports answer)\n`);
  });

  it('exits 1 when the module throws while loading', async () => {
    const file = join(tmp, 'throws.ts');
    writeFileSync(file, "throw new Error('bad config: BROKER missing');\n");
    const r = await runCli(['worker', '-A', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`celeriac: error: cannot load app module "${file}": Error: bad config: BROKER missing\n`);
  });

  it('exits 1 when the app ignores --broker, saying how to read it', async () => {
    const file = join(tmp, 'fixed-broker.ts');
    const src = pathToFileURL(resolve(ROOT, 'src/index.ts')).href;
    writeFileSync(file, `import { Celeriac } from '${src}';\nexport default new Celeriac({ broker: 'memory://', logLevel: 'silent' });\n`);
    const r = await runCli(['worker', '-A', file, '-b', URL7]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`celeriac: error: --broker ${URL7} was given but the app uses memory://: build it with broker: process.env.CELERIAC_BROKER_URL\n`);
  });

  it('exits 1 when the broker cannot be reached within --connect-timeout', async () => {
    const r = await runCli(['worker', '-A', TASKS, '-b', 'redis://127.0.0.1:1/0', '--connect-timeout', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/celeriac: error: cannot connect to broker redis:\/\/127\.0\.0\.1:1\/0/);
  });

  it('exits 2 for an unknown flag', async () => {
    const r = await runCli(['worker', '-A', TASKS, '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
  });

  it('exits 2 for a bad option value', async () => {
    const r = await runCli(['worker', '-A', TASKS, '-c', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('concurrency must be a positive integer');
  });

  it('exits 2 for a negative --max-semi-space-size', async () => {
    const r = await runCli(['worker', '-A', TASKS, '--max-semi-space-size', '-1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('must be a whole number');
  });

  it('exits 2 without -A', async () => {
    const r = await runCli(['worker']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '-A, --app <module>' not specified");
  });
});

describe('celeriac worker sizes V8\'s heap', () => {
  // The CLI as an installed one runs, transpiled, under plain node: the tsx loader the other tests run it with
  // allocates heavily in the main thread and grows the young generation before the worker applies its cap.
  const built = join(ROOT, 'node_modules', '.cache', 'celeriac-test', `heap-${RUN}`);
  beforeAll(() => transpileSrc(built), 60_000);
  afterAll(() => rmSync(built, { recursive: true, force: true }));

  /** A worker whose one task churns through short-lived objects and reports its young generation (MB). */
  async function youngGenerationOf(...extra: string[]): Promise<number> {
    const file = join(built, 'churn.js');
    writeFileSync(
      file,
      `import { getHeapSpaceStatistics } from 'node:v8';\nimport { Celeriac } from './src/index.js';\n` +
        `export const app = new Celeriac({ broker: process.env.CELERIAC_BROKER_URL, backend: process.env.CELERIAC_RESULT_BACKEND, logLevel: 'silent' });\n` +
        `const ring = new Array(30000);\nlet k = 0;\n` +
        `app.task('heap.churn', async () => {\n` +
        `  for (let i = 0; i < 300; i++) { for (let j = 0; j < 5000; j++) ring[k++ % ring.length] = { i, j, s: 'item ' + i + ' ' + j }; await new Promise((r) => setImmediate(r)); }\n` +
        `  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;\n});\n`,
    );
    const queue = q(`heap${extra.join('')}`);
    const w = start(process.execPath, [join(built, 'src', 'cli', 'main.js'), 'worker', '-A', file, '-b', URL7, '--result-backend', URL7, '-Q', queue, '-l', 'warn', ...extra]);
    await w.waitFor(/ready: queues=/, 30_000);
    const r = await runCli(['call', 'heap.churn', '-b', URL7, '--result-backend', URL7, '--queue', queue, '--wait', '--timeout', '60'], { timeoutMs: 70_000 });
    await w.stop();
    expect(r.code).toBe(0);
    return Number(r.stdout.trim().split('\n').pop());
  }

  it('holds the young generation at two 2 MB semi-spaces by default', async () => {
    expect(await youngGenerationOf()).toBeLessThanOrEqual(4);
  }, 90_000);

  it('holds it at two 4 MB semi-spaces with --max-semi-space-size 4', async () => {
    const young = await youngGenerationOf('--max-semi-space-size', '4');
    expect(young).toBeGreaterThan(4);
    expect(young).toBeLessThanOrEqual(8);
  }, 90_000);

  it("leaves V8's own growth with --max-semi-space-size 0", async () => {
    expect(await youngGenerationOf('--max-semi-space-size', '0')).toBeGreaterThan(8);
  }, 90_000);
});

/** Wait until a task is running on `w` (its queue list is empty and the worker took it). */
async function waitForState(id: string, queue: string, w: Child): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    // The message has left the queue list and sits in `unacked` (or was acked at start).
    if ((await redis.llen(queue)) === 0 && (await client.asyncResult(id).state()) === 'PENDING') {
      await new Promise((r) => setTimeout(r, 300));
      return;
    }
    if (w.proc.exitCode !== null) throw new Error(`worker exited early:\n${w.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${id} was not taken from ${queue} within 10 s`);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_r, rej) => setTimeout(() => rej(new Error(`no exit within ${ms} ms`)), ms))]);
}
