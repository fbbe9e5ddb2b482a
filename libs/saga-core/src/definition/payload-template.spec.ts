/**
 * Payload templates: "$.a.b" references, the "$$." escape, totality (a path to nowhere renders
 * null, never throws) and templateReferences listing every reference for load-time checks.
 */
import fc from 'fast-check';
import { deepFreeze } from '../testing/deep-freeze';
import { referencePath, renderTemplate, templateReferences } from './payload-template';
import type { PayloadTemplate } from './saga-definition';

const context = deepFreeze({
  saga: { id: 's-1', name: 'demo' },
  input: { customer: { id: 'c1', tags: ['a', 'b'] }, zero: 0, no: false, empty: '', nothing: null },
  steps: { 'create-order': { orderId: 'o1' }, step_2: null },
});

describe('renderTemplate', () => {
  it('follows own keys only, and renders every template key, __proto__ too, as an own key', () => {
    const input = JSON.parse('{"__proto__": {"x": 1}, "plain": {"a": 1}}') as unknown;
    const template = JSON.parse('{"__proto__": "$.input.__proto__", "ctor": "$.input.plain.constructor", "proto": "$.input.plain.__proto__"}') as PayloadTemplate;
    const rendered = renderTemplate(template, { input }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(rendered)).toBe(Object.prototype);
    expect(JSON.stringify(rendered)).toBe('{"__proto__":{"x":1},"ctor":null,"proto":null}');
  });

  it('replaces references anywhere in objects and arrays, keeping everything else as is', () => {
    const template: PayloadTemplate = {
      orderId: '$.steps.create-order.orderId',
      customer: { id: '$.input.customer.id', tags: '$.input.customer.tags' },
      list: ['$.saga.id', 'plain text', 3, true, null],
      nested: [{ deep: ['$.saga.name'] }],
    };
    expect(renderTemplate(template, context)).toEqual({
      orderId: 'o1',
      customer: { id: 'c1', tags: ['a', 'b'] },
      list: ['s-1', 'plain text', 3, true, null],
      nested: [{ deep: ['demo'] }],
    });
  });

  it('keeps falsy values found at a path (0, false, "", null)', () => {
    expect(renderTemplate(['$.input.zero', '$.input.no', '$.input.empty', '$.input.nothing'], context)).toEqual([0, false, '', null]);
  });

  it('renders a path that leads nowhere as null, never throwing', () => {
    expect(renderTemplate(['$.input.missing', '$.input.zero.deeper', '$.steps.step_2.x', '$.nope.at.all'], context)).toEqual([null, null, null, null]);
    expect(renderTemplate('$.a.b', null)).toBeNull();
    expect(renderTemplate('$.a', 'a string context')).toBeNull();
  });

  it('renders "$$." as a literal "$." and leaves strings that are not references alone', () => {
    expect(renderTemplate(['$$.input.zero', '$.', '$', 'x $.input.zero', '$.input zero', '$$$.x'], context)).toEqual([
      '$.input.zero',
      '$.',
      '$',
      'x $.input.zero',
      '$.input zero',
      '$$$.x',
    ]);
  });

  it('renders the whole context subtree for a root reference', () => {
    expect(renderTemplate('$.input', context)).toEqual(context.input);
  });

  it('is total: any JSON template over any JSON context renders without throwing', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (template, ctx) => void renderTemplate(template as PayloadTemplate, ctx)),
      { numRuns: 200 },
    );
  });
});

describe('referencePath / templateReferences', () => {
  it('parses a reference into keys; anything else is not one', () => {
    expect(referencePath('$.steps.create-order.orderId')).toEqual(['steps', 'create-order', 'orderId']);
    expect(referencePath('$.input')).toEqual(['input']);
    for (const notOne of ['$.', '$..a', '$.a.', '$.a b', 'input.a', '$$.a', '']) expect(referencePath(notOne)).toBeUndefined();
  });

  it('lists every reference in a template, skipping escapes and literals', () => {
    expect(templateReferences({ a: '$.input.x', b: ['$.steps.s.y', { c: '$.saga.id' }], d: '$$.input.z', e: 'text', f: 1, g: null })).toEqual([
      ['input', 'x'],
      ['steps', 's', 'y'],
      ['saga', 'id'],
    ]);
    expect(templateReferences('$.result')).toEqual([['result']]);
    expect(templateReferences(undefined)).toEqual([]);
    expect(templateReferences(42)).toEqual([]);
  });
});
