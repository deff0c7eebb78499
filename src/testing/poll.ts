/** Waiting helpers of the conformance suites and the project's own tests. */

/** Resolve after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` every 5 ms until it gives a truthy value, and resolve with
 * that value; throws `timed out waiting for <what>` after `timeoutMs` (on a
 * monotonic clock, so a test that moves `Date.now()` does not move it).
 */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
