/**
 * `celeriac inspect`, `celeriac control` and `celeriac events` as processes,
 * against a `celeriac worker` child on real Redis (database 14, broker and
 * backend; queues named ctl-cli-*), and the pidbox as kombu lays it out on
 * Redis: requests PUBLISHed on `/<db>.celery.pidbox`, events on
 * `/<db>.celeryev/<routing key>`, the reply queue bound in
 * `_kombu.binding.reply.celery.pidbox` while a client waits and removed after.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { killAll, redisOn, runCli, startCli, type Child } from '../support/interop-process.js';
import { until } from '../../src/testing/poll.js';

const DB = 14;
const URL = `redis://127.0.0.1:6379/${DB}`;
const TASKS = 'examples/tasks-basic.ts';
const RUN = process.pid.toString(36);
const Q = `ctl-cli-${RUN}`;
const NODE = `ctl-cli1@${hostname()}`;
const SEP = '\x06\x16';

let redis: Redis;
let client: Celeriac;
let worker: Child;

/** Run the CLI with the broker and backend of this file. */
function cli(...args: string[]) {
  return runCli([...args, '-b', URL, '--result-backend', URL], { timeoutMs: 30_000 });
}

function send(name: string, args: unknown[], options: { countdown?: number } = {}) {
  return client.signature(name, { args, queue: Q, ...options }).applyAsync();
}

beforeAll(async () => {
  redis = await redisOn(DB);
  await redis.flushdb();
  client = new Celeriac({ broker: URL, backend: URL, defaultQueue: Q, logLevel: 'silent' });
  worker = startCli(['worker', '-A', TASKS, '-b', URL, '--result-backend', URL, '-Q', Q, '-c', '4', '-n', 'ctl-cli1@%h', '-l', 'warn'], { env: { CELERIAC_DEFAULT_QUEUE: Q } });
  await worker.waitFor(/ready: queues=/, 30_000);
}, 60_000);

afterAll(async () => {
  await killAll();
  await client?.close();
  await redis?.flushdb();
  redis?.disconnect();
});

