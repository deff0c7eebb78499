/**
 * One AMQP connection that heals itself. A `Link` is one connected
 * generation: its channels and its cache of declared entities die with it.
 * When the connection drops (RabbitMQ restarted, `close_all_connections`, a
 * network cut, a missed heartbeat), a loop reconnects with a bounded,
 * jittered exponential backoff, logging every failed attempt, and every
 * registered user (consumers, subscriptions) is called with the new link to
 * recreate its channels. Callers that need a link meanwhile wait for one, up
 * to their own deadline.
 */
import * as amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, SocketOptions } from 'amqplib';
import type { ExchangeSpec, QueueSpec } from './amqp-entities.js';

/** Where the AMQP transport reports reconnects and declaration mismatches. */
export interface AmqpLogger {
  warn(message: string, ...details: unknown[]): void;
}

/** RabbitMQ could not be reached, or did not take a message, within the time allowed. */
export class AmqpUnavailableError extends Error {
  override name = 'AmqpUnavailableError';
}

/** The settings of one connection. */
export interface AmqpConnectionSettings {
  /** The URL with its password (amqplib reads vhost, heartbeat and frameMax from it). */
  readonly url: string;
  /** The URL with the password masked, for messages. */
  readonly masked: string;
  readonly socket: SocketOptions;
  /** First reconnect delay, ms; it doubles up to `maxReconnectDelay`. */
  readonly reconnectDelay: number;
  readonly maxReconnectDelay: number;
  readonly logger: AmqpLogger;
}

/** The reply code of an AMQP channel or connection error (404 NOT_FOUND, 406 PRECONDITION_FAILED, …), if any. */
export function replyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** True when an error means "the channel or connection went away", not "this message is wrong". */
export function isLoss(err: unknown, link: Link): boolean {
  if (!link.alive) return true;
  const e = err as { name?: string; message?: string; code?: unknown } | null;
  if (e?.name === 'IllegalOperationError') return true;
  if (e?.code === 320 || e?.code === 504 || e?.code === 'ECONNRESET' || e?.code === 'EPIPE') return true;
  return /channel closed|Channel ended|Connection closed|Socket closed|Unexpected close/i.test(e?.message ?? '');
}

/** Errors that end a handshake for good: wrong credentials or vhost. Retrying them only hides the mistake. */
function isFatalConnectError(err: unknown): boolean {
  return /ACCESS[-_]REFUSED|NOT[-_]ALLOWED|\b403\b|\b530\b|Expected amqp: or amqps:/i.test((err as Error)?.message ?? '');
}

/** One connected generation of an AmqpConnection. */
export class Link {
  /** False once the connection is gone; its channels and deliveries are dead. */
  alive = true;
  private adminChannel: Channel | null = null;
  private adminTail: Promise<unknown> = Promise.resolve();
  private confirm: Promise<ConfirmChannel> | null = null;
  private readonly declared = new Set<string>();

  constructor(
    /** 1 for the first connection, then one more per reconnect. */
    readonly generation: number,
    readonly model: ChannelModel,
    private readonly warnOnce: (key: string, message: string) => void,
  ) {}

