/**
 * V8 heap settings for a process that runs a worker. A worker allocates
 * mostly short-lived objects (a message, its decoded request, the result it
 * stores) at a high rate, and V8's defaults size the heap for throughput:
 * the young generation grows to two 16 MB semi-spaces and the old
 * generation may grow to several times what its last full collection kept,
 * filling with promoted objects that are already dead. Capping the one and
 * growing the other in smaller steps keeps a busy worker's resident memory
 * near what it holds live.
 *
 * V8 fixes a heap's maximum sizes when the process starts (`node
 * --max-semi-space-size`), so the cap is applied from inside: after every
 * collection the young generation's growth factor is set so that its next
 * growth lands on the cap (1 once it is there; V8 may still shrink it).
 * The old generation's step is V8's `--heap-growing-percent`, which V8 reads
 * at every full collection.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** How a worker process sizes V8's heap. */
export interface HeapSettings {
  /**
   * Largest size, in MB, of each of the young generation's two
   * semi-spaces (V8's default grows them to 16 MB on 64-bit; it grows them
   * by doubling, so a power of two is what is reached). 0 leaves V8's own
   * growth. Default 2.
   */
  maxSemiSpaceMb?: number;
  /**
   * How far, in percent, the old generation may grow past what the last
   * full collection kept before the next one starts (V8 chooses between
   * 10 and 300 % by itself, from how fast it collects). 0 leaves V8's own
   * choice.
   * Default 50.
   */
  heapGrowingPercent?: number;
}

/** The settings `celeriac worker` applies unless told otherwise. */
export const WORKER_HEAP: Required<HeapSettings> = Object.freeze({ maxSemiSpaceMb: 2, heapGrowingPercent: 50 });

/** V8's defaults, restored by the function tuneHeap returns. */
const V8_GROWTH_FACTOR = 2;

const MB = 1024 * 1024;

/** V8's heap page: semi-spaces are made of these. */
const PAGE = 256 * 1024;

function newSpace(): { space_size: number; space_used_size: number; space_available_size: number } | undefined {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
}

/** The memory the young generation takes, in bytes (both semi-spaces, as far as committed). */
export function youngGenerationBytes(): number {
  return newSpace()?.space_size ?? 0;
}

/**
 * The capacity of one semi-space, in bytes: what the one being allocated in
 * holds, in whole pages. (Half the committed size would be wrong whenever V8
 * has released the idle semi-space, as its memory reducer does.)
 */
function semiSpaceBytes(): number {
  const s = newSpace();
  return s ? Math.ceil((s.space_used_size + s.space_available_size) / PAGE) * PAGE : 0;
}

let active: (() => void) | null = null;

/**
 * Apply heap settings to this process (the settings are V8's, so they hold
 * for everything the process runs). Returns a function that puts V8's own
 * behaviour back. Applying again replaces the earlier settings.
 *
 * With `holdUntil`, the young generation keeps its size until that settles,
 * and grows towards the cap after: loading an application runs long stretches
 * of code without an event-loop turn, in which V8 would grow it more than once
 * before the growth factor could be looked at again (the CLI holds it until
 * the worker has started).
 */
export function tuneHeap(settings: HeapSettings = WORKER_HEAP, holdUntil?: Promise<unknown>): () => void {
  active?.();
  const semiMb = settings.maxSemiSpaceMb ?? WORKER_HEAP.maxSemiSpaceMb;
  const growing = settings.heapGrowingPercent ?? WORKER_HEAP.heapGrowingPercent;
  if (!(semiMb >= 0) || !(growing >= 0)) throw new RangeError(`heap settings must be >= 0 (maxSemiSpaceMb ${semiMb}, heapGrowingPercent ${growing})`);
  if (growing > 0) setFlagsFromString(`--heap-growing-percent=${Math.round(growing)}`);
  let stop = (): void => undefined;
  if (semiMb > 0) {
    const cap = semiMb * MB;
    let factor = V8_GROWTH_FACTOR;
    let holding = holdUntil !== undefined;
    let undone = false;
    const check = (): void => {
      if (undone) return;
      // V8 multiplies a semi-space by the factor when it grows it: the next growth lands on the cap, none after
      // (none at all while holding).
      const semi = semiSpaceBytes();
      if (semi <= 0) return;
      const next = holding || semi >= cap ? 1 : Math.max(1, Math.floor(cap / semi));
      if (next === factor) return;
      factor = next;
      setFlagsFromString(`--semi-space-growth-factor=${next}`);
    };
    check();
    // V8 grows the young generation only in a collection, once what survived since its last growth exceeds its
    // size; looking after each collection resets the factor long before that happens again.
    const observer = new PerformanceObserver(check);
    observer.observe({ entryTypes: ['gc'] });
    stop = () => {
      undone = true;
      observer.disconnect();
    };
    const release = (): void => {
      holding = false;
      check();
    };
    holdUntil?.then(release, release);
  }
  const undo = (): void => {
    if (active !== undo) return;
    active = null;
    stop();
    setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`);
    setFlagsFromString('--heap-growing-percent=0');
  };
  active = undo;
  return undo;
}