describe('celeriac inspect', () => {
  it('ping prints "->  node: OK", pong indented, then the node count (celery inspect ping)', async () => {
    const r = await cli('inspect', 'ping');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`->  ${NODE}: OK\n        pong\n\n1 node online.\n`);
  });

  it('registered lists the task names as "* name" lines', async () => {
    const r = await cli('inspect', 'registered', '-d', NODE);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`->  ${NODE}: OK\n    * tasks.add\n    * tasks.fail\n`);
    expect(r.stdout).not.toContain('celery.');
  });

  it('--json prints one object {node: reply}: stats', async () => {
    const r = await cli('inspect', 'stats', '--json');
    expect(r.code).toBe(0);
    const replies = JSON.parse(r.stdout) as Record<string, { pool: { 'max-concurrency': number }; pid: number }>;
    expect(Object.keys(replies)).toEqual([NODE]);
    expect(replies[NODE].pool['max-concurrency']).toBe(4);
    expect(replies[NODE].pid).toBe(worker.proc.pid);
  });

  it('stats in the human form is JSON with sorted keys and four-space indents', async () => {
    const r = await cli('inspect', 'stats');
    const body = r.stdout.split('\n').slice(1).join('\n');
    expect(body).toMatch(/^ {4}\{\n {8}"clock": /);
    expect(r.stdout).toContain('\n        "pool": {\n            "implementation": ');
  });

  it('active, reserved, scheduled and query_task show the tasks where they are', async () => {
    const running = await send('tasks.sleep', [60, 'done']);
    const later = await send('tasks.add', [1, 1], { countdown: 30 });
    await until('the sleep task to start', async () => (await client.control.inspect('active', {}, { timeout: 0.3 }))[NODE]?.toString().length);
    const active = await cli('inspect', 'active', '--json');
    const activeList = (JSON.parse(active.stdout) as Record<string, Array<{ id: string; name: string; args: unknown[] }>>)[NODE];
    expect(activeList.map((a) => [a.id, a.name, a.args])).toEqual([[running.id, 'tasks.sleep', [60, 'done']]]);
    const human = await cli('inspect', 'active');
    expect(human.stdout).toContain(`    * {'id': '${running.id}', 'name': 'tasks.sleep', 'args': [60, 'done']`);

    const scheduled = await cli('inspect', 'scheduled', '--json');
    const scheduledList = (JSON.parse(scheduled.stdout) as Record<string, Array<{ eta: string; request: { id: string } }>>)[NODE];
    expect(scheduledList.map((s) => s.request.id)).toEqual([later.id]);

    const reserved = await cli('inspect', 'reserved');
    expect(reserved.stdout).toContain(`->  ${NODE}: OK\n    - empty -\n`);

    const query = await cli('inspect', 'query_task', later.id, running.id, '--json');
    const states = (JSON.parse(query.stdout) as Record<string, Record<string, [string, { id: string }]>>)[NODE];
    expect(states[later.id][0]).toBe('scheduled');
    expect(states[running.id][0]).toBe('active');

    await client.control.revoke([later.id, running.id], { terminate: true });
    await until('the running task REVOKED', async () => (await running.state()) === 'REVOKED');
  });

  it('exits 4 with a clear message when no node replies within --timeout', async () => {
    const r = await cli('inspect', 'ping', '-d', 'nobody@nowhere', '--timeout', '0.3');
    expect(r.code).toBe(4);
    expect(r.stderr).toBe('celeriac: error: no nodes replied within 0.3 s (asked nobody@nowhere)\n');
    expect(r.stdout).toBe('');
  });

  it('exits 2 on an unknown method or missing ids', async () => {
    const bad = await cli('inspect', 'bogus');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown inspect method "bogus" (use one of ping, active, reserved, scheduled, registered, revoked, stats, active_queues, query_task)');
    const noIds = await cli('inspect', 'query_task');
    expect(noIds.code).toBe(2);
    expect(noIds.stderr).toContain('query_task needs at least one task id');
  });
});

