/**
 * The Redis transport (`redis://`, `rediss://`), laid out exactly as kombu
 * 5.2.4's (celery-wire.md §2), so Python Celery clients and workers share
 * queues, unacked messages and broadcasts with celeriac:
 *
 * - a message is its kombu envelope text, LPUSHed on the list of its queue and
 *   priority step (`Q`, `Q\x06\x163`, `Q\x06\x166`, `Q\x06\x169`; lower first);
 * - a delivery is recorded in `unacked` / `unacked_index` until it is settled
 *   (see redis-consumer.ts for how it is taken);
 * - a visibility-timeout sweep under `unacked_mutex` restores messages held
 *   too long by anyone, Python workers included;
 * - broadcasts are PUBLISHed on `/<db>.<exchange>/<routing key>`.
 *
 * Two names are celeriac's own and ignored by Python peers: the wake channel
 * of each queue and each consumer's claim key (see lua/pop.lua).
 */
import { randomUUID } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { ConfigurationError, encodeEnvelope, envelopeBytes, fillBody, fromEnvelope, parseEnvelope, toEnvelope, type KombuEnvelope, type WireMessage } from '../protocol/index.js';
import type { BrokerOptions } from './index.js';
import { priorityStep } from './priority.js';
import { ensureConnected, oneWritePerTurn, openRedis, parseRedisUrl, shutdown, type RedisLogger } from '../redis/index.js';
import { parseHanded, RedisConsumer, restoreHanded, unackedScore, type ConsumerHost } from './redis-consumer.js';
import { RedisLayout, replyQueueBinding, topicGlobs } from './redis-layout.js';
import { sweepUnacked } from './redis-sweep.js';
import { withBrokerScripts, type ScriptedRedis } from './redis-scripts.js';
import { topicMatches, type BroadcastMessage, type Broker, type ConsumeOptions, type Consumer, type Delivery, type PublishOptions, type PublishTarget } from './types.js';

/** Options of the Redis transport. */
export interface RedisBrokerOptions extends BrokerOptions {
  /**
   * Longest wait, in ms, between two polls of an idle consumer. Messages from
   * celeriac publishers wake consumers at once; messages from Python
   * publishers are found by this poll. Default 50.
   */
  pollInterval?: number;
  /**
   * A chain step or callback a worker sends to a queue it consumes is handed
   * to it before Redis replies when it saw that queue empty within this many
   * ms and was not woken since; it may then overtake a message that a
   * publisher sending no wake-ups (Python's) queued in that time. 0: never
   * before the reply. Default 5.
   */
  eagerTakeWindow?: number;
  /** Seconds between visibility-timeout sweeps. Default: a quarter of `visibilityTimeout`, between 1 and 10 (kombu: about 10). */
  sweepInterval?: number;
  /** CLIENT SETNAME of the connections, followed by `:command`, `:subscriber` or `:consumer`. Default 'celeriac'. */
  connectionName?: string;
  /** Where connection and consumer errors are reported. Default `console`. */
  logger?: RedisLogger;
  /** Extra ioredis options for every connection (TLS settings, timeouts). Default none. */
  redis?: RedisOptions;
}

/** RedisBrokerOptions with every default filled in. */
export interface ResolvedRedisBrokerOptions {
  readonly visibilityTimeout: number;
  readonly keyPrefix: string;
  readonly pollInterval: number;
  readonly eagerTakeWindow: number;
  readonly sweepInterval: number;
  readonly connectionName: string;
  readonly logger: RedisLogger;
  readonly redis: RedisOptions;
}

function resolve(options: RedisBrokerOptions): ResolvedRedisBrokerOptions {
  const visibilityTimeout = options.visibilityTimeout ?? 3600;
  if (!(visibilityTimeout > 0)) throw new ConfigurationError(`visibilityTimeout must be a positive number of seconds, got ${visibilityTimeout}`);
  const pollInterval = options.pollInterval ?? 50;
  if (!(pollInterval >= 1)) throw new ConfigurationError(`pollInterval must be at least 1 ms, got ${pollInterval}`);
  const eagerTakeWindow = options.eagerTakeWindow ?? 5;
  if (!(eagerTakeWindow >= 0)) throw new ConfigurationError(`eagerTakeWindow must be at least 0 ms, got ${eagerTakeWindow}`);
  return Object.freeze({
    visibilityTimeout,
    keyPrefix: options.keyPrefix ?? '',
    pollInterval,
    eagerTakeWindow,
    sweepInterval: options.sweepInterval ?? Math.min(10, Math.max(1, visibilityTimeout / 4)),
    connectionName: options.connectionName ?? 'celeriac',
    logger: options.logger ?? console,
    redis: { ...(options.redis ?? {}) },
  });
}