  /**
   * Run one operation on this link's admin channel, one operation at a time.
   * An operation that fails with a channel error (404, 406, …) closes only
   * this channel; the next operation opens a fresh one.
   */
  admin<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      let ch = this.adminChannel;
      if (!ch) {
        ch = await this.model.createChannel();
        const opened = ch;
        opened.on('error', () => undefined); // the failed operation reports it
        opened.on('close', () => {
          if (this.adminChannel === opened) this.adminChannel = null;
        });
        this.adminChannel = opened;
      }
      try {
        return await fn(ch);
      } catch (err) {
        if (replyCode(err) !== undefined && this.adminChannel === ch) this.adminChannel = null;
        throw err;
      }
    };
    const p = this.adminTail.then(run, run);
    this.adminTail = p.catch(() => undefined);
    return p;
  }

  /** The publisher-confirms channel of this link, opened on first use and reopened if it dies. */
  confirmChannel(setup: (ch: ConfirmChannel) => void): Promise<ConfirmChannel> {
    if (!this.confirm) {
      const opening = this.model.createConfirmChannel().then((ch) => {
        ch.on('error', () => undefined); // reported to each publish through its confirm callback
        ch.on('close', () => {
          if (this.confirm === opening) this.confirm = null;
        });
        setup(ch);
        return ch;
      });
      opening.catch(() => {
        if (this.confirm === opening) this.confirm = null;
      });
      this.confirm = opening;
    }
    return this.confirm;
  }

  /**
   * Declare an exchange once per link. An exchange that exists with other
   * settings (PRECONDITION_FAILED) or that we may not declare is used as it is.
   */
  async declareExchange(x: ExchangeSpec): Promise<void> {
    if (x.name === '' || this.declared.has(`x\u0000${x.name}`)) return;
    try {
      await this.admin((ch) => ch.assertExchange(x.name, x.type, { durable: x.durable, autoDelete: x.autoDelete }));
    } catch (err) {
      const code = replyCode(err);
      if (code !== 406 && code !== 403) throw err;
      await this.admin((ch) => ch.checkExchange(x.name));
      this.warnOnce(`x\u0000${x.name}`, `exchange "${x.name}" exists with other settings than celeriac declares (${x.type}, durable ${x.durable}); using it as it is: ${(err as Error).message}`);
    }
    this.declared.add(`x\u0000${x.name}`);
  }

  /**
   * Declare a queue, its exchanges and bindings once per link (Celery's
   * `maybe_declare`). A queue that exists with other flags or arguments (for
   * example `x-max-priority` or a quorum queue declared by Python) is used as
   * it is, with a warning, rather than failing every publish.
   */
  async declareQueue(q: QueueSpec): Promise<void> {
    const key = `q\u0000${q.name}\u0000${q.bindings.map((b) => `${b.exchange.name}\u0000${b.routingKey}`).join('\u0000')}`;
    if (this.declared.has(key)) return;
    for (const b of q.bindings) await this.declareExchange(b.exchange);
    try {
      await this.admin((ch) => ch.assertQueue(q.name, { durable: q.durable, exclusive: q.exclusive, autoDelete: q.autoDelete, arguments: q.arguments }));
    } catch (err) {
      if (replyCode(err) !== 406) throw err;
      await this.admin((ch) => ch.checkQueue(q.name));
      this.warnOnce(`q\u0000${q.name}`, `queue "${q.name}" exists with other settings than celeriac declares (durable ${q.durable}, arguments ${JSON.stringify(q.arguments ?? {})}); using it as it is: ${(err as Error).message}`);
    }
    for (const b of q.bindings) if (b.exchange.name !== '') await this.admin((ch) => ch.bindQueue(q.name, b.exchange.name, b.routingKey));
    // An auto-delete queue (a pidbox reply queue) vanishes with its last consumer: declare it again next time.
    if (!q.autoDelete) this.declared.add(key);
  }

  /** Forget that a queue was declared (it was deleted behind our back), so the next use declares it again. */
  forgetQueue(name: string): void {
    for (const k of this.declared) if (k.startsWith(`q\u0000${name}\u0000`)) this.declared.delete(k);
  }
}

interface Waiter {
  resolve: (link: Link) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** A connection to RabbitMQ that reconnects by itself. */
export class AmqpConnection {
  private link: Link | null = null;
  private loop: Promise<void> | null = null;
  private readonly waiters = new Set<Waiter>();
  private readonly users = new Set<(link: Link) => void>();
  private readonly warned = new Set<string>();
  private generation = 0;
  private closed = false;
  private lastError: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly settings: AmqpConnectionSettings) {}

  /** The live link, if connected now. */
  get current(): Link | null {
    return this.link?.alive ? this.link : null;
  }

  /** Allow connecting again after `close()`. */
  reopen(): void {
    this.closed = false;
  }

