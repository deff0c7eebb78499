/**
 * chain: tasks run one after another, each value prepended to the next task's
 * args (C-040…C-058). Only the first task is sent; the rest travel in its
 * message's `embed.chain`, last first, and the worker sends each next step.
 */
import type { SignatureDict } from '../protocol/index.js';
import type { AnyResult } from '../result/index.js';
import type { EagerResult } from '../result/eager.js';
import { Chord } from './chord.js';
import { Group } from './group.js';
import type { CanvasHost, Dispatch } from './host.js';
import { mergeOptions, type ApplyOptions, type WireOptions } from './options.js';
import { fromDict, rebuildOptions, registerKind, Signature, type FreezeOptions } from './signature.js';
import { TaskListSignature } from './task-list.js';

/** Option keys a chain keeps for itself rather than passing to its first task. */
const CHAIN_OWN = ['task_id', 'link', 'link_error', 'group_id', 'group_index', 'chord', 'add_to_parent'];

interface Prepared {
  steps: Signature[];
  results: AnyResult[];
}

/** A chain of signatures. */
export class Chain<In extends unknown[] = unknown[], Out = unknown, Res extends AnyResult = AnyResult> extends TaskListSignature<In, Out, Res> {
  constructor(tasks: readonly Signature[], options: WireOptions = {}, host: CanvasHost | null = null) {
    super('chain', tasks, options, host);
  }

  /** The chain's id: its last task's (5.4+ behaviour, C-045). */
  override get id(): string | null {
    const last = this.tasks[this.tasks.length - 1];
    return last ? last.id : null;
  }

  /**
   * Clone: partial args and kwargs go to the first task only (C-041); the
   * chain keeps them until it is sent.
   */
  override clone(partial: Parameters<Signature['clone']>[0] = {}): this {
    const { args, kwargs, ...opts } = partial ?? {};
    const c = super.clone(opts);
    if (!this.immutable && (args?.length || kwargs) && c.tasks.length) {
      c.tasks = [c.tasks[0].clone({ args, kwargs }), ...c.tasks.slice(1)];
    }
    return c;
  }

  /** Callbacks attach to the last task (C-046). */
  override link<S extends Signature>(callback: S): S {
    super.link(callback);
    return callback;
  }

  /** Errbacks attach to every task (C-047). */
  override linkError<S extends Signature>(errback: S): S {
    super.linkError(errback);
    return errback;
  }

  /**
   * Normalise and freeze the steps (C-035): nested chains spliced, one-member
   * groups unrolled, a group followed by a step made a chord. Every step is
   * cloned; the caller's signatures are never changed (C-037).
   */
  private prepare(opts: { lastId?: string; groupId?: string; chord?: Signature; groupIndex?: number; rootId?: string; parentId?: string }): Prepared {
    const host = this.requireHost();
    const flat = flattenSteps(this.tasks, this.options, host);
    const steps: Signature[] = [];
    for (let i = flat.length - 1; i >= 0; i--) {
      let step = flat[i];
      if (step instanceof Group && step.tasks.length === 1) step = step.tasks[0].clone();
      if (step instanceof Group && steps.length) {
        const body = steps.shift() as Signature;
        step = new Chord(step, body, {}, host);
      }
      steps.unshift(step);
    }
    const last = steps.length - 1;
    const first = steps[0];
    let rootId = opts.rootId;
    if (!rootId) {
      if (!first.options.task_id && !(first instanceof Group) && !(first instanceof Chord)) first.options.task_id = last === 0 && opts.lastId ? opts.lastId : host.newId();
      rootId = (first.options.task_id as string | undefined) ?? host.newId();
    }
    const results: AnyResult[] = [];
    steps.forEach((step, i) => {
      const isLast = i === last;
      results.push(
        step.freeze({
          id: isLast ? opts.lastId : undefined,
          rootId,
          ...(isLast ? { groupId: opts.groupId, chord: opts.chord, groupIndex: opts.groupIndex } : {}),
        }),
      );
    });
    for (let i = 1; i < results.length; i++) linkParent(results[i], results[i - 1]);
    return { steps, results };
  }

