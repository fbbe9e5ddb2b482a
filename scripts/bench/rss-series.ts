/**
 * RSS over the measured window as a time series, reduced to what issue 4's memory target needs
 * ("orchestrator RSS ≤ 300 MB at 64 in flight, flat (±10 %) over a 10-minute run"): the RSS at
 * regular checkpoints, min / median / max over the whole run and after warm-up, and a verdict.
 *
 * Definitions (one rule for every run length; step = min(60 s, 10 % of the window)):
 * - checkpoints: the RSS at 0, step, 2·step, … and at the window's end: every minute boundary
 *   for runs of 10 minutes or more, every 10 % of the run for shorter ones, but never closer than
 *   the samples (about 1 s apart). Each checkpoint takes the sample nearest its boundary.
 * - warm-up: the first step (the first minute, or the first 10 % of a shorter run), where growth
 *   is expected; the "after warm-up" figures use only samples taken at or after its end.
 * - flat: after warm-up, (max - min) / median ≤ 20 %, i.e. the samples fit in a band as wide as
 *   ±10 % of the median. No verdict (null) with fewer than MIN_SAMPLES_FOR_VERDICT samples after
 *   warm-up: a run of a few seconds says nothing about flatness.
 *
 * Guarantees: pure functions of the samples passed in (no clock, no I/O, inputs not mutated);
 * samples must be in time order; empty input gives NaN figures and no verdict, never a throw.
 */

export interface RssSample {
  /** Seconds since the window began. */
  atS: number;
  rssMiB: number;
}

export interface RssStats {
  samples: number;
  minMiB: number;
  medianMiB: number;
  maxMiB: number;
  /** Largest |sample - median| as a percentage of the median. */
  maxDeviationPct: number;
  /** (max - min) as a percentage of the median. */
  spreadPct: number;
}

export interface RssSeriesSummary {
  /** Seconds between two samples of the series (the peak is sampled more often). */
  sampleEveryS: number;
  /** Length of the warm-up and distance between checkpoints, in seconds. */
  stepS: number;
  checkpoints: RssSample[];
  wholeRun: RssStats;
  afterWarmup: RssStats & { fromS: number; flat: boolean | null };
}

/** Widest (max - min) / median still called flat: ±10 % around the median. */
export const FLAT_SPREAD_PCT = 20;
/** Fewest samples after warm-up for a flat / not flat verdict. */
export const MIN_SAMPLES_FOR_VERDICT = 5;

/** Warm-up length and checkpoint spacing: a minute, or 10 % of a run shorter than 10 minutes. */
export function stepSeconds(windowS: number): number {
  return Math.min(60, windowS / 10);
}

function median(sorted: Float64Array): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function rssStats(values: readonly number[]): RssStats {
  if (values.length === 0) return { samples: 0, minMiB: NaN, medianMiB: NaN, maxMiB: NaN, maxDeviationPct: NaN, spreadPct: NaN };
  const sorted = Float64Array.from(values).sort();
  const min = sorted[0];
  const max = sorted[sorted.length - 1];
  const mid = median(sorted);
  return {
    samples: values.length,
    minMiB: min,
    medianMiB: mid,
    maxMiB: max,
    maxDeviationPct: (Math.max(mid - min, max - mid) / mid) * 100,
    spreadPct: ((max - min) / mid) * 100,
  };
}

/** The sample nearest to `atS` (ties: the earlier one). */
function nearest(samples: readonly RssSample[], atS: number): RssSample {
  let best = samples[0];
  for (const sample of samples) {
    if (Math.abs(sample.atS - atS) < Math.abs(best.atS - atS)) best = sample;
    else if (sample.atS > atS) break;
  }
  return best;
}

/** RSS at 0, step, 2·step, … and at the window's end (see the header); step ≥ minStepS. */
export function checkpoints(samples: readonly RssSample[], windowS: number, minStepS = 0): RssSample[] {
  if (samples.length === 0) return [];
  const step = Math.max(stepSeconds(windowS), minStepS);
  const result: RssSample[] = [];
  const boundaries = step > 0 ? Math.floor(windowS / step + 1e-9) : 0;
  for (let k = 0; k <= boundaries; k++) {
    const atS = Math.round(k * step * 1000) / 1000;
    result.push({ atS, rssMiB: nearest(samples, atS).rssMiB });
  }
  const last = samples[samples.length - 1];
  // The window's end, unless a boundary already fell (within a sample's distance) on it.
  if (windowS - result[result.length - 1].atS > 0.5) result.push({ atS: Math.round(windowS * 1000) / 1000, rssMiB: last.rssMiB });
  return result;
}

export function summarizeRss(samples: readonly RssSample[], windowS: number, sampleEveryS: number): RssSeriesSummary {
  const stepS = Math.round(stepSeconds(windowS) * 1000) / 1000; // to the millisecond, as the checkpoints
  const after = samples.filter((sample) => sample.atS >= stepS).map((sample) => sample.rssMiB);
  const afterStats = rssStats(after);
  const flat = after.length < MIN_SAMPLES_FOR_VERDICT ? null : afterStats.spreadPct <= FLAT_SPREAD_PCT + 1e-9;
  return {
    sampleEveryS,
    stepS,
    checkpoints: checkpoints(samples, windowS, sampleEveryS),
    wholeRun: rssStats(samples.map((sample) => sample.rssMiB)),
    afterWarmup: { ...afterStats, fromS: stepS, flat },
  };
}
