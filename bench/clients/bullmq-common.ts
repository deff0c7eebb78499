/** What the BullMQ worker and producer of the benchmark share. */

/** The queue every BullMQ job of the benchmark goes to. */
export const QUEUE = 'bench';

/** The connection options: 127.0.0.1:6379, the database bench/run.ts chose (BENCH_REDIS_DB). */
export function connection(): { host: string; port: number; db: number; maxRetriesPerRequest: null } {
  const url = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14');
  return { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
}

/** Job data of `add`; a chain link has no `x` and takes its child's value. */
export interface AddData {
  x?: number;
  y: number;
}
