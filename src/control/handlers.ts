/**
 * Worker-side remote control commands (celery-wire.md §8.1), answering in the
 * shapes `celery inspect` and `celery control` print.
 */

/** A request summary as `celery inspect active/reserved` prints it. */
export interface RequestInfo {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  type: string;
  hostname: string;
  time_start: number | null;
  acknowledged: boolean;
  delivery_info: { exchange: string; routing_key: string; priority: number | null; redelivered: boolean };
  worker_pid: number;
}

/** What the control handlers need from a worker. */
export interface ControlledWorker {
  readonly hostname: string;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly processed: number;
  readonly processedByName: ReadonlyMap<string, number>;
  revoke(ids: readonly string[], terminate?: boolean): void;
  revokeRoots(rootIds: readonly string[], terminate?: boolean): void;
  revokedIds(): string[];
  activeInfo(): RequestInfo[];
  reservedInfo(): RequestInfo[];
  scheduledInfo(): Array<{ eta: string; priority: number | null; request: RequestInfo }>;
  registeredNames(): string[];
  setRateLimit(task: string, rate: string | null): void;
  setTimeLimit(task: string, hard: number | null, soft: number | null): void;
  setEvents(enabled: boolean): void;
  requestShutdown(): void;
  stateOf(id: string): [string, RequestInfo] | null;
  startedAt: number;
}

type Handler = (w: ControlledWorker, args: Record<string, unknown>) => unknown;

function ids(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  return [];
}

/** Commands by method name. */
export const HANDLERS: Readonly<Record<string, Handler>> = {
  ping: () => ({ ok: 'pong' }),
  revoke: (w, a) => {
    const list = ids(a.task_id);
    w.revoke(list, a.terminate === true);
    return { ok: `tasks ${list.join(', ')} flagged as revoked` };
  },
  terminate: (w, a) => {
    const list = ids(a.task_id);
    w.revoke(list, true);
    return { ok: `terminate: tasks ${list.join(', ')} flagged as revoked` };
  },
  revoke_by_root: (w, a) => {
    const list = ids(a.root_id);
    w.revokeRoots(list, a.terminate === true);
    return { ok: `workflows ${list.join(', ')} flagged as revoked` };
  },
  revoked: (w) => w.revokedIds(),
  active: (w) => w.activeInfo(),
  reserved: (w) => w.reservedInfo(),
  scheduled: (w) => w.scheduledInfo(),
  registered: (w) => w.registeredNames(),
  active_queues: (w) =>
    w.queues.map((q) => ({ name: q, exchange: { name: q, type: 'direct', durable: true, auto_delete: false }, routing_key: q, durable: true, exclusive: false, auto_delete: false, no_ack: false })),
  stats: (w) => ({
    total: Object.fromEntries(w.processedByName),
    pid: process.pid,
    clock: 0,
    uptime: Math.round((Date.now() - w.startedAt) / 1000),
    pool: { 'max-concurrency': w.concurrency, implementation: 'celeriac:async', processes: [process.pid] },
    prefetch_count: w.concurrency * 4,
    rusage: { utime: process.cpuUsage().user / 1e6, stime: process.cpuUsage().system / 1e6, maxrss: Math.round(process.memoryUsage().rss / 1024) },
    sw_ident: 'celeriac',
  }),
  query_task: (w, a) => {
    const out: Record<string, unknown> = {};
    for (const id of ids(a.ids ?? a.task_id)) {
      const s = w.stateOf(id);
      if (s) out[id] = s;
    }
    return out;
  },
  rate_limit: (w, a) => {
    if (!w.registeredNames().includes(String(a.task_name))) return { error: `unknown task ${String(a.task_name)}` };
    // Celery: no rate, or a rate of zero ("0", "0/s"), removes the limit.
    const rate = a.rate_limit === null || a.rate_limit === undefined ? '' : String(a.rate_limit);
    if (/^\s*(0+(\.0*)?)?\s*(\/\s*[smh])?\s*$/.test(rate)) {
      w.setRateLimit(String(a.task_name), null);
      return { ok: 'rate limit disabled successfully' };
    }
    w.setRateLimit(String(a.task_name), rate);
    return { ok: 'new rate limit set successfully' };
  },
  time_limit: (w, a) => {
    if (!w.registeredNames().includes(String(a.task_name))) return { error: `unknown task ${String(a.task_name)}` };
    w.setTimeLimit(String(a.task_name), (a.hard as number | null) ?? null, (a.soft as number | null) ?? null);
    return { ok: 'time limits set successfully' };
  },
  enable_events: (w) => {
    w.setEvents(true);
    return { ok: 'task events enabled' };
  },
  disable_events: (w) => {
    w.setEvents(false);
    return { ok: 'task events disabled' };
  },
  heartbeat: () => null,
  clock: () => ({ clock: 0 }),
  conf: () => ({}),
  report: (w) => ({ ok: `celeriac worker ${w.hostname}, ${w.processed} tasks processed` }),
  pool_grow: () => ({ ok: 'pool will grow' }),
  pool_shrink: () => ({ ok: 'pool will shrink' }),
  hello: (w) => ({ revoked: Object.fromEntries(w.revokedIds().map((id) => [id, 0])), clock: 0 }),
  shutdown: (w) => {
    w.requestShutdown();
    return { ok: 'shutting down' };
  },
};

/** Run a command; an unknown one or a handler error is answered with `{error: ...}`. */
export function handle(w: ControlledWorker, method: string, args: Record<string, unknown>): unknown {
  const h = HANDLERS[method];
  if (!h) return { error: `KeyError('${method}')` };
  try {
    return h(w, args);
  } catch (err) {
    return { error: `${(err as Error).name}('${(err as Error).message}')` };
  }
}
