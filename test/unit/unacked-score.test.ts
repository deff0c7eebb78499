/**
 * The unacked_index score a Redis consumer records a message with
 * (src/broker/redis-consumer.ts unackedScore): epoch seconds, rounded up to
 * the whole second when the visibility timeout is a second or more (a small
 * sorted set then stores it as an integer), exact below that. No server.
 */
import { describe, expect, it } from 'vitest';
import { unackedScore } from '../../src/broker/redis-consumer.js';

describe('unackedScore', () => {
  it('is the current epoch time in seconds rounded up, never before now and less than a second after it', () => {
    for (const vt of [1, 5, 3600]) {
      const before = Date.now() / 1000;
      const score = Number(unackedScore(vt));
      const after = Date.now() / 1000;
      expect(Number.isInteger(score)).toBe(true);
      expect(score).toBeGreaterThanOrEqual(Math.floor(before));
      expect(score).toBeGreaterThanOrEqual(before - 0.002);
      expect(score).toBeLessThanOrEqual(Math.ceil(after));
    }
  });

  it('keeps the fraction when the visibility timeout is under a second (whole seconds could restore a message early)', () => {
    const now = Date.now() / 1000;
    const score = Number(unackedScore(0.5));
    expect(Math.abs(score - now)).toBeLessThan(0.05);
  });
});
