/**
 * kombu's visibility timeout (`restore_visible`, celery-wire.md §2.5): any
 * consumer, of any queue, gives back every message that has been
 * unacknowledged for longer than the timeout, whoever holds it, Python
 * workers included. One sweep runs at a time across all processes, under
 * the `unacked_mutex` lock (SET NX PX, as redis-py's Lock does for kombu).
 *
 * Each message goes back with RPUSH (next to be taken), its delivery tag kept
 * and `redelivered` set, by a compare-and-swap on its unacked record
 * (lua/restore.lua) in place of kombu's WATCH transaction. Unlike kombu
 * 5.2.4, and like newer kombu, it goes back to the list of its priority.
 */
import { randomUUID } from 'node:crypto';
import { decodeJson, encodeJson } from '../protocol/index.js';
import { priorityStep } from './priority.js';
import type { RedisLogger } from '../redis/index.js';
import { epochSeconds, markEnvelope } from './redis-consumer.js';
import { SEP, type RedisLayout } from './redis-layout.js';
import { scriptedPipeline, type ScriptedRedis } from './redis-scripts.js';
import { topicMatches } from './types.js';

/** kombu's `unacked_mutex` lock expiry, ms. */
const MUTEX_EXPIRE_MS = 300_000;
/** Entries restored per round. */
const SWEEP_BATCH = 100;

interface Plan {
  queue: string;
  step: number;
  text: string;
}

/**
 * Run one sweep. Resolves to the number of messages restored (0 when another
 * process holds the lock).
 */
export async function sweepUnacked(client: ScriptedRedis, layout: RedisLayout, visibilityTimeout: number, log: RedisLogger): Promise<number> {
  const token = randomUUID().replace(/-/g, '');
  if ((await client.set(layout.unackedMutex, token, 'PX', MUTEX_EXPIRE_MS, 'NX')) !== 'OK') return 0;
  let restored = 0;
  try {
    const ceil = epochSeconds() - visibilityTimeout;
    for (let round = 0; round < 1000; round++) {
      const flat = await client.zrevrangebyscore(layout.unackedIndex, ceil, 0, 'WITHSCORES', 'LIMIT', 0, SWEEP_BATCH);
      if (flat.length === 0) break;
      const tags: string[] = [];
      const scores: string[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        tags.push(flat[i]);
        scores.push(flat[i + 1]);
      }
      const entries = await client.hmget(layout.unacked, ...tags);
      const pipe = scriptedPipeline(client);
      for (let i = 0; i < tags.length; i++) {
        const entry = entries[i] ?? null;
        const plan = entry === null ? null : await planRestore(client, layout, entry);
        // No plan: the record is only dropped (an index entry without its hash entry, or text nobody can read).
        if (plan === null && entry !== null) log.warn(`celeriac: dropping unreadable unacked entry ${tags[i]}`);
        if (plan) pipe.celeriacRestore(layout.unacked, layout.unackedIndex, layout.list(plan.queue, plan.step), tags[i], scores[i], plan.text, 'R', layout.wakeChannel(plan.queue));
        else pipe.celeriacRestore(layout.unacked, layout.unackedIndex, layout.unacked, tags[i], scores[i], '', 'R', '');
      }
      const res = (await pipe.exec()) ?? [];
      for (const [err, n] of res) {
        if (err) throw err;
        if (n === 1) restored++;
      }
      if (tags.length < SWEEP_BATCH) break;
    }
  } finally {
    await client.celeriacReleaseLock(layout.unackedMutex, token).catch(() => undefined);
  }
  if (restored) log.warn(`celeriac: restored ${restored} message(s) unacknowledged for longer than ${visibilityTimeout} s`);
  return restored;
}

/** Where and how an unacked entry `[envelope, exchange, routing_key]` goes back; null when unreadable. */
async function planRestore(client: ScriptedRedis, layout: RedisLayout, entry: string): Promise<Plan | null> {
  let parsed: unknown;
  try {
    parsed = decodeJson(entry);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length < 3 || typeof parsed[2] !== 'string') return null;
  const [m, exchange, routingKey] = parsed as [unknown, unknown, string];
  const queue = typeof exchange === 'string' && exchange !== '' ? await lookup(client, layout, exchange, routingKey) : routingKey;
  // pop.lua records a message that is not a JSON object as a JSON string: it goes back as it came.
  if (typeof m === 'string') return { queue, step: 0, text: m };
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { queue, step: 0, text: encodeJson(m) };
  const env = markEnvelope(m as Record<string, unknown>);
  const props = env.properties as Record<string, unknown> | undefined;
  return { queue, step: priorityStep(props?.priority), text: encodeJson(env) };
}

/** kombu's exchange lookup for a routing key: the first bound queue whose key matches, else the routing key. */
async function lookup(client: ScriptedRedis, layout: RedisLayout, exchange: string, routingKey: string): Promise<string> {
  const members = await client.smembers(layout.binding(exchange));
  for (const member of members) {
    const [rk, pattern, queue] = member.split(SEP);
    if (queue && (rk === routingKey || (pattern && topicMatches(pattern, routingKey)))) return queue;
  }
  return routingKey;
}
