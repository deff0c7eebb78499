/**
 * Celeriac's options, resolved once into an immutable object at construction
 * (graphile-worker's way). Every option has its default written here.
 */
import { hostname as osHostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { BrokerConnectionOptions, BrokerLogger } from './broker/index.js';
import { ConfigurationError } from './protocol/index.js';

/** The clock the app, results and workers read; inject one to test ETA, retry and expiry. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Schedule a call after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancel a scheduled call. */
  clearTimeout(handle: unknown): void;
}

/** The system clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Structured logger (pino's interface). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Where a task name is routed. */
export interface Route {
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: number;
}

/** Options of `new Celeriac(...)`. */
export interface CeleriacOptions {
  /** Broker URL: `memory://` (default), `redis://`, `rediss://`, `amqp://`, `amqps://`. */
  broker?: string;
  /** Result backend URL: `memory://`, `redis://`, `rediss://`. Default: the broker URL for memory and Redis brokers, else `memory://`. */
  backend?: string;
  /** Queue for tasks with no route. Default `'celery'`. */
  defaultQueue?: string;
  /** Routes by task name (exact, or a glob with `*`). Default none. */
  routes?: Record<string, Route>;
  /** Seconds results are kept (Celery's result_expires). 0 keeps them. Default 86400. */
  resultExpires?: number;
  /** Store STARTED when a task begins. Default false. */
  trackStarted?: boolean;
  /** Store name, args, kwargs, worker, retries and queue with results. Default false. */
  resultExtended?: boolean;
  /** Redis broker: seconds before an unacknowledged message is restored. Default 3600. */
  visibilityTimeout?: number;
  /** Redis: a prefix for every key (kombu's global_keyprefix). Default ''. */
  keyPrefix?: string;
  /**
   * Broker connection settings, in seconds (the README's "Running with
   * RabbitMQ"): `maxPriority` (amqp, default none: queues without
   * `x-max-priority`), `timeout` (amqp, default 30), `connectTimeout` (amqp,
   * default 10), `connectionName` (default 'celeriac'), `tls` (amqps, default
   * Node's), `eagerTakeWindow` (redis, milliseconds, default 5: see the
   * README's "A step for itself"). The transport's warnings (reconnects, declaration mismatches) go
   * to `logger`. Default: every setting at its default.
   */
  brokerOptions?: BrokerConnectionOptions;
  /** Error classes that remote failures of the same name are rebuilt as (C-161). Default none. */
  errors?: ReadonlyArray<new (...args: never[]) => Error>;
  /** The clock. Default: the system clock. */
  clock?: Clock;
  /** The task id generator. Default: uuid4. */
  idGenerator?: () => string;
  /** Logger. Default: pino to stderr at `logLevel`. */
  logger?: Logger;
  /** Level of the default logger. Default 'warn'. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Node name used in `origin` and as the worker's default hostname. Default `<pid>@<hostname>`. */
  hostname?: string;
}

/** Options after defaults, frozen. */
export interface ResolvedOptions {
  readonly broker: string;
  readonly backend: string;
  readonly defaultQueue: string;
  readonly routes: Readonly<Record<string, Route>>;
  /** The glob routes of `routes`, compiled once, in insertion order. */
  readonly routeGlobs: ReadonlyArray<readonly [RegExp, Route]>;
  readonly resultExpires: number;
  readonly trackStarted: boolean;
  readonly resultExtended: boolean;
  readonly visibilityTimeout: number;
  readonly keyPrefix: string;
  readonly brokerOptions: ResolvedBrokerOptions;
  readonly errors: ReadonlyMap<string, new (...args: never[]) => Error>;
  readonly clock: Clock;
  readonly idGenerator: () => string;
  readonly logger: Logger;
  readonly hostname: string;
  /** `gen<pid>@<host>`: the origin header of messages this process sends. */
  readonly origin: string;
  /** This process's reply_to tag. */
  readonly oid: string;
}

/** `brokerOptions` with every default filled in (seconds). */
export interface ResolvedBrokerOptions {
  readonly maxPriority: number | undefined;
  readonly timeout: number;
  readonly connectTimeout: number;
  readonly connectionName: string;
  readonly tls: BrokerConnectionOptions['tls'];
  /** Milliseconds (redis). */
  readonly eagerTakeWindow: number;
}

