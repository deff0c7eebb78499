/**
 * Signature: a task call as data (C-001…C-025). Its dict form is Celery's, so
 * it can be sent, stored and rebuilt on either side of the wire.
 */
import { isEmpty } from '../params.js';
import { ConfigurationError, type SignatureDict } from '../protocol/index.js';
import { AsyncResult, type AnyResult } from '../result/index.js';
import type { EagerResult } from '../result/eager.js';
import type { CanvasHost, Dispatch } from './host.js';
import { mergeOptions, toWireOptions, type ApplyOptions, type WireOptions } from './options.js';
import type { AnySignature, KwArgs, LinkCheck, OutOf, ResOf } from './types.js';

/** What `freeze()` may fix on a signature (C-016). */
export interface FreezeOptions {
  id?: string;
  groupId?: string;
  chord?: Signature;
  rootId?: string;
  parentId?: string;
  groupIndex?: number;
}

/** The kinds a dict may name in `subtask_type`. */
type Kind = 'chain' | 'group' | 'chord' | 'chunks' | 'xmap' | 'xstarmap';

type Rebuilder = (d: SignatureDict, host: CanvasHost | null) => Signature;
const kinds = new Map<string, Rebuilder>();

/** Register how a `subtask_type` is rebuilt from its dict (done by each primitive's module). */
export function registerKind(kind: Kind, fn: Rebuilder): void {
  kinds.set(kind, fn);
}

type PipeFn = (left: Signature, right: Signature) => Signature;
let pipeImpl: PipeFn | null = null;

/** Install the composition table (pipe.ts). */
export function setPipe(fn: PipeFn): void {
  pipeImpl = fn;
}

/** Fields a Signature is built from. */
export interface SignatureInit {
  task: string;
  args?: readonly unknown[];
  kwargs?: Record<string, unknown>;
  options?: WireOptions;
  subtaskType?: string | null;
  immutable?: boolean;
}

/**
 * A task call as data. `In` is the tuple of positional arguments the
 * signature still needs (what `delay` and a parent's value must supply), `Out`
 * its result type. Both are compile-time only.
 */
export class Signature<In extends unknown[] = unknown[], Out = unknown, Res extends AnyResult = AnyResult> {
  /** Task name (C-003). */
  readonly task: string;
  /** Positional arguments. */
  args: unknown[];
  /** Keyword arguments. */
  kwargs: Record<string, unknown>;
  /** Execution options, with Celery's snake_case keys (the wire form). */
  options: WireOptions;
  /** null for a plain task; 'chain', 'group', 'chord', … for primitives. */
  readonly subtaskType: string | null;
  /** An immutable signature ignores partial args and parent values (C-013). */
  immutable: boolean;
  /** @internal the app this signature sends through. */
  host: CanvasHost | null;
  /** Compile-time marker; never set. */
  declare readonly __types?: { in: In; out: Out; res: Res };

  constructor(init: SignatureInit, host: CanvasHost | null = null) {
    this.task = init.task;
    this.args = [...(init.args ?? [])];
    this.kwargs = { ...(init.kwargs ?? {}) };
    this.options = { ...(init.options ?? {}) };
    this.subtaskType = init.subtaskType ?? null;
    this.immutable = init.immutable ?? false;
    this.host = host;
  }

  /** Same as `task` (C-004). */
  get name(): string {
    return this.task;
  }

  /** The frozen task id, or null (C-004). */
  get id(): string | null {
    return (this.options.task_id as string | undefined) ?? null;
  }

  /** The parent id option, or null. */
  get parentId(): string | null {
    return (this.options.parent_id as string | undefined) ?? null;
  }

  /** The root id option, or null. */
  get rootId(): string | null {
    return (this.options.root_id as string | undefined) ?? null;
  }

  /** @internal */
  requireHost(): CanvasHost {
    if (this.host) return this.host;
    throw new ConfigurationError(
      `Signature ${this.task} is not bound to an app: build it with app.signature(), a task's .s(), or call .bind(app)`,
    );
  }