  override freeze(opts: FreezeOptions = {}): Res {
    const { steps, results } = this.prepare({
      lastId: opts.id ?? (this.options.task_id as string | undefined),
      groupId: opts.groupId,
      chord: opts.chord,
      groupIndex: opts.groupIndex,
      rootId: opts.rootId,
      parentId: opts.parentId,
    });
    this.tasks = steps;
    return results[results.length - 1] as Res;
  }

  override applyInto(d: Dispatch, args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions): Res {
    if (!this.tasks.length) return null as unknown as Res;
    const host = this.requireHost();
    const o = mergeOptions(this.options, options);
    const parent = host.currentRequest();
    const work = this.copy();
    if (o.link_error) for (const e of o.link_error as Signature[]) for (const t of work.tasks) t.linkError(e);
    const { steps, results } = work.prepare({
      lastId: options.task_id as string | undefined ?? (this.options.task_id as string | undefined),
      groupId: o.group_id as string | undefined,
      chord: o.chord instanceof Signature ? o.chord : undefined,
      groupIndex: o.group_index as number | undefined,
      rootId: (o.root_id as string | undefined) ?? parent?.rootId,
    });
    if (o.link) for (const l of o.link as Signature[]) steps[steps.length - 1].link(l);
    const [first, ...rest] = steps;
    const firstOpts: WireOptions = {};
    for (const [k, v] of Object.entries(o)) if (!CHAIN_OWN.includes(k)) firstOpts[k] = v;
    firstOpts.add_to_parent = false;
    if (rest.length) firstOpts.chain = rest.reverse().map((s) => s.toDict());
    const partialArgs = this.immutable ? [] : args;
    const partialKwargs = this.immutable ? {} : kwargs;
    const sent = first.applyInto(d, partialArgs, partialKwargs, firstOpts);
    // A group or chord as first step makes its own result object; keep parents linked to it.
    if (results.length > 1 && sent.id !== results[0].id) linkParent(results[1], sent);
    const last = results.length === 1 ? sent : results[results.length - 1];
    if (parent && options.add_to_parent !== false) parent.children.push(last);
    return last as Res;
  }

  /** Eager: each step runs here in turn; a failure throws at once (C-057). */
  override async apply(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<EagerResult<Awaited<Out>>> {
    let prev: EagerResult | null = null;
    for (const [i, step] of this.tasks.entries()) {
      const r: EagerResult = i === 0 ? await step.apply(this.immutable ? [] : args, this.immutable ? {} : kwargs, options) : await step.apply([await (prev as EagerResult).get()]);
      if (await r.failed()) await r.get();
      r.parent = prev;
      prev = r;
    }
    return prev as EagerResult<Awaited<Out>>;
  }

  override toString(): string {
    if (!this.tasks.length) return '<chain: empty>';
    return this.tasks.map((t, i) => (i === 0 ? t.toString() : t.toString().replace(/^[\w.]*\./, ''))).join(' | ');
  }
}

/** Splice nested chains (copying their errbacks onto their tasks and their callbacks to their last task, C-036). */
function flattenSteps(tasks: readonly Signature[], _options: WireOptions, host: CanvasHost): Signature[] {
  const out: Signature[] = [];
  for (const raw of tasks) {
    const t = raw.host ? raw.clone() : raw.clone().bind(host);
    if (t instanceof Chain) {
      const inner = flattenSteps(t.tasks, t.options, host);
      const errbacks = (t.options.link_error as Signature[] | undefined) ?? [];
      const links = (t.options.link as Signature[] | undefined) ?? [];
      for (const e of errbacks) for (const s of inner) s.linkError(e);
      if (inner.length) for (const l of links) inner[inner.length - 1].link(l);
      out.push(...inner);
    } else out.push(t);
  }
  return out;
}

/** Make `parent` the parent of the earliest result in `r`'s parent chain that has none yet. */
function linkParent(r: AnyResult, parent: AnyResult): void {
  let node: AnyResult = r;
  while (node.parent && node.parent !== parent) node = node.parent;
  if (node.parent !== parent) node.parent = parent;
}

registerKind('chain', (d, host) => {
  const tasks = ((d.kwargs?.tasks as unknown[]) ?? []).map((t) => fromDict(t as SignatureDict, host));
  const c = new Chain(tasks, rebuildOptions(d.options ?? {}, host), host);
  c.immutable = !!d.immutable;
  return c;
});
