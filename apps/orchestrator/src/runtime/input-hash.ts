/**
 * The hash that tells a repeated start (same idempotency key, same input) from a conflicting one
 * (same key, other input): docs/semantics.md S6.
 *
 * Guarantees: canonical JSON (object keys sorted at every depth), so inputs equal as JSON values
 * hash alike whatever their key order; SHA-256, hex.
 */
import { createHash } from 'node:crypto';

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function inputHash(input: unknown): string {
  return createHash('sha256').update(canonical(input)).digest('hex');
}
