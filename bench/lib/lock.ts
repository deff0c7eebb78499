/**
 * One benchmark at a time on this machine: two runs at once would share the
 * CPUs and measure each other. A lock file with the holder's pid; a second
 * `npm run bench` waits for the first (a lock whose process is gone is taken over).
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './build.js';

const LOCK = join(CACHE_DIR, 'lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the lock, waiting up to `ms` for another benchmark to finish. */
export async function acquireLock(ms: number, log: (line: string) => void): Promise<void> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const deadline = Date.now() + ms;
  let said = false;
  for (;;) {
    try {
      writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(LOCK, 'utf8').trim());
    if (!holder || !alive(holder)) {
      try {
        unlinkSync(LOCK);
      } catch {
        // someone else took it over first
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`another benchmark (pid ${holder}) is still running after ${Math.round(ms / 60000)} min; try again later`);
    if (!said) log(`another benchmark is running (pid ${holder}); waiting for it to finish, so that the two do not measure each other ...`);
    said = true;
    await new Promise((r) => setTimeout(r, 3000));
  }
}

/** Give the lock back (only if we hold it). */
export function releaseLock(): void {
  try {
    if (Number(readFileSync(LOCK, 'utf8').trim()) === process.pid) unlinkSync(LOCK);
  } catch {
    // not ours, or gone
  }
}
