/**
 * How the command finds the app and applies its overrides.
 *
 * `-A/--app PATH` names a module (TypeScript through tsx, or JavaScript) that
 * exports a Celeriac app, as its default export or as `app`, with its tasks
 * registered.
 *
 * One mechanism carries `-b/--broker`, `--result-backend` and `-l/--loglevel`
 * into that app: environment variables, set before the module is imported.
 *
 *   CELERIAC_BROKER_URL      from -b/--broker
 *   CELERIAC_RESULT_BACKEND  from --result-backend
 *   CELERIAC_LOG_LEVEL       from -l/--loglevel
 *
 * An app that accepts overrides builds itself from them:
 *
 *   export const app = new Celeriac({
 *     broker: process.env.CELERIAC_BROKER_URL ?? 'redis://127.0.0.1:6379/0',
 *     backend: process.env.CELERIAC_RESULT_BACKEND,
 *     logLevel: (process.env.CELERIAC_LOG_LEVEL as 'info' | undefined) ?? 'warn',
 *   });
 *
 * After the import the command checks that the app really uses the URLs it
 * was given and stops (exit 1, one line saying what to change) when it does
 * not, so an override is never silently ignored. `-l` also sets the level of
 * the app's logger when that logger is pino's (it has a writable `level`).
 * Without `-A`, `call` and `result` build a bare app from the same variables.
 */
import { existsSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Celeriac } from '../app.js';
import { CliError, usageError } from './errors.js';

/** Log levels accepted by `-l`. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
/** A value of `-l`. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Environment variable names of the override mechanism. */
export const Env = {
  broker: 'CELERIAC_BROKER_URL',
  backend: 'CELERIAC_RESULT_BACKEND',
  logLevel: 'CELERIAC_LOG_LEVEL',
} as const;

/** What the command knows when it needs an app. */
export interface AppSource {
  /** `-A`: the module path. */
  app?: string;
  /** `-b`: broker URL override. */
  broker?: string;
  /** `--result-backend`: backend URL override. */
  resultBackend?: string;
  /** `-l`: log level. */
  loglevel?: string;
}

/** Normalise `-l` (Celery spells them in capitals and has WARNING/CRITICAL). */
export function parseLogLevel(v: string): LogLevel {
  const l = v.toLowerCase();
  const mapped = l === 'warning' ? 'warn' : l === 'critical' || l === 'fatal' ? 'error' : l;
  if (!(LOG_LEVELS as readonly string[]).includes(mapped)) throw usageError(`invalid log level "${v}" (use one of ${LOG_LEVELS.join(', ')})`);
  return mapped as LogLevel;
}

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);
const TRY_EXTENSIONS = ['', '.ts', '.mts', '.js', '.mjs', '.cjs'];

/** The file a `-A` value names, trying the usual extensions. */
export function resolveAppPath(spec: string, cwd: string = process.cwd()): string {
  const base = resolve(cwd, spec);
  for (const ext of TRY_EXTENSIONS) {
    const p = base + ext;
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  throw new CliError(`cannot load app module "${spec}": no such file (looked for ${base})`);
}

let tsLoaderReady: Promise<void> | null = null;

/**
 * Make `import()` understand TypeScript. From source (this file is `.ts`) a
 * loader is already active; from `dist/` the command registers tsx.
 */
function ensureTsLoader(): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  tsLoaderReady ??= (async () => {
    try {
      const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
      esm.register();
      cjs.register();
    } catch (err) {
      throw new CliError('loading a TypeScript app module needs tsx: npm install tsx (or build the module to JavaScript)', 1, { cause: err });
    }
  })();
  return tsLoaderReady;
}

/** True for an object that behaves as a Celeriac app (duck-typed: the module may load its own copy of the class). */
export function isApp(v: unknown): v is Celeriac {
  if (v instanceof Celeriac) return true;
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.worker === 'function' && typeof o.task === 'function' && typeof o.sendTask === 'function' && typeof o.conf === 'object' && o.conf !== null;
}

function pickApp(mod: Record<string, unknown>): Celeriac | null {
  for (const candidate of [mod.default, mod.app]) if (isApp(candidate)) return candidate;
  // A CommonJS module seen through ESM: its module.exports is the default export.
  const inner = mod.default as Record<string, unknown> | undefined;
  if (inner && typeof inner === 'object') for (const candidate of [inner.default, inner.app]) if (isApp(candidate)) return candidate;
  return null;
}

/** Export the overrides as environment variables (the one mechanism, see above). */
export function exportOverrides(src: AppSource): void {
  if (src.broker) process.env[Env.broker] = src.broker;
  if (src.resultBackend) process.env[Env.backend] = src.resultBackend;
  if (src.loglevel) process.env[Env.logLevel] = parseLogLevel(src.loglevel);
}

/** Import the `-A` module and return its app, with the overrides checked. */
export async function loadApp(src: AppSource & { app: string }): Promise<Celeriac> {
  exportOverrides(src);
  const file = resolveAppPath(src.app);
  if (TS_EXTENSIONS.has(extname(file))) await ensureTsLoader();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error;
    throw new CliError(`cannot load app module "${src.app}": ${e.name}: ${firstLine(e.message)}`, 1, { cause: err });
  }
  const app = pickApp(mod);
  if (!app) {
    const names = Object.keys(mod).join(', ') || 'nothing';
    throw new CliError(`app module "${src.app}" exports no Celeriac app: export it as default or as "app" (it exports ${names})`);
  }
  checkOverrides(app, src);
  return app;
}

/** Stop when the app ignored `-b`/`--result-backend`; apply `-l` to a pino logger. */
function checkOverrides(app: Celeriac, src: AppSource): void {
  if (src.broker && app.conf.broker !== src.broker) {
    throw new CliError(`--broker ${src.broker} was given but the app uses ${app.conf.broker}: build it with broker: process.env.${Env.broker}`);
  }
  if (src.resultBackend && app.conf.backend !== src.resultBackend) {
    throw new CliError(`--result-backend ${src.resultBackend} was given but the app uses ${app.conf.backend}: build it with backend: process.env.${Env.backend}`);
  }
  if (src.loglevel) setLoggerLevel(app, parseLogLevel(src.loglevel));
}

function setLoggerLevel(app: Celeriac, level: LogLevel): void {
  const logger = app.conf.logger as unknown as { level?: unknown };
  if (typeof logger.level === 'string') logger.level = level;
}

/** An app for `call`/`result`: the `-A` module's, or a bare one from the URLs. */
export async function appFor(src: AppSource): Promise<Celeriac> {
  if (src.app) return loadApp({ ...src, app: src.app });
  exportOverrides(src);
  const broker = process.env[Env.broker];
  if (!broker) throw new CliError(`no broker: pass -A <app module>, -b <url>, or set ${Env.broker}`);
  const backend = process.env[Env.backend] || undefined;
  const level = process.env[Env.logLevel];
  return new Celeriac({ broker, backend, logLevel: level ? parseLogLevel(level) : 'warn' });
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0];
}
