/**
 * parameterText gives the text the pg driver binds for a value (its prepareValue), or declines.
 */
import { createRequire } from 'node:module';
import { parameterText } from './parameter-text';

const { prepareValue } = createRequire(require.resolve('pg'))('./utils') as { prepareValue(value: unknown): unknown };

describe('parameterText', () => {
  it.each([
    ['a string with quotes and backslashes', 'it\'s \\ "q"'],
    ['an empty string', ''],
    ['an integer', 42],
    ['a fraction', -0.25],
    ['a bigint', 12345678901234567890n],
    ['a boolean', false],
    ['null', null],
    ['undefined', undefined],
    ['a plain object', { a: [1, 'b', null], c: { d: "'" } }],
    ['a string array', ['a"b', 'c\\d', 'e,f', '{g}', 'NULL', '']],
    ['a number array', [1, 2.5, -3]],
    ['an array with null', ['x', null, undefined]],
  ])('matches the driver for %s', (_name, value) => {
    expect(parameterText(value)).toEqual(prepareValue(value));
  });

  it.each([
    ['a date', new Date(0)],
    ['a buffer', Buffer.from('x')],
    ['NaN', Number.NaN],
    ['a NUL character', 'a\u0000b'],
    ['a nested array', [['a']]],
    ['a class instance', new (class Point {})()],
    ['an object with toPostgres', { toPostgres: () => 'x' }],
    ['a BigInt inside an object', { big: 1n }],
    ['a function', () => 1],
  ])('declines %s', (_name, value) => {
    expect(parameterText(value)).toBeUndefined();
  });
});