  /** Bind this signature (and nested ones) to an app. Returns this. */
  bind(host: CanvasHost): this {
    this.host = host;
    for (const s of this.nested()) s.bind(host);
    return this;
  }

  /** @internal signatures held inside this one (chain/group members, chord parts). */
  nested(): Signature[] {
    const out: Signature[] = [];
    for (const key of ['link', 'link_error'] as const) {
      const v = this.options[key];
      if (Array.isArray(v)) for (const s of v) if (s instanceof Signature) out.push(s);
    }
    if (this.options.chord instanceof Signature) out.push(this.options.chord);
    return out;
  }

  /** Make a copy of this signature of the same kind (C-008). */
  protected copy(): this {
    const c = Object.create(Object.getPrototypeOf(this)) as this;
    Object.assign(c, this);
    c.args = [...this.args];
    c.kwargs = { ...this.kwargs };
    c.options = cloneOptions(this.options);
    return c;
  }

  /**
   * A new signature with partial args prepended, kwargs merged and options
   * merged (C-008). An immutable signature keeps its args and kwargs.
   */
  clone(partial: { args?: readonly unknown[]; kwargs?: Record<string, unknown> } & ApplyOptions = {}): this {
    const { args, kwargs, ...opts } = partial;
    const c = this.copy();
    if (!this.immutable) {
      if (args?.length) c.args = [...args, ...this.args];
      if (kwargs) c.kwargs = { ...this.kwargs, ...kwargs };
    }
    c.options = mergeOptions(c.options, toWireOptions(opts));
    if (opts.immutable !== undefined) c.setImmutable(opts.immutable);
    return c;
  }

  /** Alias of `clone` (Celery's `partial`). */
  partial(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): this {
    return this.clone({ args, kwargs, ...options });
  }

  /** Replace whole sections (C-015). */
  replace(sections: { args?: readonly unknown[]; kwargs?: Record<string, unknown>; options?: ApplyOptions }): this {
    const c = this.copy();
    if (sections.args) c.args = [...sections.args];
    if (sections.kwargs) c.kwargs = { ...sections.kwargs };
    if (sections.options) c.options = toWireOptions(sections.options);
    return c;
  }

  /** Update options in place and return this (C-014). */
  set(options: ApplyOptions): this {
    const { immutable, ...rest } = options;
    Object.assign(this.options, toWireOptions(rest));
    if (immutable !== undefined) this.setImmutable(immutable);
    return this;
  }

  /** Make this signature (im)mutable. */
  setImmutable(immutable: boolean): void {
    this.immutable = immutable;
  }

  /** The merged args, kwargs and options of a call (C-009…C-013). */
  protected merge(args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions): [unknown[], Record<string, unknown>, WireOptions] {
    // One path with or without args: a send with args takes the code a send without them ran, so V8 keeps its
    // compiled form (a branch first taken after thousands of sends costs a deopt and a late recompile).
    const merged = isEmpty(options) ? this.options : mergeOptions(this.options, options);
    if (this.immutable) return [this.args, this.kwargs, merged];
    return [[...args, ...this.args], isEmpty(kwargs) ? this.kwargs : { ...this.kwargs, ...kwargs }, merged];
  }

  /** Add a callback run with this task's value on success; returns the callback (C-018). */
  link<S extends Signature>(callback: S): S {
    appendOption(this.options, 'link', callback);
    return callback;
  }

  /** Add an errback run when this task fails; returns the errback (C-018). */
  linkError<S extends Signature>(errback: S): S {
    appendOption(this.options, 'link_error', errback);
    return errback;
  }

  /** Like `linkError`, but returns this signature. */
  onError(errback: Signature): this {
    this.linkError(errback);
    return this;
  }

  /**
   * Fix ids (and group, chord, root and parent) before anything is sent, and
   * return the result the send will produce (C-016).
   */
  freeze(opts: FreezeOptions = {}): AnyResult {
    const host = this.requireHost();
    const o = this.options;
    if (!o.task_id) o.task_id = opts.id ?? host.newId();
    if (opts.rootId) o.root_id = opts.rootId;
    if (opts.parentId) o.parent_id = opts.parentId;
    if (opts.groupId && !o.group_id) o.group_id = opts.groupId;
    if (opts.chord) o.chord = opts.chord;
    if (opts.groupIndex !== undefined) o.group_index = opts.groupIndex;
    return new AsyncResult(o.task_id as string, host);
  }

