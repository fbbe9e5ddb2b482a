/**
 * The shipped `place-order` saga: create order → reserve inventory → charge payment → approve.
 *
 * Guarantees: plain data (the same object could be a JSON file); approve-order is the pivot, so
 * once payment is charged the order is approved (retried until it is), never rolled back; every
 * earlier step carries the undo that a later failure needs, in reverse order: refund, release,
 * reject. Timeouts and retries come from the saga's `defaults`; the payment step sets its own,
 * since a card network answers slower than the local services.
 */
import type { SagaDefinition } from '#saga/core';

export const placeOrderSaga: SagaDefinition = {
  name: 'place-order',
  version: 1,
  description: 'Creates an order, reserves its items, charges the customer and approves the order.',
  // An operator looking into an order starts from the customer: GET /sagas?businessKey=<customerId>.
  businessKey: '$.input.customerId',
  inputSchema: {
    type: 'object',
    required: ['customerId', 'items', 'amount'],
    properties: {
      customerId: { type: 'string', minLength: 1, maxLength: 200 },
      items: {
        type: 'array',
        minItems: 1,
        maxItems: 100,
        items: {
          type: 'object',
          required: ['sku', 'quantity'],
          properties: { sku: { type: 'string', minLength: 1, maxLength: 100 }, quantity: { type: 'integer', minimum: 1 } },
          additionalProperties: false,
        },
      },
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
