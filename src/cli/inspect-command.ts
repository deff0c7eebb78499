/**
 * `celeriac inspect METHOD [ARG...]`: ask workers (Python Celery ones too)
 * what they are doing, as `celery inspect` does.
 */
import { usageError } from './errors.js';
import { runRemote, type RemoteOptions } from './remote-command.js';

/** The inspect methods the command sends, with what each prints. */
export const INSPECT_METHODS: Readonly<Record<string, string>> = {
  ping: 'ping workers: pong',
  active: 'tasks running now',
  reserved: 'tasks taken from the queue, not started yet',
  scheduled: 'tasks waiting for their ETA / countdown',
  registered: 'registered task names',
  revoked: 'revoked task ids',
  stats: 'worker statistics',
  active_queues: 'queues consumed',
  query_task: 'state of task ids on the workers (query_task ID...)',
};

/** Check a method and its arguments; returns the command's `arguments`. */
export function inspectArguments(method: string, args: readonly string[]): Record<string, unknown> {
  if (!(method in INSPECT_METHODS)) throw usageError(`unknown inspect method "${method}" (use one of ${Object.keys(INSPECT_METHODS).join(', ')})`);
  if (method === 'query_task') {
    if (!args.length) throw usageError('query_task needs at least one task id');
    return { ids: [...args] };
  }
  if (args.length) throw usageError(`inspect ${method} takes no arguments (got ${args.join(' ')})`);
  return {};
}

/** Run `celeriac inspect`; resolves with the exit code. */
export function runInspect(method: string, args: readonly string[], o: RemoteOptions): Promise<number> {
  return runRemote(method, inspectArguments(method, args), o);
}
