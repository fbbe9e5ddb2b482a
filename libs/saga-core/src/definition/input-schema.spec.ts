/**
 * validateInput / compileInputSchema: every field error with a readable path (docs/semantics.md S6: HTTP 400
 * with the field errors), the JSON Schema dialect the definition type documents (2020-12, or
 * draft-07 when declared), and per-schema caching.
 */
import { placeOrder } from '../testing/fixtures';
import { compileInputSchema, validateInput } from './input-schema';

const schema = placeOrder.inputSchema;

describe('validateInput', () => {
  it('accepts a valid input', () => {
    expect(validateInput(schema, { customerId: 'c1', items: [{ sku: 'A', quantity: 1 }], amount: 5, note: 'hi' })).toEqual([]);
  });

  it('reports every missing field, not only the first', () => {
    expect(validateInput(schema, {})).toEqual([
      { field: 'customerId', message: "must have required property 'customerId'" },
      { field: 'items', message: "must have required property 'items'" },
      { field: 'amount', message: "must have required property 'amount'" },
    ]);
  });

  it('names nested fields with dotted paths, extra properties included', () => {
    const errors = validateInput(schema, { customerId: '', items: [{ sku: 'A', quantity: 0, colour: 'red' }, { quantity: 1 }], amount: -1 });
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'customerId', message: 'must NOT have fewer than 1 characters' },
        { field: 'items.0.quantity', message: 'must be >= 1' },
        { field: 'items.0.colour', message: 'must NOT have additional properties' },
        { field: 'items.1.sku', message: "must have required property 'sku'" },
        { field: 'amount', message: 'must be > 0' },
      ]),
    );
    expect(errors).toHaveLength(5);
  });

  it('reports a wrong root type as (root)', () => {
    expect(validateInput(schema, [1, 2])).toEqual([{ field: '(root)', message: 'must be object' }]);
    expect(validateInput(schema, null)).toEqual([{ field: '(root)', message: 'must be object' }]);
  });

  it('reports a schema that does not compile as a (schema) error instead of throwing', () => {
    expect(validateInput({ type: 'nonsense' }, {})).toEqual([{ field: '(schema)', message: expect.stringMatching(/^is not a valid JSON Schema: /) }]);
  });
});

describe('JSON Schema dialect', () => {
  it('is draft 2020-12 by default: prefixItems is enforced and the 2020-12 $schema compiles', () => {
    const tuple = { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }] };
    expect(validateInput(tuple, ['a', 1])).toEqual([]);
    expect(validateInput(tuple, [1, 'a'])).toEqual([
      { field: '0', message: 'must be string' },
      { field: '1', message: 'must be integer' },
    ]);
    expect(compileInputSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' }).ok).toBe(true);
  });

  it('is draft-07 when the schema declares it', () => {
    const legacy = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'array', items: [{ type: 'string' }], additionalItems: false };
    expect(compileInputSchema(legacy).ok).toBe(true);
    expect(validateInput(legacy, ['a'])).toEqual([]);
    expect(validateInput(legacy, ['a', 'b'])).toEqual([{ field: '(root)', message: 'must NOT have more than 1 items' }]);
  });
});

describe('compileInputSchema', () => {
  it('caches the compiled validator per schema object', () => {
    const a = compileInputSchema(schema);
    const b = compileInputSchema(schema);
    expect(a.ok && b.ok && a.validate === b.validate).toBe(true);
    const other = compileInputSchema(structuredClone(schema));
    expect(other.ok && a.ok && other.validate !== a.validate).toBe(true);
  });
});
