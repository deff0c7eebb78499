/**
 * Shared pieces of the fault suite: Redis databases 13 (broker) and 14
 * (backend), which the suite flushes (it runs after the main suite, one file
 * at a time), a `celeriac worker` child on test/fault/fault-tasks.ts, reading
 * many task states at once, the execution counters, and bringing Redis back.
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { REDIS_START } from '../support/redis-db.js';
import { killAll, startCli, type Child } from '../support/interop-process.js';
import { Celeriac } from '../../src/index.js';

/**
 * The Redis port: 6379, as in CI. CELERIAC_FAULT_REDIS_PORT points the suite
 * at a private server instead (the restart test stops and starts it, which
 * would break anyone else's tests running on a shared 6379).
 */
export const PORT = Number(process.env.CELERIAC_FAULT_REDIS_PORT ?? 6379);
export const BROKER_DB = 13;
export const BACKEND_DB = 14;
export const BROKER_URL = `redis://127.0.0.1:${PORT}/${BROKER_DB}`;
export const BACKEND_URL = `redis://127.0.0.1:${PORT}/${BACKEND_DB}`;
/** The command that starts Redis (README, CI), on PORT. */
export const REDIS_START_ARGS = ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(PORT), '--save', '', '--appendonly', 'no'];
export const TASKS = 'test/fault/fault-tasks.ts';

/** A Redis connection that retries (used across restarts). */
export function redisDb(db: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port: PORT, db, maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 100, 1000) });
  r.on('error', () => undefined);
  return r;
}

/** Start `celeriac worker -A test/fault/fault-tasks.ts` on `queue` and wait for its ready line. */
export async function startWorker(queue: string, node: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Child> {
  const w = startCli(['worker', '-A', TASKS, '-b', BROKER_URL, '--result-backend', BACKEND_URL, '-Q', queue, '-n', node, '-l', 'warn', ...extraArgs], {
    env: { FAULT_QUEUE: queue, ...env },
  });
  await w.waitFor(/ ready: queues=/, 30_000);
  return w;
}

/** The state of each task id (PENDING when there is no meta), read with MGET in slices. */
export async function states(backend: Redis, ids: readonly string[]): Promise<Map<string, { status: string; result: unknown }>> {
  const out = new Map<string, { status: string; result: unknown }>();
  for (let i = 0; i < ids.length; i += 500) {
    const slice = ids.slice(i, i + 500);
    const metas = await backend.mget(...slice.map((id) => `celery-task-meta-${id}`));
    slice.forEach((id, k) => {
      const m = metas[k] ? (JSON.parse(metas[k] as string) as { status: string; result: unknown }) : { status: 'PENDING', result: null };
      out.set(id, m);
    });
  }
  return out;
}

/** Poll until every id is in a ready state (or `timeoutMs` passes); resolves to the last states read. */
export async function settle(backend: Redis, ids: readonly string[], timeoutMs: number): Promise<Map<string, { status: string; result: unknown }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await states(backend, ids);
    const open = [...s.values()].filter((m) => !['SUCCESS', 'FAILURE', 'REVOKED'].includes(m.status)).length;
    if (open === 0 || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Counts by state, for readable assertions: `{SUCCESS: 2000}`. */
export function tally(s: Map<string, { status: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of s.values()) out[m.status] = (out[m.status] ?? 0) + 1;
  return out;
}

/** A counter hash of fault-tasks.ts (`fault:exec` or `fault:fresh`) as id → count. */
export async function counter(backend: Redis, name: 'fault:exec' | 'fault:fresh'): Promise<Map<string, number>> {
  const h = await backend.hgetall(name);
  return new Map(Object.entries(h).map(([k, v]) => [k, Number(v)]));
}

/** Poll `probe` until it is truthy. */
export async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Whether Redis at 127.0.0.1:PORT answers PING. */
export function redisAnswers(): boolean {
  const r = spawnSync('redis-cli', ['-p', String(PORT), 'ping'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 && r.stdout.trim() === 'PONG';
}

/** Stop Redis at once, keeping nothing: `redis-cli -p PORT shutdown nosave`. */
export function shutdownRedis(): void {
  spawnSync('redis-cli', ['-p', String(PORT), 'shutdown', 'nosave'], { encoding: 'utf8', timeout: 10_000 });
}

/**
 * Start Redis if it does not answer (the command the README gives), and wait
 * up to 20 s until it does. Safe to call whatever state Redis is in.
 */
export async function ensureRedisRunning(): Promise<void> {
  if (redisAnswers()) return;
  // From the temp directory, so that a SAVE someone issues later never writes dump.rdb into the checkout.
  const r = spawnSync('redis-server', REDIS_START_ARGS, { cwd: tmpdir(), encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`could not restart Redis with: ${PORT === 6379 ? REDIS_START : `redis-server ${REDIS_START_ARGS.join(' ')}`}\n${r.stdout}${r.stderr}`);
  await until('Redis to answer PING after a restart', () => redisAnswers(), 20_000, 100);
}

/** What every fault test file holds: its broker and backend databases (flushed) and a client app on its queue. */
export interface FaultEnv {
  broker: Redis;
  backend: Redis;
  client: Celeriac;
}

/** Flush the fault databases and make a client app on `queue`. */
export async function openFaultEnv(queue: string): Promise<FaultEnv> {
  const broker = redisDb(BROKER_DB);
  const backend = redisDb(BACKEND_DB);
  await Promise.all([broker.flushdb(), backend.flushdb()]);
  const client = new Celeriac({ broker: BROKER_URL, backend: BACKEND_URL, defaultQueue: queue, logLevel: 'silent' });
  return { broker, backend, client };
}

/** Kill the file's worker processes, close the client, flush and disconnect (whatever was opened). */
export async function closeFaultEnv(env: Partial<FaultEnv>): Promise<void> {
  await killAll();
  await env.client?.close();
  await Promise.all([env.broker?.flushdb(), env.backend?.flushdb()]);
  env.broker?.disconnect();
  env.backend?.disconnect();
}
