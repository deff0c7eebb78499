/**
 * Key and channel names of kombu 5.2.4's Redis transport (celery-wire.md
 * §2.2–2.5), with kombu's `global_keyprefix` applied to every one of them.
 */
import { PRIORITY_STEPS } from './priority.js';

/** kombu's separator inside list keys and binding members: `\x06\x16`. */
export const SEP = '\x06\x16';

/** Names of everything the Redis transport keeps, for one prefix and database. */
export class RedisLayout {
  /** `unacked`: hash of delivery tag → JSON `[envelope, exchange, routing_key]`. */
  readonly unacked: string;
  /** `unacked_index`: sorted set of delivery tag → delivery time (epoch seconds). */
  readonly unackedIndex: string;
  /** `unacked_mutex`: the lock visibility sweeps hold. */
  readonly unackedMutex: string;

  constructor(
    readonly prefix: string,
    readonly db: number,
  ) {
    this.unacked = `${prefix}unacked`;
    this.unackedIndex = `${prefix}unacked_index`;
    this.unackedMutex = `${prefix}unacked_mutex`;
  }

  /** The list of a queue for a priority step index (0 → `Q`, 1 → `Q\x06\x163`, …). */
  list(queue: string, stepIndex: number): string {
    const step = PRIORITY_STEPS[stepIndex] ?? 0;
    return step === 0 ? `${this.prefix}${queue}` : `${this.prefix}${queue}${SEP}${step}`;
  }

  /** Every list of a queue, step 0 first. */
  lists(queue: string): string[] {
    return PRIORITY_STEPS.map((_, i) => this.list(queue, i));
  }

  /** The binding set of an exchange: `_kombu.binding.<exchange>`. */
  binding(exchange: string): string {
    return `${this.prefix}_kombu.binding.${exchange}`;
  }

  /** A binding member: `routing_key SEP pattern SEP queue`. */
  static bindingMember(routingKey: string, pattern: string, queue: string): string {
    return `${routingKey}${SEP}${pattern}${SEP}${queue}`;
  }

  /** The fanout channel a broadcast is published on: `/<db>.<exchange>[/<routing key>]`. */
  fanoutChannel(exchange: string, routingKey: string): string {
    const base = `${this.prefix}/${this.db}.${exchange}`;
    return routingKey ? `${base}/${routingKey}` : base;
  }

  /** The channel prefix of an exchange's fanout channels (for parsing routing keys back). */
  fanoutBase(exchange: string): string {
    return `${this.prefix}/${this.db}.${exchange}`;
  }

  /** celeriac's wake-up channel of a queue (not a kombu name; Python peers ignore it). */
  wakeChannel(queue: string): string {
    return `${this.prefix}_celeriac.wake/${this.db}/${queue}`;
  }

  /** celeriac's marker of a message pushed with `once` (see lua/publish-once.lua). */
  sent(taskId: string): string {
    return `${this.prefix}_celeriac.sent.${taskId}`;
  }

  /** celeriac's registration of an idle consumer: how many messages it takes pushed (see lua/hand.lua). */
  idle(consumerId: string): string {
    return `${this.prefix}_celeriac.idle.${consumerId}`;
  }

  /** celeriac's set of the consumers of a queue registered as idle (see lua/hand.lua). */
  idlers(queue: string): string {
    return `${this.prefix}_celeriac.idlers.${queue}`;
  }

  /** celeriac's channel a publisher hands a consumer messages on (see lua/hand.lua). */
  pushChannel(consumerId: string): string {
    return `${this.prefix}_celeriac.push/${this.db}/${consumerId}`;
  }

  /** celeriac's list of the last messages handed to a consumer, "<tag> <score>" (see lua/hand.lua). */
  pushClaim(consumerId: string): string {
    return `${this.prefix}_celeriac.pushed.${consumerId}`;
  }

  /** celeriac's per-consumer claim key (see lua/pop.lua). */
  claim(consumerId: string): string {
    return `${this.prefix}_celeriac.claim.${consumerId}`;
  }
}

/** kombu's pidbox reply queue name: `<oid>.reply.<ns>.pidbox`. */
const REPLY_QUEUE = /^([^.]+)\.(reply\..+\.pidbox)$/;

/**
 * The binding of a pidbox reply queue, or null for any other queue. kombu
 * binds `<oid>.reply.celery.pidbox` to the direct exchange
 * `reply.celery.pidbox` with routing key `<oid>` (celery-wire.md §8.1), and a
 * Python worker routes its reply through that binding: without it the reply
 * is dropped.
 */
export function replyQueueBinding(queue: string): { exchange: string; routingKey: string } | null {
  const m = REPLY_QUEUE.exec(queue);
  return m ? { exchange: m[2], routingKey: m[1] } : null;
}

/** Escape Redis glob specials so a name matches only itself in PSUBSCRIBE. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * The Redis globs for an AMQP topic pattern on an exchange. `#` can stand for
 * zero words, which a glob cannot say, so each `#` is tried both dropped and
 * as `*`; received messages are then filtered with the exact topic rule.
 */
export function topicGlobs(layout: RedisLayout, exchange: string, pattern: string): string[] {
  const base = globEscape(layout.fanoutBase(exchange));
  if (pattern === '') return [base];
  const words = pattern.split('.');
  const hashes = words.flatMap((w, i) => (w === '#' ? [i] : []));
  const word = (w: string): string => (w === '#' || w === '*' ? '*' : globEscape(w));
  if (hashes.length > 4) return [base, `${base}/*`];
  const globs = new Set<string>();
  for (let mask = 0; mask < 1 << hashes.length; mask++) {
    const kept = words.filter((_, i) => {
      const h = hashes.indexOf(i);
      return h < 0 || (mask & (1 << h)) === 0;
    });
    globs.add(kept.length ? `${base}/${kept.map(word).join('.')}` : base);
  }
  return [...globs];
}
