/**
 * Test helper: freezes a value and everything reachable from it, so that any attempt by the code
 * under test to mutate it throws (specs run in strict mode) instead of silently succeeding.
 *
 * Guarantees: returns the same object; already-frozen sub-objects are still walked; cycles are safe.
 */
export function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key], seen);
  return Object.freeze(value);
}
