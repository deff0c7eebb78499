/**
 * Publishing with publisher confirms. A batch is declared (once per link),
 * pipelined on the link's confirm channel, and settled when RabbitMQ has
 * confirmed every message. Messages whose confirm never came because the
 * channel or connection died, or that RabbitMQ nacked, are sent again on the
 * next link, in their order, until the caller's deadline: at-least-once, so a
 * message whose confirm was lost in the crash may arrive twice. A message to
 * the default exchange that RabbitMQ returns as unroutable (its queue was
 * deleted after we declared it) is declared again and resent, never dropped.
 */
import type { ConfirmChannel, Message, Options } from 'amqplib';
import { AmqpUnavailableError, isLoss, type AmqpConnection, type Link } from './amqp-connection.js';
import type { ExchangeSpec, QueueSpec } from './amqp-entities.js';

/** One message ready to publish. */
export interface Outgoing {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
  /** The queue (with its exchange and binding) to declare first, if any. */
  readonly queue: QueueSpec | null;
  /** The exchange to declare first, if any (broadcasts). */
  readonly exchangeSpec: ExchangeSpec | null;
}

type Outcome = 'ok' | 'returned' | 'lost' | Error;

interface InFlight {
  readonly out: Outgoing;
  returned: boolean;
}

/** How many times an unroutable message is redeclared and resent before giving up. */
const MAX_RETURNS = 3;

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Publishes batches on an AmqpConnection. */
export class Publisher {
  private readonly inflight = new WeakMap<ConfirmChannel, Map<number, InFlight>>();
  private seq = 0;

  constructor(private readonly conn: AmqpConnection) {}

  /**
   * Publish `items` in order and resolve once RabbitMQ confirmed them all.
   * Rejects with AmqpUnavailableError at `deadline`, or with the error of a
   * message that cannot be encoded (too large a header table, …).
   */
  async send(items: readonly Outgoing[], deadline: number): Promise<void> {
    let pending = items;
    let returns = 0;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AmqpUnavailableError(`RabbitMQ did not confirm ${pending.length} message(s) in time (the broker is unreachable or blocked)`)),
        Math.max(0, deadline - performance.now()),
      );
    });
    expired.catch(() => undefined);
    try {
      while (pending.length) {
        const link = await Promise.race([quiet(this.conn.ready(deadline)), expired]);
        const outcomes = await Promise.race([quiet(this.attempt(link, pending)), expired]);
        const again: Outgoing[] = [];
        let lost = false;
        for (let i = 0; i < pending.length; i++) {
          const o = outcomes[i];
          if (o === 'ok') continue;
          if (o instanceof Error) throw o;
          if (o === 'returned') {
            const q = pending[i].queue;
            if (!q || ++returns > MAX_RETURNS) {
              throw new Error(`RabbitMQ returned a message as unroutable (exchange "${pending[i].exchange}", routing key "${pending[i].routingKey}")`);
            }
            link.forgetQueue(q.name);
          } else lost = true;
          again.push(pending[i]);
        }
        pending = again;
        // A channel that died on a live connection (a nack, a channel error): do not spin.
        if (lost && link.alive) await pause(50);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private async attempt(link: Link, items: readonly Outgoing[]): Promise<Outcome[]> {
    let ch: ConfirmChannel;
    try {
      const queues = new Set<QueueSpec>();
      const exchanges = new Set<ExchangeSpec>();
      for (const it of items) {
        if (it.queue) queues.add(it.queue);
        if (it.exchangeSpec) exchanges.add(it.exchangeSpec);
      }
      for (const q of queues) await link.declareQueue(q);
      for (const x of exchanges) await link.declareExchange(x);
      ch = await link.confirmChannel((c) => this.watchReturns(c));
    } catch (err) {
      if (isLoss(err, link)) return items.map(() => 'lost');
      throw err;
    }
    const map = this.inflight.get(ch) ?? new Map<number, InFlight>();
    const results: Promise<Outcome>[] = [];
    for (const out of items) {
      let writable = true;
      results.push(
        new Promise<Outcome>((resolve) => {
          const tag = ++this.seq;
          const rec: InFlight = { out, returned: false };
          map.set(tag, rec);
          try {
            writable = ch.publish(out.exchange, out.routingKey, out.content, out.options, (err: unknown) => {
              map.delete(tag);
              resolve(err ? 'lost' : rec.returned ? 'returned' : 'ok');
            });
          } catch (err) {
            map.delete(tag);
            resolve(isLoss(err, link) ? 'lost' : (err as Error));
          }
        }),
      );
      // amqplib buffers past its high-water mark; wait for the socket to drain before writing more.
      if (!writable) await drained(ch);
    }
    return Promise.all(results);
  }

  /**
   * RabbitMQ sends basic.return before the confirm of the same message, on
   * the same channel. A returned message is matched to the first unconfirmed
   * one with the same exchange, routing key and bytes (identical messages are
   * interchangeable), whose confirm then reports it as returned.
   */
  private watchReturns(ch: ConfirmChannel): void {
    const map = new Map<number, InFlight>();
    this.inflight.set(ch, map);
    ch.on('return', (msg: Message) => {
      for (const rec of map.values()) {
        if (!rec.returned && rec.out.exchange === msg.fields.exchange && rec.out.routingKey === msg.fields.routingKey && rec.out.content.equals(msg.content)) {
          rec.returned = true;
          return;
        }
      }
    });
  }
}

/** The same promise, marked handled: it may settle after a race it lost. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function drained(ch: ConfirmChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      ch.off('drain', done);
      ch.off('close', done);
      resolve();
    };
    ch.on('drain', done);
    ch.on('close', done);
  });
}
