/**
 * One config-run: a fresh producer and a fresh worker of one system in one
 * configuration on its own Redis database (flushed before and after), then
 * the workloads in order, each bounded in time:
 *
 * - W1: the producer enqueues N no-op tasks with no worker running; the
 *   worker starts and drains them. Then, with that worker running and warm,
 *   N more are enqueued. Rates come from the finish times the system stored.
 * - W5: peak RSS (VmHWM) of the worker (summed over its processes) and of
 *   the producer, read right after W1.
 * - W2: sequential round trips (send, then wait for the result).
 * - W3: a chord of N add(i, i) with an xsum body (BullMQ: a flow).
 * - W4: a chain of N add(1) links (BullMQ: an N-deep flow).
 */
import type { Agent, Proc } from './proc.js';
import { cpuSeconds, treeCpuSeconds, treePeakMb } from './proc.js';
import { busySince, cpuTimes } from './machine.js';
import { commandDelta, commandStats, connect, flush, runId, waitDrained } from './redis.js';
import { quantile } from './stats.js';
import type { Endpoint, ProfileOptions, System, SystemName, Transport, WorkerConfig } from './systems.js';

/** A workload. */
export type Workload = 'W1' | 'W2' | 'W3' | 'W4';

/** How big each workload is. */
export interface Sizes {
  w1: number;
  w2: number;
  w2warmup: number;
  w3: number;
  w4: number;
}

/** What one config-run measured. */
export interface Sample {
  system: SystemName;
  transport: Transport;
  config: string;
  /** 1-based run number, or 0 for a calibration run. */
  run: number;
  db: number;
  sizes: Sizes;
  w1?: { enqueue: number; drain: number; liveEnqueue: number; liveDrain: number; drainSeconds: number };
  /**
   * CPU per W1 task in µs, over both W1 batches: the worker (its whole life so
   * far, start-up included), the producer (from ready) and redis-server (which
   * also serves anyone else using it meanwhile).
   */
  cpu?: { workerUs: number; clientUs: number; redisUs: number };
  /** Redis commands per W1 task (both batches; INFO commandstats, so anyone else's commands meanwhile too). */
  redisCommands?: Array<{ cmd: string; calls: number; us: number }>;
  w2?: { p50: number; p99: number; mean: number; max: number };
  /** The median of SUBMISSIONS submissions, with their min and max. */
  w3?: { ms: number; min?: number; max?: number };
  w4?: { ms: number; min?: number; max?: number };
  /** The p50 of the config-run's first W2 round trips (as many as measured, before the warm-up ones): the cold figure. */
  w2first?: { p50: number };
  /**
   * Round trips measured after SETTLE_FACTOR times the warm-up more (as many as
   * W2 measures): the figure once the producer's JIT has caught up with the
   * round trip's code (diagnostic; W2 is the figure the targets use).
   */
  w2settled?: { p50: number; p99: number };
  /** The first full-size W3 and W4 submissions of the config-run (before the warm-up ones), for the cold figure. */
  w3first?: { ms: number };
  w4first?: { ms: number };
  /** BullMQ only: N jobs sent one after the other from the producer. */
  w4seq?: { ms: number };
  w5?: { workerMb: number; clientMb: number };
  errors: string[];
  seconds: number;
  /** Busy share of all the machine's CPUs during the config-run (ours and anyone else's). */
  machineBusy: number;
  /** Redis restarted during the config-run (someone else's doing): the sample is not used, the config-run is retried. */
  redisRestarted?: boolean;
}

interface EnqueueReply {
  t0: number;
  t1: number;
  ids: string[];
}

/** W2's settled figure follows this many times its warm-up of further unmeasured round trips. */
export const SETTLE_FACTOR = 4;

/**
 * Bounds on each step, in ms, from the sizes: about ten times what the
 * slowest system needs here (Celery: ~1,300 sends/s, ~450 tasks/s, 3 ms
 * round trips), so that a stalled configuration costs one bound, not a hang.
 */
function bounds(s: Sizes) {
  return {
    enqueue: Math.max(20_000, s.w1 * 8),
    drain: Math.max(20_000, s.w1 * 12),
    rt: Math.max(20_000, (s.w2 + s.w2warmup) * 40),
    settle: Math.max(20_000, (s.w2 + s.w2warmup * SETTLE_FACTOR) * 40),
    chord: Math.max(20_000, s.w3 * 60),
    chain: Math.max(20_000, s.w4 * 200),
  };
}

/** A step that ran out of time: the system is stuck, the rest of the config-run is skipped. */
function isTimeout(err: unknown): boolean {
  return /within \d+ ms|not finished after|exited/.test(String((err as Error)?.message));
}

/** Everything live in a config-run, stopped in `finally` and on Ctrl-C. */
export const live = new Set<{ stop(): Promise<void> }>();

/**
 * W3 and W4 submissions measured per config-run: one submission's time swings
 * by ±50 % on a shared two-core machine, so each config-run reports the
 * median of these.
 */
