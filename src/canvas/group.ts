/** group: members sent in parallel, results in definition order (C-060…C-076). */
import type { SignatureDict } from '../protocol/index.js';
import { GroupResult } from '../result/index.js';
import { EagerResult } from '../result/eager.js';
import { States } from '../backend/types.js';
import type { CanvasHost, Dispatch } from './host.js';
import { mergeOptions, type ApplyOptions, type WireOptions } from './options.js';
import { fromDict, rebuildOptions, registerKind, Signature, type FreezeOptions } from './signature.js';
import { TaskListSignature } from './task-list.js';

/** Options of `skew` (C-074). */
export interface SkewOptions {
  start?: number;
  stop?: number;
  step?: number;
}

/** Option keys a group keeps for itself rather than passing to members. */
const GROUP_OWN = ['task_id', 'group_id', 'group_index', 'chord', 'root_id', 'parent_id', 'link', 'link_error'];

/** A group of signatures run in parallel. */
export class Group<In extends unknown[] = unknown[], Out extends unknown[] = unknown[]> extends TaskListSignature<In, Out, GroupResult<Out>> {
  constructor(tasks: readonly Signature[], options: WireOptions = {}, host: CanvasHost | null = null) {
    super('group', tasks, options, host);
  }

  override setImmutable(immutable: boolean): void {
    this.immutable = immutable;
    for (const t of this.tasks) t.setImmutable(immutable);
  }

  /** Link an immutable clone of `callback` to the first member only (C-066). */
  override link<S extends Signature>(callback: S): S {
    this.tasks[0]?.link(callback.clone({ immutable: true }));
    return callback;
  }

  /** Link `errback` to every member (C-067). */
  override linkError<S extends Signature>(errback: S): S {
    for (const t of this.tasks) t.linkError(errback.clone());
    return errback;
  }

  /** Set countdowns start, start+step, … capped at stop (C-074). Returns this. */
  skew(options: SkewOptions = {}): this {
    const { start = 1, stop, step = 1 } = options;
    let it = start;
    for (const t of this.tasks) {
      t.set({ countdown: it });
      if (stop === undefined || it + step <= stop) it += step;
      else it = stop;
    }
    return this;
  }

  /** Members with nested groups expanded, in order (C-063; in order also in chord headers, C-108). */
  flatten(): Signature[] {
    const out: Signature[] = [];
    const walk = (ts: Signature[]): void => {
      for (const t of ts) {
        if (t instanceof Group) walk(t.tasks);
        else out.push(t);
      }
    };
    walk(this.tasks);
    return out;
  }

  override freeze(opts: FreezeOptions = {}): GroupResult<Out> {
    const host = this.requireHost();
    const o = this.options;
    if (!o.task_id) o.task_id = opts.id ?? opts.groupId ?? host.newId();
    const gid = o.task_id as string;
    if (opts.chord) o.chord = opts.chord;
    if (opts.groupIndex !== undefined) o.group_index = opts.groupIndex;
    if (opts.rootId) o.root_id = opts.rootId;
    if (opts.parentId) o.parent_id = opts.parentId;
    const members = this.flatten();
    const results = members.map((m, i) =>
      m.freeze({ groupId: gid, chord: opts.chord, rootId: opts.rootId, parentId: opts.parentId, groupIndex: i }),
    );
    this.tasks = members;
    return new GroupResult<Out>(gid, results, host);
  }

  override applyInto(d: Dispatch, args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions): GroupResult<Out> {
    if (options.link) throw new TypeError('Cannot add link to group: use a chord');
    if (options.link_error) throw new TypeError('Cannot add link to group: do that on individual tasks');
    const host = this.requireHost();
    const o = mergeOptions(this.options, options);
    if (options.task_id && !this.options.task_id) this.options.task_id = options.task_id;
    const result = this.freeze({
      id: o.task_id as string | undefined,
      rootId: o.root_id as string | undefined,
      parentId: o.parent_id as string | undefined,
      chord: o.chord instanceof Signature ? o.chord : undefined,
    });
    const memberOpts: WireOptions = {};
    for (const [k, v] of Object.entries(o)) if (!GROUP_OWN.includes(k)) memberOpts[k] = v;
    memberOpts.add_to_parent = false;
    const partialArgs = this.immutable ? [] : args;
    const partialKwargs = this.immutable ? {} : kwargs;
    this.tasks.forEach((m, i) => {
      const r = m.applyInto(d, partialArgs, partialKwargs, memberOpts);
      // Keep the result objects from freeze (they carry parent links), unless the member made new ones.
      if (!result.results[i] || result.results[i].id !== r.id) result.results[i] = r;
    });
    const parent = host.currentRequest();
    if (parent && options.add_to_parent !== false) parent.children.push(result);
    return result;
  }

  /** Eager: members run here in order; the result's value is the list (C-075). */
  override async apply(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<EagerResult<Awaited<Out>>> {
    const results: EagerResult[] = [];
    for (const m of this.flatten()) results.push(await m.apply(this.immutable ? [] : args, this.immutable ? {} : kwargs, options));
    const id = (this.options.task_id as string | undefined) ?? this.requireHost().newId();
    const failed = await firstFailed(results);
    if (failed) return new EagerResult(id, States.FAILURE, (await failed.result()) as Error) as EagerResult<Awaited<Out>>;
    const values: unknown[] = [];
    for (const r of results) values.push(await r.get());
    return new EagerResult(id, States.SUCCESS, values) as EagerResult<Awaited<Out>>;
  }

  override toString(): string {
    if (!this.tasks.length) return 'group(<empty>)';
    return `group((${this.tasks.map((t) => t.toString()).join(', ')}))`;
  }
}

/** The sum of header parts a chord waits for (C-118). */
export function chordSize(sig: Signature): number {
  if (sig instanceof Group) return sig.tasks.reduce((n, t) => n + chordSize(t), 0);
  const kind = sig.subtaskType;
  if (kind === 'chain') {
    const tasks = (sig.kwargs.tasks as Signature[]) ?? [];
    for (let i = tasks.length - 1; i >= 0; i--) {
      const n = chordSize(tasks[i]);
      if (n) return n;
    }
    return 0;
  }
  if (kind === 'chord') {
    const body = sig.kwargs.body as Signature | null;
    return body ? chordSize(body) : 0;
  }
  return 1;
}

registerKind('group', (d, host) => {
  const tasks = ((d.kwargs?.tasks as unknown[]) ?? []).map((t) => fromDict(t as SignatureDict, host));
  const g = new Group(tasks, rebuildOptions(d.options ?? {}, host), host);
  g.immutable = !!d.immutable;
  return g;
});

async function firstFailed(results: EagerResult[]): Promise<EagerResult | null> {
  for (const r of results) if (await r.failed()) return r;
  return null;
}
