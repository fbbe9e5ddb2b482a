/**
 * Saga input validation against the definition's JSON Schema (docs/semantics.md S6: validated before
 * anything is stored).
 *
 * Guarantees: reports every field error (not just the first) as { field, message } with a
 * JSON-pointer-like field path; compiled validators are cached per schema object.
 * Dialect: JSON Schema draft 2020-12 (as saga-definition.ts documents), or draft-07 when the
 * schema says so in "$schema". Draft 2020-12 keywords such as prefixItems are enforced, and a
 * schema declaring "$schema": ".../draft/2020-12/schema" compiles.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import Ajv2020 from 'ajv/dist/2020';

export interface FieldError {
  field: string;
  message: string;
}

const draft2020 = new Ajv2020({ allErrors: true, strict: false });
const draft07 = new Ajv({ allErrors: true, strict: false });
const cache = new WeakMap<object, ValidateFunction>();

function dialectOf(schema: Record<string, unknown>): Ajv | Ajv2020 {
  return typeof schema.$schema === 'string' && schema.$schema.includes('draft-07') ? draft07 : draft2020;
}

export function compileInputSchema(schema: Record<string, unknown>): { ok: true; validate: ValidateFunction } | { ok: false; error: string } {
  const cached = cache.get(schema);
  if (cached) return { ok: true, validate: cached };
  try {
    const validate = dialectOf(schema).compile(schema);
    cache.set(schema, validate);
    return { ok: true, validate };
  } catch (error) {
    return { ok: false, error: `is not a valid JSON Schema: ${(error as Error).message}` };
  }
}

function fieldOf(error: ErrorObject): string {
  const base = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return base ? `${base}.${missing}` : missing;
  }
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return base ? `${base}.${extra}` : extra;
  }
  return base || '(root)';
}

export function validateInput(schema: Record<string, unknown>, input: unknown): FieldError[] {
  const compiled = compileInputSchema(schema);
  if (!compiled.ok) return [{ field: '(schema)', message: compiled.error }];
  if (compiled.validate(input)) return [];
  return (compiled.validate.errors ?? []).map((error) => ({ field: fieldOf(error), message: error.message ?? 'is invalid' }));
}
