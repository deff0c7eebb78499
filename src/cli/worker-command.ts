/**
 * `celeriac worker`: load the app, start a Worker, and stop it gracefully on
 * SIGTERM/SIGINT (stop taking work, give back reserved messages, let running
 * tasks finish up to --shutdown-timeout). A second signal exits at once.
 */
import pino from 'pino';
import type { Celeriac } from '../app.js';
import { tuneHeap } from '../worker/heap.js';
import type { Worker } from '../worker/worker.js';
import { connectApp, maskUrl } from './connect.js';
import { CliError, ExitCode } from './errors.js';
import { nodeName } from './hostname.js';
import { loadApp, parseLogLevel, resolveAppPath } from './load-app.js';

/** Options of `celeriac worker`, as parsed. */
export interface WorkerCommandOptions {
  app: string;
  queues?: string[];
  concurrency?: number;
  prefetchMultiplier?: number;
  acksLate?: boolean;
  pool?: 'async' | 'threads';
  taskEvents?: boolean;
  loglevel?: string;
  hostname?: string;
  broker?: string;
  resultBackend?: string;
  shutdownTimeout: number;
  connectTimeout: number;
  maxSemiSpaceSize: number;
  heapGrowingPercent: number;
  quiet?: boolean;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

/** Run a worker until a signal stops it; resolves with the exit code. */
export async function runWorker(o: WorkerCommandOptions): Promise<number> {
  // Before the app loads, holding the young generation at its size until the worker runs (see tuneHeap).
  let started: () => void = () => undefined;
  tuneHeap({ maxSemiSpaceMb: o.maxSemiSpaceSize, heapGrowingPercent: o.heapGrowingPercent }, new Promise<void>((r) => (started = r)));
  const level = parseLogLevel(o.loglevel ?? 'info');
  const log = pino({ name: 'celeriac-cli', level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  const app = await loadApp({ app: o.app, broker: o.broker, resultBackend: o.resultBackend, loglevel: o.loglevel });
  const hostname = nodeName(o.hostname);
  await connectApp(app, o.connectTimeout, (msg) => log.warn(msg));
  let worker: Worker;
  try {
    worker = await app.worker({
      queues: o.queues,
      concurrency: o.concurrency,
      prefetchMultiplier: o.prefetchMultiplier,
      acksLate: o.acksLate,
      pool: o.pool,
      appModule: o.pool === 'threads' ? resolveAppPath(o.app) : undefined,
      taskEvents: o.taskEvents,
      hostname,
      shutdownTimeout: o.shutdownTimeout,
      // A remote `shutdown` (celery/celeriac control shutdown) takes the same warm path as SIGTERM, and the process exits.
      onShutdownRequest: () => process.kill(process.pid, 'SIGTERM'),
    });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw new CliError(`cannot start worker: ${(err as Error).message}`, ExitCode.STARTUP, { cause: err });
  }
  started();
  if (!o.quiet) {
    process.stdout.write(
      `${hostname} ready: queues=${worker.queues.join(',')} concurrency=${worker.concurrency} ` +
        `broker=${maskUrl(app.conf.broker)} backend=${maskUrl(app.conf.backend)} tasks=${userTasks(app).length}\n`,
    );
  }
  log.info({ node: hostname, queues: worker.queues, tasks: userTasks(app) }, 'worker ready');
  const code = await untilStopped(app, worker, o, log);
  if (!o.quiet) process.stdout.write(`${hostname} stopped: processed=${worker.processed} exit=${code}\n`);
  return code;
}

function userTasks(app: Celeriac): string[] {
  return [...app.tasks.keys()].filter((n) => !n.startsWith('celery.')).sort();
}

/** Wait for SIGTERM/SIGINT, then stop warm; a second signal exits cold. */
function untilStopped(app: Celeriac, worker: Worker, o: WorkerCommandOptions, log: pino.Logger): Promise<number> {
  const say = (line: string): void => {
    if (!o.quiet) process.stdout.write(`${worker.hostname} ${line}\n`);
  };
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      const running = worker.activeRequests().length;
      if (stopping) {
        say(`cold shutdown (${signal}): exiting now, ${running} task(s) still running`);
        log.warn({ signal, running }, 'cold shutdown');
        process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 15));
      }
      stopping = true;
      say(`warm shutdown (${signal}): waiting up to ${o.shutdownTimeout} s for ${running} running task(s); signal again to exit now`);
      log.info({ signal, running, shutdownTimeout: o.shutdownTimeout }, 'warm shutdown');
      void (async () => {
        let code: number = ExitCode.OK;
        try {
          await worker.stop();
          const left = worker.activeRequests().length;
          if (left > 0) {
            log.error({ left, shutdownTimeout: o.shutdownTimeout }, 'tasks still running at --shutdown-timeout; exiting without them');
            code = ExitCode.TIMEOUT;
          }
          await Promise.race([app.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
        } catch (err) {
          log.error({ err }, 'error while stopping');
          code = ExitCode.STARTUP;
        }
        resolve(code);
      })();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
