/** ResultSet and GroupResult (C-080…C-088). */
import { PROPAGATE_STATES, READY_STATES, States, type ResultTuple } from '../backend/index.js';
import { TimeoutError } from '../protocol/index.js';
import { ancestorsOf, AsyncResult, setResultFactory, throwFirstFailure, type AnyResult, type GetOptions } from './async-result.js';
import { DependencyGraph } from './graph.js';
import type { ResultHost, RevokeOptions } from './host.js';

/** Options of `join()`. */
export interface JoinOptions extends GetOptions {
  /** Called with `(taskId, value)` for each member; then `join` returns []. */
  callback?: (taskId: string, value: unknown) => void;
}

/** An editable set of results read together. */
export class ResultSet<R extends unknown[] = unknown[]> {
  /** The member results, in order. */
  results: AnyResult[];
  /** @internal */
  readonly host: ResultHost;

  constructor(results: AnyResult[], host: ResultHost) {
    this.results = [...results];
    this.host = host;
  }

  /** Number of members. */
  get length(): number {
    return this.results.length;
  }

  /** Member at an index. */
  at(i: number): AnyResult | undefined {
    return this.results[i];
  }

  [Symbol.iterator](): Iterator<AnyResult> {
    return this.results[Symbol.iterator]();
  }

  /** Add a result unless already present. */
  add(r: AnyResult): void {
    if (!this.results.some((x) => x.id === r.id)) this.results.push(r);
  }

  /** Remove a result; throws if absent. */
  remove(r: AnyResult | string): void {
    const id = typeof r === 'string' ? r : r.id;
    const i = this.results.findIndex((x) => x.id === id);
    if (i < 0) throw new Error(`KeyError: ${id}`);
    this.results.splice(i, 1);
  }

  /** Remove a result if present. */
  discard(r: AnyResult | string): void {
    const id = typeof r === 'string' ? r : r.id;
    this.results = this.results.filter((x) => x.id !== id);
  }

  /** Add several results, skipping duplicates. */
  update(rs: Iterable<AnyResult>): void {
    for (const r of rs) this.add(r);
  }

  /** Remove every member. */
  clear(): void {
    this.results = [];
  }

  /** @internal the states of every task under this set (nested groups flattened), read in one backend call. */
  async leafStates(): Promise<string[]> {
    return (await this.host.backend.getMetas(this.leafIds())).map((m) => m.status);
  }

  /** True if every member succeeded. */
  async successful(): Promise<boolean> {
    return (await this.leafStates()).every((s) => s === States.SUCCESS);
  }

  /** True if any member failed. */
  async failed(): Promise<boolean> {
    return (await this.leafStates()).some((s) => s === States.FAILURE);
  }

  /** True if any member is not ready yet. */
  async waiting(): Promise<boolean> {
    return (await this.leafStates()).some((s) => !READY_STATES.has(s));
  }

  /** True when every member is ready. */
  async ready(): Promise<boolean> {
    return (await this.leafStates()).every((s) => READY_STATES.has(s));
  }

  /** Number of members that succeeded (failed and revoked ones are not counted, C-082). */
  async completedCount(): Promise<number> {
    return (await this.leafStates()).filter((s) => s === States.SUCCESS).length;
  }

  /** Revoke every member. */
  async revoke(options: RevokeOptions = {}): Promise<void> {
    await this.host.revoke(this.leafIds(), options);
  }

  /** Ids of every task under this set (nested groups flattened). */
  leafIds(): string[] {
    const ids: string[] = [];
    for (const r of this.results) {
      if (r instanceof AsyncResult) ids.push(r.id);
      else ids.push(...r.leafIds());
    }
    return ids;
  }

  /** Forget every member. */
  async forget(): Promise<void> {
    for (const r of this.results) await r.forget();
  }

  /**
   * Wait for every member and return the values in member order. With
   * propagate, throws the first failing member in list order. The timeout is
   * a total across members.
   */
  async join(options: JoinOptions = {}): Promise<R> {
    const { timeout, callback, ...rest } = options;
    const deadline = timeout === undefined ? Infinity : performance.now() + timeout * 1000;
    const values: unknown[] = [];
    for (const r of this.results) {
      const left = deadline - performance.now();
      if (left <= 0) throw new TimeoutError('join operation timed out');
      let v: unknown;
      try {
        v = await r.get({ ...rest, timeout: deadline === Infinity ? undefined : left / 1000 });
      } catch (err) {
        if (err instanceof TimeoutError) throw new TimeoutError('join operation timed out');
        throw err;
      }
      if (callback) callback(r.id, v);
      else values.push(v);
    }
    return values as R;
  }