  /**
   * Send this signature as a message; resolves once the broker has it (C-025).
   * `args` are prepended to the signature's own, so they are what it still
   * needs (`In`).
   */
  applyAsync(args?: Readonly<In>, kwargs?: Record<string, unknown>, options?: ApplyOptions): Promise<Res>;
  /** With keyword arguments, args are not checked (the compiler cannot see parameter names). */
  applyAsync<K extends Record<string, unknown>>(args: readonly unknown[] | undefined, kwargs: KwArgs<K>, options?: ApplyOptions): Promise<Res>;
  async applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<Res> {
    const host = this.requireHost();
    const d = host.dispatch();
    const r = this.applyInto(d, args, kwargs, toWireOptions(options));
    d.expect(r);
    await d.flush();
    return r as Res;
  }

  /** Send with partial args (C-025): `sub.s(10).delay(30)` runs `sub(30, 10)`. */
  delay(...args: In): Promise<Res> {
    return this.applyAsync(args);
  }

  /**
   * @internal Queue this signature's messages into a dispatch and return its
   * result. Every primitive overrides this; it never awaits.
   */
  applyInto(d: Dispatch, args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions): AnyResult {
    const host = this.requireHost();
    const [a, k, o] = this.merge(args, kwargs, options);
    const opts = o === this.options ? { ...o } : o;
    if (!opts.task_id) opts.task_id = host.newResultId(this.task, opts);
    const parent = host.currentRequest();
    d.task(this.task, a, k, opts);
    const r = new AsyncResult(opts.task_id as string, host);
    if (parent && opts.add_to_parent !== false) parent.children.push(r);
    return r;
  }

  /** Run the task function here, now, and return its value; nothing is sent or stored (C-022). */
  async call(...args: In): Promise<Awaited<Out>> {
    const [a, k] = this.merge(args, {}, {});
    return (await this.requireHost().callInline(this.task, a, k)) as Awaited<Out>;
  }

