/** copyJson: equal to the original, sharing no object with it, for any JSON value. */
import fc from 'fast-check';
import { copyJson } from './json-copy';

function objectsOf(value: unknown, into: Set<object> = new Set()): Set<object> {
  if (value !== null && typeof value === 'object') {
    into.add(value);
    for (const item of Object.values(value)) objectsOf(item, into);
  }
  return into;
}

describe('copyJson', () => {
  it('copies any JSON value deeply: equal, and no object or array shared', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const copy = copyJson(value);
        expect(copy).toStrictEqual(value);
        const originals = objectsOf(value);
        for (const object of objectsOf(copy)) expect(originals.has(object)).toBe(false);
      }),
    );
  });

  it("keeps a key named __proto__ as an own key, never as the copy's prototype", () => {
    const original = JSON.parse('{"__proto__": {"polluted": true}, "list": [{"__proto__": null}]}') as Record<string, unknown>;
    const copy = copyJson(original);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'list']);
    expect((copy as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(copy)).toBe(JSON.stringify(original));
  });

  it('copies what is not plain JSON with structuredClone', () => {
    const at = new Date(5);
    const copy = copyJson({ at, list: [new Map([['a', 1]])] });
    expect(copy.at).toEqual(at);
    expect(copy.at).not.toBe(at);
    expect(copy.list[0].get('a')).toBe(1);
  });
});
