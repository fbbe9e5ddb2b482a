/**
 * The poison decision's pure parts: whose delivery count is trusted, how the broker's count and
 * ours combine, and the bounds on poisonAfter.
 */
import { brokerDeliveries, checkPoisonAfter, DEFAULT_POISON_AFTER, FailureCounter, PoisonLimitError, RepeatedFailureError } from './poison';
import { DELIVERY_LIMIT } from './topology';

const message = (redelivered: boolean, headers?: Record<string, unknown>, messageId = 'm') => ({
  fields: { redelivered } as never,
  properties: { headers, messageId, correlationId: `${messageId}/1` } as never,
  content: Buffer.from('body'),
});

describe('brokerDeliveries', () => {
  it('reads x-delivery-count on a redelivery as earlier returns, plus this delivery', () => {
    expect(brokerDeliveries(message(true, { 'x-delivery-count': 0 }))).toBe(1);
    expect(brokerDeliveries(message(true, { 'x-delivery-count': 4 }))).toBe(5);
    expect(brokerDeliveries(message(true, { 'x-delivery-count': BigInt(7) }))).toBe(8);
  });

  it('ignores the header on a first delivery (a publisher can put anything there)', () => {
    expect(brokerDeliveries(message(false, { 'x-delivery-count': 9 }))).toBe(1);
    expect(brokerDeliveries(message(false))).toBe(1);
  });

  it('has no count for a redelivery without a usable header (a classic queue)', () => {
    expect(brokerDeliveries(message(true))).toBeUndefined();
    expect(brokerDeliveries(message(true, { 'x-delivery-count': 'lots' }))).toBeUndefined();
    expect(brokerDeliveries(message(true, { 'x-delivery-count': -1 }))).toBeUndefined();
  });
});

describe('FailureCounter', () => {
  it('counts failures in memory when the broker gives no count', () => {
    const counter = new FailureCounter();
    const key = FailureCounter.key('q', message(false));
    expect([counter.failed(key, message(false)), counter.failed(key, message(true)), counter.failed(key, message(true))]).toEqual([1, 2, 3]);
  });

  it('takes the larger of the two counts, never their sum', () => {
    const counter = new FailureCounter();
    const key = FailureCounter.key('q', message(false));
    expect(counter.failed(key, message(true, { 'x-delivery-count': 3 }))).toBe(4); // three returns we never saw (crashes)
    expect(counter.failed(key, message(true, { 'x-delivery-count': 4 }))).toBe(5); // ours is 2 here
  });

  it('forgets a message once handled, and its oldest entries beyond its bound', () => {
    const counter = new FailureCounter(2);
    const keys = ['a', 'b', 'c'].map((id) => FailureCounter.key('q', message(false, undefined, id)));
    for (const key of keys) counter.failed(key, message(false));
    expect(counter.size).toBe(2);
    expect(counter.failed(keys[0], message(true))).toBe(1); // 'a' was forgotten first ('b' now)
    expect(counter.failed(keys[2], message(true))).toBe(2); // 'c' was kept
    counter.forget(keys[2]);
    expect(counter.size).toBe(1);
  });
});

describe('poisonAfter bounds', () => {
  it('accepts 1 to DELIVERY_LIMIT, so we park before the broker does', () => {
    expect(DEFAULT_POISON_AFTER).toBeLessThan(DELIVERY_LIMIT);
    expect(checkPoisonAfter(1)).toBe(1);
    expect(checkPoisonAfter(DELIVERY_LIMIT)).toBe(DELIVERY_LIMIT);
    for (const invalid of [0, DELIVERY_LIMIT + 1, 1.5, Number.NaN]) expect(() => checkPoisonAfter(invalid)).toThrow(PoisonLimitError);
  });

  it('names the repeated failure with a stable code, its count and the last error', () => {
    const last = new Error('commit refused');
    const error = new RepeatedFailureError(5, last);
    expect(error).toMatchObject({
      code: 'MESSAGE_KEEPS_FAILING',
      name: 'RepeatedFailureError',
      deliveries: 5,
      lastError: last,
      cause: last,
      message: 'failed on 5 deliveries: commit refused',
    });
  });
});
