/**
 * retryDelayMs (deterministic exponential backoff, capped) and the deterministic timer ids the
 * runtime stores timers under.
 */
import fc from 'fast-check';
import { retryDelayMs } from './backoff';
import { attemptTimerId, deadlineTimerId } from './decision-builder';

const policy = (initialMs: number, multiplier: number, maxMs: number) => ({ maxAttempts: 5, backoff: { initialMs, multiplier, maxMs } });

describe('retryDelayMs', () => {
  it('waits initialMs * multiplier^(n-1) before the n-th retry, capped at maxMs', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(policy(100, 2, 1_000), n))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect([1, 2, 3].map((n) => retryDelayMs(policy(100, 1.5, 10_000), n))).toEqual([100, 150, 225]);
    expect([1, 2, 3].map((n) => retryDelayMs(policy(250, 1, 10_000), n))).toEqual([250, 250, 250]);
  });

  it('is an integer between initialMs and maxMs for any attempt, even huge ones', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.double({ min: 1, max: 100, noNaN: true }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 1e9 }),
        (initial, multiplier, extra, attempt) => {
          const delay = retryDelayMs(policy(initial, multiplier, initial + extra), attempt);
          expect(Number.isInteger(delay) && delay >= initial && delay <= initial + extra).toBe(true);
        },
      ),
    );
  });
});

describe('retryDelayMs with jitter', () => {
  const jittered = (jitter: number) => ({ maxAttempts: 5, backoff: { initialMs: 1_000, multiplier: 2, maxMs: 60_000, jitter } });

  it('is the same for the same key and within [1 - j/2, 1 + j/2) of the plain delay', () => {
    fc.assert(
      fc.property(fc.string(), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 5 }), (key, jitter, attempt) => {
        const delay = retryDelayMs(jittered(jitter), attempt, key);
        const plain = retryDelayMs(jittered(0), attempt, key);
        expect(retryDelayMs(jittered(jitter), attempt, key)).toBe(delay);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(plain * (1 - jitter / 2)));
        expect(delay).toBeLessThanOrEqual(Math.ceil(plain * (1 + jitter / 2)));
      }),
    );
  });

  it('spreads sagas retrying together', () => {
    const delays = new Set(Array.from({ length: 50 }, (_, i) => retryDelayMs(jittered(0.5), 1, `saga-${i}/pay/action/2/retry`)));
    expect(delays.size).toBeGreaterThan(40);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(750);
    expect(Math.max(...delays)).toBeLessThan(1_250);
  });
});

describe('timer ids', () => {
  it('are deterministic per (saga, step, direction, attempt, kind) and per saga deadline', () => {
    expect(attemptTimerId('s', 'pay', 'action', 2, 'timeout')).toBe('s/pay/action/2/timeout');
    expect(attemptTimerId('s', 'pay', 'compensation', 3, 'retry')).toBe('s/pay/compensation/3/retry');
    expect(deadlineTimerId('s')).toBe('s/deadline');
  });
});
