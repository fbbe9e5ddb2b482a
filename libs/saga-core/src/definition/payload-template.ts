/**
 * Payload templates: JSON where a string "$.a.b" is replaced by the value at path a.b of the
 * context, and "$$.x" stands for the literal string "$.x".
 *
 * Guarantees: rendering is pure and total (a path that leads nowhere renders as null, never
 * throws); a path follows own keys only (`$.input.constructor` leads nowhere, `$.input.__proto__`
 * to an own `__proto__` key only), and every key of a template, `__proto__` too, is an own key
 * of what it renders; templateReferences lists every path so validation can reject impossible
 * ones at load.
 */
import { setJsonKey } from '../engine/json-copy';
import type { PayloadTemplate } from './saga-definition';

const REFERENCE = /^\$\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)$/;

export function referencePath(value: string): string[] | undefined {
  const match = REFERENCE.exec(value);
  return match ? match[1].split('.') : undefined;
}

function lookup(context: unknown, path: string[]): unknown {
  let current: unknown = context;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return null;
    current = (current as Record<string, unknown>)[key];
  }
  return current === undefined ? null : current;
}

export function renderTemplate(template: PayloadTemplate, context: unknown): unknown {
  if (typeof template === 'string') {
    if (template.startsWith('$$.')) return template.slice(1);
    const path = referencePath(template);
    return path ? lookup(context, path) : template;
  }
  if (Array.isArray(template)) return template.map((item) => renderTemplate(item, context));
  if (template !== null && typeof template === 'object') {
    const rendered: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) setJsonKey(rendered, key, renderTemplate(value, context));
    return rendered;
  }
  return template;
}

/** Every "$.path" in the template, as arrays of keys. */
export function templateReferences(template: PayloadTemplate | undefined): string[][] {
  if (template === undefined) return [];
  if (typeof template === 'string') {
    const path = template.startsWith('$$.') ? undefined : referencePath(template);
    return path ? [path] : [];
  }
  if (Array.isArray(template)) return template.flatMap((item) => templateReferences(item));
  if (template !== null && typeof template === 'object') return Object.values(template).flatMap((value) => templateReferences(value));
  return [];
}
