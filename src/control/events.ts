/**
 * Celery events (celery-wire.md §8.3): task-* and worker-* events on the
 * `celeryev` exchange, routing key = type with '-' → '.', so that Celery's own
 * `celery events` and Flower can follow celeriac workers.
 */
import { hostname as osHostname, loadavg } from 'node:os';
import { decodeJson, encodeJson, type WireMessage } from '../protocol/index.js';
import type { Broker } from '../broker/index.js';

/** The events exchange. */
export const EVENT_EXCHANGE = 'celeryev';

/** One event as Celery writes it. */
export interface CeleryEvent {
  type: string;
  timestamp: number;
  hostname: string;
  utcoffset: number;
  pid: number;
  clock: number;
  [field: string]: unknown;
}

/** The celeriac version reported in worker events. */
export const SW_VERSION = '0.1.0';

/** Publishes events for one node. */
export class EventDispatcher {
  private clock = 0;
  constructor(
    private readonly broker: Broker,
    readonly hostname: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Build an event with the common fields. */
  event(type: string, fields: Record<string, unknown> = {}): CeleryEvent {
    return { hostname: this.hostname, utcoffset: 0, pid: process.pid, clock: ++this.clock, ...fields, timestamp: this.now() / 1000, type };
  }

  /** Publish one event (fire and forget; a broker hiccup never breaks a task). */
  async send(type: string, fields: Record<string, unknown> = {}): Promise<void> {
    const ev = this.event(type, fields);
    const msg: WireMessage = {
      headers: { hostname: this.hostname },
      properties: { delivery_mode: 1 },
      body: encodeJson(ev),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
    };
    await this.broker.broadcast(EVENT_EXCHANGE, type.replace(/-/g, '.'), msg).catch(() => undefined);
  }

  /** Worker fields of online/heartbeat/offline events. */
  workerFields(active: number, processed: number, freq = 2.0): Record<string, unknown> {
    return { freq, active, processed, loadavg: loadavg().map((x) => Math.round(x * 100) / 100), sw_ident: 'celeriac', sw_ver: SW_VERSION, sw_sys: `${process.platform} (${osHostname()})` };
  }
}

/** Listen to events; single events and `task.multi` batches (arrays) are both accepted. */
export async function receiveEvents(broker: Broker, onEvent: (ev: CeleryEvent) => void, pattern = '#'): Promise<() => Promise<void>> {
  return broker.subscribe(EVENT_EXCHANGE, pattern, ({ message }) => {
    let body: unknown;
    try {
      body = decodeJson(message.body);
    } catch {
      return;
    }
    for (const ev of Array.isArray(body) ? body : [body]) if (ev && typeof ev === 'object' && 'type' in ev) onEvent(ev as CeleryEvent);
  });
}
