/**
 * `celeriac control ACTION [ARG...]`: change running workers (Python Celery
 * ones too), as `celery control` does; arguments are Celery's:
 *
 *   revoke ID...                     never run these tasks
 *   terminate [SIGNAL] ID...         revoke and stop them if running (signal as in Celery, default SIGTERM)
 *   rate_limit TASK RATE             e.g. 10/s, 100/m, 1000/h; 0 removes the limit
 *   time_limit TASK SOFT [HARD]      seconds; Celery's order: soft limit first
 *   shutdown | enable_events | disable_events
 */
import { usageError } from './errors.js';
import { runRemote, type RemoteOptions } from './remote-command.js';

/** The control actions, with their argument synopsis. */
export const CONTROL_ACTIONS: Readonly<Record<string, string>> = {
  revoke: 'ID...',
  terminate: '[SIGNAL] ID...',
  rate_limit: 'TASK RATE',
  time_limit: 'TASK SOFT [HARD]',
  shutdown: '',
  enable_events: '',
  disable_events: '',
};

const SIGNAL = /^(SIG)?[A-Z][A-Z0-9]*$|^\d{1,2}$/;

function secondsArg(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw usageError(`time_limit: ${name} must be a number of seconds (>= 0), got "${v}"`);
  return n;
}

/** Check an action and its arguments; returns the command's `arguments`. */
export function controlArguments(action: string, args: readonly string[]): Record<string, unknown> {
  const synopsis = CONTROL_ACTIONS[action];
  if (synopsis === undefined) throw usageError(`unknown control action "${action}" (use one of ${Object.keys(CONTROL_ACTIONS).join(', ')})`);
  const usage = () => usageError(`usage: celeriac control ${action} ${synopsis}`.trimEnd());
  switch (action) {
    case 'revoke':
      if (!args.length) throw usage();
      return { task_id: [...args], terminate: false, signal: 'SIGTERM' };
    case 'terminate': {
      // Celery's form is `terminate SIGNAL ID...`; a first argument that is not a signal name is an id.
      const [first, ...rest] = args;
      const hasSignal = first !== undefined && rest.length > 0 && SIGNAL.test(first);
      const ids = hasSignal ? rest : [...args];
      if (!ids.length) throw usage();
      const signal = hasSignal ? (/^\d/.test(first) || first.startsWith('SIG') ? first : `SIG${first}`) : 'SIGTERM';
      return { task_id: ids, signal };
    }
    case 'rate_limit':
      if (args.length !== 2) throw usage();
      if (!/^(\d+(\.\d+)?)(\/[smh])?$/.test(args[1])) throw usageError(`rate_limit: "${args[1]}" is not a rate (use e.g. 10/s, 100/m, 1000/h, or 0 for none)`);
      return { task_name: args[0], rate_limit: args[1] };
    case 'time_limit': {
      if (args.length < 2 || args.length > 3) throw usage();
      const soft = secondsArg('SOFT', args[1]);
      const hard = args[2] === undefined ? null : secondsArg('HARD', args[2]);
      if (hard !== null && soft > hard) throw usageError(`time_limit: the soft limit (${soft} s) is above the hard limit (${hard} s); Celery's order is TASK SOFT [HARD]`);
      return { task_name: args[0], soft, hard };
    }
    default:
      if (args.length) throw usageError(`control ${action} takes no arguments (got ${args.join(' ')})`);
      return {};
  }
}

/** Run `celeriac control`; resolves with the exit code. */
export function runControl(action: string, args: readonly string[], o: RemoteOptions): Promise<number> {
  return runRemote(action, controlArguments(action, args), o);
}