interface Subscription {
  exchange: string;
  pattern: string;
  globs: string[];
  fn: (m: BroadcastMessage) => void;
}

/** How long a message published with `once` is remembered, seconds. */
const SENT_MARKER_TTL = 86_400;
/** Most messages pushed by one publish script call (Lua's stack limits how many values one call can unpack). */
const PUSH_BATCH = 1000;
/** Queues whose names keysOf keeps (a process that publishes to more starts over: pidbox replies go to a queue per client). */
const QUEUE_KEYS_KEPT = 256;

/** What a publish to a queue names: its lists (one per priority step), its wake-up channel, its idle consumers' set, its name as JSON. */
interface QueueKeys {
  lists: string[];
  wake: string;
  idlers: string;
  json: string;
}

/**
 * Eager takes handed to their consumer in the turn that sent them, at most
 * (see handOver); the rest wait for the next turn.
 */
export const HANDS_PER_TURN = 8;
/** Eager takes handed over since the last check phase. */
let handedThisTurn = 0;

/**
 * Hand an eager take to its consumer: in this turn, after its promise jobs,
 * up to HANDS_PER_TURN times (a chain's next steps then run in the same turn
 * and their writes leave together: one socket write, which wakes Redis, for
 * several steps instead of one per step); then in the next turn, after this
 * turn's writes, so that a long chain does not hold the event loop.
 */
function handOver(fn: () => void): void {
  if (handedThisTurn === 0) {
    setImmediate(() => {
      handedThisTurn = 0;
    });
  }
  if (++handedThisTurn <= HANDS_PER_TURN) queueMicrotask(fn);
  else setImmediate(fn);
}

/** The Redis broker. */
export class RedisBroker implements Broker {
  readonly url: string;
  /** Key and channel names. */
  readonly layout: RedisLayout;
  /** The resolved options. */
  readonly options: ResolvedRedisBrokerOptions;
  private readonly rawUrl: string;
  private readonly client: ScriptedRedis;
  private sub: Redis | null = null;
  private subReady: Promise<void> | null = null;
  private readonly consumers = new Set<RedisConsumer>();
  private readonly wakes = new Map<string, Set<RedisConsumer>>();
  /** Lists that had messages waiting when this process last pushed to them (see publishMany). */
  private readonly waiting = new Set<string>();
  /** Push channel → its consumer (see lua/hand.lua). */
  private readonly pushes = new Map<string, RedisConsumer>();
  private readonly globs = new Map<string, Set<Subscription>>();
  private readonly bound = new Set<string>();
  /** Names a publish to a queue uses, made once per queue (see keysOf). */
  private readonly queueKeys = new Map<string, QueueKeys>();
  /** What lua/hand.lua names a consumer's registration, push channel and claim list with (the consumer's id follows). */
  private readonly handPrefixes: readonly [string, string, string];
  private readonly host: ConsumerHost;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<number> | null = null;
  private closed = false;

  constructor(url: string, options: RedisBrokerOptions = {}) {
    const info = parseRedisUrl(url);
    this.url = info.masked;
    this.rawUrl = url;
    this.options = resolve(options);
    this.layout = new RedisLayout(this.options.keyPrefix, info.db);
    this.handPrefixes = [this.layout.idle(''), this.layout.pushChannel(''), this.layout.pushClaim('')];
    // Commands issued in the same tick (acks, publishes of many tasks) go out in one write.
    this.client = withBrokerScripts(oneWritePerTurn(openRedis(url, `${this.options.connectionName}:command`, this.options.logger, this.options.redis)));
    this.host = {
      layout: this.layout,
      client: this.client,
      log: this.options.logger,
      pollInterval: this.options.pollInterval,
      eagerTakeWindow: this.options.eagerTakeWindow,
      claimTtl: Math.ceil(this.options.visibilityTimeout),
      visibilityTimeout: this.options.visibilityTimeout,
      openConsumerConnection: () =>
        withBrokerScripts(
          openRedis(url, `${this.options.connectionName}:consumer`, this.options.logger, {
            ...this.options.redis,
            // The consumer retries a failed pop itself (and recovers what it recorded), so ioredis must not
            // resend it, queue it while disconnected, or keep it waiting for a reply that will not come.
            autoResendUnfulfilledCommands: false,
            enableOfflineQueue: false,
            commandTimeout: this.options.redis.commandTimeout ?? 10_000,
            maxRetriesPerRequest: null,
          }),
        ),
      watch: (consumer, queues) => this.watch(consumer, queues),
      release: (consumer) => this.release(consumer),
    };
  }

