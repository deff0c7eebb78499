/**
 * The three systems of the benchmark: how to start a worker (a separate
 * process, always) and a producer agent, in which configurations, how to see
 * that a batch finished, and whether the system is installed at all.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ROOT, snapshotDir } from './build.js';
import { Agent, Proc } from './proc.js';
import { bullmqProbe, celeryProbe, type DrainProbe } from './redis.js';

/** A system's name. */
export type SystemName = 'celeriac' | 'bullmq' | 'celery';
/** The broker a run uses (results are always in Redis). */
export type Transport = 'redis' | 'amqp';

/** Where one system's run talks to. */
export interface Endpoint {
  /** The Redis database of this system (results; and the broker on `redis`). */
  db: number;
  brokerUrl: string;
  backendUrl: string;
}

/** One way to run a system's worker. */
export interface WorkerConfig {
  /** Short id, e.g. `c10`, `prefork`. */
  id: string;
  /** What it is, for the report. */
  label: string;
}

/** How processes are started for profiling. */
export interface ProfileOptions {
  /** Directory of --cpu-prof output. */
  dir: string;
  /** File name prefix, e.g. `w1`. */
  tag: string;
}

/** A system as the runner sees it. */
export interface System {
  name: SystemName;
  /** Display name. */
  title: string;
  /** The worker configurations a "best of" is taken over. */
  configs: WorkerConfig[];
  /** The worker command line, for the report. */
  workerCommand(cfg: WorkerConfig): string;
  /** The producer command line, for the report. */
  clientCommand(): string;
  /** Start a worker; resolves once it is consuming. */
  startWorker(cfg: WorkerConfig, ep: Endpoint, profile?: ProfileOptions): Promise<Proc>;
  /** Start a producer agent; resolves once it is connected. */
  startClient(ep: Endpoint, profile?: ProfileOptions): Promise<Agent>;
  /** How to see that a batch of W1 finished. */
  probe(redis: Redis): DrainProbe;
}

const NODE = process.execPath;
const PYTHON = '/usr/bin/python3';
const PEERS = join(ROOT, 'bench', 'peers');
const READY_MS = 30_000;

