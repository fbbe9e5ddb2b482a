/**
 * classifyReply reads every reply shape a stock @nestjs/microservices RMQ handler produces, and
 * replyBody writes bodies that classifyReply reads back to the same outcome; nothing throws.
 */
import fc from 'fast-check';
import { classifyReply, EXPIRED_CODE, replyBody, type ReplyOutcome } from './reply';

/** What crosses the wire: a JSON round trip. */
const wire = (body: unknown): unknown => JSON.parse(JSON.stringify(body));

describe('classifyReply: stock Nest shapes', () => {
  it('{ response } is a success with that result (null when null)', () => {
    expect(classifyReply({ response: { orderId: 'o1' }, isDisposed: true })).toEqual({ kind: 'success', result: { orderId: 'o1' } });
    expect(classifyReply({ response: 0 })).toEqual({ kind: 'success', result: 0 });
    expect(classifyReply({ response: null, isDisposed: true })).toEqual({ kind: 'success', result: null });
    expect(classifyReply({ err: null, response: 'ok' })).toEqual({ kind: 'success', result: 'ok' });
  });

  it('a handler that returns nothing (Nest sends only { isDisposed: true }) is a success with result null', () => {
    const nestVoidReply = wire({ response: undefined, isDisposed: true });
    expect(nestVoidReply).toEqual({ isDisposed: true });
    expect(classifyReply(nestVoidReply)).toEqual({ kind: 'success', result: null });
  });

  it('{ err: { code, message } } is a business failure; retryable: true makes it retryable', () => {
    expect(classifyReply({ err: { code: 'DECLINED', message: 'card declined' }, isDisposed: true })).toEqual({ kind: 'failure', code: 'DECLINED', message: 'card declined' });
    expect(classifyReply({ err: { code: 'BUSY', message: 'try later', retryable: true } })).toEqual({ kind: 'retryable', code: 'BUSY', message: 'try later' });
    expect(classifyReply({ err: { code: 'BUSY', message: 'x', retryable: 'yes' } })).toMatchObject({ kind: 'failure' });
  });

  it("Nest's Internal server error (a handler threw a plain Error) is retryable", () => {
    expect(classifyReply({ err: { status: 'error', message: 'Internal server error' }, isDisposed: true })).toEqual({
      kind: 'retryable',
      code: 'PARTICIPANT_ERROR',
      message: 'Internal server error',
    });
  });

  it('an RpcException with a string is a failure carrying that message', () => {
    expect(classifyReply({ err: { status: 'error', message: 'out of stock' } })).toEqual({ kind: 'failure', code: 'PARTICIPANT_ERROR', message: 'out of stock' });
  });

  it('a string err (e.g. Nest "no matching message handler") is a failure', () => {
    const noHandler = { id: 'x', err: 'There is no matching message handler defined in the remote service.', status: 'error' };
    expect(classifyReply(noHandler)).toEqual({ kind: 'failure', code: 'PARTICIPANT_ERROR', message: noHandler.err });
  });

  it('code EXPIRED is an expired reply', () => {
    expect(classifyReply({ err: { code: EXPIRED_CODE, message: 'too late' } })).toEqual({ kind: 'expired', message: 'too late' });
  });

  it('an err without a usable message or code still classifies, with a JSON message and PARTICIPANT_ERROR', () => {
    expect(classifyReply({ err: { code: 7, detail: 'x' } })).toEqual({ kind: 'failure', code: 'PARTICIPANT_ERROR', message: '{"code":7,"detail":"x"}' });
    expect(classifyReply({ err: { code: '', message: 'm' } })).toEqual({ kind: 'failure', code: 'PARTICIPANT_ERROR', message: 'm' });
  });

  it('anything else is malformed, with a reason', () => {
    for (const body of [null, 'ok', 42, [1], undefined]) expect(classifyReply(body)).toEqual({ kind: 'malformed', reason: 'reply body is not a JSON object' });
    expect(classifyReply({})).toEqual({ kind: 'malformed', reason: 'reply has neither "response" nor "err"' });
    expect(classifyReply({ isDisposed: false })).toEqual({ kind: 'malformed', reason: 'reply has neither "response" nor "err"' });
    expect(classifyReply({ err: 5 })).toEqual({ kind: 'malformed', reason: '"err" must be an object or a string' });
    expect(classifyReply({ err: [1] })).toEqual({ kind: 'malformed', reason: '"err" must be an object or a string' });
  });

  it('never throws, whatever the body', () => {
    fc.assert(
      fc.property(fc.anything(), (body) => typeof classifyReply(body).kind === 'string'),
      { numRuns: 300 },
    );
  });
});

describe('replyBody', () => {
  const outcomeArb: fc.Arbitrary<ReplyOutcome> = fc.oneof(
    fc.record({ kind: fc.constant('success' as const), result: fc.jsonValue() }),
    fc.record({ kind: fc.constant('failure' as const), code: fc.string({ minLength: 1 }).filter((c) => c !== EXPIRED_CODE), message: fc.string() }),
    fc.record({ kind: fc.constant('retryable' as const), code: fc.string({ minLength: 1 }).filter((c) => c !== EXPIRED_CODE), message: fc.string() }),
    fc.record({ kind: fc.constant('expired' as const), message: fc.string() }),
  );

  it('writes the Nest shape', () => {
    expect(replyBody({ kind: 'success', result: 1 })).toEqual({ response: 1, isDisposed: true });
    expect(replyBody({ kind: 'failure', code: 'C', message: 'm' })).toEqual({ err: { code: 'C', message: 'm' }, isDisposed: true });
    expect(replyBody({ kind: 'retryable', code: 'C', message: 'm' })).toEqual({ err: { code: 'C', message: 'm', retryable: true }, isDisposed: true });
    expect(replyBody({ kind: 'expired', message: 'm' })).toEqual({ err: { code: 'EXPIRED', message: 'm' }, isDisposed: true });
  });

  it('round-trips through the wire to the same outcome', () => {
    fc.assert(
      fc.property(outcomeArb, (outcome) => expect(classifyReply(wire(replyBody(outcome)))).toEqual(wire(outcome))),
      { numRuns: 300 },
    );
  });
});
