/**
 * order and payment status transitions under real concurrency, against real PostgreSQL.
 *
 * Guarantees checked: order.approve and order.reject racing on one order (different steps, so
 * the toolkit's per-step lock does not order them) end with exactly one winner, and the loser
 * answers from the winner's committed status (ORDER_NOT_PENDING naming REJECTED, or
 * ORDER_ALREADY_APPROVED), never an error; two payment.refund handlers racing on one payment
 * (the toolkit's dedupe bypassed) refund it once and both report that same refund.
 */
import { CommandProcessor, controllerHandlers, HandlerRegistry, PARTICIPANT_TOOLKIT_MIGRATIONS, type CompensationHandler } from '#saga/participant';
import { DataSource } from 'typeorm';
import { ORDER_ENTITIES } from '../../apps/order-service/src/entities';
import { CreateOrders1763700000100 } from '../../apps/order-service/src/migrations/1763700000100-CreateOrders';
import { OrderController } from '../../apps/order-service/src/order.controller';
import { PAYMENT_ENTITIES } from '../../apps/payment-service/src/entities';
import { CreatePayments1763700000100 } from '../../apps/payment-service/src/migrations/1763700000100-CreatePayments';
import { PaymentController } from '../../apps/payment-service/src/payment.controller';
import { createTestDatabase, runId } from '../support/infra';
import type { CommandSpec } from './harness';
import { commandMessage } from './processor-harness';

let database: { url: string; drop: () => Promise<void> };
let dataSource: DataSource;
let processor: CommandProcessor;

beforeAll(async () => {
  database = await createTestDatabase(runId(), 'status_races');
  dataSource = new DataSource({
    type: 'postgres',
    url: database.url,
    entities: [...ORDER_ENTITIES, ...PAYMENT_ENTITIES],
    migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS, CreateOrders1763700000100, CreatePayments1763700000100],
    extra: { max: 10 },
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  processor = new CommandProcessor({ dataSource, handlers: new HandlerRegistry(await controllerHandlers([OrderController, PaymentController])) });
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

async function answer(spec: CommandSpec): Promise<string> {
  const result = await processor.process(...commandMessage(spec));
  if (result.kind !== 'reply') throw new Error(`dead-lettered: ${result.reason}`);
  const outcome = result.outcome;
  if (outcome.kind === 'success') return `ok ${(outcome.result as { status: string }).status}`;
  return 'code' in outcome ? `${outcome.kind} ${outcome.code}: ${outcome.message}` : outcome.kind;
}

it('lets exactly one of a racing approve and reject win, the other answering from its outcome', async () => {
  const orders = Array.from({ length: 60 }, (_, index) => `race-order-${index}`);
  for (const orderId of orders) {
    const created = await answer({
      sagaId: orderId,
      step: 'create-order',
      direction: 'action',
      pattern: 'order.create',
      data: { orderId, customerId: 'c', items: [{ sku: 'sku-1', quantity: 1 }], amount: 1 },
    });
    expect(created).toBe('ok PENDING');
  }
  const approve = (orderId: string) => answer({ sagaId: orderId, step: 'approve-order', direction: 'action', pattern: 'order.approve', data: { orderId } });
  const reject = (orderId: string) => answer({ sagaId: orderId, step: 'create-order', direction: 'compensation', pattern: 'order.reject', data: { orderId } });
  const races = await Promise.all(
    orders.map((orderId, index) => Promise.all(index % 2 === 0 ? [approve(orderId), reject(orderId)] : [reject(orderId), approve(orderId)].reverse())),
  );
  const rows: { order_id: string; status: string }[] = await dataSource.query('SELECT order_id, status FROM orders WHERE order_id = ANY ($1::text[])', [orders]);
  const status = new Map(rows.map((row) => [row.order_id, row.status]));
  races.forEach(([approved, rejected], index) => {
    const orderId = orders[index];
    if (status.get(orderId) === 'APPROVED') {
      expect([orderId, approved, rejected]).toEqual([orderId, 'ok APPROVED', `failure ORDER_ALREADY_APPROVED: order ${orderId} is APPROVED and cannot be rejected`]);
    } else {
      expect([orderId, status.get(orderId), approved, rejected]).toEqual([
        orderId,
        'REJECTED',
        `failure ORDER_NOT_PENDING: order ${orderId} is REJECTED, not PENDING`,
        'ok REJECTED',
      ]);
    }
  });
});

it('refunds a payment once when two refunds race, both reporting the same refund', async () => {
  const refund = (await controllerHandlers([PaymentController])).find((handler) => handler.pattern === 'payment.refund') as CompensationHandler;
  const payments = Array.from({ length: 30 }, (_, index) => `race-payment-${index}`);
  for (const paymentId of payments) {
    expect(await answer({ sagaId: paymentId, step: 'charge-payment', direction: 'action', pattern: 'payment.charge', data: { paymentId, customerId: 'c', amount: 12.5 } })).toBe(
      'ok CHARGED',
    );
  }
  const once = (paymentId: string) =>
    dataSource.transaction((manager) =>
      refund.handle(null, {
        sagaId: paymentId,
        step: 'charge-payment',
        attempt: 1,
        messageId: paymentId,
        pattern: 'payment.refund',
        expiresAt: Date.now() + 60_000,
        manager,
        query: (sql, params) => manager.query(sql, params as unknown[]),
        action: { pattern: 'payment.charge', request: {}, result: { paymentId, amount: 12.5, status: 'CHARGED' } },
      }),
    );
  const races = await Promise.all(payments.map((paymentId) => Promise.all([once(paymentId), once(paymentId)])));
  const rows: { payment_id: string; refunded_at: Date }[] = await dataSource.query(
    `SELECT payment_id, refunded_at FROM payments WHERE payment_id = ANY ($1::text[]) AND status = 'REFUNDED'`,
    [payments],
  );
  const refundedAt = new Map(rows.map((row) => [row.payment_id, row.refunded_at.toISOString()]));
  races.forEach(([first, second], index) => {
    const paymentId = payments[index];
    const expected = { kind: 'success', result: { paymentId, amount: 12.5, status: 'REFUNDED', refundedAt: refundedAt.get(paymentId) } };
    expect(first).toEqual(expected);
    expect(second).toEqual(expected);
  });
});
