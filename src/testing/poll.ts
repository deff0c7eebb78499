/** Waiting helpers of the conformance suites and the project's own tests. */

/** Resolve after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` every 5 ms until it holds; throws `timed out waiting for <what>`
 * after `timeoutMs` (on a monotonic clock, so a test that moves `Date.now()`
 * does not move it).
 */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
