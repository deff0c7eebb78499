/**
 * Compile-time plumbing for typed canvases: what a signature still needs
 * (`In`), what it produces (`Out`), which result object a send returns
 * (`Res`), and whether the parts of a chain, chord or pipe fit together.
 *
 * Everything here is types only; nothing is checked or emitted at runtime.
 * The rules follow the runtime: a parent's value, and the args of `delay`,
 * are *prepended* to a signature's own args (C-009), so the args a partial
 * signature fixes are the task's trailing parameters and the ones it still
 * needs are the leading ones (`sub.s(10)` needs `x`, `sub.s(10).delay(30)`
 * runs `sub(30, 10)`).
 */
import type { AnyResult } from '../result/index.js';
import type { Group } from './group.js';
import type { Signature } from './signature.js';

/** Marks an immutable signature: it ignores the parent's value, so it fits after anything. */
export declare const immutableBrand: unique symbol;

/** An immutable signature type (from `.si()`, `map`, `starmap`, `chunks`). */
export type Immutable<S> = S & { readonly [immutableBrand]?: true; readonly immutable: true };

/** Any signature, whatever its types (every typed signature is assignable to it). */
export type AnySignature = Signature<unknown[], unknown, AnyResult>;

/** The arguments a signature still needs (a union of tuples when some parameters are optional). */
export type InOf<S> = S extends { readonly __types?: { in: infer I } } ? (I extends unknown[] ? I : never) : never;
/** The value a signature produces. */
export type OutOf<S> = S extends { readonly __types?: { out: infer O } } ? Awaited<O> : never;
/** The result object a signature's send returns. */
export type ResOf<S> = S extends { readonly __types?: { res: infer R } } ? (R extends AnyResult ? R : AnyResult) : AnyResult;

/** True for a parameter list with a rest element (`(...xs: number[])`), whose length is not fixed. */
type IsVariadic<A extends unknown[]> = number extends A['length'] ? true : false;

/**
 * The full argument lists a parameter tuple allows: the required parameters,
 * then each longer list that also fills the next optional one.
 * `[x: number, y: number, z?: number]` → `[x, y] | [x, y, z]`.
 */
export type CallsOf<A extends unknown[]> = IsVariadic<A> extends true ? A : Trims<Required<A>, A>;
type Trims<T extends unknown[], A extends unknown[]> = T | (T extends [...infer H, unknown] ? (H extends A ? Trims<H, A> : never) : never);

/** Every tail of a tuple, itself and `[]` included (distributes over unions). */
type Tails<C extends unknown[]> = C extends unknown ? C | (C extends [unknown, ...infer T] ? Tails<T> : never) : never;

/**
 * What a partial signature may fix: the trailing arguments of some full call.
 * A variadic task takes any values of its parameter types.
 */
export type SuffixOf<A extends unknown[]> = IsVariadic<A> extends true ? Array<A[number]> : Tails<CallsOf<A>>;

/** The leading part of full call `C` left once `P` fills its tail; never when `P` does not fit there. */
type Before<C extends unknown[], P extends unknown[]> = P extends [...infer PI, infer PL]
  ? C extends [...infer CI, infer CL]
    ? [PL] extends [CL]
      ? Before<CI, PI>
      : never
    : never
  : C;

/**
 * The parameters a partial signature still needs once `P` is fixed as the
 * task's trailing arguments: `Missing<[x: number, y: number], [10]>` is
 * `[x: number]`. With optional parameters this is a union of tuples
 * (`add.s(2, 2)` of `add(x, y, z?)` needs `[]` or `[x]`).
 */
export type Missing<A extends unknown[], P extends unknown[]> = IsVariadic<A> extends true
  ? A
  : P extends []
    ? A
    : CallsOf<A> extends infer C
      ? C extends unknown[]
        ? Before<C, P>
        : never
      : never;

/** The item type of `task.map(items)`: the task must be callable with one argument. */
export type MapItem<A extends unknown[]> = [A[0]] extends [never] ? never : [A[0]] extends CallsOf<A> ? A[0] : never;

/** Keyword arguments: at least one key (an empty object would silently switch argument checks off). */
export type KwArgs<K> = K & (keyof K extends never ? { readonly 'give at least one keyword argument, or leave kwargs out': never } : unknown);

/** Shown by the compiler when a chain's next step cannot take the previous result. */
export interface ChainLinkMismatch<Prev, Next> {
  readonly 'this step cannot take the previous result': Prev;
  readonly 'it still needs': Next;
}

/** Shown by the compiler when a chord body cannot take the list of header values. */
export interface ChordBodyMismatch<Values, Needs> {
  readonly 'the chord body cannot take the header values': Values;
  readonly 'it needs': Needs;
}

