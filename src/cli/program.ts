/** The `celeriac` command line: commands, options and their parsing (Commander). */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CONTROL_ACTIONS, runControl } from './control-command.js';
import { ExitCode } from './errors.js';
import { INSPECT_METHODS, runInspect } from './inspect-command.js';
import { Env, LOG_LEVELS } from './load-app.js';
import { WORKER_HEAP } from '../worker/heap.js';

/** Parse -P: async or threads. */
function poolName(v: string): 'async' | 'threads' {
  if (v === 'async' || v === 'threads') return v;
  throw new InvalidArgumentError(`pool must be async or threads, not ${JSON.stringify(v)}`);
}

function version(): string {
  try {
    // Two levels up from both src/cli/ and dist/cli/.
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };
}

function wholeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number (>= 0).');
  return n;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds (>= 0).');
  return n;
}

function priority(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new InvalidArgumentError('must be an integer from 0 to 255 (0–9 on Redis).');
  return n;
}

function list(v: string, previous: string[] = []): string[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new InvalidArgumentError('must name at least one queue.');
  return [...previous, ...items];
}

function nodes(v: string, previous: string[] = []): string[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new InvalidArgumentError('must name at least one node.');
  return [...previous, ...items];
}

function logLevel(v: string): string {
  const l = v.toLowerCase();
  if (![...LOG_LEVELS, 'warning', 'critical', 'fatal'].includes(l)) throw new InvalidArgumentError(`must be one of ${LOG_LEVELS.join(', ')}.`);
  return l;
}

const EPILOG = `
Exit codes:
  0  done (worker: stopped cleanly after SIGTERM/SIGINT)
  1  startup or configuration error (bad -A path, no app exported, cannot connect)
  2  usage error (unknown command or option, bad value)
  3  call --wait / result: the task failed or was revoked
  4  call --wait / result --wait: timed out; worker: tasks still running at --shutdown-timeout;
     inspect / control: no node replied within --timeout
  128+N  worker: forced exit by a second signal N

Overrides (-b, --result-backend, -l) reach the app module through the environment,
set before it is imported: ${Env.broker}, ${Env.backend}, ${Env.logLevel}.
Build the app from them, e.g. new Celeriac({ broker: process.env.${Env.broker} ?? '...' }).
Without -A, call, result, inspect, control and events connect to the URLs given or found in those variables.`;

