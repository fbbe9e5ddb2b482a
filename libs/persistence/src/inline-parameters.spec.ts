/**
 * inlineParameters: statements written for bound parameters become literal SQL for a
 * multi-statement batch, every value through the given quoting function.
 */
import { inlineParameters } from './parameter-text';

const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;

describe('inlineParameters', () => {
  it('replaces each placeholder by its value, $10 apart from $1, casts kept', () => {
    const values = ['a', 2, true, null, new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 6)), ['x', "y'z"], [], 'h', 'i', 'j'];
    expect(inlineParameters('SELECT $1::text, $2, $3, $4, $5::timestamptz, $6::text[], $7::uuid[], $10, $1', values, quote)).toBe(
      `SELECT 'a'::text, 2, TRUE, NULL, '2030-01-02T03:04:05.006Z'::timestamptz, '{"x","y''z"}'::text[], '{}'::uuid[], 'j', 'a'`,
    );
  });

  it('writes array elements in array syntax, with quotes and backslashes escaped inside it', () => {
    expect(inlineParameters('$1', [['a"b', 'c\\d', 'e,f', '{g}']], quote)).toBe(`'{"a\\"b","c\\\\d","e,f","{g}"}'`);
  });

  it('refuses a placeholder without a value and a number that is not finite', () => {
    expect(() => inlineParameters('SELECT $2', ['only one'], quote)).toThrow('no value for $2');
    expect(() => inlineParameters('SELECT $1', [Number.NaN], quote)).toThrow('not a finite number');
  });

  it('quotes every string through the function given, never by itself', () => {
    const seen: string[] = [];
    inlineParameters('SELECT $1, $2::text[]', ["it's", ['a', 'b']], (text) => (seen.push(text), 'Q'));
    expect(seen).toEqual(["it's", '{"a","b"}']);
  });
});
