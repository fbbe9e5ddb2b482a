/**
 * order-service against real PostgreSQL and RabbitMQ: create / reject (undo) / approve, with the
 * participant guarantees (dedupe, tombstone, expiry, dead-lettering).
 */
import { commandMessageId, SagaHeaders } from '#saga/core';
import { bootstrapOrderService } from '../../apps/order-service/src/bootstrap';
import { expectBareReplyProperties, openTestInfra, processedRow, type CommandSpec, type TestInfra } from './harness';

let infra: TestInfra;
let queue: string;

beforeAll(async () => {
  infra = await openTestInfra('orders', (c) => bootstrapOrderService({ amqpUrl: c.amqpUrl, amqpPrefix: c.prefix, databaseUrl: c.databaseUrl }, { logger: false }));
  queue = `${infra.prefix}.order`;
});

afterAll(async () => {
  await infra?.cleanup();
});

let sagaCounter = 0;
const newSaga = () => `saga-ord-${++sagaCounter}-${infra.id}`;

function create(sagaId: string, extra: Partial<CommandSpec> = {}): CommandSpec {
  return {
    sagaId,
    step: 'create-order',
    direction: 'action',
    pattern: 'order.create',
    data: { orderId: sagaId, customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 2 }], amount: 99.9 },
    ...extra,
  };
}
const reject = (sagaId: string, extra: Partial<CommandSpec> = {}): CommandSpec => ({
  sagaId,
  step: 'create-order',
  direction: 'compensation',
  pattern: 'order.reject',
  data: { orderId: sagaId },
  ...extra,
});
const approve = (sagaId: string, extra: Partial<CommandSpec> = {}): CommandSpec => ({
  sagaId,
  step: 'approve-order',
  direction: 'action',
  pattern: 'order.approve',
  data: { orderId: sagaId },
  ...extra,
});

async function order(orderId: string): Promise<{ status: string; amount: string; customer_id: string } | undefined> {
  const { rows } = await infra.db.query('SELECT status, amount::text, customer_id FROM orders WHERE order_id = $1', [orderId]);
  return rows[0];
}

it('creates a PENDING order and approves it', async () => {
  const sagaId = newSaga();
  const correlationId = await infra.amqp.send(queue, create(sagaId));
  const created = await infra.amqp.reply(correlationId);
  expect(created.body).toEqual({ response: { orderId: sagaId, status: 'PENDING' }, isDisposed: true });
  expectBareReplyProperties(created, correlationId);
  expect(await order(sagaId)).toEqual({ status: 'PENDING', amount: '99.90', customer_id: 'c-1' });
  const approved = await infra.amqp.call(queue, approve(sagaId));
  expect(approved.body).toEqual({ response: { orderId: sagaId, status: 'APPROVED' }, isDisposed: true });
  expect((await order(sagaId))?.status).toBe('APPROVED');
});

it('rejects the order when the create is undone, and then refuses to approve it', async () => {
  const sagaId = newSaga();
  await infra.amqp.call(queue, create(sagaId));
  const undo = await infra.amqp.call(queue, reject(sagaId));
  expect(undo.body).toEqual({ response: { orderId: sagaId, status: 'REJECTED' }, isDisposed: true });
  expect((await order(sagaId))?.status).toBe('REJECTED');
  const approved = await infra.amqp.call(queue, approve(sagaId));
  expect(approved.classified).toMatchObject({ kind: 'failure', code: 'ORDER_NOT_PENDING' });
  expect((await order(sagaId))?.status).toBe('REJECTED');
});

it('fails ORDER_NOT_PENDING when approving a missing order', async () => {
  const reply = await infra.amqp.call(queue, approve(newSaga()));
  expect(reply.classified).toMatchObject({ kind: 'failure', code: 'ORDER_NOT_PENDING', message: expect.stringContaining('missing') });
});

