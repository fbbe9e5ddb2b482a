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
 * - inlineParameters() (the runtime's and toolkit's own statements) puts only the value types it
 *   lists into SQL text, every string through the given `literal` (the driver's escapeLiteral).
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

/** A value inlineParameters() can put into SQL text. */
export type SqlValue = string | number | boolean | null | Date | readonly string[];

/**
 * Replaces $1..$n in a statement written for bound parameters by literals, so it can travel in a
 * multi-statement batch (the simple protocol has no parameters). Strings (and string arrays, and
 * dates as ISO text) go through `literal` (the driver's escapeLiteral); numbers must be finite;
 * every placeholder in the statement must have a value. Arrays become array literals of unknown
 * type ('{"a","b"}'), so the statement's own casts (`$1::uuid[]`) or, for EXECUTE, the prepared
 * statement's parameter types decide their type, as bound parameters would.
 */
export function inlineParameters(sql: string, values: readonly SqlValue[], literal: (text: string) => string): string {
  return sql.replace(/\$(\d+)/g, (_, digits: string) => {
    const index = Number(digits) - 1;
    if (index < 0 || index >= values.length) throw new RangeError(`no value for $${digits}`);
    const value = values[index];
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new RangeError(`$${digits} is not a finite number`);
      return String(value);
    }
    if (value instanceof Date) return literal(value.toISOString());
    if (typeof value === 'string') return literal(value);
    // An array literal of unknown type ('{"a","b"}'), so a cast or a prepared statement's
    // parameter type decides what it is (a text[] would not convert to uuid[] implicitly).
    return literal(`{${value.map((item) => `"${item.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`);
  });
}
