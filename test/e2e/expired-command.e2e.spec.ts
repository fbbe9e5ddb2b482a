/**
 * Message expiry (docs/semantics.md S3/S4) with the real example participants: the inventory service runs
 * with its clock ten minutes ahead, so every command it receives has already expired by its
 * clock. It refuses each one with EXPIRED and executes nothing (no reservation, stock
 * untouched, nothing stored for dedupe); the orchestrator retries, then fails the step as not
 * applied and undoes only the step before it: no release is ever sent to inventory.
 */
import type { INestApplicationContext } from '@nestjs/common';
import { bootstrapInventoryService } from '../../apps/inventory-service/src/bootstrap';
import { bootstrapOrderService } from '../../apps/order-service/src/bootstrap';
import { TestSystem } from './system-harness';

const SKEW_MS = 10 * 60 * 1000;

describe('an expired command (e2e, real participants, skewed participant clock)', () => {
  let system: TestSystem;
  const services: INestApplicationContext[] = [];

  beforeAll(async () => {
    system = await TestSystem.start({ participants: false });
    const common = { amqpUrl: system.amqpUrl, amqpPrefix: system.prefix };
    services.push(await bootstrapOrderService({ ...common, databaseUrl: system.databases.orders }, { logger: false }));
    services.push(await bootstrapInventoryService({ ...common, databaseUrl: system.databases.inventory }, { logger: false, clock: () => Date.now() + SKEW_MS }));
  });

  afterAll(async () => {
    for (const service of services) await service.close();
    await system?.close();
  });

  it('is refused and never executed; the step is failed as not applied and is not undone', async () => {
    const [stockBefore] = await system.query<{ available: number }>('inventory', "SELECT available FROM stock WHERE sku = 'sku-1'");
    const started = await system.startSaga('place-order', { customerId: 'c-skew', items: [{ sku: 'sku-1', quantity: 2 }], amount: 10 }).expect(202);
    const saga = await system.waitForSaga(started.body.id);

    expect(saga.status).toBe('COMPENSATED');
    expect(saga.steps.map((step) => [step.name, step.status, step.attempt])).toEqual([
      ['create-order', 'COMPENSATED', 1],
      ['reserve-inventory', 'FAILED', 3],
      ['charge-payment', 'PENDING', 0],
      ['approve-order', 'PENDING', 0],
    ]);
    expect(saga.failure).toMatchObject({ step: 'reserve-inventory', type: 'expired', code: 'EXPIRED' });
    expect(saga.exceptions.map((e) => [e.type, e.entry, e.step, e.attempt])).toEqual([
      ['expired', 'REPLY_RECEIVED', 'reserve-inventory', 1],
      ['expired', 'REPLY_RECEIVED', 'reserve-inventory', 2],
      ['expired', 'REPLY_RECEIVED', 'reserve-inventory', 3],
      ['expired', 'STEP_FAILED', 'reserve-inventory', 3],
    ]);
    // Only the order is undone; the inventory step never had a compensation sent.
    const undone = saga.history.filter((h) => h.type === 'COMPENSATION_SENT').map((h) => h.step);
    expect(undone).toEqual(['create-order']);

    // The participant executed nothing and stored nothing for this saga.
    expect(await system.query('inventory', 'SELECT reservation_id FROM reservations WHERE reservation_id = $1', [saga.id])).toEqual([]);
    expect(await system.query('inventory', 'SELECT message_id FROM processed_commands WHERE saga_id = $1', [saga.id])).toEqual([]);
    const [stockAfter] = await system.query<{ available: number }>('inventory', "SELECT available FROM stock WHERE sku = 'sku-1'");
    expect(stockAfter.available).toBe(stockBefore.available);
    const [order] = await system.query<{ status: string }>('orders', 'SELECT status FROM orders WHERE order_id = $1', [saga.id]);
    expect(order.status).toBe('REJECTED');
  });
});