  /** Same as `join()`. */
  get(options: JoinOptions = {}): Promise<R> {
    return this.join({ followParents: false, ...options });
  }

  /** True when the set holds a result with this id. */
  equals(other: AnyResult | string): boolean {
    const id = typeof other === 'string' ? other : other.id;
    return this.results.length === 1 && this.results[0].id === id;
  }

  /** Throw the first failing member's error, if any (no waiting); plain members are read in one call. */
  async throwIfFailed(): Promise<void> {
    await throwFirstFailure(this.host, this.results);
  }

  /** Results of members' children are not tracked on a set; a set's children are its members. */
  async children(): Promise<AnyResult[]> {
    return [...this.results];
  }
}

/** The result of a group: a ResultSet with an id and a parent (C-080). */
export class GroupResult<R extends unknown[] = unknown[]> extends ResultSet<R> {
  /** The group id. */
  readonly id: string;
  /** The result this group was composed after, or null. */
  parent: AnyResult | null;

  constructor(id: string, results: AnyResult[], host: ResultHost, parent: AnyResult | null = null) {
    super(results, host);
    this.id = id;
    this.parent = parent;
  }

  /** Store the group so that `app.restoreGroup(id)` can rebuild it (C-086). */
  async save(): Promise<this> {
    await this.host.backend.saveGroup(this.id, this.asTuple());
    return this;
  }

  /** Remove the stored group. */
  async delete(): Promise<void> {
    await this.host.backend.deleteGroup(this.id);
  }

  /** Rebuild a saved group by id, or null when none is stored. */
  static async restore(id: string, host: ResultHost): Promise<GroupResult | null> {
    const t = await host.backend.restoreGroup(id);
    if (!t) return null;
    const r = resultFromTupleImpl(t, host);
    return r instanceof GroupResult ? r : null;
  }

  /** The members (a group's children are its results). */
  override async children(): Promise<AnyResult[]> {
    return [...this.results];
  }

  /** Throws the parent's error first when asked (as AsyncResult does), then waits for members. */
  override async get(options: JoinOptions = {}): Promise<R> {
    if (options.followParents !== false && options.propagate !== false && this.parent) await throwFirstFailure(this.host, ancestorsOf(this));
    return this.join(options);
  }

  /** A dependency graph rooted at this group. */
  async graph(): Promise<DependencyGraph> {
    const g = new DependencyGraph();
    g.addNode(this.id);
    for (const r of this.results) {
      g.addEdge(this.id, r.id);
      if (r instanceof AsyncResult) for (const [p, c] of (await r.graph({ intermediate: true })).edges()) g.addEdge(p, c);
    }
    return g;
  }

  /** Tuple form (C-146). */
  asTuple(): ResultTuple {
    return [[this.id, this.parent ? this.parent.asTuple() : null], this.results.map((r) => r.asTuple())];
  }

  /** True when the same group id. */
  override equals(other: AnyResult | string): boolean {
    return typeof other === 'string' ? other === this.id : other.id === this.id;
  }

  /** Wait for the group without reading its failure state eagerly. */
  async state(): Promise<string> {
    const states = await this.leafStates();
    if (states.some((s) => PROPAGATE_STATES.has(s))) return States.FAILURE;
    return states.every((s) => s === States.SUCCESS) ? States.SUCCESS : States.PENDING;
  }

  override toString(): string {
    return this.id;
  }
}

function resultFromTupleImpl(tuple: ResultTuple, host: ResultHost): AnyResult {
  const [[id, parentTuple], members] = tuple;
  const parent = parentTuple ? resultFromTupleImpl(parentTuple, host) : null;
  if (members) return new GroupResult(id, members.map((m) => resultFromTupleImpl(m, host)), host, parent);
  return new AsyncResult(id, host, parent);
}

setResultFactory(resultFromTupleImpl);