/**
 * A value the compiler knows nothing about (`unknown`, `any`, or a list of
 * them: a by-name `app.signature('x')`, a generic task function) fits any
 * parameter; a known type must fit the parameter's type. (`never` is
 * assignable to every parameter type, and still counts as one argument.)
 */
type Loose<V> = unknown extends V ? never : V extends readonly (infer E)[] ? (unknown extends E ? never[] : V) : V;

/**
 * True when `S` can run with `V` prepended as its only new argument: `S` is
 * immutable (it ignores `V`), or `[V]` is one of its argument lists. A step
 * that would still need more arguments does not fit.
 */
export type Accepts<S, V> = S extends { readonly immutable: true } ? true : [Loose<V>] extends InOf<S> ? true : false;

/** `unknown` when `S` can take `V`, else a ChainLinkMismatch: intersected with the parameter's type, it makes that argument fail. */
export type LinkCheck<S, V> = Accepts<S, V> extends true ? unknown : ChainLinkMismatch<V, InOf<S>>;

/** The link before position `K` of tuple `T` (`K` a string index, as `keyof` gives it). */
type PrevLink<T extends readonly unknown[], K> = K extends `${infer N extends number}` ? [unknown, ...T][N] : never;

/**
 * Checks every link of a chain: each position is the link itself, and when
 * it cannot take the previous link's value also a ChainLinkMismatch, so that
 * the bad link (and only it) fails to compile. Used as `...tasks:
 * CheckChain<T>`; a homomorphic mapped type, so `T` is still inferred from
 * the arguments, and no recursion, so long chains stay cheap.
 */
export type CheckChain<T extends readonly unknown[]> = { [K in keyof T]: K extends '0' ? T[K] : T[K] & LinkCheck<T[K], OutOf<PrevLink<T, K>>> };

/** The last element of a tuple. */
export type Last<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? L : T[number];

/** What a chain needs: its first step's arguments. */
export type ChainIn<T extends readonly unknown[]> = T extends readonly [infer H, ...unknown[]] ? InOf<H> : T extends readonly [] ? [] : InOf<T[number]>;
/** What a chain produces: its last step's value. */
export type ChainOut<T extends readonly unknown[]> = T extends readonly [] ? null : OutOf<Last<T>>;
/** The result a chain's send returns: the last step's. */
export type ChainRes<T extends readonly unknown[]> = T extends readonly [] ? AnyResult : ResOf<Last<T>>;

/**
 * What one group member contributes to the group's list of values. Nested
 * groups are flattened into the parent group (C-063), so they contribute
 * their members' values, not a list.
 */
export type MemberValue<S> = S extends Group<infer _I, infer O> ? O[number] : OutOf<S>;

type Mutable<M> = M extends { readonly immutable: true } ? never : M;
type AllAccept<C, M> = M extends unknown ? ([C] extends [InOf<M>] ? true : false) : never;
type CommonIn<C, M> = C extends unknown ? (false extends AllAccept<C, M> ? never : C) : never;

/**
 * What a group needs (each member gets the same args): the argument lists
 * every mutable member accepts; `never` when they disagree. A group of
 * immutable members takes anything and ignores it.
 */
export type GroupIn<M> = [Mutable<M>] extends [never] ? unknown[] : CommonIn<InOf<Mutable<M>>, Mutable<M>>;
/** The list of values a group produces, in member order. (Written as a conditional so editors show `number[]`, not the alias.) */
export type GroupOut<M> = [M] extends [unknown] ? Array<MemberValue<M>> : never;
/** The members of `group(a, b, [c, d])`: a union of signature types. */
export type GroupMembers<T extends readonly unknown[]> = T[number] extends infer X ? (X extends readonly (infer S)[] ? S : X) : never;

/** A chord header: a list of signatures or a group. */
export type ChordHeader = readonly AnySignature[] | Group<unknown[], unknown[]>;
/** What a chord header needs. */
export type HeaderIn<H> = H extends Group<infer I, infer _O> ? I : H extends readonly (infer S)[] ? GroupIn<S> : never;
/** The list of header values a chord body receives. */
export type HeaderOut<H> = H extends Group<infer _I, infer O> ? O : H extends readonly (infer S)[] ? GroupOut<S> : never;

/** `unknown` when body `B` can take the header values `V`, else a ChordBodyMismatch (intersected with the body parameter). */
export type BodyCheck<B, V> = Accepts<B, V> extends true ? unknown : ChordBodyMismatch<V, InOf<B>>;

/** The value type of a result object. */
export type ValueOf<R> = R extends { get(...args: never[]): Promise<infer V> } ? V : unknown;
