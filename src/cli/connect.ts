/** Connecting an app at startup, with retries up to a deadline and a clear error after it. */
import type { Celeriac } from '../app.js';
import { CliError } from './errors.js';

/** A URL with its password hidden, for messages. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Connect broker and backend, retrying every second (a server that is still
 * starting is normal under a process manager) until `timeoutSec` passes.
 */
export async function connectApp(app: Celeriac, timeoutSec: number, warn: (msg: string) => void): Promise<void> {
  const deadline = performance.now() + timeoutSec * 1000;
  let attempt = 0;
  for (;;) {
    attempt++;
    let timer: NodeJS.Timeout | undefined;
    const left = Math.max(1, deadline - performance.now());
    try {
      await Promise.race([
        app.connect(),
        new Promise<never>((_r, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutSec} s`)), left);
        }),
      ]);
      return;
    } catch (err) {
      const msg = (err as Error).message.split('\n', 1)[0];
      // app.connect() caches its first attempt: close to try afresh.
      await app.close().catch(() => undefined);
      if (performance.now() >= deadline || !isConnectionError(err)) {
        throw new CliError(`cannot connect to broker ${maskUrl(app.conf.broker)} / backend ${maskUrl(app.conf.backend)}: ${msg}`, 1, { cause: err });
      }
      if (attempt === 1) warn(`cannot connect yet (${msg}); retrying for up to ${timeoutSec} s`);
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - performance.now()))));
    } finally {
      clearTimeout(timer);
    }
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN', 'EPIPE']);

/** Worth retrying: the server is not there (yet). A bad URL or a broken install is not. */
function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  if (typeof e?.code === 'string') return NETWORK_CODES.has(e.code);
  if (e?.name === 'ConfigurationError') return false;
  return /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|EAI_AGAIN|connection is closed|no answer within|connect/i.test(String(e?.message ?? ''));
}