function eagerTakeWindow(v: number | undefined): number {
  const x = v ?? 5;
  if (!(typeof x === 'number' && x >= 0 && Number.isFinite(x))) throw new ConfigurationError(`brokerOptions.eagerTakeWindow must be 0 or more milliseconds, got ${x}`);
  return x;
}

function resolveBrokerOptions(o: BrokerConnectionOptions = {}): ResolvedBrokerOptions {
  const { maxPriority } = o;
  if (maxPriority !== undefined && !(Number.isInteger(maxPriority) && maxPriority >= 1 && maxPriority <= 255)) {
    throw new ConfigurationError(`brokerOptions.maxPriority must be an integer from 1 to 255 (Celery's examples use 10), got ${maxPriority}`);
  }
  const seconds = (name: string, v: number | undefined, dflt: number): number => {
    const x = v ?? dflt;
    if (!(typeof x === 'number' && x > 0 && Number.isFinite(x))) throw new ConfigurationError(`brokerOptions.${name} must be a positive number of seconds, got ${x}`);
    return x;
  };
  return Object.freeze({
    maxPriority,
    timeout: seconds('timeout', o.timeout, 30),
    connectTimeout: seconds('connectTimeout', o.connectTimeout, 10),
    connectionName: o.connectionName ?? 'celeriac',
    tls: o.tls === undefined ? undefined : Object.freeze({ ...o.tls }),
    eagerTakeWindow: eagerTakeWindow(o.eagerTakeWindow),
  });
}

/** The app's structured logger as the message-first logger transports write to. */
export function brokerLogger(logger: Logger): BrokerLogger {
  return {
    warn(message, ...details) {
      const [first] = details;
      logger.warn(first instanceof Error ? { err: first } : details.length > 0 ? { details } : {}, message);
    },
  };
}

function defaultBackend(broker: string): string {
  const scheme = broker.split(':', 1)[0].toLowerCase();
  return scheme === 'memory' || scheme === 'redis' || scheme === 'rediss' ? broker : 'memory://';
}

/** Resolve options once. */
export function resolveOptions(o: CeleriacOptions = {}): ResolvedOptions {
  const broker = o.broker ?? 'memory://';
  const host = osHostname();
  const errors = new Map<string, new (...args: never[]) => Error>();
  for (const cls of o.errors ?? []) {
    errors.set(cls.name, cls);
    const mod = (cls as unknown as { excModule?: string }).excModule;
    if (mod) errors.set(`${mod}.${cls.name}`, cls);
  }
  return Object.freeze({
    broker,
    backend: o.backend ?? defaultBackend(broker),
    defaultQueue: o.defaultQueue ?? 'celery',
    routes: Object.freeze({ ...(o.routes ?? {}) }),
    routeGlobs: Object.entries(o.routes ?? {})
      .filter(([pattern]) => pattern.includes('*'))
      .map(([pattern, route]) => [globToRegExp(pattern), route] as const),
    resultExpires: o.resultExpires ?? 86400,
    trackStarted: o.trackStarted ?? false,
    resultExtended: o.resultExtended ?? false,
    visibilityTimeout: o.visibilityTimeout ?? 3600,
    keyPrefix: o.keyPrefix ?? '',
    brokerOptions: resolveBrokerOptions(o.brokerOptions),
    errors,
    clock: o.clock ?? systemClock,
    idGenerator: o.idGenerator ?? randomUUID,
    logger: o.logger ?? pino({ level: o.logLevel ?? 'warn' }, pino.destination(2)),
    hostname: o.hostname ?? `${process.pid}@${host}`,
    origin: `gen${process.pid}@${host}`,
    oid: randomUUID(),
  });
}

/** Find the route of a task name: exact match first, then globs in insertion order. */
export function routeFor(conf: Pick<ResolvedOptions, 'routes' | 'routeGlobs'>, name: string): Route | undefined {
  const exact = conf.routes[name];
  if (exact) return exact;
  for (const [re, route] of conf.routeGlobs) if (re.test(name)) return route;
  return undefined;
}

/** A `*` glob as an anchored RegExp (task routes, control `pattern`). */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}
