/**
 * chord: a header group whose values, in header order, are handed to a body
 * once every header part has finished (C-100…C-130).
 */
import { ConfigurationError, type SignatureDict } from '../protocol/index.js';
import type { AnyResult, GroupResult } from '../result/index.js';
import type { EagerResult } from '../result/eager.js';
import { chordSize, Group } from './group.js';
import type { CanvasHost, Dispatch } from './host.js';
import { mergeOptions, type ApplyOptions, type WireOptions } from './options.js';
import { fromDict, rebuildOptions, registerKind, Signature, type FreezeOptions } from './signature.js';

/** Option keys never passed to header members (C-105). */
const NOT_FOR_HEADER = ['chain', 'chord', 'task_id', 'link', 'link_error', 'group_id', 'group_index', 'root_id', 'parent_id'];

/** Turn a chord header argument into a group: a list, a group, a chain (unpacked, C-100) or one signature. */
export function toHeaderGroup(header: Group | Signature | readonly Signature[], host: CanvasHost | null): Group {
  if (header instanceof Group) return header;
  if (Array.isArray(header)) return new Group(header as Signature[], {}, host);
  const sig = header as Signature;
  if (sig.subtaskType === 'chain') return new Group((sig.kwargs.tasks as Signature[]).map((t) => t.clone()), {}, host ?? sig.host);
  return new Group([sig], {}, host ?? sig.host);
}

/** A chord: header group, then body with the list of header values. */
export class Chord<In extends unknown[] = unknown[], Out = unknown, Res extends AnyResult = AnyResult> extends Signature<In, Out, Res> {
  constructor(header: Group | Signature | readonly Signature[], body: Signature | null = null, options: WireOptions = {}, host: CanvasHost | null = null) {
    const h = toHeaderGroup(header, host);
    super(
      { task: 'celery.chord', args: [], kwargs: { kwargs: {}, header: h, body }, options, subtaskType: 'chord' },
      host ?? h.host ?? body?.host ?? null,
    );
    if (!h.host && this.host) h.host = this.host;
  }

  /** The header's result from the last freeze. */
  private frozenHeader: GroupResult | null = null;

  /** The header group. */
  get header(): Group {
    return this.kwargs.header as Group;
  }

  /** The body, or null until one is given. */
  get body(): Signature | null {
    return (this.kwargs.body as Signature | null) ?? null;
  }

  set body(body: Signature | null) {
    this.kwargs.body = body;
  }

  override nested(): Signature[] {
    return [this.header, ...(this.body ? [this.body] : []), ...super.nested()];
  }

  protected override copy(): this {
    const c = super.copy();
    c.kwargs = { ...c.kwargs, header: this.header.clone(), body: this.body ? this.body.clone() : null };
    return c;
  }

  /** Immutability applies to the header members only (C-014). */
  override setImmutable(immutable: boolean): void {
    this.header.setImmutable(immutable);
  }

  /** A copy of this chord with `body` as its body: Celery's `chord(header)(body)` is `chord(header).withBody(body).delay()`. */
  withBody<B extends Signature>(body: B): Chord<In, unknown, AnyResult> {
    const c = this.clone() as unknown as Chord<In, unknown, AnyResult>;
    c.body = body;
    return c;
  }

  /** Callbacks attach to the body (C-113). */
  override link<S extends Signature>(callback: S): S {
    this.requireBody().link(callback);
    return callback;
  }

  /** Errbacks attach to the body (C-113, C-123). */
  override linkError<S extends Signature>(errback: S): S {
    this.requireBody().linkError(errback);
    return errback;
  }

  private requireBody(): Signature {
    if (!this.body) throw new ConfigurationError('This chord has no body: give one with chord(header, body) or .withBody(body)');
    return this.body;
  }

  /** Header size as the counter will see it (C-118). */
  size(): number {
    return chordSize(this.header);
  }

  /** Freeze body and header; returns the body's result, whose parent is the header's GroupResult (C-017). */
  override freeze(opts: FreezeOptions = {}): Res {
    const host = this.requireHost();
    const body = this.requireBody();
    const bodyResult = body.freeze({
      id: opts.id,
      rootId: opts.rootId,
      parentId: opts.parentId,
      groupId: opts.groupId,
      chord: opts.chord,
      groupIndex: opts.groupIndex,
    });
    const gid = (this.header.options.task_id as string | undefined) ?? (this.options.task_id as string | undefined) ?? host.newId();
    const headerResult = this.header.freeze({ id: gid, chord: body, rootId: opts.rootId, parentId: opts.parentId });
    this.frozenHeader = headerResult;
    this.options.task_id = gid;
    setFirstParent(bodyResult, headerResult);
    return bodyResult as Res;
  }

