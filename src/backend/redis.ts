/**
 * The Redis result backend (`redis://`, `rediss://`), in Celery 5.2.6's
 * layout (celery-wire.md §4), so Python clients read celeriac results and
 * the other way round:
 *
 * - `celery-task-meta-<id>`: the meta JSON, SETEX result_expires, and
 *   PUBLISHed on a channel of the same name;
 * - `celery-taskset-meta-<gid>`: a saved group, `{"result": <tuple>}`;
 * - `celery-taskset-meta-<gid>.j/.t/.s`: the native chord counter, plus
 *   celeriac's `.p` (ids that reported) and `.d` (the completer), which make
 *   counting idempotent.
 *
 * The result stores of one event-loop turn are one Lua script call
 * (lua/store-many.lua), and so are its chord part reports, each stored and
 * counted in its chord in one atomic step (lua/store-parts.lua).
 */
import type { Redis, RedisOptions } from 'ioredis';
import { ConfigurationError, decodeJson, encodeJson, encodeJsonPython } from '../protocol/index.js';
import { ensureConnected, luaSource, oneWritePerTurn, openRedis, parseRedisUrl, shutdown, TurnBatch } from '../redis/index.js';
import type { BackendOptions } from './index.js';
import { ResultChannels } from './redis-notify.js';
import { pendingMeta, type ChordPart, type ChordPartRef, type ResultBackend, type ResultTuple, type StoreOutcome, type TaskMeta, type Unsubscribe } from './types.js';

/** Options of the Redis result backend. */
export interface RedisBackendOptions extends BackendOptions {
  /** CLIENT SETNAME of the connections, followed by `:results` or `:results-subscriber`. Default 'celeriac'. */
  connectionName?: string;
  /** Where connection errors are reported. Default `console`. */
  logger?: { warn(message: string, ...details: unknown[]): void };
  /** Extra ioredis options for every connection (TLS settings, timeouts). Default none. */
  redis?: RedisOptions;
  /**
   * @internal A command connection to use instead of opening one: the app's
   * Redis broker's, when broker and backend have the same URL. Not closed by
   * the backend.
   */
  connection?: Redis;
}

const TASK_PREFIX = 'celery-task-meta-';
const GROUP_PREFIX = 'celery-taskset-meta-';

/** A store script with the functions it uses in front of it (lua/store-meta.lua's store_meta, lua/store-part.lua's store_part). */
function storeScript(...files: string[]): string {
  return ['store-meta.lua', ...files].map((f) => luaSource(import.meta.url, f)).join('\n');
}

interface ScriptedRedis extends Redis {
  /** lua/store-parts.lua: numKeys, KEYS, ARGV as that file describes. */
  celeriacStoreParts(numKeys: number, ...args: Array<string | number>): Promise<Array<Array<string | number>>>;
  /** lua/store-many.lua: numKeys, KEYS, ARGV as that file describes. */
  celeriacStoreMany(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
}

/** The Redis result backend. */
export class RedisBackend implements ResultBackend {
  readonly url: string;
  readonly nativeChords = true;
  /** Seconds every key lives; 0 = for ever. */
  readonly resultExpires: number;
  /** Prefix of every key and channel. */
  readonly keyPrefix: string;
  private readonly rawUrl: string;
  private readonly name: string;
  private readonly log: { warn(message: string, ...details: unknown[]): void };
  private readonly redisOptions: RedisOptions;
  private readonly client: ScriptedRedis;
  /** The command connection is the broker's (shared): close() leaves it open. */
  private readonly borrowed: boolean;
  /** The subscriber connection and who listens on it. */
  private readonly channels: ResultChannels;
  /**
   * Stores of metas that are not chord parts, one script call per event-loop
   * turn (a worker finishing fifty tasks in a turn makes one call, not fifty).
   */
  private readonly stores = new TurnBatch<{ key: string; text: string }, boolean>(async (batch) => {
    const flags = await this.client.celeriacStoreMany(batch.length, ...batch.map((b) => b.key), this.resultExpires, ...batch.map((b) => b.text));
    return flags.map((f) => Number(f) === 1);
  });
  /** Chord part reports, one script call per event-loop turn, each part stored and counted in turn; a chord's keys go once. */
  private readonly parts = new TurnBatch<{ key: string; groupId: string; args: string[] }, Array<string | number>>((batch) => {
    const chords = new Map<string, number>();
    const args: string[] = [];
    for (const b of batch) {
      let c = chords.get(b.groupId);
      if (c === undefined) chords.set(b.groupId, (c = chords.size + 1));
      args.push(...b.args, String(c));
    }
    const keys = batch.map((b) => b.key);
    for (const g of chords.keys()) keys.push(this.groupKey(g, '.j'), this.groupKey(g, '.t'), this.groupKey(g, '.s'), this.groupKey(g, '.p'), this.groupKey(g, '.d'));
    return this.client.celeriacStoreParts(keys.length, ...keys, this.resultExpires, batch.length, ...args);
  });