function profArgs(p: ProfileOptions | undefined, who: string): string[] {
  return p ? ['--cpu-prof', '--cpu-prof-dir', p.dir, '--cpu-prof-name', `celeriac-${who}-${p.tag}.cpuprofile`] : [];
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

async function agent(name: string, cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Agent> {
  const a = new Agent(new Proc(name, cmd, args, opts));
  try {
    await a.ready(READY_MS);
  } catch (err) {
    await a.proc.stop(1000);
    throw err;
  }
  return a;
}

async function worker(name: string, cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }, ready: RegExp): Promise<Proc> {
  const p = new Proc(name, cmd, args, opts);
  try {
    await p.waitForLine(ready, READY_MS);
  } catch (err) {
    await p.stop(1000);
    throw err;
  }
  return p;
}

/**
 * celeriac: the real CLI (`celeriac worker`) on bench/tasks.ts, defaults
 * except the queue and the concurrency: on Redis the best of 1, 10 (the
 * default) and 50, as BullMQ gets; the first config (the default) where one
 * configuration runs.
 */
export const celeriac: System = {
  name: 'celeriac',
  title: 'celeriac',
  configs: [10, 1, 50].map((c) => ({ id: `c${c}`, label: `concurrency ${c}${c === 10 ? ' (CLI default)' : ''}, prefetch multiplier 4 (default)` })),
  workerCommand: (cfg) => `node src/cli/main.js worker -A bench/tasks.js -Q bench -c ${cfg.id.slice(1)} -l warn -b <broker> --result-backend <redis db>`,
  clientCommand: () => 'node bench/clients/celeriac-client.js',
  startWorker(cfg, ep, profile) {
    const args = [
      ...profArgs(profile, 'worker'),
      join(snapshotDir(), 'src', 'cli', 'main.js'),
      'worker',
      '-A',
      join(snapshotDir(), 'bench', 'tasks.js'),
      '-Q',
      'bench',
      '-c',
      cfg.id.slice(1),
      '-l',
      'warn',
      '-n',
      `bench${process.pid}@%h`,
      '-b',
      ep.brokerUrl,
      '--result-backend',
      ep.backendUrl,
      '--shutdown-timeout',
      '10',
    ];
    return worker('celeriac worker', NODE, args, { env: cleanEnv({ CELERIAC_BROKER_URL: ep.brokerUrl, CELERIAC_RESULT_BACKEND: ep.backendUrl }) }, / ready: queues=/);
  },
  startClient(ep, profile) {
    const args = [...profArgs(profile, 'client'), join(snapshotDir(), 'bench', 'clients', 'celeriac-client.js')];
    return agent('celeriac client', NODE, args, { env: cleanEnv({ CELERIAC_BROKER_URL: ep.brokerUrl, CELERIAC_RESULT_BACKEND: ep.backendUrl }) });
  },
  probe: (redis) => celeryProbe(redis),
};

/** BullMQ: one Worker per process, best of concurrency 1, 10 and 50. */
export const bullmq: System = {
  name: 'bullmq',
  title: 'BullMQ',
  configs: [1, 10, 50].map((c) => ({ id: `c${c}`, label: `concurrency ${c}` })),
  workerCommand: (cfg) => `node bench/clients/bullmq-worker.js --concurrency ${cfg.id.slice(1)}`,
  clientCommand: () => 'node bench/clients/bullmq-client.js',
  startWorker(cfg, ep) {
    const args = [join(snapshotDir(), 'bench', 'clients', 'bullmq-worker.js'), '--concurrency', cfg.id.slice(1)];
    return worker('bullmq worker', NODE, args, { env: cleanEnv({ BENCH_REDIS_URL: ep.brokerUrl }) }, /bullmq worker ready/);
  },
  startClient(ep) {
    return agent('bullmq client', NODE, [join(snapshotDir(), 'bench', 'clients', 'bullmq-client.js')], { env: cleanEnv({ BENCH_REDIS_URL: ep.brokerUrl }) });
  },
  probe: (redis) => bullmqProbe(redis, 'bench'),
};

const CELERY_POOLS: Record<string, string[]> = {
  prefork: ['-P', 'prefork', '-c', '2'],
  threads: ['-P', 'threads', '-c', '10'],
  solo: ['-P', 'solo'],
};

function celeryWorkerArgs(cfg: WorkerConfig): string[] {
  return ['-m', 'celery', '-A', 'celery_app', 'worker', '-Q', 'bench', '-l', 'warning', '--without-gossip', '--without-mingle', '--without-heartbeat', ...CELERY_POOLS[cfg.id]];
}

/** Python Celery 5 (Debian python3-celery): best of prefork -c 2, threads and solo. */
export const celery: System = {
  name: 'celery',
  title: 'Celery',
  configs: [
    { id: 'prefork', label: 'prefork pool, -c 2' },
    { id: 'threads', label: 'threads pool, -c 10' },
    { id: 'solo', label: 'solo pool' },
  ],
  workerCommand: (cfg) => `/usr/bin/python3 ${celeryWorkerArgs(cfg).join(' ')}`,
  clientCommand: () => '/usr/bin/python3 bench/peers/celery_client.py',
  startWorker(cfg, ep) {
    const args = [...celeryWorkerArgs(cfg), '-n', `bench${process.pid}-${cfg.id}@%h`];
    return worker('celery worker', PYTHON, args, { cwd: PEERS, env: pyEnv(ep) }, /BENCH-READY/);
  },
  startClient(ep) {
    return agent('celery client', PYTHON, ['celery_client.py'], { cwd: PEERS, env: pyEnv(ep) });
  },
  probe: (redis) => celeryProbe(redis),
};

function pyEnv(ep: Endpoint): NodeJS.ProcessEnv {
  return cleanEnv({ BENCH_BROKER_URL: ep.brokerUrl, BENCH_RESULT_BACKEND: ep.backendUrl, PYTHONDONTWRITEBYTECODE: '1' });
}

/** Whether a system can run here, and its versions. */
export interface Availability {
  ok: boolean;
  /** Why not, with what to install. */
  reason?: string;
  versions: Record<string, string>;
}

const require = createRequire(join(ROOT, 'package.json'));

function nodePackageVersion(name: string): string | null {
  try {
    const dir = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(dir, 'utf8')) as { version: string }).version;
  } catch {
    try {
      // Packages without an exports entry for package.json.
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return null;
    }
  }
}

/** Check that a system is installed. */
export function availability(name: SystemName): Availability {
  if (name === 'celeriac') {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    return { ok: true, versions: { celeriac: pkg.version, ioredis: nodePackageVersion('ioredis') ?? '?', amqplib: nodePackageVersion('amqplib') ?? '?' } };
  }
  if (name === 'bullmq') {
    const v = nodePackageVersion('bullmq');
    if (!v) return { ok: false, reason: 'the bullmq package is not installed (npm install -D bullmq)', versions: {} };
    return { ok: true, versions: { bullmq: v, ioredis: nodePackageVersion('ioredis') ?? '?' } };
  }
  try {
    const out = execFileSync(
      PYTHON,
      ['-c', 'import sys, celery, kombu, redis, amqp; print(sys.version.split()[0], celery.__version__, kombu.__version__, redis.__version__, amqp.__version__)'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    ).trim();
    const [python, celeryV, kombu, redisPy, amqp] = out.split(' ');
    return { ok: true, versions: { python, celery: celeryV, kombu, 'redis-py': redisPy, 'py-amqp': amqp } };
  } catch (err) {
    const msg = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop();
    return { ok: false, reason: `Python Celery is not installed for ${PYTHON} (${msg}); apt-get install -y python3-celery python3-redis python3-amqp`, versions: {} };
  }
}

/** Every system. */
export const SYSTEMS: Record<SystemName, System> = { celeriac, bullmq, celery };