  /**
   * The live link, waiting for a connection (or a reconnection) until
   * `deadline` (a `performance.now()` time, ms). Rejects with AmqpUnavailableError when the time is
   * up or the credentials are refused.
   */
  ready(deadline: number): Promise<Link> {
    if (this.closed) return Promise.reject(new AmqpUnavailableError(`The AMQP connection to ${this.settings.masked} is closed`));
    const live = this.current;
    if (live) return Promise.resolve(live);
    return new Promise<Link>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(
          () => {
            this.waiters.delete(waiter);
            const last = this.lastError ? ` (last error: ${this.lastError.message})` : '';
            reject(new AmqpUnavailableError(`RabbitMQ at ${this.settings.masked} was not reachable in time${last}`, { cause: this.lastError ?? undefined }));
          },
          Math.max(0, deadline - performance.now()),
        ),
      };
      this.waiters.add(waiter);
      this.kick();
    });
  }

  /**
   * Call `fn` with every new link from now on (after each reconnect); the
   * connection keeps reconnecting while such a user is registered. Returns
   * the function that unregisters it.
   */
  use(fn: (link: Link) => void): () => void {
    this.users.add(fn);
    return () => {
      this.users.delete(fn);
    };
  }

  /** Close the connection; waiting callers are rejected. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new AmqpUnavailableError(`The AMQP connection to ${this.settings.masked} was closed`));
    }
    this.waiters.clear();
    const link = this.link;
    this.link = null;
    if (link) {
      link.alive = false;
      await link.model.close().catch(() => undefined);
    }
    await this.loop;
  }

  private kick(): void {
    if (this.loop || this.closed) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      // The link may have died between connecting and this loop ending.
      if (this.wanted()) this.kick();
    });
  }

  private wanted(): boolean {
    return !this.closed && !this.current && (this.waiters.size > 0 || this.users.size > 0);
  }

  private async run(): Promise<void> {
    const { masked, logger } = this.settings;
    let attempt = 0;
    while (this.wanted()) {
      try {
        const model = await amqp.connect(this.settings.url, this.settings.socket);
        if (this.closed) {
          await model.close().catch(() => undefined);
          return;
        }
        const link = new Link(++this.generation, model, (key, message) => this.warnOnce(key, message));
        model.on('error', (err: Error) => {
          this.lastError = err;
        });
        model.on('close', (err?: Error) => this.lost(link, err));
        model.on('blocked', (reason: string) => logger.warn(`RabbitMQ at ${masked} blocked the connection (${reason}); publishes wait`));
        model.on('unblocked', () => logger.warn(`RabbitMQ at ${masked} unblocked the connection`));
        this.link = link;
        this.lastError = null;
        if (link.generation > 1 || attempt > 0) logger.warn(`reconnected to RabbitMQ at ${masked}`);
        for (const w of this.waiters) {
          clearTimeout(w.timer);
          w.resolve(link);
        }
        this.waiters.clear();
        for (const u of [...this.users]) {
          try {
            u(link);
          } catch (err) {
            logger.warn('AMQP connection user failed to restart', err);
          }
        }
        return;
      } catch (err) {
        this.lastError = err as Error;
        attempt++;
        if (isFatalConnectError(err)) {
          for (const w of this.waiters) {
            clearTimeout(w.timer);
            w.reject(new AmqpUnavailableError(`RabbitMQ at ${masked} refused the connection: ${(err as Error).message}`, { cause: err }));
          }
          this.waiters.clear();
        }
        if (!this.wanted()) return;
        const delay = this.backoff(attempt);
        logger.warn(`cannot connect to RabbitMQ at ${masked} (attempt ${attempt}): ${(err as Error).message}; retrying in ${delay} ms`);
        await this.sleep(delay);
      }
    }
  }

  /** Exponential backoff with ±20% jitter, capped at maxReconnectDelay. */
  private backoff(attempt: number): number {
    const { reconnectDelay, maxReconnectDelay } = this.settings;
    const base = Math.min(maxReconnectDelay, reconnectDelay * 2 ** Math.min(attempt - 1, 20));
    return Math.round(Math.min(maxReconnectDelay, base * (0.8 + Math.random() * 0.4)));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  private lost(link: Link, err: Error | undefined): void {
    link.alive = false;
    if (this.link !== link) return;
    this.link = null;
    if (err) this.lastError = err;
    if (this.closed) return;
    this.settings.logger.warn(`lost the connection to RabbitMQ at ${this.settings.masked}: ${err?.message ?? 'closed'}; reconnecting`);
    this.kick();
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.settings.logger.warn(message);
  }
}
