/** Remote control, inspection and events over the pidbox, on memory://. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveEvents, type CeleryEvent } from '../../src/control/index.js';
import { chain, chord, ChordError, type GroupResult, type TaskContext } from '../../src/index.js';
import { makeApp } from '../support/tasks.js';
import { until } from '../../src/testing/poll.js';

const t = makeApp();
const { app, add } = t;
const T = { timeout: 5 };
const events: CeleryEvent[] = [];
let stopEvents: () => Promise<void>;

const hold = app.task('ctl.hold', (self: TaskContext, ms: number) => new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => resolve('finished'), ms);
  self.signal.addEventListener('abort', () => {
    clearTimeout(timer);
    reject(self.signal.reason);
  });
}), { bind: true });

async function isActive(id: string): Promise<boolean> {
  const replies = await app.control.inspect('active', {}, { timeout: 0.2, destination: ['w1@test'] });
  return ((replies['w1@test'] as Array<{ id: string }> | undefined) ?? []).some((a) => a.id === id);
}

beforeAll(async () => {
  stopEvents = await receiveEvents(await app.broker(), (ev) => events.push(ev));
  await app.worker({ hostname: 'w1@test', concurrency: 2, taskEvents: true, heartbeatInterval: 0.05 });
});
afterAll(async () => {
  await stopEvents();
  await app.close();
});

describe('remote control', () => {
  it('ping answers pong from every worker (and a destination narrows it to one)', async () => {
    expect((await app.control.ping({ timeout: 0.2 }))['w1@test']).toEqual({ ok: 'pong' });
    expect(await app.control.ping({ timeout: 0.2, destination: ['w1@test'] })).toEqual({ 'w1@test': { ok: 'pong' } });
  });
  it('a destination that is not this worker gets no answer', async () => {
    expect(await app.control.ping({ timeout: 0.1, destination: ['other@host'] })).toEqual({});
  });
  it('inspect registered, active, scheduled, revoked and stats', async () => {
    const running = await hold.delay(1500);
    const later = await add.applyAsync([1, 1], {}, { countdown: 30 });
    await until('the task to be active', async () => isActive(running.id));
    await until('the countdown task to be scheduled', async () => ((await app.control.inspect('scheduled', {}, { timeout: 0.2, destination: ['w1@test'] }))['w1@test'] as Array<{ request: { id: string } }>).some((x) => x.request.id === later.id));
    const registered = (await app.control.inspect('registered', {}, { timeout: 0.2 }))['w1@test'] as string[];
    expect(registered).toContain('tasks.add');
    expect(registered).toContain('ctl.hold');
    const active = (await app.control.inspect('active', {}, { timeout: 0.2 }))['w1@test'] as Array<{ id: string; name: string }>;
    expect(active.map((a) => a.id)).toContain(running.id);
    const scheduled = (await app.control.inspect('scheduled', {}, { timeout: 0.2 }))['w1@test'] as Array<{ request: { id: string } }>;
    expect(scheduled.map((s) => s.request.id)).toContain(later.id);
    await later.revoke();
    await until('the revoke to arrive', async () => ((await app.control.inspect('revoked', {}, { timeout: 0.2, destination: ['w1@test'] }))['w1@test'] as string[]).includes(later.id));
    expect((await app.control.inspect('revoked', {}, { timeout: 0.2 }))['w1@test']).toContain(later.id);
    const stats = (await app.control.inspect('stats', {}, { timeout: 0.2 }))['w1@test'] as { pool: { 'max-concurrency': number } };
    expect(stats.pool['max-concurrency']).toBe(2);
    expect(await running.get(T)).toBe('finished');
  });
  it('an unknown command is answered with an error', async () => {
    expect(await app.control.inspect('no_such_command', {}, { timeout: 0.2, destination: ['w1@test'] })).toEqual({ 'w1@test': { error: "KeyError('no_such_command')" } });
  });
  it('revoke with terminate stops a running task: REVOKED "terminated"', async () => {
    const r = await hold.delay(5000);
    await until('the task to be active', async () => isActive(r.id));
    await r.revoke({ terminate: true });
    await expect(r.get(T)).rejects.toThrow('terminated');
    expect(await r.state()).toBe('REVOKED');
  });
  it('revokeWorkflow by root id: the running task is terminated, later steps are REVOKED, a chord body never fires', async () => {
    const res = await chain(hold.si(5000), t.identity.si(1), t.identity.si(2)).delay();
    const first = res.parent!.parent!;
    await until('the first step to be active', async () => isActive(first.id));
    await app.control.revokeWorkflow(first.id, { terminate: true });
    await expect(res.get(T)).rejects.toThrow(/terminated|revoked/);
    expect(await first.state()).toBe('REVOKED');
    expect(await res.parent!.state()).toBe('REVOKED');
    expect(await res.state()).toBe('REVOKED');

    const wf = await chain(add.si(1, 1), chord([hold.si(5000), hold.si(5000)], t.identity.s())).delay();
    const header = wf.parent as GroupResult;
    const root = header.parent!.id;
    await until('the header to be active', async () => isActive(header.results[0].id));
    await app.control.revokeWorkflow(root, { terminate: true });
    const err = await wf.get({ ...T, followParents: false }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ChordError);
    expect(await header.results[0].state()).toBe('REVOKED');
    expect((await wf.meta()).status).toBe('FAILURE');
  });

  it('rate_limit changes a task type’s limit on the worker', async () => {
    const replies = await app.control.rateLimit('tasks.add', '1000/s', { reply: true, timeout: 0.2 });
    expect(replies['w1@test']).toEqual({ ok: 'new rate limit set successfully' });
    const unknown = await app.control.rateLimit('no.such.task', '1/s', { reply: true, timeout: 0.2, destination: ['w1@test'] });
    expect(unknown['w1@test']).toEqual({ error: 'unknown task no.such.task' });
    expect(await (await add.delay(1, 2)).get(T)).toBe(3);
  });
});

describe('events', () => {
  it('task-received, task-started and task-succeeded in Celery’s format; worker-online and heartbeats', async () => {
    const r = await add.delay(20, 22);
    await r.get(T);
    await until('the task events', () => events.some((e) => e.uuid === r.id && e.type === 'task-succeeded') && events.some((e) => e.type === 'worker-heartbeat'));
    const mine = events.filter((e) => e.uuid === r.id).map((e) => e.type);
    expect(mine).toEqual(['task-received', 'task-started', 'task-succeeded']);
    const ok = events.find((e) => e.uuid === r.id && e.type === 'task-succeeded')!;
    expect(ok.result).toBe('42');
    expect(ok.hostname).toBe('w1@test');
    expect(typeof ok.timestamp).toBe('number');
    expect(typeof ok.clock).toBe('number');
    const received = events.find((e) => e.uuid === r.id && e.type === 'task-received')!;
    expect(received.args).toBe('(20, 22)');
    expect(events.some((e) => e.type === 'worker-heartbeat' && e.sw_ident === 'celeriac' && e.freq === 0.05)).toBe(true);
  });
  it('a failing task sends task-failed with the exception', async () => {
    const r = await t.fail.delay(1);
    await r.get(T).catch(() => undefined);
    await until('the task-failed event', () => events.some((e) => e.uuid === r.id && e.type === 'task-failed'));
    const failed = events.find((e) => e.uuid === r.id && e.type === 'task-failed');
    expect(failed?.exception).toBe("ValueError('boom [1]')");
  });
});
