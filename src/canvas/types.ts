/**
 * Compile-time plumbing for typed canvases: what a signature still needs
 * (`In`), what it produces (`Out`), and whether a chain's links fit.
 */
import type { AnyResult, AsyncResult } from '../result/index.js';
import type { Signature } from './signature.js';

/** Marks an immutable signature: it ignores the parent's value, so it fits after anything. */
export declare const immutableBrand: unique symbol;

/** An immutable signature type (from `.si()`). */
export type Immutable<S> = S & { readonly [immutableBrand]?: true; readonly immutable: true };

/** Any signature, whatever its types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySignature = Signature<any, any, any>;

/** The arguments a signature still needs. */
export type InOf<S> = S extends { readonly __types?: { in: infer I } } ? (I extends unknown[] ? I : never) : never;
/** The value a signature produces. */
export type OutOf<S> = S extends { readonly __types?: { out: infer O } } ? Awaited<O> : never;
/** The result object a signature's send returns. */
export type ResOf<S> = S extends { readonly __types?: { res: infer R } } ? (R extends AnyResult ? R : AnyResult) : AnyResult;

/** Every prefix of a parameter tuple (what a partial signature may fix). */
export type PrefixOf<A extends unknown[]> = number extends A['length']
  ? A
  : A extends [infer H, ...infer R]
    ? [] | [H, ...PrefixOf<R>]
    : A extends [(infer H)?, ...infer R]
      ? [] | [H, ...PrefixOf<R>]
      : A;

/** The parameters left after fixing a prefix. */
export type Drop<A extends unknown[], P extends unknown[]> = number extends A['length']
  ? A
  : P extends [unknown, ...infer PR]
  ? A extends [unknown?, ...infer AR]
    ? Drop<AR, PR>
    : A
  : A;

/** Shown by the compiler when a chain's next step cannot take the previous value. */
export interface ChainLinkMismatch<Prev, Next> {
  readonly 'this step cannot take the previous result': Prev;
  readonly 'it still needs': Next;
}

/** True when `S` can be called with `V` prepended (or ignores it). */
export type Accepts<S, V> = S extends { readonly immutable: true } ? true : [V] extends InOf<S> ? true : InOf<S> extends [V, ...unknown[]] ? ([V] extends [InOf<S>[0]] ? true : false) : false;

/** Checks every link of a chain; a step that does not fit becomes a ChainLinkMismatch. */
export type CheckChain<T extends readonly unknown[], Prev = never, First extends boolean = true> = T extends readonly [infer H, ...infer R]
  ? [First extends true ? H : Accepts<H, Prev> extends true ? H : ChainLinkMismatch<Prev, InOf<H>>, ...CheckChain<R, OutOf<H>, false>]
  : [];

/** The last element of a tuple. */
export type Last<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? L : T[number];

/** The result a chain returns: the last step's. */
export type ChainRes<T extends readonly unknown[]> = ResOf<Last<T>>;

/** The value type of an AsyncResult. */
export type ValueOf<R> = R extends AsyncResult<infer V> ? V : unknown;
