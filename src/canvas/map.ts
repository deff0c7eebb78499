/**
 * map, starmap and chunks (C-135…C-139): one message that loops over its
 * items inside the worker (`celery.map`, `celery.starmap`), and chunks, which
 * splits items into starmap parts sent as a group.
 */
import type { GroupResult } from '../result/index.js';
import { Group } from './group.js';
import type { CanvasHost, Dispatch } from './host.js';
import type { WireOptions } from './options.js';
import { Signature } from './signature.js';

/** `celery.map`: call `task(item)` for each item, in one message. */
export function xmap<Out = unknown>(task: Signature, it: Iterable<unknown>, host: CanvasHost | null = task.host): Signature<[], Out[]> {
  return new Signature<[], Out[]>(
    { task: 'celery.map', args: [], kwargs: { task, it: [...it] }, options: routeLike(task), immutable: true },
    host,
  );
}

/** `celery.starmap`: call `task(...item)` for each item, in one message. */
export function xstarmap<Out = unknown>(task: Signature, it: Iterable<readonly unknown[]>, host: CanvasHost | null = task.host): Signature<[], Out[]> {
  return new Signature<[], Out[]>(
    { task: 'celery.starmap', args: [], kwargs: { task, it: [...it].map((x) => [...x]) }, options: routeLike(task), immutable: true },
    host,
  );
}

function routeLike(task: Signature): WireOptions {
  return task.options.queue ? { queue: task.options.queue } : {};
}

/** Split items into lists of at most n. */
export function splitChunks<T>(items: readonly T[], n: number): T[][] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`chunk size must be a positive integer, got ${n}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/** `celery.chunks`: items split into parts of n, each part a starmap; sent as a group (C-138). */
export class Chunks<Out = unknown> extends Signature<[], Out[][], GroupResult<Out[][]>> {
  constructor(task: Signature, it: Iterable<readonly unknown[]>, n: number, host: CanvasHost | null = task.host) {
    super({ task: 'celery.chunks', args: [], kwargs: { task, it: [...it].map((x) => [...x]), n }, options: {}, immutable: true }, host);
    splitChunks([], n);
  }

  /** The inner task. */
  get inner(): Signature {
    return this.kwargs.task as Signature;
  }

  /** The group of starmap parts this chunks signature stands for (C-139). */
  group(): Group<[], Out[][]> {
    const items = this.kwargs.it as unknown[][];
    const parts = splitChunks(items, this.kwargs.n as number).map((part) => xstarmap(this.inner, part, this.host));
    return new Group<[], Out[][]>(parts, {}, this.host);
  }

  /** Sent from a client, chunks becomes a group of starmap messages (C-138). */
  override applyInto(d: Dispatch, _args: readonly unknown[], _kwargs: Record<string, unknown>, options: WireOptions): GroupResult<Out[][]> {
    const g = this.group();
    if (this.options.task_id && !options.task_id) options = { ...options, task_id: this.options.task_id };
    return g.applyInto(d, [], {}, { ...this.options, ...options }) as GroupResult<Out[][]>;
  }
}
