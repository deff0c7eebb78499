/**
 * The Redis side of the benchmark: choosing a free database for each system,
 * flushing it before and after, and probing for the end of a drain.
 *
 * A drain's rate is computed from the finish times the systems store
 * themselves, not from when the probe noticed: Celery's and celeriac's
 * `date_done` (µs / ms) in `celery-task-meta-<id>`, and BullMQ's finishedOn,
 * which is the job's score in `bull:<queue>:completed`. The probe only has to
 * notice that everything finished; how fast it polls does not change a rate.
 */
import { Redis } from 'ioredis';

/** The Redis every system shares. */
export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;

/** A Redis URL for a database. */
export function redisUrl(db: number): string {
  return `redis://${REDIS_HOST}:${REDIS_PORT}/${db}`;
}

/**
 * A connection to a database. It rides out a Redis restart of up to about
 * half a minute (others' fault tests may restart a shared Redis): commands
 * wait for the reconnection, and connection errors are not thrown as events.
 */
export function connect(db: number): Redis {
  const c = new Redis({
    host: REDIS_HOST,
    port: REDIS_PORT,
    db,
    lazyConnect: false,
    maxRetriesPerRequest: 40,
    retryStrategy: (n: number) => Math.min(n * 100, 1000),
    connectionName: 'celeriac-bench',
  });
  c.on('error', () => undefined);
  return c;
}

/** The server's run_id: it changes when Redis restarts (and loses everything, without persistence). */
export async function runId(c: Redis): Promise<string> {
  try {
    return /run_id:(\w+)/.exec(String(await c.info('server')))?.[1] ?? '?';
  } catch {
    return 'unreachable';
  }
}

