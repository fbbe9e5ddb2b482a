/**
 * order.create (action), order.reject (its compensation), order.approve (action, no undo).
 *
 * Each command is ONE parameterised SQL statement sent through `context.query` (a prepared statement, parsed once per connection), inside
 * the toolkit's transaction: one round trip, whatever the outcome.
 *
 * Guarantees:
 * - One order per order id; creating an existing order fails ORDER_EXISTS and changes nothing
 *   (INSERT ... ON CONFLICT DO NOTHING).
 * - Status changes only move a PENDING order: the row is locked first (under READ COMMITTED the
 *   lock returns the latest committed status) and updated only when that status is PENDING, so
 *   an approved order is never rejected (the undo fails ORDER_ALREADY_APPROVED and stays
 *   retryable for an operator), a rejected or missing order is never approved
 *   (ORDER_NOT_PENDING, naming the status found or "missing"), and rejecting a rejected order
 *   answers REJECTED again.
 */
import { defineAction, defineCompensation, fail, ok, type CommandContext, type ParticipantHandler } from '#saga/participant';
import { z } from 'zod';
import type { OrderStatus } from './entities';

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

const CREATE_SQL = `
INSERT INTO orders (order_id, customer_id, items, amount, status)
VALUES ($1, $2, $3::jsonb, $4::numeric, 'PENDING')
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id`;

/** $1 order id, $2 target status. One row: the status found (locked; null when missing) and
 *  whether the order moved from PENDING to $2. */
const TRANSITION_SQL = `
WITH current AS MATERIALIZED (
  SELECT o.order_id, o.status FROM orders o WHERE o.order_id = $1 FOR NO KEY UPDATE
), moved AS (
  UPDATE orders o SET status = $2, updated_at = now()
  FROM current c
  WHERE o.order_id = c.order_id AND c.status = 'PENDING'
  RETURNING o.order_id
)
SELECT (SELECT status FROM current) AS found, (SELECT count(*) FROM moved)::int AS moved`;

/** PENDING → `to`; returns the status found when the order was not PENDING. */
async function transition(query: CommandContext['query'], orderId: string, to: OrderStatus): Promise<{ moved: true } | { moved: false; found: OrderStatus | undefined }> {
  const [row]: { found: OrderStatus | null; moved: number }[] = await query(TRANSITION_SQL, [orderId, to]);
  if (row.moved === 1) return { moved: true };
  // The status was read under the row lock: PENDING without a move is a broken invariant. The
  // throw rolls the command back and the toolkit answers it retryable.
  if (row.found === 'PENDING') throw new Error(`order ${orderId} is PENDING but did not move to ${to}`);
  return { moved: false, found: row.found ?? undefined };
}

const create = defineAction('order.create', {
  schema: createOrderSchema,
  handle: async (command: CreateOrderCommand, { query }) => {
    const inserted: unknown[] = await query(CREATE_SQL, [command.orderId, command.customerId, JSON.stringify(command.items), command.amount]);
    if (inserted.length === 0) return fail(OrderCodes.orderExists, `order ${command.orderId} already exists`);
    return ok<OrderResult>({ orderId: command.orderId, status: 'PENDING' });
  },
});

const reject = defineCompensation('order.reject', 'order.create', {
  handle: async (_data: unknown, { query, action }) => {
    const { orderId } = orderIdSchema.parse(action.request);
    const moved = await transition(query, orderId, 'REJECTED');
    if (moved.moved || moved.found === 'REJECTED') return ok<OrderResult>({ orderId, status: 'REJECTED' });
    if (moved.found === 'APPROVED') return fail(OrderCodes.alreadyApproved, `order ${orderId} is APPROVED and cannot be rejected`);
    return fail(OrderCodes.notFound, `order ${orderId} does not exist`);
  },
});

const approve = defineAction('order.approve', {
  schema: orderIdSchema,
  handle: async ({ orderId }: z.infer<typeof orderIdSchema>, { query }) => {
    const moved = await transition(query, orderId, 'APPROVED');
    if (moved.moved) return ok<OrderResult>({ orderId, status: 'APPROVED' });
    return fail(OrderCodes.notPending, `order ${orderId} is ${moved.found ?? 'missing'}, not PENDING`);
  },
});

export function orderHandlers(): ParticipantHandler[] {
  return [create, reject, approve];
}
