/**
 * `npm run chaos` options and its seeded choices (scripts/chaos/chaos-options.ts) and the
 * load's input mix (scripts/chaos/chaos-load.ts): pure, no process is started.
 */
import { ChaosOptionsError, parseChaosOptions, pick, seededRandom } from '../../scripts/chaos/chaos-options';
import { expectedStatus, inputOf, kindOf } from '../../scripts/chaos/chaos-load';

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
  it('8 in 10 complete, 1 declined, 1 out of stock, each by its input', () => {
    const kinds = Array.from({ length: 10 }, (_, i) => kindOf(i));
    expect(kinds.filter((k) => k === 'ok')).toHaveLength(8);
    expect(inputOf(3, 't').amount).toBeGreaterThan(10_000);
    expect(inputOf(7, 't').items[0].quantity).toBe(5_000_000);
    expect([expectedStatus(0), expectedStatus(3), expectedStatus(7)]).toEqual(['COMPLETED', 'COMPENSATED', 'COMPENSATED']);
  });
});
