/**
 * saga-core's own order-like saga and participant catalog for its specs, so the lib's tests
 * never reach into apps/ (and the shipped saga can change without moving these assertions).
 *
 * Shape the specs rely on: four steps create-order → reserve-inventory → charge-payment →
 * approve-order, the last one the pivot without compensation; payloads templated from the
 * input, the saga id and earlier results; saga-level defaults (5 s timeout, 3 attempts from
 * 200 ms, compensations 10 attempts from 500 ms up to 30 s) that only charge-payment overrides
 * (8 s, 3 attempts from 500 ms). Plain data, not yet validated: fixtures.ts validates it.
 */
import type { ParticipantCatalog } from '../definition/participant-catalog';
import type { SagaDefinition } from '../definition/saga-definition';

const positiveQuantityItem = {
  type: 'object',
  required: ['sku', 'quantity'],
  properties: { sku: { type: 'string', minLength: 1, maxLength: 100 }, quantity: { type: 'integer', minimum: 1 } },
  additionalProperties: false,
};

export const orderSaga: SagaDefinition = {
  name: 'place-order',
  version: 1,
  description: 'Test saga: create an order, reserve its items, charge, approve (the pivot).',
  inputSchema: {
    type: 'object',
    required: ['customerId', 'items', 'amount'],
    properties: {
      customerId: { type: 'string', minLength: 1, maxLength: 200 },
      items: { type: 'array', minItems: 1, maxItems: 100, items: positiveQuantityItem },
      amount: { type: 'number', exclusiveMinimum: 0 },
      note: { type: 'string', maxLength: 1000 },
    },
  },
  defaults: {
    timeoutMs: 5_000,
    retry: { maxAttempts: 3, backoff: { initialMs: 200, multiplier: 2, maxMs: 2_000 } },
    compensationRetry: { maxAttempts: 10, backoff: { initialMs: 500, multiplier: 2, maxMs: 30_000 } },
  },
  steps: [
    {
      name: 'create-order',
      action: {
        command: 'order.create',
        payload: { orderId: '$.saga.id', customerId: '$.input.customerId', items: '$.input.items', amount: '$.input.amount' },
      },
      compensation: { command: 'order.reject', payload: { orderId: '$.saga.id' } },
    },
    {
      name: 'reserve-inventory',
      action: { command: 'inventory.reserve', payload: { reservationId: '$.saga.id', items: '$.input.items' } },
      compensation: { command: 'inventory.release', payload: { reservationId: '$.saga.id', reserved: '$.result.items' } },
    },
    {
      name: 'charge-payment',
      action: { command: 'payment.charge', payload: { paymentId: '$.saga.id', customerId: '$.input.customerId', amount: '$.input.amount' } },
      compensation: { command: 'payment.refund', payload: { paymentId: '$.saga.id', charged: '$.result' } },
      timeoutMs: 8_000,
      retry: { maxAttempts: 3, backoff: { initialMs: 500, multiplier: 2, maxMs: 4_000 } },
    },
    {
      name: 'approve-order',
      action: { command: 'order.approve', payload: { orderId: '$.steps.create-order.orderId' } },
      pivot: true,
    },
  ],
};

/** Three participants serving orderSaga's commands, on queues `<prefix>.order|inventory|payment`. */
export function orderCatalog(prefix: string): ParticipantCatalog {
  const participant = (name: string, commands: string[]) => ({ queue: `${prefix}.${name}`, commands: commands.map((c) => `${name}.${c}`) });
  return {
    participants: {
      order: participant('order', ['create', 'reject', 'approve']),
      inventory: participant('inventory', ['reserve', 'release']),
      payment: participant('payment', ['charge', 'refund']),
    },
  };
}
