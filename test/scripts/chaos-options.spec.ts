/**
 * `npm run chaos` options and its seeded choices (scripts/chaos/chaos-options.ts) and the
 * load's input mix (scripts/chaos/chaos-load.ts): pure, no process is started.
 */
import { ChaosOptionsError, parseChaosOptions, pick, seededRandom } from '../../scripts/chaos/chaos-options';
import { cancelDelayMs, inputOf, inputStatus, kindOf } from '../../scripts/chaos/chaos-load';
import { statusProblem } from '../../scripts/chaos/chaos-expectations';

describe('chaos options', () => {
  it('needs --duration-s and takes the defaults for the rest', () => {
    expect(() => parseChaosOptions([])).toThrow(ChaosOptionsError);
    expect(parseChaosOptions(['--duration-s', '60', '--seed', '7'])).toEqual({ durationS: 60, rate: 8, seed: 7, jsonPath: null, faultEveryS: 4, drainS: 90 });
  });

  it('refuses a non-positive or fractional duration, and a zero rate', () => {
    expect(() => parseChaosOptions(['--duration-s', '0'])).toThrow('--duration-s must be a positive integer');
    expect(() => parseChaosOptions(['--duration-s', '1.5'])).toThrow('--duration-s must be a positive integer');
    expect(() => parseChaosOptions(['--duration-s', '10', '--rate', '0'])).toThrow('--rate must be a positive number');
  });

  it('repeats its choices for the same seed, and differs for another', () => {
    const draw = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 20 }, () => pick(random, ['a', 'b', 'c', 'd']));
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    const random = seededRandom(1);
    for (let k = 0; k < 1000; k++) expect(random()).toBeGreaterThanOrEqual(0);
  });
});

describe('chaos load mix', () => {
  it('7 in 10 complete, 1 declined, 1 out of stock, 1 cancelled, each by its index', () => {
    const kinds = Array.from({ length: 10 }, (_, i) => kindOf(i));
    expect(kinds.filter((k) => k === 'ok')).toHaveLength(7);
    expect(kinds.filter((k) => k === 'cancel')).toHaveLength(1);
    expect(inputOf(3, 't').amount).toBeGreaterThan(10_000);
    expect(inputOf(7, 't').items[0].quantity).toBe(5_000_000);
    expect(inputOf(5, 't')).toEqual({ customerId: 't-5', items: [{ sku: 'sku-3', quantity: 2 }], amount: 15 });
    expect([0, 3, 5, 7].map(inputStatus)).toEqual(['COMPLETED', 'COMPENSATED', 'COMPLETED', 'COMPENSATED']);
    const delays = Array.from({ length: 50 }, (_, k) => cancelDelayMs(10 * k + 5));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(150);
    expect(new Set(delays).size).toBeGreaterThan(20);
  });
});

describe('which final status a chaos saga may have', () => {
  const ok = { index: 0 };
  const declined = { index: 3 };
  const short = { index: 7 };
  const cancelled = (cancel: NonNullable<Parameters<typeof statusProblem>[0]['cancel']>) => ({ index: 5, cancel });

  it('a declined or out-of-stock saga only COMPENSATED, whatever started the rollback', () => {
    expect(statusProblem(declined, 'COMPENSATED', 'PAYMENT_DECLINED')).toBeNull();
    expect(statusProblem(short, 'COMPENSATED', 'TIMEOUT')).toBeNull();
    expect(statusProblem(declined, 'COMPLETED', null)).toMatch(/expected COMPENSATED \(payment declined\)/);
    expect(statusProblem(short, 'COMPLETED', null)).toMatch(/out of stock/);
  });

  it('an ok input COMPLETED, or COMPENSATED only after a timeout or an expired command', () => {
    expect(statusProblem(ok, 'COMPLETED', null)).toBeNull();
    expect(statusProblem(ok, 'COMPENSATED', 'TIMEOUT')).toBeNull();
    expect(statusProblem(ok, 'COMPENSATED', 'EXPIRED')).toBeNull();
    expect(statusProblem(ok, 'COMPENSATED', 'CANCELLED')).toMatch(/rollback: CANCELLED/);
    expect(statusProblem(ok, 'COMPENSATED', 'INSUFFICIENT_STOCK')).not.toBeNull();
    expect(statusProblem(ok, 'COMPENSATED', null)).not.toBeNull();
  });

  it('a cancel answered 202 must have rolled the saga back, by the cancel', () => {
    expect(statusProblem(cancelled({ outcome: 'applied' }), 'COMPENSATED', 'CANCELLED')).toBeNull();
    expect(statusProblem(cancelled({ outcome: 'applied' }), 'COMPLETED', null)).toMatch(/by the cancel \(202\)/);
    expect(statusProblem(cancelled({ outcome: 'applied' }), 'COMPENSATED', 'TIMEOUT')).not.toBeNull();
  });

  it('a cancel answered 409 leaves the saga as an ok input, unless an earlier attempt was lost', () => {
    const refused = cancelled({ outcome: 'refused', status: 'COMPLETED', afterLostAttempt: false });
    expect(statusProblem(refused, 'COMPLETED', null)).toBeNull();
    expect(statusProblem(refused, 'COMPENSATED', 'TIMEOUT')).toBeNull();
    expect(statusProblem(refused, 'COMPENSATED', 'CANCELLED')).not.toBeNull();
    const afterLost = cancelled({ outcome: 'refused', status: 'COMPENSATING', afterLostAttempt: true });
    expect(statusProblem(afterLost, 'COMPENSATED', 'CANCELLED')).toBeNull();
    expect(statusProblem(cancelled({ outcome: 'unknown' }), 'COMPENSATED', 'CANCELLED')).toBeNull();
    expect(statusProblem(cancelled({ outcome: 'unknown' }), 'COMPLETED', null)).toBeNull();
    expect(statusProblem(cancelled({ outcome: 'unknown' }), 'COMPENSATED', 'PAYMENT_DECLINED')).not.toBeNull();
  });
});
