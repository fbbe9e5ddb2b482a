/**
 * RateLimiter: bursts of twice the rate, then one per 1/rate seconds, per actor and kind; the
 * wait it reports is exact.
 */
import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows a burst of twice the rate, then refuses with the wait until the next unit', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter({ start: 5, action: 1 }, () => now);
    for (let i = 0; i < 10; i++) expect(limiter.take('shop', 'start')).toBeUndefined();
    expect(limiter.take('shop', 'start')).toBeCloseTo(0.2, 5);
    now += 100;
    expect(limiter.take('shop', 'start')).toBeCloseTo(0.1, 5); // half a unit refilled
    now += 100;
    expect(limiter.take('shop', 'start')).toBeUndefined();
  });

  it('keeps actors and kinds apart', () => {
    const now = 0;
    const limiter = new RateLimiter({ start: 1, action: 1 }, () => now);
    expect(limiter.take('a', 'action')).toBeUndefined();
    expect(limiter.take('a', 'action')).toBeUndefined();
    expect(limiter.take('a', 'action')).toBeGreaterThan(0);
    expect(limiter.take('b', 'action')).toBeUndefined();
    expect(limiter.take('a', 'start')).toBeUndefined();
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new RateLimiter({ start: 0, action: 1 })).toThrow(RangeError);
  });
});
