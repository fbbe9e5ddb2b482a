/**
 * The options of `npm run chaos` and the seeded random source every choice of the run draws from.
 *
 * Guarantees: parsing is pure and throws a ChaosOptionsError naming the bad option; the same
 * --seed gives the same sequence of choices (the timing of a live system still differs).
 */
import { parseArgs } from 'node:util';

export class ChaosOptionsError extends Error {
  readonly code = 'CHAOS_OPTIONS_INVALID';
}

export interface ChaosOptions {
  durationS: number;
  /** Saga starts per second. */
  rate: number;
  seed: number;
  jsonPath: string | null;
  /** Seconds between two scheduled faults. */
  faultEveryS: number;
  /** How long the drain may take once load and faults stopped. */
  drainS: number;
}

export const CHAOS_USAGE = 'usage: npm run chaos -- --duration-s N [--rate R] [--seed S] [--json out.json] [--fault-every-s 4] [--drain-s 90]';

function positive(name: string, raw: string, integer = false): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
    throw new ChaosOptionsError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  return value;
}

export function parseChaosOptions(argv: string[]): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      'duration-s': { type: 'string' },
      rate: { type: 'string', default: '8' },
      seed: { type: 'string', default: String((Date.now() % 99_999) + 1) },
      json: { type: 'string' },
      'fault-every-s': { type: 'string', default: '4' },
      'drain-s': { type: 'string', default: '90' },
    },
  });
  if (values['duration-s'] === undefined) throw new ChaosOptionsError('--duration-s is required');
  return {
    durationS: positive('duration-s', values['duration-s'], true),
    rate: positive('rate', values.rate),
    seed: positive('seed', values.seed, true),
    jsonPath: values.json ?? null,
    faultEveryS: positive('fault-every-s', values['fault-every-s']),
    drainS: positive('drain-s', values['drain-s'], true),
  };
}

/** mulberry32: small, fast, good enough to pick faults and victims reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)];
