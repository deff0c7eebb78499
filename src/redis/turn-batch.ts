/**
 * Calls made during one event-loop turn, sent as one: the Redis consumer's
 * acks and the Redis backend's result stores each go out as a single script
 * call per turn. Queued at the end of the turn (process.nextTick), so after
 * whatever the caller sent before on the same connection, and in the same
 * write (oneWritePerTurn).
 */
export class TurnBatch<T, R> {
  private items: T[] = [];
  /** Per item: how to hand it its result (null for an item that joined the turn's shared promise). */
  private settlers: Array<{ resolve: (r: R) => void; reject: (err: Error) => void } | null> = [];
  /** The promise this turn's joined items share, made with the first of them. */
  private shared: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } | null = null;

  /**
   * `send` makes the one call for a turn's items and resolves to one result
   * per item, in order. `late`: queued after the turn's I/O callbacks and
   * promise jobs instead (setImmediate), so that it follows what they send.
   */
  constructor(
    private readonly send: (items: T[]) => Promise<readonly R[]>,
    private readonly late = false,
  ) {}

  /** Add an item to this turn's call; resolves to its result, or rejects with the call's error. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => this.push(item, { resolve, reject }));
  }

  /**
   * Add an item whose result is not needed: it shares one promise with the
   * turn's other such items, settled when the call is (no promise per item).
   */
  join(item: T): Promise<void> {
    if (!this.shared) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.shared = { promise, resolve, reject };
    }
    const { promise } = this.shared;
    this.push(item, null);
    return promise;
  }

  private push(item: T, settler: { resolve: (r: R) => void; reject: (err: Error) => void } | null): void {
    if (this.items.push(item) === 1) {
      if (this.late) setImmediate(() => this.flush());
      else process.nextTick(() => this.flush());
    }
    this.settlers.push(settler);
  }

  private flush(): void {
    const { items, settlers, shared } = this;
    this.items = [];
    this.settlers = [];
    this.shared = null;
    this.send(items).then(
      (results) => {
        settlers.forEach((s, i) => s?.resolve(results[i] as R));
        shared?.resolve();
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const s of settlers) s?.reject(e);
        shared?.reject(e);
      },
    );
  }
}
