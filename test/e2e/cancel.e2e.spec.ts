/**
 * Cancelling a running saga over REST (docs/semantics.md S2): the step in flight is treated as possibly
 * applied and undone; the participant, which sees the action and then its undo, ends with the
 * order rejected. A second cancel is refused with 409 and recorded in the history.
 */
import type { INestApplicationContext } from '@nestjs/common';
import { bootstrapOrderService } from '../../apps/order-service/src/bootstrap';
import { TestSystem, type SagaBody } from './system-harness';

describe('cancel (e2e)', () => {
  let system: TestSystem;
  let orders: INestApplicationContext | undefined;

  beforeAll(async () => {
    system = await TestSystem.start({ participants: false });
  });

  afterAll(async () => {
    await orders?.close();
    await system?.close();
  });

  it('rolls back the step in flight and refuses a second cancel', async () => {
    const started = await system.startSaga('place-order', { customerId: 'c-9', items: [{ sku: 'sku-1', quantity: 1 }], amount: 40 }).expect(202);
    const id = started.body.id as string;
    const cancelled = await system.http().post(`/sagas/${id}/cancel`).send({ reason: 'customer changed their mind' }).expect(202);
    expect(cancelled.body).toMatchObject({ id, status: 'COMPENSATING' });

    // Only now does the order service run: it finds order.create, then order.reject, queued.
    orders = await bootstrapOrderService({ amqpUrl: system.amqpUrl, amqpPrefix: system.prefix, databaseUrl: system.databases.orders }, { logger: false });
    const saga = await system.waitForSaga(id);
    expect(saga.status).toBe('COMPENSATED');
    expect(saga.history.map((h) => h.type)).toEqual([
      'SAGA_STARTED',
      'COMMAND_SENT',
      'CANCEL_REQUESTED',
      'STEP_OUTCOME_UNKNOWN',
      'COMPENSATION_STARTED',
      'COMPENSATION_SENT',
      'LATE_REPLY_IGNORED', // the action's own reply: applied, but no longer awaited
      'REPLY_RECEIVED',
      'SAGA_COMPENSATED',
    ]);
    expect(saga.history.find((h) => h.type === 'LATE_REPLY_IGNORED')).toMatchObject({ step: 'create-order', direction: 'action', attempt: 1, reason: 'success' });
    expect(saga.history.find((h) => h.type === 'CANCEL_REQUESTED')).toMatchObject({ step: 'create-order', reason: 'customer changed their mind' });
    expect(saga.failure).toEqual({ step: 'create-order', type: 'operator', code: 'CANCELLED', message: 'customer changed their mind' });
    expect(saga.exceptions.map((e) => [e.type, e.entry, e.step])).toEqual([
      ['operator', 'CANCEL_REQUESTED', 'create-order'],
      ['operator', 'STEP_OUTCOME_UNKNOWN', 'create-order'],
      ['late', 'LATE_REPLY_IGNORED', 'create-order'],
    ]);
    const [order] = await system.query('orders', 'SELECT status FROM orders WHERE order_id = $1', [id]);
    expect(order.status).toBe('REJECTED');

    const refused = await system.http().post(`/sagas/${id}/cancel`).send({}).expect(409);
    expect(refused.body).toMatchObject({ message: `saga ${id} cannot be cancelled: saga is COMPENSATED`, status: 'COMPENSATED' });
    const after = (await system.http().get(`/sagas/${id}`).expect(200)).body as SagaBody;
    expect(after.status).toBe('COMPENSATED');
    expect(after.history.at(-1)).toMatchObject({ type: 'CANCEL_REJECTED', failureType: 'operator', reason: 'saga is COMPENSATED' });
    expect(after.exceptions.at(-1)).toMatchObject({ type: 'operator', entry: 'CANCEL_REJECTED', reason: 'saga is COMPENSATED' });
    await system.http().post('/sagas/00000000-0000-4000-8000-000000000000/cancel').send({}).expect(404);
  });
});
