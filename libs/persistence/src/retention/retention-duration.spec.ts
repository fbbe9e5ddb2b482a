/**
 * Retention settings: milliseconds, ISO-8601 durations (days and smaller), 0/off, the default,
 * and the minimum; every refusal names the setting.
 */
import { DAY_MS, parseRetention, RetentionSettingError } from './retention-duration';

const parse = (value: string | undefined, minimumMs = 0) => parseRetention('RETENTION_X', value, 30 * DAY_MS, minimumMs);

describe('parseRetention', () => {
  it('uses the default when unset or empty', () => {
    expect(parse(undefined)).toBe(30 * DAY_MS);
    expect(parse('  ')).toBe(30 * DAY_MS);
  });

  it('reads milliseconds and ISO-8601 durations', () => {
    expect(parse('3600000')).toBe(3_600_000);
    expect(parse('P30D')).toBe(30 * DAY_MS);
    expect(parse('P2W')).toBe(14 * DAY_MS);
    expect(parse('PT12H')).toBe(12 * 3_600_000);
    expect(parse('P1DT6H30M')).toBe(DAY_MS + 6.5 * 3_600_000);
    expect(parse('pt1.5s')).toBe(1500);
  });

  it('reads 0 and off as disabled', () => {
    expect(parse('0')).toBeNull();
    expect(parse('OFF')).toBeNull();
  });

  it('refuses what is not a fixed duration, naming the setting', () => {
    for (const bad of ['P', 'PT', 'P1M', 'P1Y', '30d', '-5', 'P1DT', 'soon']) {
      expect(() => parse(bad)).toThrow(RetentionSettingError);
      expect(() => parse(bad)).toThrow(/^RETENTION_X: /);
    }
  });

  it('refuses a window below the minimum, saying which', () => {
    expect(() => parse('PT1H', DAY_MS)).toThrow('RETENTION_X: 3600000 ms is shorter than the minimum of 86400000 ms (1 d)');
    expect(parse('P1D', DAY_MS)).toBe(DAY_MS);
    expect(parse('off', DAY_MS)).toBeNull();
  });
});