  override applyInto(d: Dispatch, args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions): Res {
    const host = this.requireHost();
    const body = this.requireBody();
    const o = mergeOptions(this.options, options);
    // Chord options (queue, countdown, the rest of an enclosing chain, …) go to the body (C-105).
    const bodyOpts: WireOptions = {};
    for (const [k, v] of Object.entries(o)) if (k !== 'task_id' && k !== 'add_to_parent') bodyOpts[k] = v;
    if (o.link) for (const l of o.link as Signature[]) body.link(l);
    if (o.link_error) for (const l of o.link_error as Signature[]) body.linkError(l);
    delete bodyOpts.link;
    delete bodyOpts.link_error;
    Object.assign(body.options, bodyOpts);
    if (options.task_id && !body.options.task_id) body.options.task_id = options.task_id;
    const parent = host.currentRequest();
    const rootId = (o.root_id as string | undefined) ?? parent?.rootId;
    const bodyResult = this.freeze({ rootId });
    const headerResult = this.frozenHeader as GroupResult;
    const gid = headerResult.id;

    const headerOpts: WireOptions = {};
    for (const [k, v] of Object.entries(o)) if (!NOT_FOR_HEADER.includes(k)) headerOpts[k] = v;
    headerOpts.add_to_parent = false;
    if (o.parent_id) headerOpts.parent_id = o.parent_id;
    if (o.root_id) headerOpts.root_id = o.root_id;

    if (this.header.tasks.length === 0) {
      // An empty header runs the body at once with [] (C-106).
      body.applyInto(d, [[]], {}, { add_to_parent: false, ...(o.parent_id ? { parent_id: o.parent_id } : {}), ...(o.root_id ? { root_id: o.root_id } : {}) });
    } else {
      const size = this.size();
      const backend = host.backend;
      if (isComplexHeader(this.header)) {
        const tuple = headerResult.asTuple();
        d.action(() => backend.saveGroup(gid, tuple));
      }
      d.action(() => backend.setChordSize(gid, size));
      this.header.applyInto(d, this.immutable ? [] : args, kwargs, headerOpts);
    }
    if (parent && options.add_to_parent !== false) parent.children.push(bodyResult);
    return bodyResult as Res;
  }

  /** Eager: the header runs here, then the body with the list; a header failure throws (C-129). */
  override async apply(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<EagerResult<Awaited<Out>>> {
    const header = await this.header.apply(args, kwargs, options);
    const values = await header.get();
    return (await this.requireBody().apply([values])) as EagerResult<Awaited<Out>>;
  }

  override toString(): string {
    const body = this.body;
    const header = `[${this.header.tasks.map((t) => t.toString()).join(', ')}]`;
    return body ? `%${body.task}(${header})` : `chord(${header})`;
  }

  override toDict(): SignatureDict {
    const d = super.toDict();
    const header = this.header.toDict();
    withoutHeaderGroupId(header, this.header.options.task_id);
    d.kwargs = { kwargs: {}, header, body: this.body ? this.body.toDict() : null };
    return d;
  }
}

/**
 * Drop the header's group id from its members' options in the dict form, as
 * Celery's own client does. A Python worker rebuilding the chord from the dict
 * loses the header's `task_id` (`_maybe_group` keeps only the member list), so
 * it picks a fresh group id for the chord-size key; a member that still carried
 * the old `group_id` would keep it (`freeze` never overwrites one) and report to
 * a counter nobody sized, so the body never ran.
 */
function withoutHeaderGroupId(d: SignatureDict, gid: unknown): void {
  if (gid === undefined) return;
  const members = (d.kwargs as { tasks?: SignatureDict[] } | undefined)?.tasks;
  for (const m of members ?? []) {
    if (m.options && m.options.group_id === gid) delete m.options.group_id;
    if (m.subtask_type === 'chain' || m.subtask_type === 'group') withoutHeaderGroupId(m, gid);
  }
}

/**
 * A header whose members are not all plain tasks (nested chords, chains ending
 * in groups): its values must be read through the saved group, keeping nesting.
 */
export function isComplexHeader(header: Group): boolean {
  return header.tasks.some((t) => t.subtaskType !== null && t.subtaskType !== 'chain' ? true : t.subtaskType === 'chain' && endsInGroup(t));
}

function endsInGroup(chainSig: Signature): boolean {
  const tasks = chainSig.kwargs.tasks as Signature[];
  const last = tasks[tasks.length - 1];
  return !!last && (last instanceof Group || last.subtaskType === 'chord' || (last.subtaskType === 'chain' && endsInGroup(last)));
}

/** The earliest ancestor's slot: set the parent of the first result in a parent chain. */
function setFirstParent(r: AnyResult, parent: AnyResult): void {
  let node: AnyResult = r;
  while (node.parent) node = node.parent;
  if (node !== parent) node.parent = parent;
}

registerKind('chord', (d, host) => {
  const kw = (d.kwargs ?? {}) as Record<string, unknown>;
  const header = kw.header;
  const h = Array.isArray(header)
    ? new Group(header.map((x) => fromDict(x as SignatureDict, host)), {}, host)
    : fromDict(header as SignatureDict, host);
  const body = kw.body ? fromDict(kw.body as SignatureDict, host) : null;
  const c = new Chord(h instanceof Group ? h : [h], body, rebuildOptions(d.options ?? {}, host), host);
  return c;
});
