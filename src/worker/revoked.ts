/** Revoked task ids, bounded and expiring like Celery's LimitedSet (50000 ids, 3 hours). */
export class RevokedSet {
  private readonly ids = new Map<string, number>();
  constructor(
    private readonly maxSize = 50_000,
    private readonly ttlMs = 10_800_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Remember an id. */
  add(id: string): void {
    this.ids.delete(id);
    this.ids.set(id, this.now() + this.ttlMs);
    while (this.ids.size > this.maxSize) this.ids.delete(this.ids.keys().next().value as string);
  }

  /** True if the id is revoked and not expired. */
  has(id: string): boolean {
    const exp = this.ids.get(id);
    if (exp === undefined) return false;
    if (exp < this.now()) {
      this.ids.delete(id);
      return false;
    }
    return true;
  }

  /** Revoked ids, oldest first. */
  list(): string[] {
    return [...this.ids.keys()].filter((id) => this.has(id));
  }

  get size(): number {
    return this.ids.size;
  }
}