export const SUBMISSIONS = 5;

/**
 * Unmeasured full-size submissions before the measured ones, for every
 * system alike: the figures are a warm worker's, as a service runs. A fresh
 * Node process needs this many chains of 100 before V8 has compiled their
 * path (celeriac's first chains take about twice as long); the first one is
 * reported as the cold figure.
 */
export const WARM_UP = { W3: 3, W4: 10 } as const;

/** Run `fn` `n` times; resolves with the first timing. */
async function warmUp(n: number, fn: () => Promise<number>): Promise<number> {
  let first = Number.NaN;
  for (let i = 0; i < n; i++) {
    const ms = await fn();
    if (i === 0) first = ms;
  }
  return first;
}

/** The median of `n` timings of `fn` (ms), with their min and max. */
async function medianOf(n: number, fn: () => Promise<number>): Promise<{ ms: number; min: number; max: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push(await fn());
  return { ms: quantile(ms, 0.5), min: Math.min(...ms), max: Math.max(...ms) };
}

/** Run some workloads for one system and configuration. */
export async function runConfig(
  sys: System,
  transport: Transport,
  cfg: WorkerConfig,
  workloads: ReadonlySet<Workload>,
  sizes: Sizes,
  ep: Endpoint,
  run: number,
  profile?: ProfileOptions,
): Promise<Sample> {
  const started = performance.now();
  const sample: Sample = { system: sys.name, transport, config: cfg.id, run, db: ep.db, sizes, errors: [], seconds: 0, machineBusy: Number.NaN };
  const cpu0 = cpuTimes();
  const b = bounds(sizes);
  let client: Agent | null = null;
  let worker: Proc | null = null;
  let stuck: Workload | null = null;
  const stopWorker = { stop: async () => void (await worker?.stop()) };
  const stopClient = { stop: async () => void (await client?.quit()) };
  live.add(stopWorker);
  live.add(stopClient);
  await flush(ep.db);
  const redis = connect(ep.db);
  const run0 = await runId(redis);
  try {
    client = await sys.startClient(ep, profile);
    if (workloads.has('W1')) {
      try {
        const n = sizes.w1;
        const redisPid = Number(/process_id:(\d+)/.exec(String(await redis.info('server')))?.[1] ?? 0);
        const cpuClient0 = treeCpuSeconds(client.proc.pid);
        const cpuRedis0 = redisPid ? cpuSeconds(redisPid) : Number.NaN;
        const stats0 = await commandStats(redis);
        const a = await client.call<EnqueueReply>({ cmd: 'enqueue', n }, b.enqueue);
        const w = sys.startWorker(cfg, ep, profile);
        const drained = waitDrained(sys.probe(redis), a.ids, b.drain);
        drained.catch(() => undefined); // awaited below; a worker that fails to start must not leave it unhandled
        worker = await w;
        const fa = await Promise.race([drained, worker.exited.then((c) => Promise.reject(new Error(`worker exited (${c}) during the drain:\n${worker?.output()}`)))]);
        const l = await client.call<EnqueueReply>({ cmd: 'enqueue', n }, b.enqueue);
        const fl = await waitDrained(sys.probe(redis), l.ids, b.drain);
        sample.w1 = {
          enqueue: n / ((a.t1 - a.t0) / 1000),
          drain: (n - 1) / ((fa.last - fa.first) / 1000),
          drainSeconds: (fa.last - fa.first) / 1000,
          liveEnqueue: n / ((l.t1 - l.t0) / 1000),
          liveDrain: n / ((fl.last - l.t0) / 1000),
        };
        sample.w5 = { workerMb: treePeakMb(worker.pid), clientMb: treePeakMb(client.proc.pid) };
        const us = (sec: number) => (sec / (2 * n)) * 1e6;
        sample.cpu = {
          workerUs: us(treeCpuSeconds(worker.pid)),
          clientUs: us(treeCpuSeconds(client.proc.pid) - cpuClient0),
          redisUs: redisPid ? us(cpuSeconds(redisPid) - cpuRedis0) : Number.NaN,
        };
        sample.redisCommands = commandDelta(stats0, await commandStats(redis), 2 * n).slice(0, 8);
      } catch (err) {
        sample.errors.push(`W1: ${(err as Error).message}`);
        if (isTimeout(err)) stuck = 'W1';
      }
    }
    const skip = (w: Workload): boolean => {
      if (!stuck) return false;
      sample.errors.push(`${w}: skipped, ${stuck} ran out of time`);
      return true;
    };
    if (!stuck) worker ??= await sys.startWorker(cfg, ep, profile);
    if (workloads.has('W2') && !skip('W2')) {
      try {
        // The first round trips of the config-run are the cold figure; the measured ones follow more unmeasured ones.
        const cold = await client.call<{ lat: number[] }>({ cmd: 'rt', n: sizes.w2, warmup: 0 }, b.rt);
        sample.w2first = { p50: quantile(cold.lat, 0.5) };
        const r = await client.call<{ lat: number[] }>({ cmd: 'rt', n: sizes.w2, warmup: sizes.w2warmup }, b.rt);
        sample.w2 = { p50: quantile(r.lat, 0.5), p99: quantile(r.lat, 0.99), mean: r.lat.reduce((x, y) => x + y, 0) / r.lat.length, max: Math.max(...r.lat) };
        const settled = await client.call<{ lat: number[] }>({ cmd: 'rt', n: sizes.w2, warmup: sizes.w2warmup * SETTLE_FACTOR }, b.settle);
        sample.w2settled = { p50: quantile(settled.lat, 0.5), p99: quantile(settled.lat, 0.99) };
      } catch (err) {
        sample.errors.push(`W2: ${(err as Error).message}`);
        if (isTimeout(err)) stuck = 'W2';
      }
    }
    if (workloads.has('W3') && !skip('W3')) {
      try {
        // Narrowed for the closure below (client is a `let`).
        const c: Agent = client;
        await c.call({ cmd: 'chord', n: 10 }, b.chord);
        const want = sizes.w3 * (sizes.w3 - 1);
        const submit = async (): Promise<number> => {
          const r = await c.call<{ ms: number; value: unknown }>({ cmd: 'chord', n: sizes.w3 }, b.chord);
          if (r.value !== want) throw new Error(`the chord returned ${JSON.stringify(r.value)}, expected ${want}`);
          return r.ms;
        };
        sample.w3first = { ms: await warmUp(WARM_UP.W3, submit) };
        sample.w3 = await medianOf(SUBMISSIONS, submit);
      } catch (err) {
        sample.errors.push(`W3: ${(err as Error).message}`);
        if (isTimeout(err)) stuck = 'W3';
      }
    }
    if (workloads.has('W4') && !skip('W4')) {
      try {
        await client.call({ cmd: 'chain', n: 10 }, b.chain);
        const c: Agent = client;
        const submit = async (): Promise<number> => {
          const r = await c.call<{ ms: number; value: unknown }>({ cmd: 'chain', n: sizes.w4 }, b.chain);
          if (r.value !== sizes.w4) throw new Error(`the chain returned ${JSON.stringify(r.value)}, expected ${sizes.w4}`);
          return r.ms;
        };
        sample.w4first = { ms: await warmUp(WARM_UP.W4, submit) };
        sample.w4 = await medianOf(SUBMISSIONS, submit);
        if (sys.name === 'bullmq') {
          const s = await client.call<{ ms: number; value: unknown }>({ cmd: 'chainSeq', n: sizes.w4 }, b.chain);
          if (s.value !== sizes.w4) throw new Error(`the sequence returned ${JSON.stringify(s.value)}, expected ${sizes.w4}`);
          sample.w4seq = { ms: s.ms };
        }
      } catch (err) {
        sample.errors.push(`W4: ${(err as Error).message}`);
        if (isTimeout(err)) stuck = 'W4';
      }
    }
  } catch (err) {
    sample.errors.push(`setup: ${(err as Error).message}`);
  } finally {
    await client?.quit().catch(() => undefined);
    await worker?.stop().catch(() => undefined);
    live.delete(stopWorker);
    live.delete(stopClient);
    const run1 = await runId(redis);
    if (run1 !== run0) {
      sample.redisRestarted = true;
      sample.errors.unshift(`Redis restarted during this config-run (run_id ${run0.slice(0, 8)} → ${run1.slice(0, 8)}); not used`);
    }
    redis.disconnect();
    await flush(ep.db).catch(() => undefined);
  }
  sample.seconds = (performance.now() - started) / 1000;
  sample.machineBusy = busySince(cpu0);
  return sample;
}

/** The metric that decides a "best of" for each workload, and which way is better. */
export const DECIDING: Record<Workload, { pick: (s: Sample) => number | undefined; higher: boolean }> = {
  W1: { pick: (s) => s.w1?.drain, higher: true },
  W2: { pick: (s) => s.w2?.p50, higher: false },
  W3: { pick: (s) => s.w3?.ms, higher: false },
  W4: { pick: (s) => s.w4?.ms, higher: false },
};

/** The best configuration for a workload by its median deciding metric, or null when none measured it. */
export function bestConfig(samples: readonly Sample[], w: Workload): string | null {
  const byCfg = new Map<string, number[]>();
  for (const s of samples) {
    if (s.redisRestarted) continue;
    const v = DECIDING[w].pick(s);
    if (v === undefined || !Number.isFinite(v)) continue;
    if (!byCfg.has(s.config)) byCfg.set(s.config, []);
    byCfg.get(s.config)?.push(v);
  }
  let best: string | null = null;
  let bestV = 0;
  for (const [cfg, vs] of byCfg) {
    const m = quantile(vs, 0.5);
    if (best === null || (DECIDING[w].higher ? m > bestV : m < bestV)) {
      best = cfg;
      bestV = m;
    }
  }
  return best;
}
