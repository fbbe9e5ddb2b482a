/**
 * What a JSON value must be before it can be hashed and stored: PostgreSQL's jsonb refuses a
 * NUL character and an unpaired UTF-16 surrogate, JSON.stringify turns Infinity (what `1e309`
 * parses to) into null, and a value nested thousands of levels deep overflows any recursive
 * walk. Checked before anything else of a saga input, so such input is a 400 naming the field,
 * never a 500 and never stored changed.
 *
 * Guarantees: iterative (no recursion, whatever the depth); keys are checked like strings; at
 * most MAX_REPORTED problems are returned, each with the path of its field (`input.items.0.sku`).
 */
import type { FieldError } from '#saga/core';

/** Deepest nesting of objects and arrays accepted in a saga input. */
export const MAX_JSON_DEPTH = 64;
const MAX_REPORTED = 20;

/** A high surrogate not followed by a low one, or a low one not preceded by a high one (code units). */
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The problem with a string, or undefined. */
export function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (UNPAIRED_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate, which cannot be stored';
  return undefined;
}

export function unstorableJson(value: unknown, root = 'input', maxDepth = MAX_JSON_DEPTH): FieldError[] {
  const problems: FieldError[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: root, depth: 0 }];
  while (stack.length > 0 && problems.length < MAX_REPORTED) {
    const { value: current, path, depth } = stack.pop()!;
    if (typeof current === 'string') {
      const problem = unstorableText(current);
      if (problem) problems.push({ field: path, message: problem });
    } else if (typeof current === 'number') {
      if (!Number.isFinite(current)) problems.push({ field: path, message: 'is not a finite number' });
    } else if (current !== null && typeof current === 'object') {
      if (depth >= maxDepth) {
        problems.push({ field: path, message: `is nested deeper than ${maxDepth} levels` });
        continue;
      }
      for (const [key, child] of Object.entries(current)) {
        const problem = unstorableText(key);
        if (problem) problems.push({ field: `${path}.${JSON.stringify(key)}`, message: `the key ${problem}` });
        stack.push({ value: child, path: `${path}.${key}`, depth: depth + 1 });
      }
    }
  }
  return problems;
}
