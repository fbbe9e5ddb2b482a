/**
 * order-service's saga commands: order.create (action), order.reject (its undo), order.approve
 * (action, no undo; the pivot). An ordinary Nest controller served by SagaTransport.
 *
 * What the toolkit guarantees around every method: one (saga id, step) at a time (advisory
 * lock); a redelivered or retried command is answered from its stored outcome, never re-run; an
 * action that arrives after its undo is refused; an expired command is not run; what the method
 * writes through `saga.query`/`saga.manager` commits together with the command's dedupe record,
 * or not at all (discarded on fail()); the reply is confirmed before the message is acked.
 * Return ok()/fail()/retry(); a throw rolls the command back and answers it retryable.
 *
 * Each command is ONE parameterised SQL statement through `saga.query` (a prepared statement,
 * parsed once per connection): one round trip, whatever the outcome.
 *
 * Guarantees of the handlers:
 * - One order per order id; creating an existing order fails ORDER_EXISTS and changes nothing
 *   (INSERT ... ON CONFLICT DO NOTHING).
 * - Status changes only move a PENDING order: the row is locked first (under READ COMMITTED the
 *   lock returns the latest committed status) and updated only when that status is PENDING, so
 *   an approved order is never rejected (the undo fails ORDER_ALREADY_APPROVED and stays
 *   retryable for an operator), a rejected or missing order is never approved
 *   (ORDER_NOT_PENDING, naming the status found or "missing"), and rejecting a rejected order
 *   answers REJECTED again.
 */
import { Controller, UsePipes } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { fail, ok, SagaCompensation, SagaContext, SagaValidationPipe, toDto, type HandlerOutcome } from '#saga/participant';
import type { OrderStatus } from './entities';
import { CreateOrderDto, OrderIdDto } from './order.dto';

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
async function transition(saga: SagaContext, orderId: string, to: OrderStatus): Promise<{ moved: true } | { moved: false; found: OrderStatus | undefined }> {
  const [row] = await saga.query<{ found: OrderStatus | null; moved: number }>(TRANSITION_SQL, [orderId, to]);
  if (row.moved === 1) return { moved: true };
  // The status was read under the row lock: PENDING without a move is a broken invariant. The
  // throw rolls the command back and the toolkit answers it retryable.
  if (row.found === 'PENDING') throw new Error(`order ${orderId} is PENDING but did not move to ${to}`);
  return { moved: false, found: row.found ?? undefined };
}

@Controller()
@UsePipes(SagaValidationPipe)
export class OrderController {
  @MessagePattern('order.create')
  async create(@Payload() command: CreateOrderDto, @Ctx() saga: SagaContext): Promise<HandlerOutcome<OrderResult>> {
    const inserted = await saga.query(CREATE_SQL, [command.orderId, command.customerId, JSON.stringify(command.items), command.amount]);
    if (inserted.length === 0) return fail(OrderCodes.orderExists, `order ${command.orderId} already exists`);
    return ok({ orderId: command.orderId, status: 'PENDING' });
  }

  /** The order to reject is the one the action created (its stored request; a request that
   *  does not name one throws: rolled back, answered retryable). */
  @SagaCompensation('order.reject', { undoes: 'order.create' })
  async reject(@Ctx() saga: SagaContext): Promise<HandlerOutcome<OrderResult>> {
    const { orderId } = toDto(OrderIdDto, saga.action.request);
    const moved = await transition(saga, orderId, 'REJECTED');
    if (moved.moved || moved.found === 'REJECTED') return ok({ orderId, status: 'REJECTED' });
    if (moved.found === 'APPROVED') return fail(OrderCodes.alreadyApproved, `order ${orderId} is APPROVED and cannot be rejected`);
    return fail(OrderCodes.notFound, `order ${orderId} does not exist`);
  }

  @MessagePattern('order.approve')
  async approve(@Payload() { orderId }: OrderIdDto, @Ctx() saga: SagaContext): Promise<HandlerOutcome<OrderResult>> {
    const moved = await transition(saga, orderId, 'APPROVED');
    if (moved.moved) return ok({ orderId, status: 'APPROVED' });
    return fail(OrderCodes.notPending, `order ${orderId} is ${moved.found ?? 'missing'}, not PENDING`);
  }
}
