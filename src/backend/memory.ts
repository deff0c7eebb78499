/**
 * The embedded result backend (`memory://`): metas in this process, with the
 * same contract as Redis (never downgrade SUCCESS, atomic store-and-count,
 * parts counted once). Values are kept as encoded JSON text so that results
 * behave exactly as they would after a round trip through Redis.
 */
import { decodeJson, encodeJson } from '../protocol/index.js';
import { pendingMeta, States, type ChordPart, type ChordPartRef, type ResultBackend, type ResultTuple, type StoreOutcome, type TaskMeta } from './types.js';

interface ChordState {
  size: number | null;
  extra: number;
  parts: Map<string, { index: number; part: string }>;
  completer: string | null;
}

/** In-process result backend for `memory://`. */
export class MemoryBackend implements ResultBackend {
  readonly url: string;
  readonly nativeChords = true;
  private readonly metas = new Map<string, string>();
  private readonly groups = new Map<string, string>();
  private readonly chords = new Map<string, ChordState>();
  private readonly listeners = new Map<string, Set<(m: TaskMeta) => void>>();

  constructor(url = 'memory://') {
    this.url = url;
  }

  async connect(): Promise<void> {}

  private chord(groupId: string): ChordState {
    let c = this.chords.get(groupId);
    if (!c) this.chords.set(groupId, (c = { size: null, extra: 0, parts: new Map(), completer: null }));
    return c;
  }

  async store(meta: TaskMeta, chordPart?: ChordPartRef): Promise<StoreOutcome> {
    const text = encodeJson(meta);
    const prev = this.metas.get(meta.task_id);
    let stored = true;
    if (prev !== undefined && (JSON.parse(prev) as TaskMeta).status === States.SUCCESS) stored = false;
    else this.metas.set(meta.task_id, text);
    let chord: StoreOutcome['chord'] = null;
    if (chordPart) chord = this.countPart(chordPart, meta);
    if (stored) {
      const ls = this.listeners.get(meta.task_id);
      if (ls) for (const l of [...ls]) setImmediate(() => l(decodeJson(text) as TaskMeta));
    }
    return { stored, chord };
  }

  async storeQuietly(meta: TaskMeta): Promise<void> {
    await this.store(meta);
  }

  private countPart(ref: ChordPartRef, meta: TaskMeta): StoreOutcome['chord'] {
    const c = this.chord(ref.groupId);
    const id = meta.task_id;
    if (!c.parts.has(id)) {
      c.parts.set(id, { index: ref.groupIndex ?? Number.POSITIVE_INFINITY, part: encodeJson([1, id, meta.status, meta.result]) });
    } else if (c.completer !== id || !ref.redelivered) return { ready: false };
    if (c.size === null) return { ready: false };
    if (c.completer !== null && c.completer !== id) return { ready: false };
    if (c.parts.size !== c.size + c.extra) return { ready: false };
    c.completer = id;
    const parts: ChordPart[] = [...c.parts.values()]
      .sort((a, b) => a.index - b.index || (a.part < b.part ? -1 : 1))
      .map(({ part }) => {
        const [, pid, state, result] = decodeJson(part) as [number, string, string, unknown];
        return { id: pid, state, result };
      });
    return { ready: true, parts };
  }

  async getMeta(taskId: string): Promise<TaskMeta> {
    const t = this.metas.get(taskId);
    return t === undefined ? pendingMeta(taskId) : (decodeJson(t) as TaskMeta);
  }

  async getMetas(taskIds: readonly string[]): Promise<TaskMeta[]> {
    return Promise.all(taskIds.map((id) => this.getMeta(id)));
  }

  async subscribe(taskId: string, listener: (meta: TaskMeta) => void): Promise<() => void> {
    let set = this.listeners.get(taskId);
    if (!set) this.listeners.set(taskId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(taskId);
    };
  }

  async forget(taskId: string): Promise<void> {
    this.metas.delete(taskId);
  }

  async saveGroup(groupId: string, tuple: ResultTuple): Promise<void> {
    this.groups.set(groupId, encodeJson({ result: tuple }));
  }

  async restoreGroup(groupId: string): Promise<ResultTuple | null> {
    const t = this.groups.get(groupId);
    return t === undefined ? null : (decodeJson(t) as { result: ResultTuple }).result;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.groups.delete(groupId);
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    this.chord(groupId).size = size;
  }

  async addToChord(groupId: string, n: number): Promise<number> {
    return (this.chord(groupId).extra += n);
  }

  async chordDone(groupId: string): Promise<void> {
    this.chords.delete(groupId);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
