/**
 * Retry delays. Guarantees: deterministic, like the rest of the engine: the optional jitter is
 * drawn from a hash of a caller-given key (saga, step, direction, attempt), so the same retry
 * always waits the same time, while different sagas retrying together spread out. Without
 * jitter the n-th retry waits initialMs * multiplier^(n-1); with it, that times a factor in
 * [1 - jitter/2, 1 + jitter/2). Never above backoff.maxMs.
 */
import type { RetryPolicy } from '../definition/saga-definition';

/** FNV-1a over the key, mapped to [0, 1). */
export function unitHash(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 2 ** 32;
}

export function retryDelayMs(policy: RetryPolicy, failedAttempt: number, jitterKey = ''): number {
  const { initialMs, multiplier, maxMs, jitter = 0 } = policy.backoff;
  const exponent = Math.max(0, failedAttempt - 1);
  const base = initialMs * Math.pow(multiplier, Math.min(exponent, 60));
  const factor = jitter > 0 ? 1 - jitter / 2 + jitter * unitHash(jitterKey) : 1;
  return Math.min(maxMs, Math.max(1, Math.round(base * factor)));
}
