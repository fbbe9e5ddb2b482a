/**
 * payment-service's saga commands: payment.charge (action) and payment.refund (its undo). An
 * ordinary Nest controller served by SagaTransport.
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
 * - A charge above the customer's limit (customer_limits, else DEFAULT_CHARGE_LIMIT; compared
 *   exactly, as numeric) fails DECLINED, naming the amount and the limit, and stores no payment
 *   (the insert only runs within the limit).
 * - One payment per payment id: a second charge for an existing id fails PAYMENT_EXISTS (checked
 *   after the limit, INSERT ... ON CONFLICT DO NOTHING).
 * - A refund moves CHARGED → REFUNDED once: the row is locked first (under READ COMMITTED the
 *   lock returns the latest committed row) and updated only when CHARGED; refunding again
 *   changes nothing and reports the same refund (amount, status, refundedAt). A missing payment
 *   fails PAYMENT_NOT_FOUND.
 */
import { Controller, UsePipes } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { fail, ok, SagaCompensation, SagaContext, SagaValidationPipe, toDto, type HandlerOutcome } from '#saga/participant';
import type { PaymentStatus } from './entities';
import { ChargeDto, PaymentIdDto } from './payment.dto';

export const DEFAULT_CHARGE_LIMIT = 10_000;

export interface ChargeResult {
  paymentId: string;
  amount: number;
  status: PaymentStatus;
}

export interface RefundResult extends ChargeResult {
  refundedAt: string;
}

export const PaymentCodes = {
  declined: 'DECLINED',
  paymentExists: 'PAYMENT_EXISTS',
  notFound: 'PAYMENT_NOT_FOUND',
} as const;

/**
 * $1 payment id, $2 customer id, $3 amount, $4 default limit. One row: the customer's own limit
 * (null when none), whether the amount is within the limit in force, and whether the payment was
 * inserted (only ever within the limit).
 */
const CHARGE_SQL = `
WITH verdict AS (
  SELECT l.max_amount AS custom, $3::numeric <= COALESCE(l.max_amount, $4::numeric) AS allowed
  FROM (SELECT 1) AS one LEFT JOIN customer_limits l ON l.customer_id = $2::text
), inserted AS (
  INSERT INTO payments (payment_id, customer_id, amount, status)
  SELECT $1::text, $2::text, $3::numeric, 'CHARGED' FROM verdict WHERE allowed
  ON CONFLICT (payment_id) DO NOTHING
  RETURNING payment_id
)
SELECT v.custom::text AS custom, v.allowed, (SELECT count(*) FROM inserted)::int AS inserted FROM verdict v`;

interface ChargeRow {
  custom: string | null;
  allowed: boolean;
  inserted: number;
}

/** $1 payment id. No row when the payment is missing, else one: the payment after the refund. */
const REFUND_SQL = `
WITH current AS MATERIALIZED (
  SELECT p.payment_id, p.amount, p.status, p.refunded_at FROM payments p WHERE p.payment_id = $1 FOR NO KEY UPDATE
), refunded AS (
  UPDATE payments p SET status = 'REFUNDED', refunded_at = now()
  FROM current c
  WHERE p.payment_id = c.payment_id AND c.status = 'CHARGED'
  RETURNING p.payment_id, p.status, p.refunded_at
)
SELECT c.amount::text AS amount, COALESCE(r.status, c.status) AS status, COALESCE(r.refunded_at, c.refunded_at) AS refunded_at
FROM current c LEFT JOIN refunded r ON r.payment_id = c.payment_id`;

interface RefundRow {
  amount: string;
  status: PaymentStatus;
  refunded_at: Date | null;
}

@Controller()
@UsePipes(SagaValidationPipe)
export class PaymentController {
  @MessagePattern('payment.charge')
  async charge(@Payload() command: ChargeDto, @Ctx() saga: SagaContext): Promise<HandlerOutcome<ChargeResult>> {
    const [row] = await saga.query<ChargeRow>(CHARGE_SQL, [command.paymentId, command.customerId, command.amount, DEFAULT_CHARGE_LIMIT]);
    if (!row.allowed) {
      const limit = row.custom === null ? DEFAULT_CHARGE_LIMIT : Number(row.custom);
      return fail(PaymentCodes.declined, `amount ${command.amount} is above the limit ${limit} of customer ${command.customerId}`);
    }
    if (row.inserted === 0) return fail(PaymentCodes.paymentExists, `payment ${command.paymentId} already exists`);
    return ok({ paymentId: command.paymentId, amount: command.amount, status: 'CHARGED' });
  }

  /** Refunds the payment the action made (its stored result). */
  @SagaCompensation('payment.refund', { undoes: 'payment.charge' })
  async refund(@Ctx() saga: SagaContext): Promise<HandlerOutcome<RefundResult>> {
    const { paymentId } = toDto(PaymentIdDto, saga.action.result);
    const [payment] = await saga.query<RefundRow | undefined>(REFUND_SQL, [paymentId]);
    if (!payment || payment.refunded_at === null) return fail(PaymentCodes.notFound, `payment ${paymentId} does not exist`);
    return ok({ paymentId, amount: Number(payment.amount), status: payment.status, refundedAt: payment.refunded_at.toISOString() });
  }
}
