/**
 * payment-service against real PostgreSQL and RabbitMQ: charge / refund (undo), limits, and the
 * participant guarantees (dedupe, tombstone, expiry, dead-lettering).
 */
import { commandMessageId, SagaHeaders } from '#saga/core';
import { bootstrapPaymentService } from '../../apps/payment-service/src/bootstrap';
import { expectBareReplyProperties, openTestInfra, processedRow, type CommandSpec, type TestInfra } from './harness';

let infra: TestInfra;
let queue: string;

beforeAll(async () => {
  infra = await openTestInfra('payments', (c) => bootstrapPaymentService({ amqpUrl: c.amqpUrl, amqpPrefix: c.prefix, databaseUrl: c.databaseUrl }, { logger: false }));
  queue = `${infra.prefix}.payment`;
});

afterAll(async () => {
  await infra?.cleanup();
});

let sagaCounter = 0;
const newSaga = () => `saga-pay-${++sagaCounter}-${infra.id}`;

const charge = (sagaId: string, amount: number, extra: Partial<CommandSpec> = {}, customerId = 'c-1'): CommandSpec => ({
  sagaId,
  step: 'charge-payment',
  direction: 'action',
  pattern: 'payment.charge',
  data: { paymentId: sagaId, customerId, amount },
  ...extra,
});
const refund = (sagaId: string, extra: Partial<CommandSpec> = {}): CommandSpec => ({
  sagaId,
  step: 'charge-payment',
  direction: 'compensation',
  pattern: 'payment.refund',
  data: { paymentId: sagaId },
  ...extra,
});

async function payments(paymentId: string): Promise<{ status: string; amount: string }[]> {
  const { rows } = await infra.db.query('SELECT status, amount::text FROM payments WHERE payment_id = $1', [paymentId]);
  return rows;
}

it('charges and replies the payment', async () => {
  const sagaId = newSaga();
  const correlationId = await infra.amqp.send(queue, charge(sagaId, 250.5));
  const reply = await infra.amqp.reply(correlationId);
  expect(reply.body).toEqual({ response: { paymentId: sagaId, amount: 250.5, status: 'CHARGED' }, isDisposed: true });
  expectBareReplyProperties(reply, correlationId);
  expect(await payments(sagaId)).toEqual([{ status: 'CHARGED', amount: '250.50' }]);
});

it('declines a charge above the default limit and stores no payment', async () => {
  const sagaId = newSaga();
  const reply = await infra.amqp.call(queue, charge(sagaId, 10_000.01));
  expect(reply.classified).toMatchObject({ kind: 'failure', code: 'DECLINED' });
  expect(await payments(sagaId)).toEqual([]);
  expect((await infra.amqp.call(queue, charge(newSaga(), 10_000))).classified.kind).toBe('success');
});

it('applies a per-customer limit from customer_limits', async () => {
  await infra.db.query(`INSERT INTO customer_limits (customer_id, max_amount) VALUES ('vip', 50000), ('tight', 10)`);
  expect((await infra.amqp.call(queue, charge(newSaga(), 40_000, {}, 'vip'))).classified.kind).toBe('success');
  expect((await infra.amqp.call(queue, charge(newSaga(), 11, {}, 'tight'))).classified).toMatchObject({ kind: 'failure', code: 'DECLINED' });
});

it('charges once however often the command is delivered', async () => {
  const sagaId = newSaga();
  const spec = charge(sagaId, 42);
  const first = await infra.amqp.send(queue, spec);
  await infra.amqp.send(queue, spec);
  const retried = await infra.amqp.send(queue, { ...spec, attempt: 2 });
  const replies = [await infra.amqp.reply(first, 1), await infra.amqp.reply(first, 2), await infra.amqp.reply(retried)];
  expect(new Set(replies.map((r) => r.raw)).size).toBe(1);
  expect(await payments(sagaId)).toEqual([{ status: 'CHARGED', amount: '42.00' }]);
});

it('refunds a charge once when it is undone', async () => {
  const sagaId = newSaga();
  await infra.amqp.call(queue, charge(sagaId, 77));
  const undo = await infra.amqp.call(queue, refund(sagaId));
  expect(undo.body).toMatchObject({ response: { paymentId: sagaId, amount: 77, status: 'REFUNDED', refundedAt: expect.any(String) } });
  expect(await payments(sagaId)).toEqual([{ status: 'REFUNDED', amount: '77.00' }]);
  const again = await infra.amqp.call(queue, refund(sagaId, { attempt: 2 }));
  expect(again.raw).toBe(undo.raw);
});

it('records a tombstone for a refund before the charge and never charges later', async () => {
  const sagaId = newSaga();
  const undo = await infra.amqp.call(queue, refund(sagaId));
  expect(undo.body).toEqual({ response: { compensated: false, reason: 'action never applied' }, isDisposed: true });
  const late = await infra.amqp.call(queue, charge(sagaId, 5));
  expect(late.classified).toMatchObject({ kind: 'failure', code: 'ALREADY_COMPENSATED' });
  expect(await payments(sagaId)).toEqual([]);
  const row = await processedRow(infra.db, commandMessageId({ sagaId, step: 'charge-payment', direction: 'action' }));
  expect(row?.outcome).toMatchObject({ kind: 'failure', code: 'ALREADY_COMPENSATED' });
});

it('treats the refund of a declined charge as a no-op', async () => {
  const sagaId = newSaga();
  await infra.amqp.call(queue, charge(sagaId, 99_999));
  const undo = await infra.amqp.call(queue, refund(sagaId));
  expect(undo.body).toMatchObject({ response: { compensated: false, reason: 'action not applied (DECLINED)' } });
});

it('never executes an expired charge', async () => {
  const sagaId = newSaga();
  const reply = await infra.amqp.call(queue, charge(sagaId, 10, { expiresAt: Date.now() - 1 }));
  expect(reply.classified.kind).toBe('expired');
  expect(await payments(sagaId)).toEqual([]);
});

it('dead-letters a command without replyTo and keeps consuming', async () => {
  const body = { pattern: 'payment.charge', data: { paymentId: 'p', customerId: 'c', amount: 1 }, id: 'p/charge-payment/action' };
  infra.amqp.sendRaw(queue, Buffer.from(JSON.stringify(body)), {
    correlationId: 'no-reply-to',
    headers: {
      [SagaHeaders.sagaId]: 'p',
      [SagaHeaders.step]: 'charge-payment',
      [SagaHeaders.direction]: 'action',
      [SagaHeaders.attempt]: 1,
      [SagaHeaders.expiresAt]: Date.now() + 60_000,
    },
  });
  const parked = await infra.amqp.nextDeadLetter();
  expect(String(parked.properties.headers?.[SagaHeaders.deadLetterReason])).toMatch(/replyTo/);
  expect(await payments('p')).toEqual([]);
  expect((await infra.amqp.call(queue, charge(newSaga(), 1))).classified.kind).toBe('success');
});
