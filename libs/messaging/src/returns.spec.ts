/**
 * The return count a classic queue's copy carries (returns.ts): how it is read and written.
 */
import { copyWithReturns, RETURNS_HEADER, returnsSoFar } from './returns';

const message = (redelivered: boolean, headers?: Record<string, unknown>) => ({ fields: { redelivered } as never, properties: { headers } as never });

describe('returnsSoFar', () => {
  it('is the count in the header, plus one when this delivery itself follows a return', () => {
    expect(returnsSoFar(message(false))).toBe(0);
    expect(returnsSoFar(message(true))).toBe(1);
    expect(returnsSoFar(message(false, { [RETURNS_HEADER]: 3 }))).toBe(3);
    expect(returnsSoFar(message(true, { [RETURNS_HEADER]: 3 }))).toBe(4);
    expect(returnsSoFar(message(true, { [RETURNS_HEADER]: BigInt(7) }))).toBe(8);
    expect(returnsSoFar(message(false, { [RETURNS_HEADER]: '2' }))).toBe(2);
  });

  it('reads a header that is not a non-negative integer as no count', () => {
    for (const bad of [-4, 1.5, 'many', null, {}, Number.NaN]) expect(returnsSoFar(message(true, { [RETURNS_HEADER]: bad }))).toBe(1);
  });
});

describe('copyWithReturns', () => {
  it('keeps the properties and headers, sets the count and makes the copy persistent', () => {
    const properties = {
      contentType: 'application/json',
      correlationId: 's-1/charge/action/2',
      messageId: 'm-1',
      replyTo: 'saga.replies',
      timestamp: 1_700_000_000,
      deliveryMode: 1,
      headers: { 'x-saga-id': 's-1', [RETURNS_HEADER]: 1 },
    };
    expect(copyWithReturns({ properties } as never, 2)).toEqual({
      persistent: true,
      contentType: 'application/json',
      contentEncoding: undefined,
      correlationId: 's-1/charge/action/2',
      replyTo: 'saga.replies',
      messageId: 'm-1',
      timestamp: 1_700_000_000,
      type: undefined,
      appId: undefined,
      priority: undefined,
      expiration: undefined,
      headers: { 'x-saga-id': 's-1', [RETURNS_HEADER]: 2 },
    });
  });
});