  /**
   * Run eagerly in this process (C-023): the task runs here with a full
   * request and an EagerResult comes back; links are still sent as messages.
   */
  async apply(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<EagerResult<Awaited<Out>>> {
    const [a, k, o] = this.merge(args, kwargs, toWireOptions(options));
    return (await this.requireHost().applyEagerByName(this.task, [...a], { ...k }, { ...o })) as EagerResult<Awaited<Out>>;
  }

  /** Send and wait for the value (Celery's `~sig`, C-019). */
  async getValue(options?: { timeout?: number }): Promise<Awaited<Out>> {
    const r = await this.applyAsync();
    return (await (r as AnyResult).get(options)) as Awaited<Out>;
  }

  /**
   * Compose: Celery's `a | b` (C-032). The result is a chain (or, after a
   * group, a chord) that needs what this signature needs and produces what
   * `other` produces; `other` must be able to take this signature's value.
   */
  pipe<B extends AnySignature>(other: B & LinkCheck<B, Awaited<Out>>): Signature<In, OutOf<B>, ResOf<B>>;
  pipe(other: Signature): Signature {
    if (!(other instanceof Signature)) throw new TypeError(`unsupported operand for pipe: ${String(other)}`);
    if (!pipeImpl) throw new Error('canvas not initialised: import from "celeriac"');
    return pipeImpl(this, other);
  }

  /** The dict form, identical to Celery's (C-001, C-006). */
  toDict(): SignatureDict {
    return {
      task: this.task,
      args: this.args,
      kwargs: dictValues(this.kwargs) as Record<string, unknown>,
      options: dictValues(this.options) as Record<string, unknown>,
      subtask_type: this.subtaskType,
      immutable: this.immutable,
    };
  }

  /** JSON.stringify uses the dict form. */
  toJSON(): SignatureDict {
    return this.toDict();
  }

  /** Celery's repr: `tasks.add(2, 2, z=1)` (C-020). */
  toString(): string {
    const parts = [...this.args.map(reprArg), ...Object.entries(this.kwargs).map(([k, v]) => `${k}=${reprArg(v)}`)];
    return `${this.task}(${parts.join(', ')})`;
  }

  /** Equality by dict form (used to skip duplicate links). */
  equals(other: Signature): boolean {
    return JSON.stringify(this.toDict()) === JSON.stringify(other.toDict());
  }
}

function reprArg(v: unknown): string {
  if (v instanceof Signature) return v.toString();
  return JSON.stringify(v) ?? String(v);
}

/** Deep-copy options so link lists and nested signatures are never shared between clones (C-008). */
export function cloneOptions(o: WireOptions): WireOptions {
  const out: WireOptions = {};
  for (const [k, v] of Object.entries(o)) {
    if (Array.isArray(v)) out[k] = v.map((x) => (x instanceof Signature ? x.clone() : structuredCloneSafe(x)));
    else if (v instanceof Signature) out[k] = v.clone();
    else out[k] = structuredCloneSafe(v);
  }
  return out;
}

function structuredCloneSafe(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  try {
    return structuredClone(v);
  } catch {
    return v;
  }
}

function appendOption(options: WireOptions, key: 'link' | 'link_error', sig: Signature): void {
  const cur = options[key];
  const list: unknown[] = Array.isArray(cur) ? cur : cur ? [cur] : [];
  if (!list.some((x) => (x instanceof Signature ? x.equals(sig) : JSON.stringify(x) === JSON.stringify(sig.toDict())))) list.push(sig);
  options[key] = list;
}

/** Convert nested signatures inside options/kwargs to dicts. */
export function dictValues(v: unknown): unknown {
  if (v instanceof Signature) return v.toDict();
  if (Array.isArray(v)) return v.map(dictValues);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = dictValues(x);
    return out;
  }
  return v;
}

/** True for a plain object shaped like a signature dict. */
export function isSignatureDict(v: unknown): v is SignatureDict {
  return v !== null && typeof v === 'object' && !(v instanceof Signature) && typeof (v as SignatureDict).task === 'string' && 'args' in (v as object);
}

/**
 * Rebuild a signature from its dict form (C-007). Nested chains, groups and
 * chords are rebuilt recursively; map/starmap/chunks stay plain signatures
 * named `celery.map`, `celery.starmap`, `celery.chunks`.
 */
export function fromDict(d: SignatureDict | Signature, host: CanvasHost | null = null): Signature {
  if (d instanceof Signature) return d;
  const kind = d.subtask_type ? kinds.get(d.subtask_type) : undefined;
  if (kind) return kind(d, host);
  const options = rebuildOptions(d.options ?? {}, host);
  return new Signature(
    { task: d.task, args: d.args ?? [], kwargs: d.kwargs ?? {}, options, subtaskType: d.subtask_type ?? null, immutable: !!d.immutable },
    host,
  );
}

/** Rebuild signatures nested inside options (link, link_error, chord). */
export function rebuildOptions(o: Record<string, unknown>, host: CanvasHost | null): WireOptions {
  const out: WireOptions = { ...o };
  for (const key of ['link', 'link_error'] as const) {
    const v = out[key];
    if (v === undefined || v === null) continue;
    out[key] = (Array.isArray(v) ? v : [v]).map((x) => (isSignatureDict(x) ? fromDict(x, host) : x));
  }
  if (isSignatureDict(out.chord)) out.chord = fromDict(out.chord, host);
  return out;
}

/** `maybe_signature`: null stays null, dicts are rebuilt, signatures are returned (or cloned). */
export function maybeSignature(v: unknown, host: CanvasHost | null = null, clone = false): Signature | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Signature) return clone ? v.clone() : v;
  if (isSignatureDict(v)) return fromDict(v, host);
  throw new TypeError(`not a signature: ${JSON.stringify(v)}`);
}
