/**
 * order.create (action), order.reject (its compensation), order.approve (action, no undo).
 *
 * Guarantees:
 * - One order per order id; creating an existing order fails ORDER_EXISTS and changes nothing.
 * - Status changes are conditional updates from PENDING, so an approved order is never rejected
 *   (the undo fails ORDER_ALREADY_APPROVED and stays retryable for an operator) and a rejected or
 *   missing order is never approved (ORDER_NOT_PENDING).
 */
import { defineAction, defineCompensation, fail, ok, type ParticipantHandler } from '#saga/participant';
import type { EntityManager } from 'typeorm';
import { z } from 'zod';
import { Order, type OrderStatus } from './entities';

const cents = (value: number) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6;

export const createOrderSchema = z.object({
  orderId: z.string().min(1),
  customerId: z.string().min(1),
  items: z.array(z.object({ sku: z.string().min(1), quantity: z.number().int().positive() })).min(1),
  amount: z.number().nonnegative().lt(1e12).refine(cents, 'at most two decimals'),
});
export type CreateOrderCommand = z.infer<typeof createOrderSchema>;

export const orderIdSchema = z.object({ orderId: z.string().min(1) });

export interface OrderResult {
  orderId: string;
  status: OrderStatus;
}

export const OrderCodes = {
  orderExists: 'ORDER_EXISTS',
  notPending: 'ORDER_NOT_PENDING',
  alreadyApproved: 'ORDER_ALREADY_APPROVED',
  notFound: 'ORDER_NOT_FOUND',
} as const;

/** PENDING → `to`; returns the status found when the order was not PENDING. */
async function transition(manager: EntityManager, orderId: string, to: OrderStatus): Promise<{ moved: true } | { moved: false; found: OrderStatus | undefined }> {
  const result = await manager
    .createQueryBuilder()
    .update(Order)
    .set({ status: to, updatedAt: () => 'now()' })
    .where('order_id = :orderId AND status = :pending', { orderId, pending: 'PENDING' })
    .execute();
  if (result.affected === 1) return { moved: true };
  const current = await manager.findOne(Order, { where: { orderId } });
  return { moved: false, found: current?.status };
}

const create = defineAction('order.create', {
  schema: createOrderSchema,
  handle: async (command: CreateOrderCommand, { manager }) => {
    const inserted = await manager
      .createQueryBuilder()
      .insert()
      .into(Order)
      .values({ orderId: command.orderId, customerId: command.customerId, items: command.items, amount: command.amount, status: 'PENDING' })
      .orIgnore()
      .returning(['orderId'])
      .execute();
    if (inserted.raw.length === 0) return fail(OrderCodes.orderExists, `order ${command.orderId} already exists`);
    return ok<OrderResult>({ orderId: command.orderId, status: 'PENDING' });
  },
});

const reject = defineCompensation('order.reject', 'order.create', {
  handle: async (_data: unknown, { manager, action }) => {
    const { orderId } = orderIdSchema.parse(action.request);
    const moved = await transition(manager, orderId, 'REJECTED');
    if (moved.moved || moved.found === 'REJECTED') return ok<OrderResult>({ orderId, status: 'REJECTED' });
    if (moved.found === 'APPROVED') return fail(OrderCodes.alreadyApproved, `order ${orderId} is APPROVED and cannot be rejected`);
    return fail(OrderCodes.notFound, `order ${orderId} does not exist`);
  },
});

const approve = defineAction('order.approve', {
  schema: orderIdSchema,
  handle: async ({ orderId }: z.infer<typeof orderIdSchema>, { manager }) => {
    const moved = await transition(manager, orderId, 'APPROVED');
    if (moved.moved) return ok<OrderResult>({ orderId, status: 'APPROVED' });
    return fail(OrderCodes.notPending, `order ${orderId} is ${moved.found ?? 'missing'}, not PENDING`);
  },
});

export function orderHandlers(): ParticipantHandler[] {
  return [create, reject, approve];
}
