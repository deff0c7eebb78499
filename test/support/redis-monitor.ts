/** Watching what Redis runs (MONITOR) in integration tests. */
import type { Redis } from 'ioredis';
import { until } from '../../src/testing/poll.js';

/** One command Redis ran, as MONITOR shows it: from a client, or from a script ('lua'). */
export interface Seen {
  source: string;
  args: string[];
}

/**
 * What Redis runs while `fn` runs, through a MONITOR connection made from
 * `redis`, up to a marker `redis` sends after it; only the commands `keep`
 * accepts (other test files share the server).
 */
export async function watch<T>(redis: Redis, keep: (args: string[]) => boolean, fn: () => Promise<T>): Promise<{ value: T; seen: Seen[] }> {
  const monitor: Redis = redis.duplicate({ monitor: true, lazyConnect: true });
  // ioredis enters its monitoring state one promise turn after MONITOR's reply, so a line read together with that
  // reply is reported as a "command queue state error" and dropped: it was sent before `fn` ran, so none we look at.
  let failure: Error | null = null;
  monitor.on('error', (err: Error) => {
    if (!err.message.startsWith('Command queue state error')) failure ??= err;
  });
  const monitoring = new Promise((resolve) => monitor.once('monitoring', resolve));
  await monitor.connect();
  await monitoring;
  const seen: Seen[] = [];
  const marker = `monitor-marker-${Math.random()}`;
  let done = false;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) done = true;
    else if (keep(args)) seen.push({ source, args });
  });
  try {
    const value = await fn();
    await redis.echo(marker);
    await until('MONITOR to show the marker', () => done);
    if (failure) throw failure;
    return { value, seen };
  } finally {
    monitor.disconnect();
  }
}
