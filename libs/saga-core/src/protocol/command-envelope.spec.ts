/**
 * commandEnvelope / readCommand: an outgoing command becomes a stock Nest RMQ request plus saga
 * headers, and a participant reads back exactly what was sent; readCommand never throws and
 * names what is wrong with a message.
 */
import fc from 'fast-check';
import type { OutgoingCommand } from '../engine/decision';
import { commandEnvelope, readCommand } from './command-envelope';
import { SagaHeaders } from './headers';
import { commandMessageId, correlationIdFor } from './message-ids';

function command(overrides: Partial<OutgoingCommand> = {}): OutgoingCommand {
  const base = { sagaId: 'saga-1', step: 'charge-payment', direction: 'action' as const, attempt: 2 };
  return {
    ...base,
    messageId: commandMessageId(base),
    correlationId: correlationIdFor(base),
    sagaName: 'place-order',
    command: 'payment.charge',
    payload: { amount: 10 },
    expiresAt: 1_700_000_005_000,
    ...overrides,
  };
}

const read = (envelope: ReturnType<typeof commandEnvelope>) => readCommand(Buffer.from(JSON.stringify(envelope.body)), envelope.properties);

describe('commandEnvelope', () => {
  it('builds the Nest RMQ request body and the saga headers', () => {
    expect(commandEnvelope(command(), 'demo.payment', 'demo.replies', 1_700_000_000_999)).toEqual({
      queue: 'demo.payment',
      body: { pattern: 'payment.charge', data: { amount: 10 }, id: 'saga-1/charge-payment/action' },
      properties: {
        messageId: 'saga-1/charge-payment/action',
        correlationId: 'saga-1/charge-payment/action/2',
        replyTo: 'demo.replies',
        persistent: true,
        contentType: 'application/json',
        timestamp: 1_700_000_000,
        headers: {
          'x-saga-id': 'saga-1',
          'x-saga-name': 'place-order',
          'x-saga-step': 'charge-payment',
          'x-saga-direction': 'action',
          'x-saga-attempt': 2,
          'x-saga-expires-at': 1_700_000_005_000,
        },
      },
    });
  });
});

describe('readCommand', () => {
  it('reads back exactly what commandEnvelope wrote', () => {
    const commandArb = fc
      .record({
        sagaId: fc.uuid(),
        step: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
        direction: fc.constantFrom('action' as const, 'compensation' as const),
        attempt: fc.integer({ min: 1, max: 1000 }),
        command: fc.stringMatching(/^[a-z]+\.[a-z]+$/),
        payload: fc.jsonValue(),
        expiresAt: fc.integer({ min: 0, max: 2 ** 45 }),
      })
      .map((c) => command({ ...c, messageId: commandMessageId(c), correlationId: correlationIdFor(c) }));
    fc.assert(
      fc.property(commandArb, (sent) => {
        const result = read(commandEnvelope(sent, 'q', 'replies', 0));
        expect(result).toEqual({
          ok: true,
          command: {
            pattern: sent.command,
            data: JSON.parse(JSON.stringify(sent.payload ?? null)),
            messageId: sent.messageId,
            correlationId: sent.correlationId,
            replyTo: 'replies',
            sagaId: sent.sagaId,
            step: sent.step,
            direction: sent.direction,
            attempt: sent.attempt,
            expiresAt: sent.expiresAt,
          },
        });
      }),
      { numRuns: 200 },
    );
  });

  it('accepts numeric headers sent as strings and a missing data as null', () => {
    const envelope = commandEnvelope(command(), 'q', 'r', 0);
    const headers = { ...envelope.properties.headers, [SagaHeaders.attempt]: '3', [SagaHeaders.expiresAt]: '99' };
    const result = readCommand(Buffer.from('{"pattern":"payment.charge"}'), { ...envelope.properties, headers });
    expect(result).toMatchObject({ ok: true, command: { attempt: 3, expiresAt: 99, data: null } });
  });

  it('names what is wrong with a bad message', () => {
    const good = commandEnvelope(command(), 'q', 'r', 0);
    const body = Buffer.from(JSON.stringify(good.body));
    const withHeaders = (patch: Record<string, unknown>) => ({ ...good.properties, headers: { ...good.properties.headers, ...patch } });
    const cases: [Buffer, Parameters<typeof readCommand>[1], string][] = [
      [Buffer.from('{not json'), good.properties, 'body is not valid JSON'],
      [Buffer.from('"text"'), good.properties, 'body is not a JSON object'],
      [Buffer.from('null'), good.properties, 'body is not a JSON object'],
      [Buffer.from('{"data":1}'), good.properties, 'body has no "pattern"'],
      [body, {}, 'missing x-saga-id or x-saga-step header'],
      [body, withHeaders({ [SagaHeaders.step]: 7 }), 'missing x-saga-id or x-saga-step header'],
      [body, withHeaders({ [SagaHeaders.direction]: 'undo' }), 'x-saga-direction must be "action" or "compensation"'],
      [body, withHeaders({ [SagaHeaders.attempt]: 0 }), 'x-saga-attempt must be a positive integer'],
      [body, withHeaders({ [SagaHeaders.attempt]: 'two' }), 'x-saga-attempt must be a positive integer'],
      [body, withHeaders({ [SagaHeaders.expiresAt]: undefined }), 'x-saga-expires-at must be epoch milliseconds'],
      [body, { ...good.properties, replyTo: undefined }, 'replyTo and correlationId properties are required'],
      [body, { ...good.properties, correlationId: 5 }, 'replyTo and correlationId properties are required'],
    ];
    for (const [content, properties, reason] of cases) expect(readCommand(content, properties)).toEqual({ ok: false, reason });
  });

  it('never throws, whatever the bytes and headers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.dictionary(fc.string(), fc.anything()), (bytes, headers) => {
        expect(typeof readCommand(Buffer.from(bytes), { headers, replyTo: 'r', correlationId: 'c' }).ok).toBe('boolean');
      }),
      { numRuns: 200 },
    );
  });
});