/** Wait up to `ms` for Redis to answer PING. */
export async function waitForRedis(ms: number): Promise<boolean> {
  const c = connect(0);
  const deadline = Date.now() + ms;
  try {
    while (Date.now() < deadline) {
      try {
        if ((await c.ping()) === 'PONG') return true;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return false;
  } finally {
    c.disconnect();
  }
}

/** Why a database is not free, or null when it is empty and no other client has it selected. */
export async function busyReason(admin: Redis, db: number): Promise<string | null> {
  const me = Number(await admin.client('ID'));
  const list = String(await admin.client('LIST'));
  const others = list
    .split('\n')
    .filter((l) => l.includes(` db=${db} `))
    .filter((l) => Number(/(?:^|\s)id=(\d+)/.exec(l)?.[1]) !== me)
    .map((l) => /name=(\S*)/.exec(l)?.[1] || '(unnamed)');
  const c = connect(db);
  try {
    const size = await c.dbsize();
    if (size > 0) return 'it holds keys';
  } finally {
    c.disconnect();
  }
  if (others.length) return 'other clients have it selected';
  return null;
}

/**
 * The first free database of `preferred`, else of the fallbacks; never one
 * already taken by this benchmark (`taken`). Returns the db and, when the
 * preferred one was busy, why.
 */
export async function chooseDb(admin: Redis, preferred: number, taken: Set<number>, fallbacks: number[]): Promise<{ db: number; note: string | null }> {
  const why = taken.has(preferred) ? 'used by another system of this benchmark' : await busyReason(admin, preferred);
  if (why === null) return { db: preferred, note: null };
  for (const db of fallbacks) {
    if (taken.has(db)) continue;
    if ((await busyReason(admin, db)) === null) return { db, note: `db ${preferred} was not free (${why}); used db ${db}` };
  }
  throw new Error(`Redis db ${preferred} is not free (${why}) and none of ${fallbacks.join(', ')} is either`);
}

/** FLUSHDB one database. */
export async function flush(db: number): Promise<void> {
  const c = connect(db);
  try {
    await c.flushdb();
  } finally {
    c.disconnect();
  }
}

/** When a batch finished: the first and last stored finish times (epoch ms). */
export interface FinishTimes {
  first: number;
  last: number;
  count: number;
}

/** Celery's naive-UTC ISO `date_done` (µs), as epoch ms with the fraction kept. */
export function parseDateDone(s: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?/.exec(s);
  if (!m) return Number.NaN;
  const whole = Date.parse(`${m[1]}Z`);
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return whole + frac;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Something that can tell how many of `ids[from..]` finished, in order, and read their finish times. */
export interface DrainProbe {
  /** How many of ids[from .. from+batch) have finished (the probe advances while all of a batch have). */
  finished(ids: string[], from: number, to: number): Promise<number>;
  /** Finish times of ids (epoch ms). */
  times(ids: string[]): Promise<number[]>;
}

/** Celery's (and celeriac's) result layout: `celery-task-meta-<id>` exists once the task finished. */
export function celeryProbe(c: Redis): DrainProbe {
  return {
    async finished(ids, from, to) {
      return Number(await c.exists(...ids.slice(from, to).map((id) => `celery-task-meta-${id}`)));
    },
    async times(ids) {
      const out: number[] = [];
      for (let i = 0; i < ids.length; i += 2000) {
        const texts = await c.mget(...ids.slice(i, i + 2000).map((id) => `celery-task-meta-${id}`));
        for (const t of texts) out.push(t ? parseDateDone(String((JSON.parse(t) as { date_done?: string }).date_done ?? '')) : Number.NaN);
      }
      return out;
    },
  };
}

/** BullMQ's layout: a finished job is in `bull:<queue>:completed`, scored with its finishedOn. */
export function bullmqProbe(c: Redis, queue: string): DrainProbe {
  const key = `bull:${queue}:completed`;
  return {
    async finished(ids, from, to) {
      const scores = (await c.call('ZMSCORE', key, ...ids.slice(from, to))) as Array<string | null>;
      return scores.filter((s) => s !== null).length;
    },
    async times(ids) {
      const out: number[] = [];
      for (let i = 0; i < ids.length; i += 2000) {
        const scores = (await c.call('ZMSCORE', key, ...ids.slice(i, i + 2000))) as Array<string | null>;
        for (const s of scores) out.push(s === null ? Number.NaN : Number(s));
      }
      return out;
    },
  };
}

/** Wait until every id finished (polling every `every` ms, up to `ms`); then the finish times. */
export async function waitDrained(probe: DrainProbe, ids: string[], ms: number, every = 20): Promise<FinishTimes> {
  const deadline = Date.now() + ms;
  const BATCH = 1000;
  let from = 0;
  while (from < ids.length) {
    const to = Math.min(ids.length, from + BATCH);
    const n = await probe.finished(ids, from, to);
    if (n === to - from) {
      from = to;
      continue;
    }
    if (Date.now() > deadline) throw new Error(`drain not finished after ${ms} ms: ${from + n} of ${ids.length} done`);
    await sleep(every);
  }
  const times = (await probe.times(ids)).filter((t) => Number.isFinite(t));
  if (times.length !== ids.length) throw new Error(`only ${times.length} of ${ids.length} finish times could be read`);
  let first = Infinity;
  let last = -Infinity;
  for (const t of times) {
    if (t < first) first = t;
    if (t > last) last = t;
  }
  return { first, last, count: times.length };
}

/** Cumulative calls and server µs per command (INFO commandstats). */
export async function commandStats(c: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of String(await c.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Per-task calls and µs by command between two commandstats readings, largest first. */
export function commandDelta(
  a: Map<string, { calls: number; usec: number }>,
  b: Map<string, { calls: number; usec: number }>,
  tasks: number,
): Array<{ cmd: string; calls: number; us: number }> {
  const out: Array<{ cmd: string; calls: number; us: number }> = [];
  for (const [cmd, v] of b) {
    const p = a.get(cmd) ?? { calls: 0, usec: 0 };
    const calls = v.calls - p.calls;
    if (calls > 0) out.push({ cmd, calls: calls / tasks, us: (v.usec - p.usec) / tasks });
  }
  return out.sort((x, y) => y.us - x.us);
}
