import { describe, expect, it } from 'vitest';
import { abortAfterMs } from '../../src/lock-watch.ts';

describe('abortAfterMs', () => {
  it('aborts after BullMQ’s longest renewal gap (half the lock) and before the lock expires, with room to kill the remote group', () => {
    for (const lock of [3000, 10_000, 30_000, 60_000, 300_000]) {
      const at = abortAfterMs(lock);
      expect(at).toBeGreaterThan(lock / 2);
      expect(lock - at).toBeGreaterThanOrEqual(Math.min(lock / 3 - 1, 10_000));
    }
    expect(abortAfterMs(30_000)).toBe(20_000);
    expect(abortAfterMs(3000)).toBe(2000);
    expect(abortAfterMs(300_000)).toBe(290_000);
  });
});
