/**
 * Pins what the example participants' handlers cost the database per command, against real
 * PostgreSQL: the statements each handler sends (the toolkit's own two round trips are pinned in
 * toolkit-round-trips.spec.ts and not counted here), for the happy path and every failure path.
 *
 * Guarantees checked: every order.*, inventory.* and payment.* handler sends ONE statement per
 * command, whatever its outcome, and still answers exactly what the service specs expect.
 */
import type { Direction } from '#saga/core';
import { CommandProcessor, controllerHandlers, HandlerRegistry, PARTICIPANT_TOOLKIT_MIGRATIONS, type ParticipantHandler, type ProcessResult } from '#saga/participant';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { INVENTORY_ENTITIES } from '../../apps/inventory-service/src/entities';
import { InventoryController } from '../../apps/inventory-service/src/inventory.controller';
import { CreateInventory1763700000100 } from '../../apps/inventory-service/src/migrations/1763700000100-CreateInventory';
import { SeedStock1763700000200 } from '../../apps/inventory-service/src/migrations/1763700000200-SeedStock';
import { ORDER_ENTITIES } from '../../apps/order-service/src/entities';
import { CreateOrders1763700000100 } from '../../apps/order-service/src/migrations/1763700000100-CreateOrders';
import { OrderController } from '../../apps/order-service/src/order.controller';
import { PAYMENT_ENTITIES } from '../../apps/payment-service/src/entities';
import { CreatePayments1763700000100 } from '../../apps/payment-service/src/migrations/1763700000100-CreatePayments';
import { PaymentController } from '../../apps/payment-service/src/payment.controller';
import { createTestDatabase, runId } from '../support/infra';
import type { CommandSpec } from './harness';
import { commandMessage, RoundTrips } from './processor-harness';

let database: { url: string; drop: () => Promise<void> };
let dataSource: DataSource;
let db: Client;
let roundTrips: RoundTrips;
let processor: CommandProcessor;
/** The statements the last handler sent. */
let handlerQueries: string[] = [];

/** The same handlers, each recording the statements it sends while it runs. */
function counted(handlers: ParticipantHandler[]): ParticipantHandler[] {
  return handlers.map((handler) => ({
    ...handler,
    handle: async (data: unknown, context: never) => {
      const start = roundTrips.texts.length;
      try {
        return await (handler.handle as (d: unknown, c: unknown) => Promise<never>)(data, context);
      } finally {
        handlerQueries = roundTrips.texts.slice(start);
      }
    },
  })) as ParticipantHandler[];
}