describe('celeriac control', () => {
  it('revoke ID... flags the ids on the worker: a task sent with those ids is REVOKED, and inspect revoked lists them', async () => {
    const id1 = client.newId();
    const id2 = client.newId();
    const r = await cli('control', 'revoke', id1, id2);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`->  ${NODE}: OK\n        tasks ${id1}, ${id2} flagged as revoked\n\n1 node online.\n`);
    const sent = await client.signature('tasks.add', { args: [1, 2], queue: Q, taskId: id1 }).applyAsync();
    await until('REVOKED', async () => (await sent.state()) === 'REVOKED');
    const revoked = JSON.parse((await cli('inspect', 'revoked', '--json')).stdout) as Record<string, string[]>;
    expect(revoked[NODE]).toEqual(expect.arrayContaining([id1, id2]));
  });

  it('terminate ID stops a running task: REVOKED, and the worker goes on', async () => {
    const r = await send('tasks.sleep', [20, 'never']);
    await until('the task to start', async () => ((await client.control.inspect('query_task', { ids: [r.id] }, { timeout: 0.3 }))[NODE] as Record<string, unknown> | undefined)?.[r.id]);
    const out = await cli('control', 'terminate', r.id);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`->  ${NODE}: OK\n        terminate: `);
    await until('REVOKED', async () => (await r.state()) === 'REVOKED');
    await expect((await send('tasks.add', [2, 2])).get({ timeout: 10 })).resolves.toBe(4);
  });

  it('revoke ID --terminate stops a running task too', async () => {
    const r = await send('tasks.sleep', [20, 'never']);
    await until('the task to start', async () => ((await client.control.inspect('query_task', { ids: [r.id] }, { timeout: 0.3 }))[NODE] as Record<string, unknown> | undefined)?.[r.id]);
    const out = await cli('control', 'revoke', r.id, '--terminate', '--signal', 'KILL');
    expect(out.code).toBe(0);
    await until('REVOKED', async () => (await r.state()) === 'REVOKED');
    const misuse = await cli('control', 'rate_limit', 'tasks.add', '1/s', '--terminate');
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('--terminate and --signal go with revoke');
  });

  it('terminate takes Celery\'s leading signal name too: terminate KILL ID', async () => {
    const out = await cli('control', 'terminate', 'KILL', client.newId(), '--json');
    expect(out.code).toBe(0);
    expect(Object.keys(JSON.parse(out.stdout) as object)).toEqual([NODE]);
  });

  it('rate_limit TASK RATE sets a limit; rate_limit TASK 0 removes it (Celery: "rate limit disabled successfully")', async () => {
    const set = await cli('control', 'rate_limit', 'tasks.mul', '1/m');
    expect(set.stdout).toContain(`->  ${NODE}: OK\n        new rate limit set successfully\n`);
    const off = await cli('control', 'rate_limit', 'tasks.mul', '0');
    expect(off.stdout).toContain(`->  ${NODE}: OK\n        rate limit disabled successfully\n`);
    const results = await Promise.all([1, 2, 3].map((i) => send('tasks.mul', [i, 10])));
    await expect(Promise.all(results.map((r) => r.get({ timeout: 10 })))).resolves.toEqual([10, 20, 30]);
  });

  it('rate_limit with a bad rate is a usage error', async () => {
    const r = await cli('control', 'rate_limit', 'tasks.mul', 'fast');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('rate_limit: "fast" is not a rate');
  });

  it('time_limit TASK HARD SOFT: a task running past HARD fails with TimeLimitExceeded', async () => {
    const r = await cli('control', 'time_limit', 'tasks.sleep', '0.6', '0.3');
    expect(r.stdout).toContain(`->  ${NODE}: OK\n        time limits set successfully\n`);
    const slow = await send('tasks.sleep', [5, 'late']);
    await expect(slow.get({ timeout: 10 })).rejects.toMatchObject({ name: 'TimeLimitExceeded' });
    const reset = await cli('control', 'time_limit', 'tasks.sleep', '200', '100');
    expect(reset.code).toBe(0);
    await expect((await send('tasks.sleep', [0.1, 'ok'])).get({ timeout: 10 })).resolves.toBe('ok');
  });

  it('time_limit with the soft limit above the hard one (Celery\'s SOFT HARD order) is a usage error that says so', async () => {
    const r = await cli('control', 'time_limit', 'tasks.sleep', '5', '10');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the order is TASK HARD [SOFT] (Celery's CLI takes SOFT first)");
  });
});

describe('celeriac events', () => {
  it('prints task events (after control enable_events) and heartbeats, human and --json; exits 0 on SIGINT', async () => {
    const human = startCli(['events', '-b', URL]);
    const raw = startCli(['events', '--json', '-b', URL]);
    await Promise.all([human.waitFor(/capturing events/, 20_000), raw.waitFor(/capturing events/, 20_000)]);
    const on = await cli('control', 'enable_events');
    expect(on.stdout).toContain(`->  ${NODE}: OK\n        task events enabled\n`);
    const r = await send('tasks.add', [2, 3]);
    await r.get({ timeout: 10 });
    const idPattern = new RegExp(`"uuid":"${r.id}"[^\\n]*"type":"task-succeeded"`);
    await Promise.all([raw.waitFor(idPattern, 10_000), human.waitFor(new RegExp(`task succeeded: tasks\\.add\\(${r.id}\\) args=\\(2, 3\\) kwargs=\\{\\}`), 10_000)]);
    await human.waitFor(new RegExp(`^${NODE.replace(/\./g, '\\.')} \\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(\\.\\d{6})?\\] heartbeat: active=`, 'm'), 10_000);

    const events = raw
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; uuid?: string; hostname: string; result?: unknown });
    expect(events.filter((e) => e.uuid === r.id).map((e) => e.type)).toEqual(['task-received', 'task-started', 'task-succeeded']);
    expect(events.find((e) => e.uuid === r.id && e.type === 'task-succeeded')).toMatchObject({ hostname: NODE, result: '5' });
    expect(human.stdout()).toContain(`task received: tasks.add(${r.id}) args=(2, 3) kwargs={} clock=`);

    const off = await cli('control', 'disable_events');
    expect(off.stdout).toContain('task events disabled');
    human.proc.kill('SIGINT');
    raw.proc.kill('SIGINT');
    expect(await Promise.all([human.exited, raw.exited])).toEqual([0, 0]);
  });
});

