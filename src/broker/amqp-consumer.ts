/**
 * Consumers and broadcast subscriptions on the consuming connection. Each has
 * its own channel, which it opens again on every new link after a reconnect
 * (and after its channel alone died), declaring its queues again first.
 *
 * A delivery belongs to the channel it came on. When that channel dies (the
 * connection dropped, RabbitMQ restarted, the consumer was cancelled),
 * RabbitMQ puts the delivery back on its queue and will deliver it again with
 * `redelivered` set; acking or rejecting the old delivery afterwards is a
 * no-op, since its delivery tag means nothing on any other channel.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { BroadcastMessage, Consumer, Delivery } from './types.js';
import { isLoss, type AmqpConnection, type AmqpLogger, type Link } from './amqp-connection.js';
import { broadcastExchange, queueSpec, subscriberQueue } from './amqp-entities.js';
import { wireMessageOf } from './amqp-message.js';

/** What consumers need from their broker. */
export interface AmqpConsumerHost {
  /** The consuming connection. */
  readonly conn: AmqpConnection;
  readonly maxPriority: number | undefined;
  readonly logger: AmqpLogger;
  /** How long (ms) `start` waits for a connection. */
  readonly timeout: number;
  /** Called once the consumer or subscription has stopped. */
  release(user: ChannelUser): void;
}

/** A channel of one link, and whether it is still open. */
interface Live {
  readonly ch: Channel;
  readonly link: Link;
  readonly serial: number;
  open: boolean;
}

let serials = 0;
/** How long to wait before reopening a channel that died while its connection lived on. */
const REOPEN_DELAY = 1000;

/** Something that keeps one channel open across reconnects. */
export abstract class ChannelUser {
  protected live: Live | null = null;
  protected stopped = false;
  private opening: Promise<void> | null = null;
  private openingFor: Link | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopUsing: (() => void) | null = null;

  constructor(protected readonly host: AmqpConsumerHost) {}

  /** Set the channel up on a link: declare, consume. */
  protected abstract setup(link: Link, ch: Channel, live: Live): Promise<void>;

  /** What this is, for log lines. */
  protected abstract describe(): string;

  /** Open the channel, waiting for a connection up to the host's timeout. */
  async start(): Promise<void> {
    this.stopUsing = this.host.conn.use((link) => this.restart(link));
    const deadline = performance.now() + this.host.timeout;
    for (;;) {
      const link = await this.host.conn.ready(deadline).catch(async (err: unknown) => {
        await this.stop();
        throw err;
      });
      try {
        await this.ensure(link);
        return;
      } catch (err) {
        if (!isLoss(err, link) || performance.now() > deadline) {
          await this.stop();
          throw err;
        }
      }
    }
  }

  /** Stop for good and close the channel. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopUsing?.();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.opening?.catch(() => undefined);
    const live = this.live;
    this.live = null;
    if (live?.open) {
      live.open = false;
      await live.ch.close().catch(() => undefined);
    }
    this.host.release(this);
  }

  private restart(link: Link): void {
    this.ensure(link).catch((err: unknown) => {
      if (this.stopped) return;
      this.host.logger.warn(`could not restart ${this.describe()} after reconnecting: ${(err as Error).message}`);
      this.retryLater();
    });
  }

  /** Make sure the channel is open on `link`; concurrent calls share one attempt. */
  private ensure(link: Link): Promise<void> {
    if (this.stopped || (this.live?.open && this.live.link === link)) return Promise.resolve();
    if (this.opening && this.openingFor === link) return this.opening;
    const before = this.opening ?? Promise.resolve();
    const p = before.catch(() => undefined).then(() => this.open(link));
    this.opening = p;
    this.openingFor = link;
    const clear = (): void => {
      if (this.opening === p) {
        this.opening = null;
        this.openingFor = null;
      }
    };
    p.then(clear, clear);
    return p;
  }

  private async open(link: Link): Promise<void> {
    if (this.stopped || (this.live?.open && this.live.link === link)) return;
    const ch = await link.model.createChannel();
    const live: Live = { ch, link, serial: ++serials, open: true };
    ch.on('error', (err: Error) => {
      if (!this.stopped && link.alive) this.host.logger.warn(`${this.describe()}: channel error: ${err.message}`);
    });
    ch.on('close', () => this.closed(live));
    try {
      await this.setup(link, ch, live);
    } catch (err) {
      live.open = false;
      await ch.close().catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      live.open = false;
      await ch.close().catch(() => undefined);
      return;
    }
    this.live = live;
  }

  private closed(live: Live): void {
    live.open = false;
    if (this.live === live) this.live = null;
    // A channel also closes when its whole connection goes; then the next link restarts us through use().
    // Which one it was is known only a moment later, so the check waits for the retry timer.
    if (!this.stopped) this.retryLater(live.link);
  }

  /** Reopen on the current link after a pause (a channel died alone, or a restart failed). */
  protected retryLater(dead: Link | null = null): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const link = this.host.conn.current;
      if (!link || this.stopped || (this.live?.open && this.live.link === link)) return;
      if (link === dead) this.host.logger.warn(`${this.describe()}: channel closed by RabbitMQ; reopening`);
      this.ensure(link).catch((err: unknown) => {
        if (this.stopped) return;
        this.host.logger.warn(`could not reopen ${this.describe()}: ${(err as Error).message}`);
        this.retryLater();
      });
    }, REOPEN_DELAY);
  }

  /** Close a live channel so RabbitMQ gives its deliveries back; `closed` then reopens it. */
  protected recycle(live: Live): void {
    if (!live.open) return;
    live.ch.close().catch(() => undefined);
  }
}

