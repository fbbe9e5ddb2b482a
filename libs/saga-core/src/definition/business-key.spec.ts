import { businessKeyOf, businessKeySearchValue, MAX_BUSINESS_KEY_LENGTH, parseBusinessKeyPath } from './business-key';
import { validateDefinition } from './validate-definition';
import { catalog } from '../testing/fixtures';
import { orderSaga } from '../testing/order-saga';

describe('business key', () => {
  it('takes strings and numbers at the path, else null', () => {
    const path = '$.input.order.ref';
    expect(businessKeyOf(path, { order: { ref: 'o-1' } })).toBe('o-1');
    expect(businessKeyOf(path, { order: { ref: 42 } })).toBe('42');
    expect(businessKeyOf(path, { order: { ref: 1.5 } })).toBe('1.5');
    for (const input of [{}, { order: null }, { order: { ref: null } }, { order: { ref: true } }, { order: { ref: {} } }, { order: { ref: [1] } }, { order: [] }, null, 'x']) {
      expect(businessKeyOf(path, input)).toBeNull();
    }
    expect(businessKeyOf(undefined, { order: { ref: 'o-1' } })).toBeNull();
    expect(businessKeyOf('$.input.constructor', {})).toBeNull();
  });

  it('cuts keys at MAX_BUSINESS_KEY_LENGTH code points, and search values the same way', () => {
    const long = '😀'.repeat(MAX_BUSINESS_KEY_LENGTH + 5);
    const key = businessKeyOf('$.input.k', { k: long })!;
    expect(Array.from(key)).toHaveLength(MAX_BUSINESS_KEY_LENGTH);
    expect(businessKeySearchValue(long)).toBe(key);
    expect(businessKeySearchValue('short')).toBe('short');
  });

  it('accepts only $.input paths of property names', () => {
    expect(parseBusinessKeyPath('$.input.orderId')).toEqual({ ok: true, segments: ['orderId'] });
    for (const bad of ['$.input', '$.saga.id', 'input.orderId', '$.input..x', '$.input.a b', '$.input.a[0]', 42, null, `$.input${'.a'.repeat(11)}`]) {
      expect(parseBusinessKeyPath(bad).ok).toBe(false);
    }
  });

  it('is checked at load, with the path named', () => {
    const base = structuredClone(orderSaga);
    expect(validateDefinition({ ...base, businessKey: '$.input.customerId' }, catalog).businessKey).toBe('$.input.customerId');
    expect(() => validateDefinition({ ...base, businessKey: '$.saga.id' }, catalog)).toThrow(/businessKey: must be a path into the input/);
  });
});
