/**
 * Child processes of the benchmark: spawn with captured output, wait for a
 * line, talk to a producer agent, read peak RSS from /proc, stop gracefully
 * (then by force).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** A running child with its output kept (the last lines, for error reports). */
export class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  private readonly tail: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  readonly exited: Promise<number | null>;

  constructor(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }) {
    this.name = name;
    this.child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
    this.child.on('error', (err) => this.keep(`spawn error: ${err.message}`));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.keep(line);
        for (const l of [...this.listeners]) l(line);
      });
    }
  }

  private keep(line: string): void {
    this.tail.push(line.length > 2000 ? `${line.slice(0, 2000)}…` : line);
    if (this.tail.length > 40) this.tail.shift();
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The last lines the child wrote (stdout and stderr). */
  output(): string {
    return this.tail.join('\n');
  }

  /** Resolve with the first line matching `re` (rejects on exit or after `ms`). */
  waitForLine(re: RegExp, ms: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, line?: string): void => {
        clearTimeout(timer);
        this.listeners.delete(on);
        if (err) reject(err);
        else resolve(line as string);
      };
      const on = (line: string): void => {
        if (re.test(line)) done(null, line);
      };
      const timer = setTimeout(() => done(new Error(`${this.name}: no line matching ${re} within ${ms} ms; output:\n${this.output()}`)), ms);
      this.listeners.add(on);
      void this.exited.then((code) => done(new Error(`${this.name} exited (${code}) before printing ${re}; output:\n${this.output()}`)));
    });
  }

  /** Send SIGTERM, wait up to `ms`, then SIGKILL the child and anything it started. */
  async stop(ms = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const family = descendants(this.pid);
    this.child.kill('SIGTERM');
    const t = setTimeout(() => {
      for (const pid of [this.pid, ...family]) killQuietly(pid);
    }, ms);
    await this.exited;
    clearTimeout(t);
    for (const pid of family) killQuietly(pid);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** A producer agent: one JSON command per line in, one JSON reply per line out. */
export class Agent {
  private readonly replies: string[] = [];
  private waiter: ((line: string) => void) | null = null;

  constructor(readonly proc: Proc) {
    createInterface({ input: proc.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(line);
      } else this.replies.push(line);
    });
  }

  /** Wait for the agent's `{ready: true}`. */
  async ready(ms: number): Promise<void> {
    const r = (await this.next(ms)) as { ready?: boolean; error?: string };
    if (!r.ready) throw new Error(`${this.proc.name} did not start: ${r.error ?? JSON.stringify(r)}`);
  }

  private next(ms: number): Promise<unknown> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(JSON.parse(queued));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`${this.proc.name}: no reply within ${ms} ms; output:\n${this.proc.output()}`));
      }, ms);
      void this.proc.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.proc.name} exited (${code}); output:\n${this.proc.output()}`));
      });
      this.waiter = (line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      };
    });
  }

  /** Run a command; rejects with the agent's error, or after `ms`. */
  async call<T>(cmd: Record<string, unknown>, ms: number): Promise<T> {
    this.proc.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const r = (await this.next(ms)) as T & { error?: string };
    if (r && typeof r === 'object' && 'error' in r && r.error) throw new Error(`${this.proc.name} ${String(cmd.cmd)}: ${r.error}`);
    return r;
  }

  /** Ask the agent to quit (it exits, writing a CPU profile if asked), then make sure it is gone. */
  async quit(ms = 10_000): Promise<void> {
    if (this.proc.child.exitCode !== null) return;
    this.proc.child.stdin!.write('{"cmd":"quit"}\n');
    this.proc.child.stdin!.end();
    const t = setTimeout(() => void this.proc.stop(2000), ms);
    await this.proc.exited;
    clearTimeout(t);
  }
}

/** Kilobytes of a `/proc/<pid>/status` field (VmHWM, VmRSS), or 0 when the process is gone. */
export function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Every live descendant of a process (by scanning /proc for parent ids). */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const frontier = [root];
  while (frontier.length) {
    const p = frontier.pop() as number;
    for (const [pid, pp] of parent) {
      if (pp === p) {
        out.push(pid);
        frontier.push(pid);
      }
    }
  }
  return out;
}

/** Peak RSS (VmHWM) of a process plus its descendants, in MB (a prefork worker is several processes). */
export function treePeakMb(pid: number): number {
  let kb = statusKb(pid, 'VmHWM');
  for (const c of descendants(pid)) kb += statusKb(c, 'VmHWM');
  return kb / 1024;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used, or 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is f[0], utime f[11], stime f[12].
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU seconds of a process and its live descendants. */
export function treeCpuSeconds(pid: number): number {
  let s = cpuSeconds(pid);
  for (const c of descendants(pid)) s += cpuSeconds(c);
  return s;
}
