/**
 * One consumer of the Redis transport: kombu's consumption and ack emulation
 * (celery-wire.md §2.4–2.5) on a connection of its own.
 *
 * Taking messages: `lua/pop.lua` pops from the first non-empty list in kombu's
 * BRPOP key order (priority step first, then queue, round-robin) and records
 * each message in `unacked`/`unacked_index` in the same atomic step, so no
 * crash can lose a popped message. Redis cannot block a script, so instead of
 * BRPOP an idle consumer waits for a wake-up (celeriac publishers PUBLISH one
 * when a queue list goes from empty to non-empty) or a poll timer (for Python
 * publishers, which send none). It takes messages only while it holds fewer
 * unsettled deliveries than its prefetch.
 *
 * A pop whose reply is lost (connection killed after the script ran) is found
 * again through the claim key the script writes, and delivered.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { decodeJson, encodeJson, fromEnvelope, MalformedMessageError, parseEnvelope, type KombuEnvelope, type WireMessage } from '../protocol/index.js';
import { priorityStep } from './priority.js';
import type { RedisLayout } from './redis-layout.js';
import { shutdown, TurnBatch, type RedisLogger } from '../redis/index.js';
import { scriptedPipeline, type ScriptedRedis } from './redis-scripts.js';
import type { Consumer, Delivery } from './types.js';

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  readonly layout: RedisLayout;
  /** The broker's command connection (settling, restoring). */
  readonly client: ScriptedRedis;
  readonly log: RedisLogger;
  /** Longest idle wait between polls, ms. */
  readonly pollInterval: number;
  /**
   * How recently the consumer must have seen its queues empty for a message
   * this process sends to them to be handed over before Redis replies (an
   * eager take), ms. Publishers that send wake-ups would have woken it since;
   * only a message from one that sends none (Python's) queued within this
   * window can be overtaken.
   */
  readonly eagerTakeWindow: number;
  /** Seconds a claim key lives. */
  readonly claimTtl: number;
  /** Seconds before an unacknowledged message is restored (it picks the unacked_index score, see unackedScore). */
  readonly visibilityTimeout: number;
  /** A new connection for this consumer (not yet connected). */
  openConsumerConnection(): ScriptedRedis;
  /** Subscribe the consumer to its queues' wake channels. */
  watch(consumer: RedisConsumer, queues: readonly string[]): Promise<void>;
  /** The consumer stopped: unsubscribe it and forget it. */
  release(consumer: RedisConsumer): Promise<void>;
}

/** Most messages taken by one pop script call. */
const MAX_BATCH = 64;
/** Backoff after a failed pop: from 100 ms, doubling, up to 5 s. */
const MAX_BACKOFF = 5000;

/** The current time in epoch seconds, with a fraction (kombu's time()). */
export function epochSeconds(): number {
  return (performance.timeOrigin + performance.now()) / 1000;
}

/**
 * The unacked_index score a record is made with: the current epoch time in
 * seconds (what kombu's visibility sweep compares), rounded up to a whole
 * second when the visibility timeout is a second or more. Redis keeps a
 * sorted set of up to 128 entries as a listpack, which stores a fractional
 * score as text and parses it again at every entry an insert walks past
 * (measured: 17–20 µs per ZADD at 50–114 entries, 4 µs with whole seconds).
 * Rounding up makes a record look up to a second younger: restored up to a
 * second later, never earlier. A message restored and taken again gets a
 * score at least a visibility timeout later, so with a timeout of a second
 * or more the ack's ownership check (ack.lua) still tells the two apart.
 */