beforeAll(async () => {
  // One database holds the three services' tables (their names do not clash).
  database = await createTestDatabase(runId(), 'example_round_trips');
  dataSource = new DataSource({
    type: 'postgres',
    url: database.url,
    entities: [...ORDER_ENTITIES, ...INVENTORY_ENTITIES, ...PAYMENT_ENTITIES],
    migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS, CreateOrders1763700000100, CreateInventory1763700000100, SeedStock1763700000200, CreatePayments1763700000100],
    extra: { max: 1 },
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  db = new Client({ connectionString: database.url });
  await db.connect();
  roundTrips = RoundTrips.watch(db);
  processor = new CommandProcessor({ dataSource, handlers: new HandlerRegistry(counted(await controllerHandlers([OrderController, InventoryController, PaymentController]))) });
});

afterAll(async () => {
  roundTrips?.stop();
  await dataSource?.destroy();
  await db?.end();
  await database?.drop();
});

let counter = 0;
const saga = () => `ex-${++counter}`;
const spec = (sagaId: string, step: string, direction: Direction, pattern: string, data: unknown): CommandSpec => ({ sagaId, step, direction, pattern, data });

/** Runs one command; returns what it answered and how many statements its handler sent. */
async function run(command: CommandSpec): Promise<{ answer: string; statements: number }> {
  handlerQueries = [];
  const result: ProcessResult = await processor.process(...commandMessage(command));
  if (result.kind !== 'reply') throw new Error(`dead-lettered: ${result.reason}`);
  const outcome = result.outcome;
  const answer = outcome.kind === 'success' ? 'ok' : outcome.kind === 'failure' || outcome.kind === 'retryable' ? `${outcome.kind} ${outcome.code}` : outcome.kind;
  return { answer, statements: handlerQueries.length };
}

it('sends one statement per command on every path', async () => {
  const counts: Record<string, [string, number]> = {};
  const measure = async (name: string, command: CommandSpec) => {
    const { answer, statements } = await run(command);
    counts[name] = [answer, statements];
  };

  // order-service
  const order = (sagaId: string, orderId = sagaId) =>
    spec(sagaId, 'create-order', 'action', 'order.create', { orderId, customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 2 }], amount: 99.9 });
  const approve = (sagaId: string, orderId = sagaId) => spec(sagaId, 'approve-order', 'action', 'order.approve', { orderId });
  const reject = (sagaId: string) => spec(sagaId, 'create-order', 'compensation', 'order.reject', { orderId: sagaId });
  const o1 = saga();
  await measure('order.create', order(o1));
  await measure('order.create (exists)', order(saga(), o1));
  await measure('order.approve', approve(o1));
  await measure('order.approve (not pending)', approve(saga(), o1));
  await measure('order.approve (missing)', approve(saga()));
  await measure('order.reject (approved)', reject(o1));
  const o2 = saga();
  await run(order(o2));
  await measure('order.reject', reject(o2));

  // inventory-service
  const reserve = (sagaId: string, items: { sku: string; quantity: number }[], reservationId = sagaId) =>
    spec(sagaId, 'reserve-stock', 'action', 'inventory.reserve', { reservationId, items });
  const release = (sagaId: string) => spec(sagaId, 'reserve-stock', 'compensation', 'inventory.release', { reservationId: sagaId });
  const r1 = saga();
  await measure(
    'inventory.reserve (3 skus)',
    reserve(r1, [
      { sku: 'sku-3', quantity: 1 },
      { sku: 'sku-1', quantity: 2 },
      { sku: 'sku-2', quantity: 3 },
    ]),
  );
  await measure(
    'inventory.reserve (unknown sku)',
    reserve(saga(), [
      { sku: 'sku-1', quantity: 1 },
      { sku: 'sku-404', quantity: 1 },
    ]),
  );
  await measure(
    'inventory.reserve (out of stock)',
    reserve(saga(), [
      { sku: 'sku-1', quantity: 1 },
      { sku: 'sku-2', quantity: 2_000_000 },
    ]),
  );
  await measure('inventory.reserve (exists)', reserve(saga(), [{ sku: 'sku-1', quantity: 1 }], r1));
  await measure('inventory.release (3 skus)', release(r1));

  // payment-service
  const charge = (sagaId: string, amount: number, paymentId = sagaId) => spec(sagaId, 'charge-payment', 'action', 'payment.charge', { paymentId, customerId: 'c-1', amount });
  const p1 = saga();
  await measure('payment.charge', charge(p1, 50));
  await measure('payment.charge (declined)', charge(saga(), 10_000.01));
  await measure('payment.charge (exists)', charge(saga(), 5, p1));
  await measure('payment.refund', spec(p1, 'charge-payment', 'compensation', 'payment.refund', { paymentId: p1 }));

  if (process.env.PRINT_ROUND_TRIPS)
    console.log(
      Object.entries(counts)
        .map(([name, [answer, n]]) => `${name.padEnd(34)} ${answer.padEnd(36)} ${n}`)
        .join('\n'),
    );
  expect(counts).toEqual({
    'order.create': ['ok', 1],
    'order.create (exists)': ['failure ORDER_EXISTS', 1],
    'order.approve': ['ok', 1],
    'order.approve (not pending)': ['failure ORDER_NOT_PENDING', 1],
    'order.approve (missing)': ['failure ORDER_NOT_PENDING', 1],
    'order.reject (approved)': ['failure ORDER_ALREADY_APPROVED', 1],
    'order.reject': ['ok', 1],
    'inventory.reserve (3 skus)': ['ok', 1],
    'inventory.reserve (unknown sku)': ['failure UNKNOWN_SKU', 1],
    'inventory.reserve (out of stock)': ['failure OUT_OF_STOCK', 1],
    'inventory.reserve (exists)': ['failure RESERVATION_EXISTS', 1],
    'inventory.release (3 skus)': ['ok', 1],
    'payment.charge': ['ok', 1],
    'payment.charge (declined)': ['failure DECLINED', 1],
    'payment.charge (exists)': ['failure PAYMENT_EXISTS', 1],
    'payment.refund': ['ok', 1],
  });
});
