/**
 * A deep copy of a JSON value (what JSON.parse makes: objects, arrays, strings, numbers,
 * booleans, null), so a state never shares objects with its event or its commands.
 *
 * Guarantees: the copy equals the original and shares no object or array with it; it is several
 * times cheaper than structuredClone for the small values a saga carries. A value that is not
 * plain JSON (a Date, a Map, a class instance) is copied by structuredClone instead, as before.
 * A key named `__proto__` (JSON.parse makes it an own key like any other) stays an own key of
 * the copy: it never becomes the copy's prototype (setJsonKey).
 */
export function copyJson<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  if (Object.getPrototypeOf(value) !== Object.prototype) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) setJsonKey(copy, key, copyJson((value as Record<string, unknown>)[key]));
  return copy as T;
}

/**
 * Sets `key` on a plain object as JSON.parse does: as an own, enumerable property. Plain
 * assignment of `__proto__` would call the prototype setter instead, losing the key (and, for
 * an object value, making it the target's prototype).
 */
export function setJsonKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
