/**
 * What a dead-letter queue message becomes as a row, and what a replay publishes.
 *
 * Proves: the key ignores the broker's x-delivery-count (a redelivery is the same row) but not a
 * new parking time, a replay mark or a different body; our reason and source win over the
 * broker's, and the broker's (with the x-death count and time) are used without ours; commands
 * are addressed by their saga headers, replies by their correlation id; a body that is not JSON
 * and a message without headers still give a row; text PostgreSQL cannot store is replaced and
 * noted; a replay drops every parking header and marks itself.
 */
import { SagaHeaders } from '#saga/core';
import { deadLetterRecord, messageKey, replayProperties, type ParkedMessage } from './dead-letter-record';

const SAGA = '3f0c9a52-2d7e-4a0e-8c1b-6b9e1f2a3b4c';
const NOW = Date.UTC(2026, 0, 1);

function parked(headers: Record<string, unknown> | undefined, content = '{"pattern":"inventory.reserve","data":{"sku":"a"},"id":"x"}', extra: object = {}): ParkedMessage {
  const properties: Record<string, unknown> = {
    messageId: `${SAGA}/reserve/action`,
    correlationId: `${SAGA}/reserve/action/2`,
    contentType: 'application/json',
    timestamp: 1_700_000_000,
    headers,
    ...extra,
  };
  return { content: Buffer.from(content), fields: { routingKey: 'saga.inventory' }, properties };
}

const ours = {
  [SagaHeaders.sagaId]: SAGA,
  [SagaHeaders.step]: 'reserve',
  [SagaHeaders.direction]: 'action',
  [SagaHeaders.attempt]: 2,
  [SagaHeaders.deadLetterReason]: 'processing failed on 5 deliveries: boom',
  [SagaHeaders.deadLetterSource]: 'saga.inventory',
  [SagaHeaders.deadLetteredAt]: NOW - 5_000,
};

describe('deadLetterRecord', () => {
  it('keys a message by everything but the broker delivery count', () => {
    const key = messageKey(parked(ours));
    expect(messageKey(parked({ ...ours, 'x-delivery-count': 3 }))).toBe(key);
    expect(messageKey(parked({ ...ours, [SagaHeaders.deadLetteredAt]: NOW }))).not.toBe(key);
    expect(messageKey(parked({ ...ours, [SagaHeaders.replayOf]: 7 }))).not.toBe(key);
    expect(messageKey(parked(ours, '{"pattern":"inventory.reserve"}'))).not.toBe(key);
    expect(messageKey(parked(Object.fromEntries(Object.entries(ours).reverse())))).toBe(key);
  });

  it('reads our parking headers and the command address', () => {
    expect(deadLetterRecord(parked({ ...ours, [SagaHeaders.replayOf]: 12 }), 'saga.replies', NOW)).toMatchObject({
      sourceQueue: 'saga.inventory',
      reason: 'processing failed on 5 deliveries: boom',
      reasonOrigin: 'ours',
      deathCount: null,
      sagaId: SAGA,
      step: 'reserve',
      direction: 'action',
      attempt: 2,
      kind: 'command',
      pattern: 'inventory.reserve',
      replayOf: 12,
      storageNote: null,
      deadLetteredAt: new Date(NOW - 5_000),
    });
  });

  it("reads the broker's reason, queue, count and time when we did not park it", () => {
    const broker = {
      'x-first-death-reason': 'delivery_limit',
      'x-first-death-queue': 'saga.replies',
      'x-death': [{ count: 1, reason: 'delivery_limit', queue: 'saga.replies', time: { '!': 'timestamp', value: 1_760_000_000 }, exchange: '' }],
    };
    const record = deadLetterRecord(parked(broker, '{"response":1}'), 'saga.replies', NOW);
    expect(record).toMatchObject({
      sourceQueue: 'saga.replies',
      reason: 'delivery_limit',
      reasonOrigin: 'broker',
      deathCount: 1,
      kind: 'reply',
      sagaId: SAGA,
      step: 'reserve',
      direction: 'action',
      attempt: 2,
      deadLetteredAt: new Date(1_760_000_000_000),
    });
  });

  it('stores anything: no headers, a body that is not JSON, text PostgreSQL cannot hold', () => {
    const bare = deadLetterRecord({ content: Buffer.from([0xff, 0x00]), fields: { routingKey: '' }, properties: {} }, 'saga.replies', NOW);
    expect(bare).toMatchObject({ sourceQueue: null, reason: null, reasonOrigin: 'unknown', kind: 'unknown', sagaId: null, headers: null, deadLetteredAt: new Date(NOW) });
    expect(bare.body).toEqual(Buffer.from([0xff, 0x00]));

    const nul = deadLetterRecord(parked({ ...ours, [SagaHeaders.deadLetterReason]: 'bad\u0000reason', odd: Buffer.from('hi'), big: 2n ** 70n }), 'saga.replies', NOW);
    expect(nul.reason).toBe('bad\ufffdreason');
    expect(nul.headers).toMatchObject({ odd: { base64: 'aGk=' }, big: (2n ** 70n).toString() });
    expect(nul.storageNote).toMatch(/U\+FFFD/);
  });
});

describe('replayProperties', () => {
  it('republishes the stored properties without parking headers, marked as a replay', () => {
    const headers = {
      ...ours,
      'x-delivery-count': 2,
      'x-saga-returns': 4, // a classic queue's return count: a replay starts from zero
      'x-death': [{ count: 1 }],
      'x-first-death-reason': 'rejected',
      'x-first-death-queue': 'q',
      'x-first-death-exchange': '',
      [SagaHeaders.replayOf]: 3,
      [SagaHeaders.expiresAt]: NOW + 60_000,
    };
    const properties = replayProperties(
      { properties: { messageId: 'm', correlationId: 'c', replyTo: 'saga.replies', contentType: 'application/json', deliveryMode: 1, expiration: null }, headers },
      9,
      'olga',
    );
    expect(properties).toEqual({
      persistent: true,
      mandatory: true,
      messageId: 'm',
      correlationId: 'c',
      replyTo: 'saga.replies',
      contentType: 'application/json',
      headers: {
        [SagaHeaders.sagaId]: SAGA,
        [SagaHeaders.step]: 'reserve',
        [SagaHeaders.direction]: 'action',
        [SagaHeaders.attempt]: 2,
        [SagaHeaders.expiresAt]: NOW + 60_000,
        [SagaHeaders.replayOf]: 9,
        [SagaHeaders.replayedBy]: 'olga',
      },
    });
  });
});
