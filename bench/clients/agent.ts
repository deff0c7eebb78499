/**
 * The command loop every Node producer of the benchmark runs: one JSON
 * command per line on stdin, one JSON reply per line on stdout (the same
 * protocol as bench/peers/celery_client.py). A failing command replies
 * `{ error }` and the loop goes on.
 */
import { createInterface } from 'node:readline';

/** A command from bench/run.ts. */
export interface Command {
  cmd: string;
  n?: number;
  warmup?: number;
}

/** What a producer can do. */
export type Handlers = Record<string, (c: Command) => Promise<unknown>>;

/** Seconds a single wait for a result may take. */
export const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT ?? 120);

/** Say ready, then serve commands until `quit` or the end of stdin; then `close` and exit. */
export async function serve(handlers: Handlers, close: () => Promise<void>): Promise<never> {
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const c = JSON.parse(line) as Command;
    if (c.cmd === 'quit') break;
    let out: unknown;
    try {
      const h = handlers[c.cmd];
      if (!h) throw new Error(`unknown command ${c.cmd}`);
      out = await h(c);
    } catch (err) {
      const e = err as Error;
      out = { error: `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`, trace: e?.stack };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  await Promise.race([close(), new Promise((r) => setTimeout(r, 5000).unref())]);
  // process.exit writes --cpu-prof profiles too.
  process.exit(0);
}

/** Run `fn(i)` for i < n with at most `window` calls in flight; resolves with the results in order. */
export async function windowed<T>(n: number, window: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, lane));
  return out;
}

/** Milliseconds since an earlier performance.now(). */
export function since(t: number): number {
  return performance.now() - t;
}