  constructor(url: string, options: RedisBackendOptions = {}) {
    this.url = parseRedisUrl(url).masked;
    this.rawUrl = url;
    const expires = options.resultExpires ?? 86400;
    if (!(expires >= 0) || !Number.isFinite(expires)) throw new ConfigurationError(`resultExpires must be a number of seconds ≥ 0, got ${expires}`);
    this.resultExpires = Math.floor(expires);
    this.keyPrefix = options.keyPrefix ?? '';
    this.name = options.connectionName ?? 'celeriac';
    this.log = options.logger ?? console;
    this.redisOptions = { ...(options.redis ?? {}) };
    // Stores and reads issued in the same tick by concurrent tasks go out in one write.
    this.borrowed = options.connection !== undefined;
    this.client = (options.connection ?? oneWritePerTurn(openRedis(this.rawUrl, `${this.name}:results`, this.log, this.redisOptions))) as ScriptedRedis;
    this.client.defineCommand('celeriacStoreParts', { lua: storeScript('store-part.lua', 'store-parts.lua') });
    this.client.defineCommand('celeriacStoreMany', { lua: storeScript('store-many.lua') });
    this.channels = new ResultChannels({
      open: () => this.open(`${this.name}:results-subscriber`),
      channel: (taskId) => this.taskKey(taskId),
      getMetas: (ids) => this.getMetas(ids),
      log: this.log,
    });
  }

  private open(name: string): Redis {
    return openRedis(this.rawUrl, name, this.log, this.redisOptions);
  }

  /** The meta key of a task id. */
  taskKey(taskId: string): string {
    return `${this.keyPrefix}${TASK_PREFIX}${taskId}`;
  }

  /** The group key of a group id, with an optional suffix (`.j`, `.s`, `.t`, …). */
  groupKey(groupId: string, suffix = ''): string {
    return `${this.keyPrefix}${GROUP_PREFIX}${groupId}${suffix}`;
  }

  async connect(): Promise<void> {
    await ensureConnected(this.client);
  }

  async store(meta: TaskMeta, chordPart?: ChordPartRef): Promise<StoreOutcome> {
    if (chordPart) return this.storePart(meta, chordPart);
    return { stored: await this.stores.add(this.storeItem(meta)), chord: null };
  }

