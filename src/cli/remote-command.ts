/**
 * What `inspect` and `control` share: connect, broadcast one pidbox command
 * to the workers (all, or the `-d` nodes), collect replies for `--timeout`
 * seconds, print them as Celery does. No reply at all is an error (exit 4),
 * as `celery inspect` fails with "No nodes replied within time constraint".
 */
import { connectApp } from './connect.js';
import { printReplies } from './control-output.js';
import { CliError, ExitCode } from './errors.js';
import { appFor, type AppSource } from './load-app.js';

/** Options every remote command takes, as parsed. */
export interface RemoteOptions extends AppSource {
  /** `-d`: node names. */
  destination?: string[];
  /** `-t`: seconds to wait for replies. */
  timeout: number;
  json?: boolean;
  connectTimeout: number;
}

/** Send `method` with `args`, print the replies; resolves with the exit code. */
export async function runRemote(method: string, args: Record<string, unknown>, o: RemoteOptions): Promise<number> {
  const app = await appFor(o);
  try {
    await connectApp(app, o.connectTimeout, (msg) => process.stderr.write(`celeriac: ${msg}\n`));
    const replies = await app.control.broadcast(method, args, {
      reply: true,
      timeout: o.timeout,
      ...(o.destination?.length ? { destination: o.destination, limit: o.destination.length } : {}),
    });
    if (Object.keys(replies).length === 0) {
      throw new CliError(`no nodes replied within ${o.timeout} s${o.destination?.length ? ` (asked ${o.destination.join(', ')})` : ''}`, ExitCode.TIMEOUT);
    }
    printReplies(replies, o.json ?? false);
    return ExitCode.OK;
  } finally {
    await app.close().catch(() => undefined);
  }
}
