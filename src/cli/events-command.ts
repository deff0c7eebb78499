/**
 * `celeriac events`: print Celery events live, one line each, until SIGINT
 * or SIGTERM. The human form is `celery events --dump`'s:
 *
 *     worker1@host [2026-01-02 03:04:05.600000] task received: tasks.add(<id>) args=(2, 3) kwargs={} eta=None, ...
 *     worker1@host [2026-01-02 03:04:05.700000] heartbeat: active=0, freq=2.0, ...
 *
 * `--json` prints each event as one JSON object (a `task.multi` batch as one
 * line per event). It hears Python workers and celeriac workers alike;
 * workers send task events only with events enabled (`celeriac control
 * enable_events`, Celery's -E).
 */
import { receiveEvents, type CeleryEvent } from '../control/index.js';
import { encodeJson, pyRepr } from '../protocol/index.js';
import { connectApp, maskUrl } from './connect.js';
import { ExitCode } from './errors.js';
import { appFor, type AppSource } from './load-app.js';

/** Options of `celeriac events`, as parsed. */
export interface EventsOptions extends AppSource {
  json?: boolean;
  connectTimeout: number;
}

const HUMAN_TYPES: Readonly<Record<string, string>> = { 'worker-offline': 'shutdown', 'worker-online': 'started', 'worker-heartbeat': 'heartbeat' };

/** Python's `str(datetime.utcfromtimestamp(t))`: `2026-01-02 03:04:05.600000`. */
export function utcTimestamp(seconds: number): string {
  const total = Math.round(seconds * 1e6);
  const micros = total % 1e6;
  const d = new Date((total - micros) / 1000);
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}${micros ? `.${String(micros).padStart(6, '0')}` : ''}`;
}

function fieldText(v: unknown): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

/** Formats events as Celery's event dumper does, remembering task names by id. */
export class EventFormatter {
  private readonly tasks = new Map<string, string>();

  /** One line for one event. */
  format(event: CeleryEvent): string {
    const ev: Record<string, unknown> = { ...event };
    const timestamp = utcTimestamp(Number(ev.timestamp));
    const type = String(ev.type).toLowerCase();
    const hostname = String(ev.hostname);
    delete ev.timestamp;
    delete ev.type;
    delete ev.hostname;
    let task = '';
    if (type.startsWith('task-')) {
      const uuid = String(ev.uuid);
      delete ev.uuid;
      if (type === 'task-received' || type === 'task-sent') {
        task = `${fieldText(ev.name)}(${uuid}) args=${fieldText(ev.args)} kwargs=${fieldText(ev.kwargs)}`;
        delete ev.name;
        delete ev.args;
        delete ev.kwargs;
        this.tasks.set(uuid, task);
        if (this.tasks.size > 4095) this.tasks.delete(this.tasks.keys().next().value as string);
      } else task = this.tasks.get(uuid) ?? '';
    }
    const fields = Object.keys(ev)
      .sort()
      .map((k) => `${k}=${fieldText(ev[k])}`)
      .join(', ');
    const human = HUMAN_TYPES[type] ?? type.replace(/-/g, ' ');
    const sep = fields ? ':' : '';
    return type.startsWith('task-') ? `${hostname} [${timestamp}] ${human}${sep} ${task} ${fields}` : `${hostname} [${timestamp}] ${human}${sep} ${fields}`;
  }
}

/** Print events until a signal; resolves with the exit code. */
export async function runEvents(o: EventsOptions): Promise<number> {
  const app = await appFor(o);
  try {
    await connectApp(app, o.connectTimeout, (msg) => process.stderr.write(`celeriac: ${msg}\n`));
    const formatter = new EventFormatter();
    const stop = await receiveEvents(await app.broker(), (ev) => {
      process.stdout.write(`${o.json ? encodeJson(ev) : formatter.format(ev)}\n`);
    });
    process.stderr.write(`celeriac: capturing events from ${maskUrl(app.conf.broker)} (Ctrl-C to stop)\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write(`celeriac: ${signal}: stopped\n`);
    await stop();
    return ExitCode.OK;
  } finally {
    await app.close().catch(() => undefined);
  }
}
