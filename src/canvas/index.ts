/** The canvas: signatures and the primitives built from them. */
import { ConfigurationError } from '../protocol/index.js';
import type { AnyResult } from '../result/index.js';
import { Chain } from './chain.js';
import { Chord } from './chord.js';
import { Group } from './group.js';
import type { CanvasHost } from './host.js';
import { toWireOptions, type ApplyOptions } from './options.js';
import { pipeOnto } from './pipe.js';
import { fromDict, Signature } from './signature.js';
import type { AnySignature, BodyCheck, ChainIn, ChainOut, ChainRes, CheckChain, ChordHeader, GroupIn, GroupMembers, GroupOut, HeaderIn, HeaderOut, OutOf, ResOf } from './types.js';

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
 * args. Typed as a chain that needs what `a` needs and produces what `c`
 * produces; a step that cannot take the previous value fails to compile
 * (immutable `.si()` steps fit after anything).
 */
export function chain<T extends AnySignature[]>(...tasks: CheckChain<T>): Chain<ChainIn<T>, ChainOut<T>, ChainRes<T>> {
  // Built with the pipe, as Celery's chain() is (C-033), so the wire form is Celery's.
  const sigs = tasks as readonly Signature[];
  const host = sigs.find((s) => s.host)?.host ?? null;
  let acc: Signature = new Chain([], {}, host);
  for (const t of sigs) acc = pipeOnto(acc, t);
  return (acc instanceof Chain ? acc : new Chain([acc], {}, host)) as never;
}

/**
 * `group(a, b, …)` or `group([a, b, …])`: run in parallel; the values come
 * back in this order, nested groups flattened. Typed as a group that needs
 * what every member accepts and produces the list of member values.
 */
export function group<T extends ReadonlyArray<AnySignature | readonly AnySignature[]>>(...tasks: T): Group<GroupIn<GroupMembers<T>>, GroupOut<GroupMembers<T>>> {
  const flat: Signature[] = [];
  for (const t of tasks) {
    if (Array.isArray(t)) flat.push(...(t as readonly Signature[]));
    else flat.push(t as Signature);
  }
  return new Group(flat) as never;
}

/**
 * `chord(header, body)`: run the header in parallel, then the body with the
 * list of header values in header order. The body must accept that list
 * (or be immutable); the chord produces what the body produces. Without a
 * body, give one later with `.withBody(body)`.
 */
export function chord<H extends ChordHeader, B extends AnySignature>(
  header: H,
  body: B & BodyCheck<B, HeaderOut<H>>,
  options?: ApplyOptions,
): Chord<HeaderIn<H>, OutOf<B>, ResOf<B>>;
/** A chord without a body yet: it cannot be sent until `.withBody(body)` gives one. */
export function chord<H extends ChordHeader>(header: H): Chord<HeaderIn<H>, unknown, AnyResult>;
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
