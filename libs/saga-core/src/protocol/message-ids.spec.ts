/**
 * Message and correlation ids (docs/semantics.md S4): the message id depends only on (saga, step, direction);
 * the correlation id adds the attempt and parses back exactly; parsing never throws.
 */
import fc from 'fast-check';
import { commandMessageId, correlationIdFor, parseCorrelationId, type AttemptAddress } from './message-ids';

const stepName = fc.stringMatching(/^[a-z][a-z0-9-]{0,62}$/);
const sagaId = fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/));
const address: fc.Arbitrary<AttemptAddress> = fc.record({
  sagaId,
  step: stepName,
  direction: fc.constantFrom('action' as const, 'compensation' as const),
  attempt: fc.integer({ min: 1, max: 999_999_999 }),
});

describe('commandMessageId / correlationIdFor', () => {
  it('has a stable, documented shape', () => {
    const a = { sagaId: 's1', step: 'charge-payment', direction: 'compensation' as const };
    expect(commandMessageId(a)).toBe('s1/charge-payment/compensation');
    expect(correlationIdFor({ ...a, attempt: 3 })).toBe('s1/charge-payment/compensation/3');
  });

  it('the message id ignores the attempt; the correlation id does not', () => {
    fc.assert(
      fc.property(address, fc.integer({ min: 1, max: 1000 }), (a, other) => {
        expect(commandMessageId({ ...a, attempt: other } as AttemptAddress)).toBe(commandMessageId(a));
        if (other !== a.attempt) expect(correlationIdFor({ ...a, attempt: other })).not.toBe(correlationIdFor(a));
      }),
    );
  });

  it('distinct (saga, step, direction) give distinct message ids', () => {
    fc.assert(
      fc.property(address, address, (a, b) => {
        const same = a.sagaId === b.sagaId && a.step === b.step && a.direction === b.direction;
        expect(commandMessageId(a) === commandMessageId(b)).toBe(same);
      }),
    );
  });
});

describe('parseCorrelationId', () => {
  it('round-trips every valid address', () => {
    fc.assert(
      fc.property(address, (a) => expect(parseCorrelationId(correlationIdFor(a))).toEqual(a)),
      { numRuns: 300 },
    );
  });

  it.each([
    [undefined],
    [42],
    [''],
    ['s/step/action'],
    ['s/step/action/1/extra'],
    ['/step/action/1'],
    ['s//action/1'],
    ['s/step/undo/1'],
    ['s/step/action/0'],
    ['s/step/action/01'],
    ['s/step/action/-1'],
    ['s/step/action/1.5'],
    ['s/step/action/1234567890'],
  ])('rejects %p', (value) => {
    expect(parseCorrelationId(value)).toBeUndefined();
  });

  it('never throws', () => {
    fc.assert(fc.property(fc.anything(), (value) => void parseCorrelationId(value)));
  });
});
