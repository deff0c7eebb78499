/**
 * Remote control over Celery's pidbox (celery-wire.md §8.1): revoke reaches
 * every worker listening on the broker, whichever language it is written in.
 */
import { encodeJson, decodeJson, type WireMessage } from '../protocol/index.js';
import type { Celeriac } from '../app.js';
import type { RevokeOptions } from '../result/index.js';

/** The control exchange of Celery's pidbox. */
export const PIDBOX_EXCHANGE = 'celery.pidbox';

/** The part of a worker remote control talks to. */
export interface ControlledWorker {
  readonly hostname: string;
  revoke(ids: readonly string[], terminate?: boolean): void;
}

/** Remote control: broadcast commands to workers. */
export class Control {
  private clock = 0;
  constructor(private readonly app: Celeriac) {}

  private message(method: string, args: Record<string, unknown>, destination: string[] | null = null): WireMessage {
    return {
      headers: { clock: ++this.clock, expires: null },
      properties: { delivery_mode: 1, correlation_id: null, reply_to: null },
      body: encodeJson({ method, arguments: args, destination, pattern: null, matcher: null }),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
    };
  }

  /** Revoke task ids on every worker. */
  async revoke(ids: string | string[], options: RevokeOptions = {}): Promise<void> {
    const list = Array.isArray(ids) ? ids : [ids];
    const broker = await this.app.broker();
    await broker.broadcast(
      PIDBOX_EXCHANGE,
      '',
      this.message('revoke', { task_id: list.length === 1 ? list[0] : list, terminate: options.terminate ?? false, signal: options.signal ?? 'SIGTERM' }),
    );
  }

  /** @internal make a worker listen for commands; resolves to a stop function. */
  async listen(worker: ControlledWorker): Promise<() => Promise<void>> {
    const broker = await this.app.broker();
    return broker.subscribe(PIDBOX_EXCHANGE, '#', ({ message }) => {
      try {
        const body = decodeJson(message.body) as { method?: string; arguments?: Record<string, unknown>; destination?: string[] | null };
        if (body.destination && !body.destination.includes(worker.hostname)) return;
        if (body.method === 'revoke') {
          const a = body.arguments ?? {};
          const ids = Array.isArray(a.task_id) ? (a.task_id as string[]) : [String(a.task_id)];
          worker.revoke(ids, a.terminate === true);
        }
      } catch (err) {
        this.app.conf.logger.error({ err }, 'bad control message');
      }
    });
  }
}