export function unackedScore(visibilityTimeout: number): string {
  const now = epochSeconds();
  return String(visibilityTimeout >= 1 ? Math.ceil(now) : now);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The text a restored message goes back with: `headers.redelivered` and
 * `properties.delivery_info.redelivered` set (kombu's `_do_restore_message`).
 * A message that is not an envelope goes back unchanged.
 */
export function markRedelivered(raw: string): string {
  let env: unknown;
  try {
    env = decodeJson(raw);
  } catch {
    return raw;
  }
  return isObject(env) ? encodeJson(markEnvelope(env)) : raw;
}

/** Set the redelivered flags on a parsed envelope, in place (new keys go last, as in Python). */
export function markEnvelope(env: Record<string, unknown>): Record<string, unknown> {
  if (isObject(env.headers)) env.headers.redelivered = true;
  const props = env.properties;
  if (isObject(props) && isObject(props.delivery_info)) props.delivery_info.redelivered = true;
  return env;
}

/** The priority step of a raw message (0 when it cannot be read). */
export function rawPriorityStep(raw: string): number {
  try {
    const env = JSON.parse(raw) as unknown;
    return isObject(env) && isObject(env.properties) ? priorityStep(env.properties.priority) : 0;
  } catch {
    return 0;
  }
}

/** A message a publisher handed to a consumer (lua/hand.lua). */
export interface HandedMessage {
  tag: string;
  score: string;
  queue: string;
  raw: string;
}

/** Read what hand.lua sends on a push channel: "<tag>\n<score>\n<queue JSON>\n<envelope>"; null when unreadable. */
export function parseHanded(payload: string): HandedMessage | null {
  const a = payload.indexOf('\n');
  const b = a < 0 ? -1 : payload.indexOf('\n', a + 1);
  const c = b < 0 ? -1 : payload.indexOf('\n', b + 1);
  if (c < 0) return null;
  let queue: unknown;
  try {
    queue = JSON.parse(payload.slice(b + 1, c));
  } catch {
    return null;
  }
  if (typeof queue !== 'string') return null;
  return { tag: payload.slice(0, a), score: payload.slice(a + 1, b), queue, raw: payload.slice(c + 1) };
}

/**
 * Give a handed message that nobody will run back to its queue, at the
 * consumer-near end (it was first), unmarked (it was never delivered). If
 * that fails, the visibility timeout restores it.
 */
export async function restoreHanded(host: Pick<ConsumerHost, 'layout' | 'client' | 'log'>, m: HandedMessage): Promise<void> {
  const { layout, client } = host;
  try {
    await client.celeriacRestore(layout.unacked, layout.unackedIndex, layout.list(m.queue, rawPriorityStep(m.raw)), m.tag, m.score, m.raw, 'R', layout.wakeChannel(m.queue));
  } catch (err) {
    host.log.warn(`celeriac: a message handed to a stopped consumer could not be given back now (${(err as Error).message}); the visibility timeout will restore it`);
  }
}

/** A pop script call on its way: what it asked for, and its reply. */
interface PopCall {
  count: number;
  room: number;
  token: string;
  score: string;
  order: string[];
  reply: Promise<Array<Buffer | number>>;
}

/**
 * Deliveries in the order they were added, each in at most one list at a
 * time; adding and removing allocate nothing (a Set under a steady churn
 * makes a new hash table every few hundred deliveries).
 */
class HeldList {
  size = 0;
  private head: Held | null = null;
  private tail: Held | null = null;

  add(h: Held): void {
    if (h.list === this) return;
    h.list?.delete(h);
    h.list = this;
    h.prev = this.tail;
    h.next = null;
    if (this.tail) this.tail.next = h;
    else this.head = h;
    this.tail = h;
    this.size++;
  }

  delete(h: Held): void {
    if (h.list !== this) return;
    if (h.prev) h.prev.next = h.next;
    else this.head = h.next;
    if (h.next) h.next.prev = h.prev;
    else this.tail = h.prev;
    h.list = h.prev = h.next = null;
    this.size--;
  }

  clear(): void {
    while (this.head) this.delete(this.head);
  }

  /** The deliveries, oldest first. */
  toArray(): Held[] {
    const out: Held[] = [];
    for (let h = this.head; h; h = h.next) out.push(h);
    return out;
  }
}

/**
 * A message this consumer took, delivered or not yet. Its envelope is parsed
 * when the message is first read: a worker reads it when the task starts, so
 * the messages it holds in reserve are their bytes or text only (what a worker keeps
 * alive between collections is what V8 copies and promotes).
 */
class Held implements Delivery {
  /** The list it is in (the consumer's held or acking ones), and its neighbours there. */
  list: HeldList | null = null;
  prev: Held | null = null;
  next: Held | null = null;
  /** Handed to onDelivery (false: taken while the consumer was being cancelled). */
  delivered = false;
  settled = false;
  settling: Promise<void> | null = null;
  /** Recorded in unacked (false: an eager take its worker acked as it was handed over, see RedisConsumer.toRecord). */
  recorded = true;
  private read: { message: WireMessage | null; error: Error | null; redelivered: boolean } | null = null;
  private source: string | Buffer | (() => string | Buffer);

  constructor(
    private readonly consumer: RedisConsumer,
    readonly deliveryTag: string,
    readonly queue: string,
    /**
     * The envelope as written to Redis: its text, or its bytes (popped
     * messages, and a large one this process made); or, for a take, how to
     * make them (not made when the take records nothing).
     */
    raw: string | Buffer | (() => string | Buffer),
    /** The unacked_index score this record was made with. */
    readonly score: string,
    /** The envelope `raw` was written from and the message it carries, when this process made it (a take): not parsed again. */
    private readonly made?: { env: KombuEnvelope; message: WireMessage },
  ) {
    this.source = raw;
  }

  /** The envelope as written to Redis (made now if it was not yet). */
  get raw(): string | Buffer {
    if (typeof this.source === 'function') this.source = this.source();
    return this.source;
  }

  private parsed(): { message: WireMessage | null; error: Error | null; redelivered: boolean } {
    if (this.read) return this.read;
    const made = this.made;
    try {
      const env = made?.env ?? parseEnvelope(this.text);
      const redelivered = env.properties.delivery_info.redelivered === true || env.headers?.redelivered === true;
      const message = fromEnvelope(env, made?.message.body);
      if (made?.message.prepared) message.prepared = made.message.prepared;
      this.read = { message, error: null, redelivered };
    } catch (err) {
      this.read = { message: null, error: err instanceof Error ? err : new MalformedMessageError(String(err)), redelivered: false };
    }
    return this.read;
  }

  /** Drop the parsed envelope (read again if asked for): an acknowledged message is not read any more, and its ack may take a while. */
  forgetParse(): void {
    if (!this.made) this.read = null;
  }

  /** The envelope's JSON text. */
  get text(): string {
    return typeof this.raw === 'string' ? this.raw : this.raw.toString('utf8');
  }

  get message(): WireMessage | null {
    return this.parsed().message;
  }

  get error(): Error | null {
    return this.parsed().error;
  }

  get redelivered(): boolean {
    return this.parsed().redelivered;
  }

  ack(): Promise<void> {
    return this.consumer.settle(this, 'ack');
  }

  reject(requeue: boolean): Promise<void> {
    return this.consumer.settle(this, requeue ? 'requeue' : 'ack');
  }
}

/** A message a take made for a consumer of this process (see RedisConsumer.endTake). */
type TakenMessage = { tag: string; queue: string; raw: string | Buffer | (() => string | Buffer); score: string; env: KombuEnvelope; message: WireMessage };

/** A running Redis consumer. */
export class RedisConsumer implements Consumer {
  /** Unique per consumer; names its claim key. */
  readonly id = randomUUID();
  /** Queues in kombu's round-robin order (the one that gave the last message goes last). */
  private order: string[];
  private prefetch: number;
  private readonly held = new HeldList();
  private readonly conn: ScriptedRedis;
  private cancelled = false;
  private cancelling: Promise<void> | null = null;
  private loop: Promise<void> = Promise.resolve();
  private woken = false;
  private wakeUp: (() => void) | null = null;
  private seq = 0;
  /** The token of a pop call that failed: its messages may sit in unacked, unseen. */
  private unsure: string | null = null;
  /** The loop waits for room (it holds prefetch deliveries). */
  private full = false;
  /** The loop waits for messages: its last pop found every queue empty. */
  private awaiting = false;
  /** When (performance.now()) a pop or a take last found every queue empty. */
  private seenEmpty = Number.NEGATIVE_INFINITY;
  /** Takes reserved and not ended (counted against the prefetch). */
  private taking = 0;
  /** Settled deliveries the application still counts against the prefetch (Consumer.hold). */
  private busy = 0;
  /** Called when `taking` drops to 0 (cancel waits for it). */
  private takesOver: (() => void) | null = null;
  /** Deliveries whose ack is on its way (no longer counted against the prefetch). */
  private readonly acking = new HeldList();
  /**
   * Acks of one event-loop turn: one script call, sent after the turn's
   * other writes (an early ack then does not delay the result store of a
   * task that finished in the same turn).
   */
  private readonly acks = new TurnBatch<Held, void>(async (batch) => {
    const { layout, client } = this.host;
    const args: string[] = [];
    for (const h of batch) if (h.recorded) args.push(h.deliveryTag, h.score);
    try {
      // A take recorded nothing when it was acked as it was handed over: there is nothing to remove.
      if (args.length) await client.celeriacAck(layout.unacked, layout.unackedIndex, ...args);
    } catch (err) {
      // Back among the held ones: restored when the consumer stops (or by the visibility timeout).
      for (const h of batch) {
        this.acking.delete(h);
        this.held.add(h);
        h.settling = null;
      }
      throw err;
    }
    for (const h of batch) {
      h.settled = true;
      this.acking.delete(h);
      h.settling = null;
    }
    return [];
  }, true);
  /** The pop script's KEYS and queue-name ARGV, for the queue order they were made for. */
  private popArgsCache: { order: string[]; keys: string[]; names: string[] } | null = null;
  /** A pop sent before the loop asked for it (see pop), waiting for its reply. */
  private ahead: PopCall | null = null;
  /** How many more messages publishers may hand this consumer under its registration (see lua/hand.lua), as far as it knows. */
  private handRoom = 0;
  /** Delivery tags of the last messages handed to this consumer (a handed message is delivered once, however it arrives). */
  private readonly handed = new Set<string>();

  constructor(
    private readonly host: ConsumerHost,
    readonly queues: readonly string[],
    private readonly onDelivery: (d: Delivery) => void,
    prefetch: number,
  ) {
    this.order = [...queues];
    this.prefetch = Math.max(1, Math.floor(prefetch));
    this.conn = host.openConsumerConnection();
  }

  /** Connect, subscribe to wake-ups, and start taking messages. */
  async start(): Promise<void> {
    try {
      await this.conn.connect();
      await this.host.watch(this, this.queues);
    } catch (err) {
      this.cancelled = true;
      await this.host.release(this).catch(() => undefined);
      this.conn.disconnect();
      throw err;
    }
    this.loop = this.run();
  }

  /** Wake the loop: a queue got a message, a delivery was settled, or the prefetch changed. */
  signal(): void {
    this.woken = true;
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  setPrefetch(n: number): void {
    this.prefetch = Math.max(1, Math.floor(n));
    this.signal();
  }

  hold(delta: number): void {
    this.busy = Math.max(0, this.busy + delta);
    if (delta < 0 && this.full) this.signal();
  }

  /** How many more messages it may take: the prefetch less what it holds, is taking, and what is held for it. */
  private room(): number {
    return this.prefetch - this.held.size - this.taking - this.busy;
  }

  /** Wait for a signal or `ms`; resolves to true when the time ran out (no signal came). */
  private sleep(ms: number): Promise<boolean> {
    if (this.woken || this.cancelled) {
      this.woken = false;
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = (timedOut: boolean): void => {
        if (timer) clearTimeout(timer);
        this.woken = false;
        resolve(timedOut);
      };
      this.wakeUp = () => done(false);
      const wake = this.wakeUp;
      if (Number.isFinite(ms)) timer = setTimeout(() => {
        if (this.wakeUp === wake) this.wakeUp = null;
        done(true);
      }, ms);
    });
  }

  /**
   * The loop. A pop that filled the room it was given pops again at once;
   * one that emptied the queues waits for a wake-up. Between wake-ups it
   * polls every pollInterval, and, once a poll has found messages (a
   * publisher that sends no wake-ups, such as Python's, is active), from
   * 1 ms doubling back up to pollInterval.
   */
  private async run(): Promise<void> {
    let backoff = 0;
    let idle = this.host.pollInterval;
    let timedOut = false;
    let offline = false;
    while (!this.cancelled) {
      try {
        if (this.unsure !== null) await this.recover(this.unsure);
        let call = this.ahead;
        this.ahead = null;
        if (!call) {
          const room = this.room();
          if (room <= 0) {
            this.full = true;
            await this.sleep(Number.POSITIVE_INFINITY);
            this.full = false;
            continue;
          }
          this.woken = false;
          call = this.sendPop(Math.min(room, MAX_BATCH), room);
        }
        const n = await this.pop(call);
        backoff = 0;
        offline = false;
        if (n > 0 && timedOut) idle = 1;
        else if (n === 0 || idle < this.host.pollInterval) idle = Math.min(this.host.pollInterval, idle * 2);
        if (n === call.count) {
          timedOut = false;
          continue;
        }
        this.awaiting = true;
        try {
          timedOut = await this.sleep(idle);
        } finally {
          this.awaiting = false;
        }
      } catch (err) {
        if (this.cancelled) break;
        if (this.conn.status !== 'ready') {
          // ioredis is reconnecting: go on as soon as it is back.
          if (!offline) this.host.log.warn(`celeriac: Redis consumer of ${this.queues.join(', ')} lost its connection, waiting for it: ${(err as Error).message}`);
          offline = true;
          const onReady = (): void => this.signal();
          this.conn.once('ready', onReady);
          timedOut = await this.sleep(MAX_BACKOFF);
          this.conn.off('ready', onReady);
          continue;
        }
        backoff = Math.min(MAX_BACKOFF, backoff === 0 ? 100 : backoff * 2);
        this.host.log.warn(`celeriac: Redis consumer of ${this.queues.join(', ')} failed, retrying in ${backoff} ms: ${(err as Error).message}`);
        timedOut = await this.sleep(backoff);
      }
    }
  }

  /** Reject when the connection closes, so a reply that will never come does not hang the loop. */
  private untilClosed<T>(p: Promise<T>): Promise<T> {
    const conn: Redis = this.conn;
    return new Promise<T>((resolve, reject) => {
      const onClose = (): void => reject(new Error('Redis connection closed while taking messages'));
      conn.once('close', onClose);
      p.then(
        (v) => {
          conn.off('close', onClose);
          resolve(v);
        },
        (e: unknown) => {
          conn.off('close', onClose);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  /** The pop script's KEYS and queue-name ARGV for the current order (made again only when the order changes). */
  private popArgs(): { keys: string[]; names: string[] } {
    const order = this.order;
    if (this.popArgsCache?.order !== order) {
      const { layout } = this.host;
      const keys: string[] = [layout.unacked, layout.unackedIndex, layout.claim(this.id)];
      for (let s = 0; s < 4; s++) for (const q of order) keys.push(layout.list(q, s));
      keys.push(layout.idle(this.id));
      for (const q of order) keys.push(layout.idlers(q));
      this.popArgsCache = { order, keys, names: order.map((q) => JSON.stringify(q)) };
    }
    return this.popArgsCache;
  }

  /**
   * Send the pop script for up to `count` messages. When it finds the queues
   * empty, the script registers the consumer as idle with the `room` left,
   * for publishers to hand it messages (lua/hand.lua).
   */
  private sendPop(count: number, room: number): PopCall {
    const order = this.order;
    const { keys, names } = this.popArgs();
    const token = `${this.id}:${++this.seq}`;
    const score = unackedScore(this.host.visibilityTimeout);
    // The messages come as bytes: kept until their turn, they are not copied by V8's collections of the young
    // generation (a string is), and each becomes a string only to be parsed.
    const reply = this.untilClosed(this.conn.celeriacPopBuffer(keys.length, ...keys, count, score, order.length, token, this.host.claimTtl, ...names, room, this.id));
    // Awaited by pop(); a pop sent ahead may be read only after its rejection.
    reply.catch(() => undefined);
    return { count, room, token, score, order, reply };
  }

  /**
   * A pop's reply: deliver what it took; returns how many. A pop that filled
   * its count sends the next one before delivering (counting what it took
   * against the room), so the next batch is on its way while this one runs
   * instead of after it: one pop is ever awaiting its reply, so the claim
   * key still names the one to recover.
   */
  private async pop(call: PopCall): Promise<number> {
    let reply: Array<Buffer | number>;
    try {
      reply = await call.reply;
    } catch (err) {
      this.unsure = call.token;
      throw err;
    }
    const taken: Held[] = [];
    for (let i = 0; i + 2 < reply.length; i += 3) {
      const queue = call.order[Number(reply[i]) - 1];
      const h = new Held(this, String(reply[i + 1]), queue, reply[i + 2] as Buffer, call.score);
      this.rotate(queue);
      taken.push(h);
    }
    if (taken.length < call.count) this.seenEmpty = performance.now();
    this.handRoom = taken.length < call.count ? call.room - taken.length : 0;
    if (taken.length === call.count && !this.cancelled) {
      // The room once these are held (hand() adds them below).
      const room = this.room() - taken.length;
      if (room > 0) this.ahead = this.sendPop(Math.min(room, MAX_BATCH), room);
    }
    this.hand(taken);
    return taken.length;
  }

  /** kombu's round-robin: the queue that gave a message goes to the end. */
  private rotate(queue: string): void {
    const i = this.order.indexOf(queue);
    if (i >= 0 && i !== this.order.length - 1) this.order = [...this.order.slice(0, i), ...this.order.slice(i + 1), queue];
  }

  /** Give taken messages to the application, or keep them for restoring when cancelled meanwhile. */
  private hand(taken: Held[]): void {
    for (const h of taken) this.held.add(h);
    if (this.cancelled) return;
    for (const h of taken) {
      h.delivered = true;
      try {
        this.onDelivery(h);
      } catch (err) {
        // The delivery stays unsettled; the application's own error is not ours to handle.
        this.host.log.warn(`celeriac: onDelivery threw for message ${h.deliveryTag}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * After a failed pop: if the script did run (its claim names our token),
   * deliver what it recorded; otherwise nothing was taken.
   */
  private async recover(token: string): Promise<void> {
    const { layout } = this.host;
    const claim = await this.conn.get(layout.claim(this.id));
    if (claim !== null && claim.startsWith(`${token}\n`)) {
      const tags = claim.slice(token.length + 1).split('\n');
      const pipe = this.conn.pipeline();
      for (const tag of tags) pipe.hget(layout.unacked, tag).zscore(layout.unackedIndex, tag);
      const res = (await pipe.exec()) ?? [];
      const taken: Held[] = [];
      tags.forEach((tag, i) => {
        const [e1, entry] = res[2 * i] ?? [];
        const [e2, score] = res[2 * i + 1] ?? [];
        if (e1 || e2) throw e1 ?? e2;
        if (typeof entry !== 'string' || typeof score !== 'string') return;
        const found = this.unpackEntry(entry);
        if (found) taken.push(new Held(this, tag, found.queue, found.raw, score));
      });
      if (taken.length) this.host.log.warn(`celeriac: recovered ${taken.length} message(s) taken by a pop whose reply was lost`);
      this.unsure = null;
      this.hand(taken);
      return;
    }
    this.unsure = null;
  }

  /** Split an unacked entry `[<raw>, "", "<queue>"]` that this consumer wrote. */
  private unpackEntry(entry: string): { raw: string; queue: string } | null {
    for (const queue of this.queues) {
      const suffix = `, "", ${JSON.stringify(queue)}]`;
      if (!entry.startsWith('[') || !entry.endsWith(suffix)) continue;
      const inner = entry.slice(1, entry.length - suffix.length);
      // pop.lua stores a message that is not a JSON object as a JSON string.
      if (inner.startsWith('"')) {
        try {
          return { raw: JSON.parse(inner) as string, queue };
        } catch {
          return null;
        }
      }
      return { raw: inner, queue };
    }
    return null;
  }

  /**
   * @internal a message a publisher handed to this consumer (lua/hand.lua),
   * as it came on the push channel. It was recorded for this consumer in
   * `unacked`; a consumer that is stopping gives it back to its queue.
   */
  handedOver(payload: string): void {
    const m = parseHanded(payload);
    if (!m || !this.queues.includes(m.queue)) {
      this.host.log.warn(`celeriac: ignoring an unreadable message handed to consumer ${this.id}`);
      return;
    }
    if (this.handed.has(m.tag)) return;
    this.remember(m.tag);
    if (this.cancelled) {
      void restoreHanded(this.host, m);
      return;
    }
    this.hand([new Held(this, m.tag, m.queue, m.raw, m.score)]);
    // Its registration is used up: look again now (a pop registers it again), not at the next poll.
    if (--this.handRoom <= 0) this.signal();
  }

  private remember(tag: string): void {
    this.handed.add(tag);
    if (this.handed.size > 256) for (const t of this.handed) {
      this.handed.delete(t);
      break;
    }
  }

  /**
   * @internal the push channel was down for a while (its connection came
   * back): deliver what publishers handed this consumer meanwhile, found
   * through its push claim and still recorded for it in `unacked`.
   */
  async recoverHanded(): Promise<void> {
    if (this.cancelled) return;
    const { layout } = this.host;
    const entries = await this.host.client.lrange(layout.pushClaim(this.id), 0, -1);
    const missed = entries.map((e) => e.split(' ')).filter(([tag]) => tag && !this.handed.has(tag));
    if (!missed.length) return;
    const pipe = this.host.client.pipeline();
    for (const [tag] of missed) pipe.hget(layout.unacked, tag).zscore(layout.unackedIndex, tag);
    const res = (await pipe.exec()) ?? [];
    const taken: Held[] = [];
    missed.forEach(([tag, score], i) => {
      const entry = res[2 * i]?.[1];
      const current = res[2 * i + 1]?.[1];
      // Still recorded with the score it was handed with: nobody settled or restored it since.
      if (typeof entry !== 'string' || typeof current !== 'string' || Number(current) !== Number(score) || this.handed.has(tag)) return;
      const found = this.unpackEntry(entry);
      if (!found) return;
      this.remember(tag);
      taken.push(new Held(this, tag, found.queue, found.raw, score));
    });
    if (taken.length) this.host.log.warn(`celeriac: recovered ${taken.length} message(s) handed to this consumer while its push channel was down`);
    this.hand(taken);
  }

  /**
   * @internal room for one message published in this process to take
   * directly (lua/take.lua); reserve it. Deliveries the application holds
   * only while it stores their results (Consumer.hold) leave room for it: a
   * take is what a finished task sends on (a chain's next step), and it takes
   * the place of the step that sent it. Otherwise a chain that runs ahead of
   * its result stores would go through the queue at every few steps.
   */
  reserveTake(queue: string): boolean {
    if (this.cancelled || !this.queues.includes(queue) || this.room() + this.busy <= 0) return false;
    this.taking++;
    return true;
  }

  /**
   * @internal whether a reserved take may be eager: handed over before Redis
   * replies, and taken even if messages wait. Only while the loop waits (for
   * messages, or for room), no wake-up came, and the queues were seen empty
   * just now, so
   * that it overtakes nothing but what a publisher sending no wake-ups
   * queued within the host's eagerTakeWindow.
   */
  eager(): boolean {
    return (this.awaiting || this.full) && !this.woken && !this.cancelled && performance.now() - this.seenEmpty < this.host.eagerTakeWindow;
  }

  /** @internal a take's reply: whether every queue was empty. Messages were waiting: look for them now. */
  sawQueues(empty: boolean): void {
    if (empty) this.seenEmpty = performance.now();
    else {
      this.seenEmpty = Number.NEGATIVE_INFINITY;
      this.signal();
    }
  }

  /**
   * @internal a reserved take ended: `raw` was taken for this consumer
   * (delivered as if popped; returned), or null (pushed; sawQueues looks for
   * what waits).
   */
  endTake(taken: TakenMessage): Delivery;
  endTake(taken: TakenMessage | null): Delivery | null;
  endTake(taken: TakenMessage | null): Delivery | null {
    if (--this.taking === 0) this.takesOver?.();
    if (!taken) return null;
    const h = new Held(this, taken.tag, taken.queue, taken.raw, taken.score, taken);
    this.hand([h]);
    return h;
  }

  /**
   * @internal an eager take handed over before it was recorded (endTake's
   * delivery): when its worker acked it as it was handed over (an early ack,
   * the task started at once), there is nothing to record and nothing to
   * remove, its ack sends nothing, and null is returned. Otherwise, the
   * envelope to record.
   */
  toRecord(d: Delivery): string | Buffer | null {
    const h = d as Held;
    if (h.list !== this.acking || h.settled) return h.raw;
    h.recorded = false;
    return null;
  }

  /** @internal the key take.lua writes "<token>\n<tag>" to. */
  takeClaim(): string {
    return this.host.layout.claim(`${this.id}.take`);
  }

  /** Ack or requeue one delivery (kombu's ack / reject); idempotent. */
  settle(h: Held, how: 'ack' | 'requeue'): Promise<void> {
    if (h.settled) return Promise.resolve();
    if (h.settling) return h.settling;
    const { layout, client } = this.host;
    if (how === 'ack') {
      // Its room is given back as the ack leaves, so the next pop goes out with it instead of a round trip
      // later. An ack that fails puts the delivery back among the held ones (restored when the consumer stops).
      this.held.delete(h);
      this.acking.add(h);
      h.forgetParse();
      // Only a loop that waits for room needs to hear of it (an idle one waits for messages).
      if (this.full) this.signal();
      // The turn's acks share one promise, settled with their one call.
      h.settling = this.acks.join(h);
      return h.settling;
    }
    const run = async (): Promise<void> => {
      const text = h.error ? h.raw : markRedelivered(h.text);
      const list = layout.list(h.queue, rawPriorityStep(h.text));
      await client.celeriacRestore(layout.unacked, layout.unackedIndex, list, h.deliveryTag, h.score, text, 'L', layout.wakeChannel(h.queue));
      h.settled = true;
      this.held.delete(h);
      this.signal();
    };
    h.settling = run().finally(() => {
      h.settling = null;
    });
    return h.settling;
  }

  /** Drop the idle registration, so that publishers stop handing this consumer messages (those on their way are given back). */
  private async unregister(): Promise<void> {
    const { layout } = this.host;
    const pipe = this.conn.pipeline().del(layout.idle(this.id));
    for (const q of this.queues) pipe.srem(layout.idlers(q), this.id);
    await pipe.exec().catch(() => undefined);
  }

  /**
   * Stop: wait for the loop, let settles in flight finish, then give every
   * unsettled message back with RPUSH (consumer-near end), marked
   * redelivered when it had been delivered, newest first so that the oldest
   * is taken first again.
   */
  cancel(): Promise<void> {
    if (this.cancelling) return this.cancelling;
    this.cancelled = true;
    this.signal();
    this.cancelling = (async () => {
      await this.loop;
      // A pop sent ahead: what it took is held (and restored below) or, if its reply is lost, recovered.
      const ahead = this.ahead;
      this.ahead = null;
      if (ahead) await this.pop(ahead).catch(() => undefined);
      await this.unregister();
      if (this.unsure !== null) {
        try {
          await this.recover(this.unsure);
        } catch {
          // Whatever that pop recorded is restored by the visibility timeout sweep.
        }
      }
      // A take in flight ends in held (restored below) or not taken; one whose reply does not come within 10 s is
      // left to the visibility timeout, like an unsettled message.
      if (this.taking > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 10_000);
          this.takesOver = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      await Promise.allSettled([...this.held.toArray(), ...this.acking.toArray()].map((h) => h.settling).filter((p) => p !== null));
      const rest = this.held.toArray().filter((h) => !h.settled).reverse();
      if (rest.length) {
        const { layout, client } = this.host;
        const pipe = scriptedPipeline(client);
        for (const h of rest) {
          const text = h.delivered && !h.error ? markRedelivered(h.text) : h.raw;
          pipe.celeriacRestore(layout.unacked, layout.unackedIndex, layout.list(h.queue, rawPriorityStep(h.text)), h.deliveryTag, h.score, text, 'R', layout.wakeChannel(h.queue));
        }
        try {
          const res = (await pipe.exec()) ?? [];
          const failed = res.filter(([e]) => e).length;
          if (failed) this.host.log.warn(`celeriac: ${failed} unacknowledged message(s) could not be restored now; the visibility timeout will restore them`);
        } catch (err) {
          this.host.log.warn(`celeriac: restoring ${rest.length} unacknowledged message(s) failed (${(err as Error).message}); the visibility timeout will restore them`);
        }
        for (const h of rest) h.settled = true;
      }
      this.held.clear();
      await this.host.release(this).catch(() => undefined);
      await this.conn.del(this.host.layout.claim(this.id), this.host.layout.pushClaim(this.id)).catch(() => undefined);
      await shutdown(this.conn);
    })();
    return this.cancelling;
  }
}