it('fails INVALID_COMMAND on bad data, stores nothing else, and copies the command to the dead-letter queue', async () => {
  const sagaId = newSaga();
  const reply = await infra.amqp.call(queue, create(sagaId, { data: { orderId: sagaId, customerId: 'c-1', items: [], amount: 1 } }));
  expect(reply.classified).toMatchObject({ kind: 'failure', code: 'INVALID_COMMAND' });
  expect(await order(sagaId)).toBeUndefined();
  const copy = await infra.amqp.nextDeadLetter();
  expect(copy.properties.messageId).toBe(commandMessageId({ sagaId, step: 'create-order', direction: 'action' }));
  expect(copy.properties.headers?.[SagaHeaders.deadLetterReason]).toBe(`payload failed validation (replied INVALID_COMMAND): ${(reply.classified as { message: string }).message}`);
  expect(copy.properties.headers?.[SagaHeaders.deadLetterSource]).toBe(queue);
});

it('creates an order once however often the command is delivered', async () => {
  const sagaId = newSaga();
  const spec = create(sagaId);
  const first = await infra.amqp.send(queue, spec);
  await infra.amqp.send(queue, spec);
  const retried = await infra.amqp.send(queue, { ...spec, attempt: 3 });
  const replies = [await infra.amqp.reply(first, 1), await infra.amqp.reply(first, 2), await infra.amqp.reply(retried)];
  expect(new Set(replies.map((r) => r.raw)).size).toBe(1);
  expect(replies[0].classified.kind).toBe('success');
  const { rows } = await infra.db.query('SELECT count(*)::int AS n FROM orders WHERE order_id = $1', [sagaId]);
  expect(rows[0].n).toBe(1);
});

it('records a tombstone when the reject arrives first and refuses the late create', async () => {
  const sagaId = newSaga();
  const undo = await infra.amqp.call(queue, reject(sagaId));
  expect(undo.body).toEqual({ response: { compensated: false, reason: 'action never applied' }, isDisposed: true });
  const late = await infra.amqp.call(queue, create(sagaId));
  expect(late.classified).toMatchObject({ kind: 'failure', code: 'ALREADY_COMPENSATED' });
  expect(await order(sagaId)).toBeUndefined();
  const tombstone = await processedRow(infra.db, commandMessageId({ sagaId, step: 'create-order', direction: 'compensation' }));
  expect(tombstone?.outcome).toEqual({ kind: 'success', result: { compensated: false, reason: 'action never applied' } });
});

it('never executes an expired create', async () => {
  const sagaId = newSaga();
  const reply = await infra.amqp.call(queue, create(sagaId, { expiresAt: Date.now() - 1000 }));
  expect(reply.body).toMatchObject({ err: { code: 'EXPIRED' } });
  expect(await order(sagaId)).toBeUndefined();
});

it('keeps an undo of an approved order retryable instead of breaking the approval', async () => {
  const sagaId = newSaga();
  await infra.amqp.call(queue, create(sagaId));
  await infra.amqp.call(queue, approve(sagaId));
  const undo = await infra.amqp.call(queue, reject(sagaId));
  expect(undo.classified).toMatchObject({ kind: 'failure', code: 'ORDER_ALREADY_APPROVED' });
  expect((await order(sagaId))?.status).toBe('APPROVED');
  expect(await processedRow(infra.db, commandMessageId({ sagaId, step: 'create-order', direction: 'compensation' }))).toBeUndefined();
});

it('dead-letters a malformed command and keeps consuming', async () => {
  infra.amqp.sendRaw(queue, Buffer.from(JSON.stringify({ pattern: 'order.create', data: {}, id: 'x' })), {
    correlationId: 'bad-1',
    replyTo: infra.amqp.replyQueue,
    headers: {
      [SagaHeaders.sagaId]: 's',
      [SagaHeaders.step]: 'create-order',
      [SagaHeaders.direction]: 'sideways',
      [SagaHeaders.attempt]: 1,
      [SagaHeaders.expiresAt]: Date.now() + 60_000,
    },
  });
  const parked = await infra.amqp.nextDeadLetter();
  expect(String(parked.properties.headers?.[SagaHeaders.deadLetterReason])).toMatch(/x-saga-direction/);
  expect(parked.properties.correlationId).toBe('bad-1');
  expect((await infra.amqp.call(queue, create(newSaga()))).classified.kind).toBe('success');
  expect(infra.amqp.repliesFor('bad-1')).toEqual([]);
});
