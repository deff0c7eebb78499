/** The canvas: signatures and the primitives built from them. */
import { ConfigurationError } from '../protocol/index.js';
import type { GroupResult } from '../result/index.js';
import { Chain } from './chain.js';
import { Chord } from './chord.js';
import { Group } from './group.js';
import type { CanvasHost } from './host.js';
import { toWireOptions, type ApplyOptions } from './options.js';
import './pipe.js';
import { fromDict, Signature } from './signature.js';
import type { AnySignature, CheckChain, ChainRes, InOf, OutOf } from './types.js';

export { Signature, fromDict, maybeSignature, type FreezeOptions } from './signature.js';
export { Chain } from './chain.js';
export { Group, chordSize, type SkewOptions } from './group.js';
export { Chord } from './chord.js';
export { Chunks, xmap, xstarmap, splitChunks } from './map.js';
export { pipe } from './pipe.js';
export type { ApplyOptions, WireOptions } from './options.js';
export { toWireOptions, mergeOptions } from './options.js';
export type { CanvasHost, Dispatch, ParentRequest } from './host.js';
export type * from './types.js';

/**
 * `chain(a, b, c)`: run in sequence, each value prepended to the next step's
 * args. A step that cannot take the previous value fails to compile.
 */
export function chain<T extends readonly AnySignature[]>(...tasks: T & CheckChain<T>): Chain<InOf<T[0]>, OutOf<T[number] & T[[...T, never][0] extends never ? 0 : 0]>, ChainRes<T>> & {
  readonly __types?: { in: InOf<T[0]>; out: LastOut<T>; res: ChainRes<T> };
} {
  return new Chain([...(tasks as readonly Signature[])]) as never;
}

type LastOut<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? OutOf<L> : unknown;

/** `group(a, b, …)` or `group([a, b, …])`: run in parallel; the values come back in this order. */
export function group<T extends AnySignature>(...tasks: Array<T | readonly T[]>): Group<InOf<T>, Array<OutOf<T>>> {
  const flat: Signature[] = [];
  for (const t of tasks) {
    if (Array.isArray(t)) flat.push(...(t as readonly Signature[]));
    else flat.push(t as Signature);
  }
  return new Group(flat) as Group<InOf<T>, Array<OutOf<T>>>;
}

/** Shown by the compiler when a chord body cannot take the list of header values. */
export interface ChordBodyMismatch<Values, Needs> {
  readonly 'the chord body cannot take the header values': Values;
  readonly 'it needs': Needs;
}

type BodyFits<B, V> = B extends { readonly immutable: true } ? B : [V] extends InOf<B> ? B : InOf<B> extends [V, ...unknown[]] ? B : ChordBodyMismatch<V, InOf<B>>;

type HeaderOut<H> = H extends Group<unknown[], infer O> ? O : H extends readonly (infer S)[] ? Array<OutOf<S>> : unknown[];

/**
 * `chord(header, body)`: run the header in parallel, then the body with the
 * list of header values in header order. Without a body, give one later with
 * `.withBody(body)`.
 */
export function chord<H extends readonly AnySignature[] | Group<unknown[], unknown[]>, B extends AnySignature>(
  header: H,
  body: B & BodyFits<B, HeaderOut<H>>,
  options?: ApplyOptions,
): Chord<H extends Group<infer I, unknown[]> ? I : InOf<H extends readonly (infer S)[] ? S : never>, OutOf<B>, import('./types.js').ResOf<B>>;
export function chord<H extends readonly AnySignature[] | Group<unknown[], unknown[]>>(header: H): Chord<unknown[], unknown, GroupResult>;
export function chord(header: readonly Signature[] | Group, body?: Signature, options?: ApplyOptions): Chord {
  return new Chord(header as Group, body ?? null, toWireOptions(options));
}

/** `signature(name, {args, kwargs, options})`: a signature by task name, bound to an app. */
export function signature<In extends unknown[] = unknown[], Out = unknown>(
  host: CanvasHost,
  name: string | Signature | Record<string, unknown>,
  init: { args?: readonly unknown[]; kwargs?: Record<string, unknown>; options?: ApplyOptions; immutable?: boolean } & ApplyOptions = {},
): Signature<In, Out> {
  if (name instanceof Signature) return name.clone().bind(host) as unknown as Signature<In, Out>;
  if (typeof name === 'object') return fromDict(name as never, host) as unknown as Signature<In, Out>;
  if (typeof name !== 'string' || !name) throw new ConfigurationError('signature() needs a task name');
  const { args, kwargs, options, immutable, ...extra } = init;
  return new Signature<In, Out>(
    { task: name, args, kwargs, options: { ...toWireOptions(options), ...toWireOptions(extra) }, immutable: immutable ?? false },
    host,
  );
}
