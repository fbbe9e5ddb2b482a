/**
 * Replies that must change nothing (docs/semantics.md S4): a duplicated reply, a late reply for an attempt
 * that is not current, a reply for an unknown saga, and malformed replies, which go to the
 * dead-letter queue with the reason instead of looping.
 */
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../support/infra';
import { TestSystem, type SagaBody } from './system-harness';

describe('reply handling (e2e)', () => {
  let system: TestSystem;
  let connection: ChannelModel;
  let channel: Channel;
  let saga: SagaBody;

  const publishReply = (correlationId: string, body: string | object) =>
    channel.sendToQueue('saga.replies', Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), { correlationId, persistent: true });

  const historyOf = async (id: string) => (await system.http().get(`/sagas/${id}`).expect(200)).body as SagaBody;

  beforeAll(async () => {
    // This file reads saga.dead-letter itself: the orchestrator must not take it into its table.
    system = await TestSystem.start({ env: { DEAD_LETTER_INTAKE: 'false' } });
    connection = await connect(system.amqpUrl);
    channel = await connection.createChannel();
    const started = await system.startSaga('place-order', { customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 1 }], amount: 10 }).expect(202);
    saga = await system.waitForSaga(started.body.id);
    expect(saga.status).toBe('COMPLETED');
  });

  afterAll(async () => {
    await connection?.close();
    await system?.close();
  });

  it('records a duplicated reply in the history and changes nothing else', async () => {
    publishReply(`${saga.id}/create-order/action/1`, { response: { orderId: 'tampered' }, isDisposed: true });
    const after = await waitFor(async () => {
      const current = await historyOf(saga.id);
      return current.history.some((h) => h.type === 'DUPLICATE_REPLY_IGNORED') && current;
    }, 'the duplicate to be recorded');
    expect(after.history.find((h) => h.type === 'DUPLICATE_REPLY_IGNORED')).toMatchObject({ failureType: 'duplicate', step: 'create-order', direction: 'action', attempt: 1 });
    expect(after.exceptions.map((e) => [e.type, e.entry, e.step])).toEqual([['duplicate', 'DUPLICATE_REPLY_IGNORED', 'create-order']]);
    expect(after.status).toBe('COMPLETED');
    expect(after.steps).toEqual(saga.steps);
    expect(after.history.slice(0, saga.history.length)).toEqual(saga.history);
  });

  it('records a reply for an attempt that is not current as late, and ignores it', async () => {
    publishReply(`${saga.id}/charge-payment/action/7`, { err: { code: 'DECLINED', message: 'too late' } });
    const after = await waitFor(async () => {
      const current = await historyOf(saga.id);
      return current.history.some((h) => h.type === 'LATE_REPLY_IGNORED') && current;
    }, 'the late reply to be recorded');
    expect(after.history.find((h) => h.type === 'LATE_REPLY_IGNORED')).toMatchObject({ failureType: 'late', step: 'charge-payment', attempt: 7, reason: 'DECLINED' });
    expect(after.exceptions.at(-1)).toMatchObject({ type: 'late', entry: 'LATE_REPLY_IGNORED', step: 'charge-payment', attempt: 7, reason: 'DECLINED', message: 'too late' });
    expect(after.status).toBe('COMPLETED');
    expect(after.steps).toEqual(saga.steps);
  });

  it('dead-letters malformed replies with the reason and keeps consuming', async () => {
    publishReply(`${saga.id}/create-order/action/1`, '{not json');
    publishReply('no-such-correlation', { response: 1 });
    publishReply(`${randomUUID()}/create-order/action/1`, { response: { ok: true } }); // unknown saga: acked, dropped
    const parked = await waitFor(async () => {
      const messages = [];
      for (;;) {
        const message = await channel.get('saga.dead-letter', { noAck: true });
        if (!message) break;
        messages.push(message);
      }
      return messages.length >= 2 ? messages : undefined;
    }, 'two dead-lettered replies');
    const reasons = parked.map((m) => String(m.properties.headers?.['x-dead-letter-reason']));
    expect(reasons).toEqual(expect.arrayContaining([expect.stringContaining('not valid JSON'), expect.stringContaining('correlationId')]));
    expect(parked.every((m) => m.properties.headers?.['x-dead-letter-source'] === 'saga.replies')).toBe(true);
    const noted = await waitFor(async () => {
      const current = await historyOf(saga.id);
      return current.history.some((h) => h.type === 'MALFORMED_REPLY_PARKED') && current;
    }, 'the parked reply noted in the saga history');
    expect(noted.history.filter((h) => h.type === 'MALFORMED_REPLY_PARKED')).toEqual([
      expect.objectContaining({
        failureType: 'malformed',
        step: 'create-order',
        direction: 'action',
        attempt: 1,
        reason: 'malformed',
        detail: { message: 'reply body is not valid JSON' },
      }),
    ]);
    expect(noted.status).toBe('COMPLETED');
    const next = await system.startSaga('place-order', { customerId: 'c-2', items: [{ sku: 'sku-2', quantity: 1 }], amount: 10 }).expect(202);
    expect((await system.waitForSaga(next.body.id)).status).toBe('COMPLETED');
    const replies = await channel.checkQueue('saga.replies');
    expect(replies.messageCount).toBe(0);
  });

  it('dead-letters an oversized reply without reading it', async () => {
    const huge = JSON.stringify({ response: { blob: 'x'.repeat(1024 * 1024) }, isDisposed: true });
    publishReply(`${saga.id}/approve-order/action/1`, huge);
    const parked = await waitFor(async () => (await channel.get('saga.dead-letter', { noAck: true })) || undefined, 'the oversized reply to be parked');
    expect(String(parked.properties.headers?.['x-dead-letter-reason'])).toMatch(/^body of \d+ bytes is over the 1048576-byte limit$/);
    expect(parked.content.length).toBe(Buffer.byteLength(huge));
    const current = await historyOf(saga.id);
    expect(current.history.filter((h) => h.step === 'approve-order' && h.type !== 'COMMAND_SENT' && h.type !== 'REPLY_RECEIVED')).toEqual([]);
  });
});
