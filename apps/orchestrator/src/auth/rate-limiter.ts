/**
 * Per-token rate limits (token buckets): each actor may start so many sagas, and take so many
 * operator actions, per second, with bursts of twice that. Beyond it the request is answered 429
 * with Retry-After, and nothing is done.
 *
 * Guarantees: one bucket per (actor name, kind); a bucket refills continuously at `perSecond`
 * up to `2 × perSecond`; take() never blocks and returns how long to wait when refused; buckets
 * full again are dropped, so memory follows the active actors only. The clock is injected.
 */
export type RateKind = 'start' | 'action';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: Record<RateKind, number>,
    private readonly now: () => number = Date.now,
  ) {
    for (const [kind, rate] of Object.entries(perSecond)) {
      if (!(rate > 0)) throw new RangeError(`the ${kind} rate must be positive, got ${rate}`);
    }
  }

  /** Takes one unit for `actor`; undefined when allowed, else the seconds until one is there. */
  take(actor: string, kind: RateKind): number | undefined {
    const rate = this.perSecond[kind];
    const capacity = 2 * rate;
    const key = `${kind}\u0000${actor}`;
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.buckets.set(key, bucket);
      this.forgetFull(now);
      return undefined;
    }
    this.buckets.set(key, bucket);
    return (1 - bucket.tokens) / rate;
  }

  /** Drops buckets that have refilled completely (now and then, not on every call). */
  private lastSweep = 0;
  private forgetFull(now: number): void {
    if (now - this.lastSweep < 10_000) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      const rate = this.perSecond[key.slice(0, key.indexOf('\u0000')) as RateKind];
      if (bucket.tokens + ((now - bucket.at) / 1000) * rate >= 2 * rate) this.buckets.delete(key);
    }
  }
}