/** A task-queue consumer: acks required, channel-wide prefetch. */
export class AmqpConsumer extends ChannelUser implements Consumer {
  private prefetch: number;
  /** A basic.qos not yet confirmed by RabbitMQ. */
  private qos: Promise<void> | null = null;

  constructor(
    host: AmqpConsumerHost,
    readonly queues: readonly string[],
    private readonly onDelivery: (d: Delivery) => void,
    prefetch: number,
  ) {
    super(host);
    this.prefetch = Math.max(1, Math.floor(prefetch));
  }

  protected describe(): string {
    return `consumer of ${this.queues.join(', ')}`;
  }

  protected async setup(link: Link, ch: Channel, live: Live): Promise<void> {
    for (const q of this.queues) await link.declareQueue(queueSpec({ queue: q }, this.host.maxPriority));
    // global=true: one limit for the channel, shared by the queues it consumes and changeable while
    // consuming (per-consumer limits apply only to consumers started later). Celery does the same.
    const sent = this.prefetch;
    await ch.prefetch(sent, true);
    for (const q of this.queues) await ch.consume(q, (msg) => this.receive(live, q, msg), { noAck: false });
    if (this.prefetch !== sent) this.applyPrefetch(live);
  }

  setPrefetch(n: number): void {
    this.prefetch = Math.max(1, Math.floor(n));
    this.applyPrefetch(this.live);
  }

  /** RabbitMQ's qos counts unacknowledged deliveries only; changing it per task would cost a round trip each. */
  hold(): void {}

  /**
   * Send basic.qos with the current limit at once (amqplib keeps RPCs in call
   * order). Settlements wait until RabbitMQ confirmed it, so an ack sent right
   * after a lowered limit cannot let in a delivery the new limit forbids.
   */
  private applyPrefetch(live: Live | null): void {
    if (!live?.open) return;
    const p = live.ch.prefetch(this.prefetch, true).then(
      () => undefined,
      () => undefined,
    );
    this.qos = p;
    void p.then(() => {
      if (this.qos === p) this.qos = null;
    });
  }

  cancel(): Promise<void> {
    return this.stop();
  }

  private receive(live: Live, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // basic.cancel from RabbitMQ: the queue was deleted (or a mirror failed over). Declare it again and resume.
      if (this.stopped) return;
      this.host.logger.warn(`RabbitMQ cancelled the ${this.describe()} (queue ${queue} deleted?); consuming again`);
      live.link.forgetQueue(queue);
      this.recycle(live);
      return;
    }
    // A delivery racing our own close: the closing channel gives it back.
    if (this.stopped || !live.open) return;
    let message = null;
    let error: Error | null = null;
    try {
      message = wireMessageOf(msg, msg.fields.redelivered);
    } catch (err) {
      error = err as Error;
    }
    let settled = false;
    const settle = async (fn: () => void): Promise<void> => {
      if (settled) return;
      settled = true;
      if (this.qos) await this.qos;
      // On a dead channel the delivery is already back on its queue; RabbitMQ will deliver it again.
      if (!live.open) return;
      try {
        fn();
      } catch {
        // The channel closed between the check and the write: same as above.
      }
    };
    const delivery: Delivery = {
      message,
      error,
      queue,
      redelivered: msg.fields.redelivered,
      deliveryTag: `${live.serial}.${msg.fields.deliveryTag}`,
      ack: () => settle(() => live.ch.ack(msg)),
      reject: (requeue: boolean) => settle(() => live.ch.nack(msg, false, requeue)),
    };
    try {
      this.onDelivery(delivery);
    } catch (err) {
      // A callback that throws must not stop the channel; the delivery stays unsettled.
      this.host.logger.warn(`${this.describe()}: onDelivery threw`, err);
    }
  }
}

/** A broadcast listener: its own exclusive queue bound to the exchange, consumed without acks. */
export class AmqpSubscription extends ChannelUser {
  constructor(
    host: AmqpConsumerHost,
    readonly exchange: string,
    readonly pattern: string,
    private readonly onMessage: (m: BroadcastMessage) => void,
  ) {
    super(host);
  }

  protected describe(): string {
    return `subscription to ${this.exchange} (${this.pattern || "''"})`;
  }

  protected async setup(link: Link, ch: Channel, live: Live): Promise<void> {
    const x = broadcastExchange(this.exchange);
    await link.declareExchange(x);
    const q = subscriberQueue(x, this.pattern);
    // On the subscription's own channel: the queue is exclusive to this connection and goes with it.
    await ch.assertQueue(q.name, { durable: q.durable, exclusive: q.exclusive, autoDelete: q.autoDelete, arguments: q.arguments });
    for (const b of q.bindings) await ch.bindQueue(q.name, b.exchange.name, b.routingKey);
    await ch.consume(q.name, (msg) => this.receive(live, msg), { noAck: true });
  }

  private receive(live: Live, msg: ConsumeMessage | null): void {
    if (msg === null) {
      if (!this.stopped) this.recycle(live);
      return;
    }
    if (this.stopped || !live.open) return;
    let message;
    try {
      message = wireMessageOf(msg, false);
    } catch (err) {
      this.host.logger.warn(`${this.describe()}: dropped an unreadable message: ${(err as Error).message}`);
      return;
    }
    try {
      this.onMessage({ exchange: msg.fields.exchange, routingKey: msg.fields.routingKey, message });
    } catch (err) {
      this.host.logger.warn(`${this.describe()}: listener threw`, err);
    }
  }
}
