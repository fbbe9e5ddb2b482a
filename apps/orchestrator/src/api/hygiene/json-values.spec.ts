/**
 * unstorableJson: what PostgreSQL's jsonb or JSON.stringify would refuse or change is named by
 * path, at any depth, without recursion.
 */
import { MAX_JSON_DEPTH, unstorableJson } from './json-values';

describe('unstorableJson', () => {
  it('accepts ordinary JSON, unicode and paired surrogates included', () => {
    expect(unstorableJson({ a: [1, -2.5, 'ünïcødé 🎉', null, true], b: { c: 'x' } })).toEqual([]);
  });

  it('names NUL characters, unpaired surrogates and non-finite numbers by path, in keys too', () => {
    const problems = unstorableJson(JSON.parse('{"name":"a\\u0000b","note":"a\\ud800b","amount":1e309,"items":[{"q":-1e400}],"k\\u0000":1}'));
    expect(problems).toEqual(
      expect.arrayContaining([
        { field: 'input.name', message: expect.stringContaining('NUL') },
        { field: 'input.note', message: expect.stringContaining('unpaired UTF-16 surrogate') },
        { field: 'input.amount', message: 'is not a finite number' },
        { field: 'input.items.0.q', message: 'is not a finite number' },
        { field: 'input."k\\u0000"', message: expect.stringContaining('the key contains a NUL') },
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it('stops at the depth limit without recursing, however deep the value', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = { x: deep };
    const problems = unstorableJson(deep);
    expect(problems).toEqual([{ field: `input${'.x'.repeat(MAX_JSON_DEPTH)}`, message: `is nested deeper than ${MAX_JSON_DEPTH} levels` }]);
    let ok: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) ok = [ok];
    expect(unstorableJson(ok)).toEqual([]);
  });
});
