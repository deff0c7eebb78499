/**
 * Calls made during one event-loop turn, sent as one: the Redis consumer's
 * acks and the Redis backend's result stores each go out as a single script
 * call per turn. Queued at the end of the turn (process.nextTick), so after
 * whatever the caller sent before on the same connection, and in the same
 * write (oneWritePerTurn).
 */
export class TurnBatch<T, R> {
  private waiting: Array<{ item: T; resolve: (r: R) => void; reject: (err: Error) => void }> = [];

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
    return new Promise<R>((resolve, reject) => {
      if (this.waiting.push({ item, resolve, reject }) === 1) {
        if (this.late) setImmediate(() => this.flush());
        else process.nextTick(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.send(batch.map((b) => b.item)).then(
      (results) => batch.forEach((b, i) => b.resolve(results[i] as R)),
      (err: unknown) => {
        for (const b of batch) b.reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }
}
