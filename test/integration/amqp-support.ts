/**
 * What the AMQP integration tests share: the RabbitMQ probe, `rabbitmqctl`
 * with a time bound, one vhost per test file (deleted afterwards), and a lock
 * that runs the AMQP test files one at a time, because one of them restarts
 * RabbitMQ and would break the others mid-test.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as amqp from 'amqplib';

export const HOST = '127.0.0.1';
export const PORT = 5672;
export const START_HINT = 'start it with: rabbitmq-server -detached';

/** The URL of a vhost, as guest. */
export function vhostUrl(vhost: string): string {
  return `amqp://guest:guest@${HOST}:${PORT}/${encodeURIComponent(vhost)}`;
}

/** Why RabbitMQ cannot be used, or null when it answers an AMQP handshake. */
export async function probe(): Promise<string | null> {
  const tcp = await new Promise<string | null>((resolve) => {
    const s = createConnection({ host: HOST, port: PORT });
    s.setTimeout(2000, () => {
      s.destroy();
      resolve('timed out');
    });
    s.once('connect', () => {
      s.destroy();
      resolve(null);
    });
    s.once('error', (err) => resolve(err.message));
  });
  if (tcp) return tcp;
  try {
    const c = await amqp.connect(`amqp://guest:guest@${HOST}:${PORT}/`, { timeout: 5000 });
    await c.close();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The error a test throws when RabbitMQ is not there. */
export function unreachable(problem: string): Error {
  return new Error(`RabbitMQ is not reachable at ${HOST}:${PORT} (${problem}); ${START_HINT}`);
}

/** Run rabbitmqctl, bounded in time; rejects with its stderr on failure. */
export function rabbitmqctl(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('rabbitmqctl', [...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`rabbitmqctl ${args.join(' ')} failed: ${stderr || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** Rows of a `rabbitmqctl list_*` command as tab-separated lines, without headers. */
export async function listing(what: string, vhost: string, columns: readonly string[]): Promise<string[]> {
  const out = await rabbitmqctl(['-q', '--no-table-headers', what, '-p', vhost, ...columns]);
  return out.split('\n').filter((l) => l.length > 0);
}

/** Create a fresh vhost that guest may use fully (an old one of the same name is dropped first). */
export async function freshVhost(vhost: string): Promise<void> {
  await rabbitmqctl(['delete_vhost', vhost]).catch(() => undefined);
  await rabbitmqctl(['add_vhost', vhost]);
  await rabbitmqctl(['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
}

/** Drop a vhost and everything in it. */
export async function dropVhost(vhost: string): Promise<void> {
  await rabbitmqctl(['delete_vhost', vhost]).catch(() => undefined);
}

const LOCK = join(tmpdir(), 'celeriac-amqp-tests.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Take the AMQP test lock (a directory holding the owner's pid; a dead
 * owner's lock is broken). Resolves to the release function.
 */
export async function lockRabbit(timeoutMs = 600_000): Promise<() => void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
      } catch {
        // The owner is between mkdir and writing its pid.
      }
      if (owner && !alive(owner)) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > end) throw new Error(`the AMQP test lock ${LOCK} stayed taken for ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** A logger that keeps lines for assertions instead of printing them. */
export function memoryLogger(): { warn: (m: string, ...d: unknown[]) => void; lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (m: string) => void lines.push(m) };
}

export { sleep, until } from '../../src/testing/poll.js';
