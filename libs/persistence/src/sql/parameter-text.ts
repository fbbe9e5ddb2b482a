/**
 * The text a bound parameter value travels as, for the values it can be computed for without
 * guessing: what the pg driver itself sends for them (its `prepareValue`), so a statement run as
 * `EXECUTE name('<text>', ...)` with these texts quoted gets exactly the values a bound run would.
 *
 * Guarantees: returns the driver's text for strings, finite numbers, bigints, booleans, null and
 * undefined (as null), plain objects (JSON) and arrays of those scalars (an array literal quoted
 * as the driver quotes it); returns `undefined` for anything else (dates, buffers, typed arrays,
 * objects with toPostgres, class instances, NaN, nested arrays, NUL characters), which the
 * caller must then send as a bound parameter. Never throws for a value it declines.
 * Only the pipelined session turns these texts into SQL (as quoted EXECUTE arguments).
 */

export type ParameterText = string | null;

export function parameterText(value: unknown): ParameterText | undefined {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return value.includes('\0') ? undefined : value;
    case 'number':
      return Number.isFinite(value) ? String(value) : undefined;
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'object':
      if (Array.isArray(value)) return arrayText(value);
      return isPlainObject(value) ? json(value) : undefined;
    default:
      return undefined;
  }
}

function arrayText(values: readonly unknown[]): string | undefined {
  const items: string[] = [];
  for (const item of values) {
    if (item === null || item === undefined) {
      items.push('NULL');
      continue;
    }
    if (typeof item === 'object') return undefined; // nested arrays, objects: left to the driver
    const text = parameterText(item);
    if (text === undefined || text === null) return undefined;
    items.push(`"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  }
  return `{${items.join(',')}}`;
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return (prototype === Object.prototype || prototype === null) && typeof (value as { toPostgres?: unknown }).toPostgres !== 'function';
}

function json(value: object): string | undefined {
  try {
    const text = JSON.stringify(value);
    return text.includes('\\u0000') ? undefined : text;
  } catch {
    return undefined; // a BigInt or a cycle: the driver reports it
  }
}
