/**
 * Child processes for the CLI and interop suites: spawn, wait for a line,
 * stop with SIGTERM (then SIGKILL), run a command to completion; every wait
 * bounded. `killAll()` in afterAll ends whatever is still running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** How to run the CLI from source. */
export const CLI = ['--import', 'tsx', resolve(ROOT, 'src/cli/main.ts')];

/** The message a suite fails with when Redis is not there. */
export const REDIS_HINT = 'Redis is not reachable on 127.0.0.1:6379; start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no';

/** A running child with its output collected. */
export interface Child {
  proc: ChildProcess;
  /** stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128+signal) once it exits. */
  exited: Promise<number>;
  /** Resolves once `pattern` appears in stdout or stderr; rejects at `timeoutMs` or if the child exits first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

const live = new Set<Child>();

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Spawn a process and collect its output. */
export function start(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const proc = spawn(command, [...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  proc.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    notify();
  });
  proc.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
    notify();
  });
  let done = false;
  const exited = new Promise<number>((res) => {
    proc.on('exit', (code, signal) => {
      done = true;
      live.delete(child);
      notify();
      res(code ?? 128 + (SIGNALS[signal ?? 'SIGTERM'] ?? 15));
    });
    proc.on('error', () => {
      done = true;
      live.delete(child);
      notify();
      res(127);
    });
  });
  const child: Child = {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs) {
      return new Promise<void>((res, rej) => {
        const check = () => {
          if (pattern.test(out) || pattern.test(err)) finish(null);
          else if (done) finish(new Error(`${command} exited before printing ${pattern}\n--- stdout\n${out}\n--- stderr\n${err}`));
        };
        const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}\n--- stdout\n${out}\n--- stderr\n${err}`)), timeoutMs);
        const finish = (e: Error | null) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (e) rej(e);
          else res();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 10_000) {
      if (!done) proc.kill('SIGTERM');
      const t = setTimeout(() => {
        if (!done) proc.kill('SIGKILL');
      }, graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  live.add(child);
  return child;
}

/** Stop every child still running (for afterAll). */
export async function killAll(graceMs = 5000): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs)));
}

/** The outcome of a command run to completion. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (killed at `timeoutMs`). */
export async function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const c = start(command, args, options);
  const timer = setTimeout(() => void c.stop(1000), options.timeoutMs ?? 30_000);
  const code = await c.exited;
  clearTimeout(timer);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** Run the CLI from source. */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [...CLI, ...args], options);
}

/** Start the CLI from source as a long-running child. */
export function startCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Child {
  return start(process.execPath, [...CLI, ...args], options);
}

/** A Redis client on `db`, or an error with the start-it hint when the server is down. */
export async function redisOn(db: number): Promise<Redis> {
  const r = new Redis({ host: '127.0.0.1', port: 6379, db, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
  } catch {
    r.disconnect();
    throw new Error(REDIS_HINT);
  }
  return r;
}

/**
 * The Python that runs Celery: Debian's /usr/bin/python3 (with python3-celery),
 * or CELERIAC_INTEROP_PYTHON to point the suite at another interpreter.
 */
export const PYTHON = process.env.CELERIAC_INTEROP_PYTHON || '/usr/bin/python3';

/** Whether `PYTHON -c 'import celery'` works, and the Celery version or the reason it does not. */
export function pythonCeleryAvailable(): { ok: boolean; reason: string } {
  const r = spawnSync(PYTHON, ['-c', 'import celery, sys; sys.stdout.write(celery.__version__)'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return { ok: false, reason: `${PYTHON} could not run: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, reason: `${PYTHON} -c 'import celery' failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  return { ok: true, reason: `Celery ${r.stdout.trim()}` };
}
