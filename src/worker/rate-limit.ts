/** Per-task-type rate limits in Celery's syntax ("10/s", "100/m", "1000/h"): a token bucket. */
import { ConfigurationError } from '../protocol/index.js';

/** Parse "10/s" into tasks per second (a bare number is per second). */
export function parseRate(rate: string | number): number {
  if (typeof rate === 'number') return rate;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([smh]))?\s*$/.exec(rate);
  if (!m) throw new ConfigurationError(`Invalid rate limit ${JSON.stringify(rate)}: use "10/s", "100/m" or "1000/h"`);
  const n = Number(m[1]);
  const per = m[2] === 'm' ? 60 : m[2] === 'h' ? 3600 : 1;
  return n / per;
}

/** A token bucket: `take()` resolves when a token is available. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;
  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.capacity = Math.max(1, ratePerSecond);
    this.tokens = this.capacity;
    this.last = now();
  }

  /** Milliseconds until a token is available (0 = now), taking it when available. */
  reserve(): number {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    return Math.ceil((-this.tokens / this.ratePerSecond) * 1000);
  }
}