/** Build the program; `done` receives the exit code of the command that ran. */
export function buildProgram(done: (code: number) => void): Command {
  const program = new Command('celeriac')
    .description("Celery's Canvas and wire protocol for TypeScript: run workers, send tasks, read results.")
    .version(version(), '-V, --version')
    .exitOverride()
    .showSuggestionAfterError()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(`celeriac: ${str}`) })
    .addHelpText('after', EPILOG);

  const appOptions = (cmd: Command, appRequired: boolean): Command => {
    const a = new Option('-A, --app <module>', 'module exporting the Celeriac app (default export or `app`); .ts runs through tsx');
    if (appRequired) a.makeOptionMandatory();
    return cmd
      .addOption(a)
      .option('-b, --broker <url>', `broker URL override (sets ${Env.broker})`)
      .option('--result-backend <url>', `result backend URL override (sets ${Env.backend})`)
      .option('-l, --loglevel <level>', `log level: ${LOG_LEVELS.join(', ')}`, logLevel)
      .option('--connect-timeout <s>', 'seconds to keep retrying the first connection', seconds, 30);
  };

  appOptions(
    program
      .command('worker')
      .description('start a worker for the tasks of an app module')
      .option('-Q, --queues <a,b>', 'queues to consume (comma-separated, repeatable); default: the app default queue', list)
      .option('-c, --concurrency <n>', 'tasks run at once (default 10)', positiveInt('concurrency'))
      .option('--prefetch-multiplier <n>', 'messages reserved per slot (default 4)', positiveInt('prefetch multiplier'))
      .option('--acks-late', 'acknowledge messages after the task ran, for every task')
      .option('-P, --pool <pool>', "where tasks run: async (default, the event loop) or threads (worker threads; a hard time limit stops any code)", poolName)
      .option('-E, --task-events', 'send task events (task-received, task-started, task-succeeded, …)')
      .option('-n, --hostname <name>', 'node name, with %h (host), %n (host name), %d (domain); default celeriac@%h')
      .option('--shutdown-timeout <s>', 'on SIGTERM/SIGINT, seconds to let running tasks finish', seconds, 30)
      .option('--max-semi-space-size <MB>', "cap on each of V8's two young-generation semi-spaces (0: V8's own, up to 16)", wholeNumber, WORKER_HEAP.maxSemiSpaceMb)
      .option('--heap-growing-percent <percent>', "old-generation growth past what the last full GC kept before the next (0: V8's own)", wholeNumber, WORKER_HEAP.heapGrowingPercent)
      .option('-q, --quiet', 'do not print the ready/stopped lines on stdout'),
    true,
  ).action(async (o) => done(await (await import('./worker-command.js')).runWorker(o)));

  appOptions(
    program
      .command('call')
      .description('send a task (or a canvas with --canvas) and print its id; --wait prints the result')
      .argument('[name]', 'task name')
      .option('-a, --args <json>', 'positional arguments, a JSON array')
      .option('-k, --kwargs <json>', 'keyword arguments, a JSON object')
      .option('--canvas <json>', "a signature dict as Celery writes it (chain, group, chord, …), rebuilt with app.signature()")
      .option('--queue <name>', 'queue to send to')
      .option('--countdown <s>', 'run no earlier than this many seconds from now', seconds)
      .option('--eta <iso>', 'run no earlier than this ISO-8601 time')
      .option('--expires <s>', 'revoke if not started within this many seconds', seconds)
      .option('--priority <n>', 'message priority', priority)
      .option('--task-id <id>', 'use this task id')
      .option('-w, --wait', 'wait for the result and print it')
      .option('-t, --timeout <s>', 'with --wait: give up after this many seconds (exit 4)', seconds)
      .option('--json', 'print one JSON object {id, state, result, exception, traceback}')
      .option('--no-progress', 'with --wait: no progress on stderr'),
    false,
  ).action(async (name: string | undefined, o) => done(await (await import('./call-command.js')).runCall(name, o)));

  appOptions(
    program
      .command('result')
      .description('print the state and result (or error and traceback) of a task or saved group')
      .argument('<id>', 'task or group id')
      .option('-w, --wait', 'wait until it is ready')
      .option('-t, --timeout <s>', 'with --wait: give up after this many seconds (exit 4)', seconds)
      .option('--json', 'print one JSON object {id, state, result, exception, traceback}')
      .option('--no-progress', 'with --wait: no progress on stderr'),
    false,
  ).action(async (id: string, o) => done(await (await import('./result-command.js')).runResult(id, o)));

  const remote = (cmd: Command): Command =>
    appOptions(
      cmd
        .option('-d, --destination <a,b>', 'only these node names (comma-separated, repeatable); default: every worker', nodes)
        .option('-t, --timeout <s>', 'seconds to wait for replies (default 1)', seconds, 1)
        .option('--json', 'print the replies as one JSON object {node: reply}'),
      false,
    );

  remote(
    program
      .command('inspect')
      .description('ask workers (celeriac or Celery) what they are doing, as `celery inspect` does')
      .argument('<method>', Object.keys(INSPECT_METHODS).join(' | '))
      .argument('[args...]', 'task ids, for query_task')
      .addHelpText('after', `\nMethods:\n${Object.entries(INSPECT_METHODS).map(([m, d]) => `  ${m.padEnd(14)}${d}`).join('\n')}`),
  ).action(async (method: string, args: string[], o) => done(await runInspect(method, args, o)));

  remote(
    program
      .command('control')
      .description('change running workers (celeriac or Celery), as `celery control` does')
      .argument('<action>', Object.keys(CONTROL_ACTIONS).join(' | '))
      .argument('[args...]', "the action's arguments")
      .option('--terminate', 'with revoke: also stop the tasks if they are running')
      .option('-s, --signal <name>', 'with revoke --terminate: the signal Python workers send (default SIGTERM)')
      .addHelpText('after', `\nActions:\n${Object.entries(CONTROL_ACTIONS).map(([a, s]) => `  ${a} ${s}`.trimEnd()).join('\n')}`),
  ).action(async (action: string, args: string[], o) => done(await runControl(action, args, o)));

  appOptions(
    program
      .command('events')
      .description('print worker and task events live, one line each, until Ctrl-C (as `celery events --dump`)')
      .option('--json', 'print each event as one JSON object'),
    false,
  ).action(async (o) => done(await (await import('./events-command.js')).runEvents(o)));

  return program;
}

export { ExitCode };
