/** What the report says about the machine and the servers. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { cpus, loadavg, release, totalmem } from 'node:os';
import type { Redis } from 'ioredis';

/** The machine and server facts. */
export interface Machine {
  nproc: number;
  memoryGb: number;
  cpuModel: string;
  kernel: string;
  node: string;
  redis: string;
  python: string;
  rabbitmq: string;
  loadStart: number[];
}

function sh(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).trim();
  } catch {
    return null;
  }
}

function cpuModel(): string {
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

/** Collect the facts (RabbitMQ's version only when it answers). */
export async function machine(admin: Redis): Promise<Machine> {
  const info = String(await admin.info('server'));
  const rmq = sh('rabbitmqctl', ['--quiet', 'version']);
  return {
    nproc: Number(sh('nproc', [])) || cpus().length,
    memoryGb: totalmem() / 2 ** 30,
    cpuModel: cpuModel(),
    kernel: release(),
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    python: sh('/usr/bin/python3', ['--version'])?.replace('Python ', '') ?? 'not installed',
    rabbitmq: rmq ?? 'not available',
    loadStart: loadavg(),
  };
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number, ms = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** A RabbitMQ vhost of the benchmark's own, created with rabbitmqctl and deleted after. */
export class Vhost {
  private constructor(readonly name: string) {}

  /** Create it and give guest every permission on it. */
  static create(name: string): Vhost {
    execFileSync('rabbitmqctl', ['--quiet', 'add_vhost', name], { stdio: 'pipe', timeout: 30_000 });
    execFileSync('rabbitmqctl', ['--quiet', 'set_permissions', '-p', name, 'guest', '.*', '.*', '.*'], { stdio: 'pipe', timeout: 30_000 });
    return new Vhost(name);
  }

  /** The broker URL of this vhost. */
  url(): string {
    return `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(this.name)}`;
  }

  /** Delete it (and everything in it). */
  delete(): void {
    sh('rabbitmqctl', ['--quiet', 'delete_vhost', this.name]);
  }
}

/** Why AMQP runs cannot happen here, or null. */
export async function amqpUnavailable(): Promise<string | null> {
  if (!(await portOpen(5672))) return 'RabbitMQ is not listening on 127.0.0.1:5672 (start it with rabbitmq-server -detached)';
  if (sh('rabbitmqctl', ['--quiet', 'list_vhosts']) === null) return 'rabbitmqctl is not available or cannot reach the node (it is needed to create the benchmark vhost)';
  return null;
}

/** Total and idle jiffies of all CPUs (/proc/stat). */
export function cpuTimes(): { total: number; idle: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { total: f.reduce((a, b) => a + b, 0), idle };
  } catch {
    return { total: 0, idle: 0 };
  }
}

/** Busy share of all CPUs since `from` (0..1), or NaN when unknown. */
export function busySince(from: { total: number; idle: number }): number {
  const now = cpuTimes();
  const total = now.total - from.total;
  return total > 0 ? 1 - (now.idle - from.idle) / total : Number.NaN;
}
