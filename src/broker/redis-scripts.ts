/**
 * The broker's Lua scripts (`lua/*.lua`, one state change each), loaded once
 * and defined on each ioredis connection as custom commands. ioredis sends
 * EVALSHA and falls back to EVAL when a server does not know the script yet.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { luaSource } from '../redis/index.js';

type Arg = string | number | Buffer;
/** An envelope's JSON text, or its bytes (envelopeBytes). */
type Envelope = string | Buffer;

/** The scripts as commands on a connection. */
export interface BrokerScripts {
  /** lua/pop.lua: numKeys, then KEYS and ARGV as that file describes. */
  celeriacPop(numKeys: number, ...args: Arg[]): Promise<Array<string | number>>;
  /** The same, with the messages (and tags) as bytes: ioredis defines the Buffer variant of every script. */
  celeriacPopBuffer(numKeys: number, ...args: Arg[]): Promise<Array<Buffer | number>>;
  /** lua/publish.lua: list, wake channel, then the envelopes in publish order. */
  celeriacPublish(list: string, wake: string, ...envelopes: Envelope[]): Promise<number>;
  /** lua/publish-once.lua: list, sent marker, envelope, wake channel, marker TTL (s). */
  celeriacPublishOnce(list: string, marker: string, envelope: Envelope, wake: string, ttl: number): Promise<number>;
  /** lua/hand.lua: numKeys (7), then KEYS and ARGV as that file describes. */
  celeriacHand(numKeys: number, ...args: Arg[]): Promise<number>;
  /** lua/take.lua: numKeys (8), then KEYS and ARGV as that file describes. */
  celeriacTake(numKeys: number, ...args: Arg[]): Promise<number>;
  /** lua/ack.lua: unacked, unacked_index, then tag, score pairs. */
  celeriacAck(unacked: string, index: string, ...tagScorePairs: string[]): Promise<number>;
  /** lua/restore.lua: unacked, unacked_index, list, tag, score, text, end, wake channel. */
  celeriacRestore(unacked: string, index: string, list: string, tag: string, score: string, text: Envelope, end: 'L' | 'R', wake: string): Promise<number>;
  /** lua/release-lock.lua: lock key, token. */
  celeriacReleaseLock(key: string, token: string): Promise<number>;
}

/** The same commands queued on a pipeline. */
export interface BrokerPipelineScripts {
  celeriacRestore(unacked: string, index: string, list: string, tag: string, score: string, text: Envelope, end: 'L' | 'R', wake: string): ScriptedPipeline;
}

/** A connection with the broker's scripts defined. */
export type ScriptedRedis = Redis & BrokerScripts;
/** A pipeline of a ScriptedRedis. */
export type ScriptedPipeline = ChainableCommander & BrokerPipelineScripts;

/** Each file is sent after lua/unacked.lua when `shared` (the functions that take a message for a consumer). */
const DEFINITIONS: ReadonlyArray<{ name: keyof BrokerScripts; file: string; keys?: number; shared?: true }> = [
  { name: 'celeriacPop', file: 'pop.lua', shared: true },
  { name: 'celeriacPublish', file: 'publish.lua', keys: 1 },
  { name: 'celeriacPublishOnce', file: 'publish-once.lua', keys: 2 },
  { name: 'celeriacAck', file: 'ack.lua', keys: 2 },
  { name: 'celeriacTake', file: 'take.lua', shared: true },
  { name: 'celeriacHand', file: 'hand.lua', shared: true },
  { name: 'celeriacRestore', file: 'restore.lua', keys: 3 },
  { name: 'celeriacReleaseLock', file: 'release-lock.lua', keys: 1 },
];

/** Define the broker's scripts on a connection. */
export function withBrokerScripts(redis: Redis): ScriptedRedis {
  for (const d of DEFINITIONS) {
    const own = luaSource(import.meta.url, d.file);
    const lua = d.shared ? `${luaSource(import.meta.url, 'unacked.lua')}\n${own}` : own;
    redis.defineCommand(d.name, d.keys === undefined ? { lua } : { lua, numberOfKeys: d.keys });
  }
  return redis as ScriptedRedis;
}

/** A pipeline on a scripted connection. */
export function scriptedPipeline(redis: ScriptedRedis): ScriptedPipeline {
  return redis.pipeline() as ScriptedPipeline;
}
