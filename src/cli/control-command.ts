/**
 * `celeriac control ACTION [ARG...]`: change running workers (Python Celery
 * ones too), as `celery control` does:
 *
 *   revoke ID... [--terminate [--signal SIG]]   never run these tasks (and stop them if running)
 *   terminate [SIGNAL] ID...                    revoke and stop them if running (Celery's form; default SIGTERM)
 *   rate_limit TASK RATE                        e.g. 10/s, 100/m, 1000/h; 0 removes the limit
 *   time_limit TASK HARD [SOFT]                 seconds. Celery's own CLI takes SOFT [HARD]: the two
 *                                               orders are told apart by refusing a soft limit above the hard one
 *   shutdown | enable_events | disable_events
 *
 * The wire arguments are Celery's (`task_id`, `terminate`, `signal`,
 * `task_name`, `rate_limit`, `hard`, `soft`), so Python workers understand them.
 */
import { usageError } from './errors.js';
import { runRemote, type RemoteOptions } from './remote-command.js';

/** The control actions, with their argument synopsis. */
export const CONTROL_ACTIONS: Readonly<Record<string, string>> = {
  revoke: 'ID... [--terminate [--signal SIG]]',
  terminate: '[SIGNAL] ID...',
  rate_limit: 'TASK RATE',
  time_limit: 'TASK HARD [SOFT]',
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

/** Options of `control` beyond the remote ones. */
export interface ControlFlags {
  /** `revoke --terminate`. */
  terminate?: boolean;
  /** `revoke --terminate --signal SIG`. */
  signal?: string;
}

/** `KILL` → `SIGKILL`; numbers and `SIG…` names as they are. */
function signalName(s: string): string {
  return /^\d/.test(s) || s.startsWith('SIG') ? s : `SIG${s}`;
}

/** Check an action and its arguments; returns the command's `arguments`. */
export function controlArguments(action: string, args: readonly string[], flags: ControlFlags = {}): Record<string, unknown> {
  const synopsis = CONTROL_ACTIONS[action];
  if (synopsis === undefined) throw usageError(`unknown control action "${action}" (use one of ${Object.keys(CONTROL_ACTIONS).join(', ')})`);
  const usage = () => usageError(`usage: celeriac control ${action} ${synopsis}`.trimEnd());
  if (action !== 'revoke' && (flags.terminate || flags.signal)) throw usageError('--terminate and --signal go with revoke');
  if (flags.signal && !SIGNAL.test(flags.signal)) throw usageError(`--signal: "${flags.signal}" is not a signal name (e.g. SIGTERM, KILL, 9)`);
  if (flags.signal && !flags.terminate) throw usageError('--signal needs --terminate');
  switch (action) {
    case 'revoke':
      if (!args.length) throw usage();
      return { task_id: [...args], terminate: flags.terminate === true, signal: signalName(flags.signal ?? 'SIGTERM') };
    case 'terminate': {
      // Celery's form is `terminate SIGNAL ID...`; a first argument that is not a signal name is an id.
      const [first, ...rest] = args;
      const hasSignal = first !== undefined && rest.length > 0 && SIGNAL.test(first);
      const ids = hasSignal ? rest : [...args];
      if (!ids.length) throw usage();
      return { task_id: ids, signal: signalName(hasSignal ? first : 'SIGTERM') };
    }
    case 'rate_limit':
      if (args.length !== 2) throw usage();
      if (!/^(\d+(\.\d+)?)(\/[smh])?$/.test(args[1])) throw usageError(`rate_limit: "${args[1]}" is not a rate (use e.g. 10/s, 100/m, 1000/h, or 0 for none)`);
      return { task_name: args[0], rate_limit: args[1] };
    case 'time_limit': {
      if (args.length < 2 || args.length > 3) throw usage();
      const hard = secondsArg('HARD', args[1]);
      const soft = args[2] === undefined ? null : secondsArg('SOFT', args[2]);
      if (soft !== null && soft > hard) {
        throw usageError(`time_limit: the soft limit (${soft} s) is above the hard limit (${hard} s): the order is TASK HARD [SOFT] (Celery's CLI takes SOFT first)`);
      }
      return { task_name: args[0], hard, soft };
    }
    default:
      if (args.length) throw usageError(`control ${action} takes no arguments (got ${args.join(' ')})`);
      return {};
  }
}

/** Run `celeriac control`; resolves with the exit code. */
export function runControl(action: string, args: readonly string[], o: RemoteOptions & ControlFlags): Promise<number> {
  return runRemote(action, controlArguments(action, args, o), o);
}