  async connect(): Promise<void> {
    this.closed = false;
    await ensureConnected(this.client);
  }

  /**
   * @internal The command connection, for a Redis result backend on the same
   * URL to share (its stores then go out in the same writes as the acks and
   * publishes of the same tick). It stays the broker's: the broker closes it.
   */
  sharedConnection(url: string): Redis | null {
    return url === this.rawUrl && Object.keys(this.options.redis).length === 0 ? this.client : null;
  }

  // ---- publishing --------------------------------------------------------

  publish(message: WireMessage, target: PublishTarget): Promise<void> {
    return this.publishMany([{ message, target }]);
  }

  publishMany(items: ReadonlyArray<{ message: WireMessage; target: PublishTarget }>, options: PublishOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new ConfigurationError('The Redis broker is closed'));
    // Most sends are one message on its own: no promise of this call's own around that one's.
    if (items.length === 1 && !options.takeLocally && !options.once) return this.publishOne(items[0].message, items[0].target);
    return this.publishBatch(items, options);
  }

  private async publishBatch(items: ReadonlyArray<{ message: WireMessage; target: PublishTarget }>, options: PublishOptions): Promise<void> {
    if (items.length === 0) return;
    // Sent as single commands, not as a pipeline: the connection writes everything published in the same turn
    // (by concurrent delay() calls, a chord header, a task's completion) into one write, in order. Consecutive
    // messages for the same list (a chord header, a group) are one script call: one LPUSH of all of them.
    const replies: Array<Promise<unknown>> = [];
    const pushed = new Set<string>();
    const binding = new Set<string>();
    const run: { keys: QueueKeys | null; step: number; tag: string; texts: Array<string | Buffer> } = { keys: null, step: 0, tag: '', texts: [] };
    const flush = (): void => {
      const { keys, step, texts } = run;
      if (!keys || !texts.length) return;
      replies.push(this.push(keys, step, run.tag, texts).then((n) => this.noteWaiting(keys.lists[step], n, texts.length)));
      run.texts = [];
    };
    for (const { message, target } of items) {
      const routingKey = target.routingKey ?? target.queue;
      const taker = options.takeLocally && !options.once ? this.takerFor(target.queue) : null;
      // A take writes the envelope's body only if it records the message (see take).
      const env = toEnvelope(message, target.exchange ?? '', routingKey, taker !== null);
      const bindKey = this.undeclared(target, routingKey);
      if (bindKey !== null && !binding.has(bindKey)) {
        replies.push(this.declare(target, routingKey));
        binding.add(bindKey);
      }
      const step = priorityStep(env.properties.priority);
      const keys = this.keysOf(target.queue);
      const id = options.once ? message.headers.id : undefined;
      if (taker) {
        flush();
        replies.push(this.take(taker, target.queue, env, message));
        continue;
      }
      const text = envelopeBytes(env);
      if (typeof id === 'string') {
        flush();
        replies.push(this.publishOnce(keys.lists[step], id, text, target.queue));
      } else {
        if (run.keys !== keys || run.step !== step || run.texts.length >= PUSH_BATCH) {
          flush();
          run.keys = keys;
          run.step = step;
          run.tag = env.properties.delivery_tag;
        }
        run.texts.push(text);
      }
      pushed.add(target.queue);
    }
    flush();
    await Promise.all(replies);
    // This process's consumers of those queues look at once instead of waiting for the wake-up's round trip.
    if (pushed.size) for (const c of this.consumers) if (c.queues.some((q) => pushed.has(q))) c.signal();
    for (const b of binding) this.bound.add(b);
  }

  /**
   * One message sent on its own (delay(), apply_async()): what publishMany
   * does for it, without the batching's sets, run and closures, which
   * would be most of what a send allocates here.
   */
  private async publishOne(message: WireMessage, target: PublishTarget): Promise<void> {
    const routingKey = target.routingKey ?? target.queue;
    const env = toEnvelope(message, target.exchange ?? '', routingKey);
    const bindKey = this.undeclared(target, routingKey);
    const declared = bindKey === null ? null : this.declare(target, routingKey);
    const step = priorityStep(env.properties.priority);
    const keys = this.keysOf(target.queue);
    const pushed = this.push(keys, step, env.properties.delivery_tag, [envelopeBytes(env)]);
    this.noteWaiting(keys.lists[step], declared ? (await Promise.all([pushed, declared]))[0] : await pushed, 1);
    for (const c of this.consumers) if (c.queues.includes(target.queue)) c.signal();
    if (bindKey !== null) this.bound.add(bindKey);
  }

  /**
   * The key of a queue's binding when this process has yet to declare it,
   * as kombu does once per process so that exchange-routed Python
   * publishers find the queue; null once declared, and for a pidbox reply
   * queue (its client declared it and removes it again: declaring it here
   * would leave a binding behind).
   */
  private undeclared(target: PublishTarget, routingKey: string): string | null {
    const bindKey = `${target.exchange || target.queue}\u0000${routingKey}\u0000${target.queue}`;
    if (this.bound.has(bindKey)) return null;
    return !target.exchange && replyQueueBinding(target.queue) !== null ? null : bindKey;
  }

  /** Declare a queue's binding (see undeclared). */
  private declare(target: PublishTarget, routingKey: string): Promise<number> {
    return this.client.sadd(this.layout.binding(target.exchange || target.queue), RedisLayout.bindingMember(routingKey, '', target.queue));
  }

  /**
   * Push messages of one queue and priority, in one script call. A message on
   * its own may go straight to an idle consumer (handOrPush), unless its list
   * had messages waiting when this process last published to it (then nobody
   * idles, and the plain push is cheaper): the reply, how many the list then
   * held, goes to noteWaiting.
   */
  private push(keys: QueueKeys, step: number, tag: string, texts: ReadonlyArray<string | Buffer>): Promise<number> {
    const list = keys.lists[step];
    return texts.length === 1 && tag && !this.waiting.has(list) ? this.handOrPush(keys, step, tag, texts[0]) : this.client.celeriacPublish(list, keys.wake, ...texts);
  }

  /** After a push of `count` messages left `n` in the list: whether its next single message may be handed over (see push). */
  private noteWaiting(list: string, n: number, count: number): void {
    if (n > count) this.waiting.add(list);
    else this.waiting.delete(list);
  }

  /** The names a publish to a queue uses, made once per queue (of the last QUEUE_KEYS_KEPT queues). */
  private keysOf(queue: string): QueueKeys {
    let keys = this.queueKeys.get(queue);
    if (keys) return keys;
    if (this.queueKeys.size >= QUEUE_KEYS_KEPT) this.queueKeys.clear();
    const l = this.layout;
    keys = { lists: l.lists(queue), wake: l.wakeChannel(queue), idlers: l.idlers(queue), json: JSON.stringify(queue) };
    this.queueKeys.set(queue, keys);
    return keys;
  }

  /**
   * lua/hand.lua: one message, handed to an idle celeriac consumer of its
   * queue when nothing waits there (it starts without a wake-up and a pop
   * first), else pushed.
   */
  private handOrPush(keys: QueueKeys, step: number, tag: string, text: string | Buffer): Promise<number> {
    const l = this.layout;
    const score = unackedScore(this.options.visibilityTimeout);
    return this.client.celeriacHand(7, ...keys.lists, l.unacked, l.unackedIndex, keys.idlers, text, step + 1, keys.wake, tag, score, keys.json, this.handPrefixes[0], this.handPrefixes[1], this.handPrefixes[2], this.host.claimTtl);
  }

  /** lua/publish-once.lua: pushed unless a message with this task id was pushed before. */
  private async publishOnce(list: string, id: string, text: string | Buffer, queue: string): Promise<void> {
    const n = await this.client.celeriacPublishOnce(list, this.layout.sent(id), text, this.layout.wakeChannel(queue), SENT_MARKER_TTL);
    if (n === -1) this.options.logger.warn(`celeriac: message ${id} was sent before; not sent again`);
  }

  /** A consumer of this broker that consumes `queue` and has room for one more message (reserved), or null. */
  private takerFor(queue: string): RedisConsumer | null {
    for (const c of this.consumers) if (c.reserveTake(queue)) return c;
    return null;
  }

  /**
   * Publish with lua/take.lua: taken for `consumer` when nothing waits in the
   * queue, else pushed. A lost reply is settled by reading the take claim:
   * when it names this call, the message was taken.
   *
   * An eager take (the consumer saw its queues empty just now, see
   * `RedisConsumer.eager`) is always taken and is handed to the consumer
   * before the script is sent (handOver), in the same turn: a chain's next
   * steps then run in that turn, up to HANDS_PER_TURN, and Redis stores them
   * together. The script is queued right after the hand-over, ahead of the
   * ack its consumer sends (acks leave after the turn's other writes), so
   * Redis records the message first. When the worker started it and acked
   * it (early) as it was handed over, the message has nothing left to wait
   * for: the script records nothing, the ack removes nothing, and the
   * envelope's text is never made.
   */
  private async take(consumer: RedisConsumer, queue: string, env: KombuEnvelope, message: WireMessage): Promise<void> {
    const l = this.layout;
    const tag = env.properties.delivery_tag;
    const step = priorityStep(env.properties.priority);
    const claim = consumer.takeClaim();
    const token = randomUUID();
    const score = unackedScore(this.options.visibilityTimeout);
    const keys = [...l.lists(queue), l.unacked, l.unackedIndex, claim, l.idle(consumer.id)];
    const send = (text: string | Buffer, eager: boolean, recorded: boolean): Promise<number> =>
      this.client.celeriacTake(keys.length, ...keys, text, step + 1, l.wakeChannel(queue), tag, score, JSON.stringify(queue), Math.ceil(this.options.visibilityTimeout), token, eager ? '1' : '0', recorded ? '1' : '0');
    const text = (): string | Buffer => envelopeBytes(fillBody(env, message));
    let reply: number;
    if (consumer.eager()) {
      let recorded = true;
      const call = new Promise<number>((resolve, reject) =>
        handOver(() => {
          const delivery = consumer.endTake({ tag, queue, raw: text, score, env, message });
          try {
            const raw = consumer.toRecord(delivery);
            recorded = raw !== null;
            send(raw ?? '', true, recorded).then(resolve, reject);
          } catch (err) {
            reject(err as Error);
          }
        }),
      );
      try {
        reply = await call;
      } catch (err) {
        // Handed over already: it runs. Failing its sender as well would leave a failed step before a running one.
        if (recorded && (await this.client.get(claim).catch(() => null)) !== `${token}\n${tag}`) {
          this.options.logger.warn(`celeriac: task message ${tag} runs on this worker, but Redis did not record it (${(err as Error).message}); it is not delivered again if this worker dies before acking it`);
        }
        return;
      }
      consumer.sawQueues(reply === 1);
      return;
    }
    const raw = text();
    try {
      reply = await send(raw, false, true);
    } catch (err) {
      if ((await this.client.get(claim).catch(() => null)) !== `${token}\n${tag}`) {
        // Neither taken nor known to be pushed: no eager take until a pop has looked again.
        consumer.sawQueues(false);
        consumer.endTake(null);
        throw err;
      }
      reply = 1;
    }
    // 1: taken with every queue empty; 0: pushed, messages were waiting.
    consumer.sawQueues(reply === 1);
    consumer.endTake(reply === 1 ? { tag, queue, raw, score, env, message } : null);
  }

  // ---- consuming ---------------------------------------------------------

  async consume(queues: readonly string[], onDelivery: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw new ConfigurationError('The Redis broker is closed');
    if (queues.length === 0) throw new ConfigurationError('consume() needs at least one queue');
    await this.connect();
    const fresh = [...new Set(queues)].filter((q) => !this.bound.has(`${q}\u0000${q}\u0000${q}`));
    if (fresh.length) {
      const pipe = this.client.pipeline();
      for (const q of fresh) {
        // A reply queue is bound as kombu binds it, so Python workers can route their replies to it.
        const reply = replyQueueBinding(q);
        if (reply) pipe.sadd(this.layout.binding(reply.exchange), RedisLayout.bindingMember(reply.routingKey, '', q));
        else pipe.sadd(this.layout.binding(q), RedisLayout.bindingMember(q, '', q));
      }
      await pipe.exec();
      for (const q of fresh) this.bound.add(`${q}\u0000${q}\u0000${q}`);
    }
    const consumer = new RedisConsumer(this.host, [...new Set(queues)], onDelivery, options.prefetch);
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (err) {
      this.consumers.delete(consumer);
      throw err;
    }
    this.startSweeping();
    return consumer;
  }

  private async subscriber(): Promise<Redis> {
    if (!this.sub) {
      const sub = openRedis(this.rawUrl, `${this.options.connectionName}:subscriber`, this.options.logger, this.options.redis);
      let first = true;
      sub.on('ready', () => {
        if (first) {
          first = false;
          return;
        }
        // Resubscribed after a reconnect (ioredis does that): wake-ups and handed messages may have been missed meanwhile.
        for (const c of this.consumers) {
          c.signal();
          c.recoverHanded().catch((err: unknown) => this.options.logger.warn(`celeriac: looking for messages handed to consumer ${c.id} failed (${(err as Error).message}); the visibility timeout will restore them`));
        }
      });
      const pushPrefix = this.layout.pushChannel('');
      sub.on('message', (channel: string, data: string) => {
        const set = this.wakes.get(channel);
        if (set) for (const c of set) c.signal();
        else if (channel.startsWith(pushPrefix)) this.onHanded(channel, data);
      });
      sub.on('pmessage', (glob: string, channel: string, data: string) => this.onBroadcast(glob, channel, data));
      this.sub = sub;
      this.subReady = sub.connect();
    }
    await this.subReady;
    return this.sub;
  }

  /** A message handed to a consumer: to it, or back to its queue when the consumer has gone. */
  private onHanded(channel: string, data: string): void {
    const consumer = this.pushes.get(channel);
    if (consumer) return consumer.handedOver(data);
    const m = parseHanded(data);
    if (m) void restoreHanded(this.host, m);
  }

  private async watch(consumer: RedisConsumer, queues: readonly string[]): Promise<void> {
    const sub = await this.subscriber();
    const push = this.layout.pushChannel(consumer.id);
    this.pushes.set(push, consumer);
    const fresh: string[] = [push];
    for (const q of queues) {
      const ch = this.layout.wakeChannel(q);
      let set = this.wakes.get(ch);
      if (!set) {
        this.wakes.set(ch, (set = new Set()));
        fresh.push(ch);
      }
      set.add(consumer);
    }
    if (fresh.length) await sub.subscribe(...fresh);
  }

  private async release(consumer: RedisConsumer): Promise<void> {
    this.consumers.delete(consumer);
    const push = this.layout.pushChannel(consumer.id);
    // Kept until the unsubscribe is confirmed: what comes meanwhile goes back to its queue (handedOver, cancelled).
    const gone: string[] = [push];
    for (const q of consumer.queues) {
      const ch = this.layout.wakeChannel(q);
      const set = this.wakes.get(ch);
      if (!set) continue;
      set.delete(consumer);
      if (set.size === 0) {
        this.wakes.delete(ch);
        gone.push(ch);
      }
    }
    if (this.sub) await this.sub.unsubscribe(...gone).catch(() => undefined);
    this.pushes.delete(push);
    if (this.consumers.size === 0) this.stopSweeping();
    await this.deleteReplyQueues(consumer.queues);
  }

  /**
   * kombu's auto-delete of a pidbox reply queue once its last consumer has
   * gone: remove its binding and its lists, so that neither the binding set
   * nor late replies pile up (one reply queue per client process).
   */
  private async deleteReplyQueues(queues: readonly string[]): Promise<void> {
    const pipe = this.client.pipeline();
    let n = 0;
    for (const q of queues) {
      const reply = replyQueueBinding(q);
      if (!reply || [...this.consumers].some((c) => c.queues.includes(q))) continue;
      this.bound.delete(`${q}\u0000${q}\u0000${q}`);
      pipe.srem(this.layout.binding(reply.exchange), RedisLayout.bindingMember(reply.routingKey, '', q));
      pipe.del(...this.layout.lists(q));
      n++;
    }
    if (n && this.client.status === 'ready') await pipe.exec();
  }

  // ---- visibility timeout --------------------------------------------------

  private startSweeping(): void {
    void this.sweep();
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepInterval * 1000);
    this.sweepTimer.unref();
  }

  private stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /**
   * Restore every message that has been unacknowledged for longer than the
   * visibility timeout, whoever holds it (kombu's `restore_visible`), under
   * the `unacked_mutex` lock. Resolves to the number restored (0 when another
   * process holds the lock).
   */
  sweep(): Promise<number> {
    if (!this.sweeping) {
      this.sweeping = sweepUnacked(this.client, this.layout, this.options.visibilityTimeout, this.options.logger)
        .catch((err: unknown) => {
          this.options.logger.warn(`celeriac: visibility timeout sweep failed: ${(err as Error).message}`);
          return 0;
        })
        .finally(() => {
          this.sweeping = null;
        });
    }
    return this.sweeping;
  }

  // ---- broadcast -----------------------------------------------------------

  async broadcast(exchange: string, routingKey: string, message: WireMessage): Promise<void> {
    if (this.closed) throw new ConfigurationError('The Redis broker is closed');
    await this.client.publish(this.layout.fanoutChannel(exchange, routingKey), encodeEnvelope(toEnvelope(message, exchange, routingKey)));
  }

  async subscribe(exchange: string, pattern: string, onMessage: (m: BroadcastMessage) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new ConfigurationError('The Redis broker is closed');
    const sub = await this.subscriber();
    const s: Subscription = { exchange, pattern, globs: topicGlobs(this.layout, exchange, pattern), fn: onMessage };
    const fresh: string[] = [];
    for (const g of s.globs) {
      let set = this.globs.get(g);
      if (!set) {
        this.globs.set(g, (set = new Set()));
        fresh.push(g);
      }
      set.add(s);
    }
    if (fresh.length) await sub.psubscribe(...fresh);
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const gone: string[] = [];
      for (const g of s.globs) {
        const set = this.globs.get(g);
        set?.delete(s);
        if (set && set.size === 0) {
          this.globs.delete(g);
          gone.push(g);
        }
      }
      if (gone.length && this.sub && this.sub.status === 'ready') await this.sub.punsubscribe(...gone);
    };
  }

  private onBroadcast(glob: string, channel: string, data: string): void {
    const subs = this.globs.get(glob);
    if (!subs || subs.size === 0) return;
    let message: WireMessage | null = null;
    for (const s of [...subs]) {
      const base = this.layout.fanoutBase(s.exchange);
      let routingKey: string;
      if (channel === base) routingKey = '';
      else if (channel.startsWith(`${base}/`)) routingKey = channel.slice(base.length + 1);
      else continue;
      if (!topicMatches(s.pattern, routingKey)) continue;
      if (message === null) {
        try {
          message = fromEnvelope(parseEnvelope(data));
        } catch (err) {
          this.options.logger.warn(`celeriac: ignoring unreadable broadcast on ${channel}: ${(err as Error).message}`);
          return;
        }
      }
      try {
        s.fn({ exchange: s.exchange, routingKey, message });
      } catch (err) {
        this.options.logger.warn(`celeriac: broadcast listener threw: ${(err as Error).message}`);
      }
    }
  }

  // ---- queues --------------------------------------------------------------

  async queueLength(queue: string): Promise<number> {
    const pipe = this.client.pipeline();
    for (const key of this.layout.lists(queue)) pipe.llen(key);
    const res = (await pipe.exec()) ?? [];
    let n = 0;
    for (const [err, len] of res) {
      if (err) throw err;
      n += Number(len);
    }
    return n;
  }

  async purge(queue: string): Promise<number> {
    const keys = this.layout.lists(queue);
    const tx = this.client.multi();
    for (const key of keys) tx.llen(key);
    tx.del(...keys);
    const res = (await tx.exec()) ?? [];
    let n = 0;
    for (let i = 0; i < keys.length; i++) {
      const [err, len] = res[i] ?? [];
      if (err) throw err;
      n += Number(len);
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.consumers].map((c) => c.cancel()));
    this.stopSweeping();
    await this.sweeping;
    this.globs.clear();
    this.wakes.clear();
    this.pushes.clear();
    const conns: Redis[] = [this.client];
    if (this.sub) conns.push(this.sub);
    this.sub = null;
    this.subReady = null;
    await Promise.allSettled(conns.map(shutdown));
  }
}