  storeQuietly(meta: TaskMeta): Promise<void> {
    // What waits for the turn's call is its item and the promise the turn's quiet stores share.
    let item: { key: string; text: string };
    try {
      item = this.storeItem(meta);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.stores.join(item);
  }

  private storeItem(meta: TaskMeta): { key: string; text: string } {
    return { key: this.taskKey(meta.task_id), text: encodeJson(meta) };
  }

  private async storePart(meta: TaskMeta, chordPart: ChordPartRef): Promise<StoreOutcome> {
    const text = encodeJson(meta);
    // The member carries the result as stored: decode the meta text so that it matches a later read.
    const stored = decodeJson(text) as TaskMeta;
    const member = encodeJsonPython([1, meta.task_id, meta.status, stored.result]);
    const reply = await this.parts.add({
      key: this.taskKey(meta.task_id),
      groupId: chordPart.groupId,
      args: [text, meta.task_id, member, chordPart.groupIndex === null ? '+inf' : String(chordPart.groupIndex), chordPart.redelivered ? '1' : '0'],
    });
    const written = Number(reply[0]) === 1;
    if (Number(reply[1]) !== 1) return { stored: written, chord: { ready: false } };
    const parts: ChordPart[] = reply.slice(2).map((m) => {
      const [, id, state, result] = decodeJson(String(m)) as [number, string, string, unknown];
      return { id, state, result };
    });
    return { stored: written, chord: { ready: true, parts } };
  }

  private decodeMeta(taskId: string, text: string | null): TaskMeta {
    if (text === null) return pendingMeta(taskId);
    return decodeJson(text) as TaskMeta;
  }

  async getMeta(taskId: string): Promise<TaskMeta> {
    return this.decodeMeta(taskId, await this.client.get(this.taskKey(taskId)));
  }

  async getMetas(taskIds: readonly string[]): Promise<TaskMeta[]> {
    if (taskIds.length === 0) return [];
    const texts = await this.client.mget(...taskIds.map((id) => this.taskKey(id)));
    return taskIds.map((id, i) => this.decodeMeta(id, texts[i] ?? null));
  }

  async forget(taskId: string): Promise<void> {
    await this.client.del(this.taskKey(taskId));
  }

  /** Celery's `set`: SETEX (or SET without expiry) and PUBLISH on the key's name. */
  private async set(key: string, value: string): Promise<void> {
    const pipe = this.client.pipeline();
    if (this.resultExpires > 0) pipe.setex(key, this.resultExpires, value);
    else pipe.set(key, value);
    pipe.publish(key, value);
    const res = (await pipe.exec()) ?? [];
    const err = res.find(([e]) => e)?.[0];
    if (err) throw err;
  }

  async saveGroup(groupId: string, tuple: ResultTuple): Promise<void> {
    await this.set(this.groupKey(groupId), encodeJson({ result: tuple }));
  }

  async restoreGroup(groupId: string): Promise<ResultTuple | null> {
    const text = await this.client.get(this.groupKey(groupId));
    if (text === null) return null;
    const v = decodeJson(text) as { result?: ResultTuple } | null;
    return v?.result ?? null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.client.del(this.groupKey(groupId));
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    await this.set(this.groupKey(groupId, '.s'), encodeJson(size));
  }

  async addToChord(groupId: string, n: number): Promise<number> {
    const key = this.groupKey(groupId, '.t');
    const pipe = this.client.pipeline().incrby(key, n);
    if (this.resultExpires > 0) pipe.expire(key, this.resultExpires);
    const res = (await pipe.exec()) ?? [];
    const err = res.find(([e]) => e)?.[0];
    if (err) throw err;
    return Number(res[0]?.[1]);
  }

  async chordDone(groupId: string): Promise<void> {
    await this.client.del(...['.j', '.s', '.t', '.p', '.d'].map((s) => this.groupKey(groupId, s)));
  }

  // ---- notification (redis-notify.ts) -----------------------------------------

  subscribe(taskId: string, listener: (meta: TaskMeta) => void): Promise<Unsubscribe> {
    return this.channels.subscribe(taskId, listener);
  }

  listenAhead(taskId: string): void {
    this.channels.listenAhead(taskId);
  }

  listenedId(): string | null {
    return this.channels.listenedId();
  }

  async close(): Promise<void> {
    const conns: Redis[] = this.borrowed ? [] : [this.client];
    const sub = this.channels.close();
    if (sub) conns.push(sub);
    await Promise.allSettled(conns.map(shutdown));
  }
}