describe('the pidbox on Redis, as kombu lays it out', () => {
  it('a request is PUBLISHed on /<db>.celery.pidbox with routing key "" (what Python workers PSUBSCRIBE to)', async () => {
    const sub = await redisOn(DB);
    const seen: Array<{ channel: string; data: string }> = [];
    sub.on('pmessage', (_p: string, channel: string, data: string) => seen.push({ channel, data }));
    await sub.psubscribe(`/${DB}.celery.pidbox*`);
    try {
      await cli('inspect', 'ping');
      const msg = seen.find((m) => m.channel === `/${DB}.celery.pidbox`);
      expect(msg).toBeDefined();
      const env = JSON.parse(msg!.data) as { body: string; headers: Record<string, unknown>; properties: { delivery_info: unknown; body_encoding: string } };
      expect(env.properties.delivery_info).toEqual({ exchange: 'celery.pidbox', routing_key: '' });
      expect(env.properties.body_encoding).toBe('base64');
      expect(Object.keys(env.headers)).toEqual(['clock', 'expires']);
      const body = JSON.parse(Buffer.from(env.body, 'base64').toString()) as Record<string, unknown>;
      expect(body).toMatchObject({ method: 'ping', arguments: {}, destination: null, pattern: null, matcher: null, reply_to: { exchange: 'reply.celery.pidbox' } });
      expect(Object.keys(body)).toEqual(['method', 'arguments', 'destination', 'pattern', 'matcher', 'ticket', 'reply_to']);
    } finally {
      sub.disconnect();
    }
  });

  it('events go to /<db>.celeryev/<routing key> (what Python receivers PSUBSCRIBE to)', async () => {
    const sub = await redisOn(DB);
    const channels: string[] = [];
    sub.on('pmessage', (_p: string, channel: string) => channels.push(channel));
    await sub.psubscribe(`/${DB}.celeryev*`);
    try {
      await until('a heartbeat', async () => channels.includes(`/${DB}.celeryev/worker.heartbeat`), 5000);
    } finally {
      sub.disconnect();
    }
  });

  it('while a client waits, its reply queue is bound in _kombu.binding.reply.celery.pidbox; afterwards nothing is left', async () => {
    const oid = client.conf.oid;
    const member = `${oid}${SEP}${SEP}${oid}.reply.celery.pidbox`;
    const pending = client.control.ping({ timeout: 1 });
    const bound = await until('the binding', async () => (await redis.sismember('_kombu.binding.reply.celery.pidbox', member)) === 1, 1000);
    expect(bound).toBe(true);
    expect(await pending).toEqual({ [NODE]: { ok: 'pong' } });
    expect(await redis.sismember('_kombu.binding.reply.celery.pidbox', member)).toBe(0);
    // The worker's reply declared nothing of its own (kombu replies through the client's binding).
    expect(await redis.keys('*reply.celery.pidbox*')).toEqual([]);
  });

  it('broadcasts in flight at once from one client each get their own replies', async () => {
    const all = await Promise.all([0, 1, 2, 3, 4].map(() => client.control.inspect('ping', {}, { timeout: 1 })));
    expect(all).toEqual(Array(5).fill({ [NODE]: { ok: 'pong' } }));
  });
});

describe('celeriac control shutdown', () => {
  it('stops the worker process the way SIGTERM does (exit 0)', async () => {
    const r = await cli('control', 'shutdown', '-d', NODE);
    expect(r.stdout).toContain(`->  ${NODE}: OK\n        shutting down\n`);
    expect(await worker.exited).toBe(0);
    expect(worker.stdout()).toContain(`${NODE} warm shutdown (SIGTERM)`);
  });
});
