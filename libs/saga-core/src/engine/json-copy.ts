/**
 * A deep copy of a JSON value (what JSON.parse makes: objects, arrays, strings, numbers,
 * booleans, null), so a state never shares objects with its event or its commands.
 *
 * Guarantees: the copy equals the original and shares no object or array with it; it is several
 * times cheaper than structuredClone for the small values a saga carries. A value that is not
 * plain JSON (a Date, a Map, a class instance) is copied by structuredClone instead, as before.
 */
export function copyJson<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  if (Object.getPrototypeOf(value) !== Object.prototype) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = copyJson((value as Record<string, unknown>)[key]);
  return copy as T;
}
