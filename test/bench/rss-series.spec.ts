/**
 * The RSS series reduction behind issue 4's memory target: checkpoints every minute (or 10 % of
 * a shorter run), min / median / max, and "flat" = (max - min) / median <= 20 % after warm-up.
 */
import { checkpoints, MIN_SAMPLES_FOR_VERDICT, rssStats, stepSeconds, summarizeRss, type RssSample } from '../../scripts/bench/rss-series';

/** One sample a second from 0 to windowS, RSS given by f(t). */
function series(windowS: number, f: (t: number) => number): RssSample[] {
  return Array.from({ length: windowS + 1 }, (_, t) => ({ atS: t, rssMiB: f(t) }));
}

describe('stepSeconds', () => {
  it('is a minute for runs of 10 minutes or more, 10 % of shorter ones', () => {
    expect(stepSeconds(600)).toBe(60);
    expect(stepSeconds(1800)).toBe(60);
    expect(stepSeconds(120)).toBe(12);
    expect(stepSeconds(5)).toBe(0.5);
  });
});

describe('rssStats', () => {
  it('gives min / median / max, the largest deviation from the median and the spread', () => {
    expect(rssStats([110, 100, 90, 105])).toEqual({ samples: 4, minMiB: 90, medianMiB: 102.5, maxMiB: 110, maxDeviationPct: (12.5 / 102.5) * 100, spreadPct: (20 / 102.5) * 100 });
    expect(rssStats([3, 1, 2])).toMatchObject({ medianMiB: 2, maxDeviationPct: 50, spreadPct: 100 });
  });

  it('does not mutate its input and gives NaN for no samples', () => {
    const values = [3, 1, 2];
    rssStats(values);
    expect(values).toEqual([3, 1, 2]);
    expect(rssStats([])).toMatchObject({ samples: 0, medianMiB: NaN });
  });
});

describe('checkpoints', () => {
  it('takes the RSS at each minute boundary of a 10-minute run, from the nearest sample', () => {
    const points = checkpoints(
      series(600, (t) => 100 + t),
      600,
    );
    expect(points.map((p) => p.atS)).toEqual([0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600]);
    expect(points.map((p) => p.rssMiB)).toEqual([100, 160, 220, 280, 340, 400, 460, 520, 580, 640, 700]);
  });

  it('takes every 10 % of a shorter run, and the end when the last boundary is not on it', () => {
    expect(
      checkpoints(
        series(50, (t) => t),
        50,
      ).map((p) => p.atS),
    ).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    const jittered = [0, 0.98, 2.03, 2.97, 4.01, 5.02].map((atS) => ({ atS, rssMiB: atS }));
    expect(checkpoints(jittered, 5.02).map((p) => [p.atS, p.rssMiB])).toEqual([
      [0, 0],
      [0.502, 0.98],
      [1.004, 0.98],
      [1.506, 2.03],
      [2.008, 2.03],
      [2.51, 2.97],
      [3.012, 2.97],
      [3.514, 4.01],
      [4.016, 4.01],
      [4.518, 5.02],
      [5.02, 5.02],
    ]);
    expect(
      checkpoints(
        series(630, () => 1),
        630,
      )
        .map((p) => p.atS)
        .slice(-2),
    ).toEqual([600, 630]);
    // Never closer than the samples: a 3-second run gets one checkpoint a second.
    expect(
      checkpoints(
        series(3, (t) => t),
        3,
        1,
      ).map((p) => [p.atS, p.rssMiB]),
    ).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
  });
});

describe('summarizeRss: flat after warm-up', () => {
  it('calls a run flat when it grows in the first minute only, and stays within ±10 % after', () => {
    // 100 → 250 MiB over the first minute, then 230 / 250 / 270 in turn (spread 40 / 250 = 16 %).
    const summary = summarizeRss(
      series(600, (t) => (t < 60 ? 100 + 2.5 * t : [230, 250, 270][t % 3])),
      600,
      1,
    );
    expect(summary.wholeRun.minMiB).toBe(100);
    expect(summary.wholeRun.maxDeviationPct).toBeGreaterThan(50);
    expect(summary.afterWarmup).toMatchObject({ fromS: 60, samples: 541, minMiB: 230, maxMiB: 270, medianMiB: 250, flat: true });
    expect(summary.afterWarmup.spreadPct).toBeCloseTo(16, 6);
  });

  it('is not flat when it keeps growing after warm-up (a leak)', () => {
    // +0.1 MiB/s: 206 → 260 MiB after the first minute, spread ~23 % of the median.
    const summary = summarizeRss(
      series(600, (t) => 200 + 0.1 * t),
      600,
      1,
    );
    expect(summary.afterWarmup.flat).toBe(false);
    expect(summary.afterWarmup.spreadPct).toBeGreaterThan(20);
  });

  it('draws the line at exactly 20 % of the median', () => {
    const atLimit = summarizeRss(
      series(100, (t) => (t < 10 ? 1 : [90, 110, 100][t % 3])),
      100,
      1,
    );
    expect(atLimit.afterWarmup).toMatchObject({ medianMiB: 100, spreadPct: 20, maxDeviationPct: 10, flat: true });
    const over = summarizeRss(
      series(100, (t) => (t < 10 ? 1 : [90, 110.5, 100][t % 3])),
      100,
      1,
    );
    expect(over.afterWarmup.flat).toBe(false);
  });

  it('gives no verdict for a run too short to have enough samples after warm-up', () => {
    const short = summarizeRss(
      [
        { atS: 0, rssMiB: 100 },
        { atS: 0.6, rssMiB: 300 },
      ],
      0.6,
      1,
    );
    expect(short.afterWarmup.samples).toBeLessThan(MIN_SAMPLES_FOR_VERDICT);
    expect(short.afterWarmup.flat).toBeNull();
    expect(short.checkpoints).toEqual([
      { atS: 0, rssMiB: 100 },
      { atS: 0.6, rssMiB: 300 },
    ]);
    expect(summarizeRss([], 0, 1).afterWarmup.flat).toBeNull();
  });
});
