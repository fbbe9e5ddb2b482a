/**
 * A definition's business key: the value an operator searches sagas by (an order reference, a
 * customer), named by a path into the saga input, e.g. `"businessKey": "$.input.orderId"`.
 *
 * Guarantees: pure. A path is `$.input` followed by 1..MAX_BUSINESS_KEY_DEPTH property names
 * (letters, digits, `_` and `-`); anything else is refused at load with the path named. The key
 * of an input is the value at that path when it is a string or a finite number (as its JSON
 * text), else null (absent, null, object, array, boolean). A key longer than
 * MAX_BUSINESS_KEY_LENGTH characters (code points) keeps its first MAX_BUSINESS_KEY_LENGTH: the
 * same cut applies to a search value (businessKeySearchValue), so such a saga is still found by
 * its full key, and also by any key sharing those first characters.
 */

export const MAX_BUSINESS_KEY_LENGTH = 200;
export const MAX_BUSINESS_KEY_DEPTH = 10;
const SEGMENT = /^[A-Za-z0-9_-]{1,100}$/;

/** The property names after `$.input`, or an explanation of why `path` is not a business key path. */
export function parseBusinessKeyPath(path: unknown): { ok: true; segments: string[] } | { ok: false; error: string } {
  const expected = 'must be a path into the input such as "$.input.orderId" (property names of letters, digits, _ and -)';
  if (typeof path !== 'string' || !path.startsWith('$.input.')) return { ok: false, error: expected };
  const segments = path.slice('$.input.'.length).split('.');
  if (segments.length > MAX_BUSINESS_KEY_DEPTH) return { ok: false, error: `must be at most ${MAX_BUSINESS_KEY_DEPTH} properties deep` };
  if (!segments.every((segment) => SEGMENT.test(segment))) return { ok: false, error: expected };
  return { ok: true, segments };
}

/** The first MAX_BUSINESS_KEY_LENGTH code points of `text`. */
export function capBusinessKey(text: string): string {
  const points = Array.from(text);
  return points.length > MAX_BUSINESS_KEY_LENGTH ? points.slice(0, MAX_BUSINESS_KEY_LENGTH).join('') : text;
}

/** The value a search for `key` compares with the stored keys (the same cut). */
export const businessKeySearchValue = capBusinessKey;

/** The business key of `input` under a validated path (undefined path: the saga has none). */
export function businessKeyOf(path: string | undefined, input: unknown): string | null {
  if (path === undefined) return null;
  const parsed = parseBusinessKeyPath(path);
  if (!parsed.ok) return null;
  let value: unknown = input;
  for (const segment of parsed.segments) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, segment)) return null;
    value = (value as Record<string, unknown>)[segment];
  }
  if (typeof value === 'string') return capBusinessKey(value);
  if (typeof value === 'number' && Number.isFinite(value)) return capBusinessKey(JSON.stringify(value));
  return null;
}
