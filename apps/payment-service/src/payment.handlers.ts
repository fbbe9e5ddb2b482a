/**
 * payment.charge (action) and payment.refund (its compensation).
 *
 * Guarantees:
 * - A charge above the customer's limit (customer_limits, else DEFAULT_CHARGE_LIMIT) fails
 *   DECLINED and stores no payment.
 * - One payment per payment id: a second charge for an existing id fails PAYMENT_EXISTS.
 * - A refund moves CHARGED → REFUNDED once (conditional update); refunding again changes nothing
 *   and reports the same refund.
 */
import { defineAction, defineCompensation, fail, ok, type ParticipantHandler } from '#saga/participant';
import { z } from 'zod';
import { CustomerLimit, Payment, type PaymentStatus } from './entities';

export const DEFAULT_CHARGE_LIMIT = 10_000;

const cents = (value: number) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6;

export const chargeSchema = z.object({
  paymentId: z.string().min(1),
  customerId: z.string().min(1),
  amount: z.number().positive().lt(1e12).refine(cents, 'at most two decimals'),
});
export type ChargeCommand = z.infer<typeof chargeSchema>;

export interface ChargeResult {
  paymentId: string;
  amount: number;
  status: PaymentStatus;
}

export interface RefundResult extends ChargeResult {
  refundedAt: string;
}

const chargeResultSchema = z.object({ paymentId: z.string(), amount: z.number(), status: z.string() });

export const PaymentCodes = {
  declined: 'DECLINED',
  paymentExists: 'PAYMENT_EXISTS',
  notFound: 'PAYMENT_NOT_FOUND',
} as const;

const charge = defineAction('payment.charge', {
  schema: chargeSchema,
  handle: async (command: ChargeCommand, { manager }) => {
    const custom = await manager.findOne(CustomerLimit, { where: { customerId: command.customerId } });
    const limit = custom?.maxAmount ?? DEFAULT_CHARGE_LIMIT;
    if (command.amount > limit) {
      return fail(PaymentCodes.declined, `amount ${command.amount} is above the limit ${limit} of customer ${command.customerId}`);
    }
    const inserted = await manager
      .createQueryBuilder()
      .insert()
      .into(Payment)
      .values({ paymentId: command.paymentId, customerId: command.customerId, amount: command.amount, status: 'CHARGED', refundedAt: null })
      .orIgnore()
      .returning(['paymentId'])
      .execute();
    if (inserted.raw.length === 0) return fail(PaymentCodes.paymentExists, `payment ${command.paymentId} already exists`);
    return ok<ChargeResult>({ paymentId: command.paymentId, amount: command.amount, status: 'CHARGED' });
  },
});

const refund = defineCompensation('payment.refund', 'payment.charge', {
  handle: async (_data: unknown, { manager, action }) => {
    const { paymentId } = chargeResultSchema.parse(action.result);
    await manager
      .createQueryBuilder()
      .update(Payment)
      .set({ status: 'REFUNDED', refundedAt: () => 'now()' })
      .where('payment_id = :paymentId AND status = :charged', { paymentId, charged: 'CHARGED' })
      .execute();
    const payment = await manager.findOne(Payment, { where: { paymentId } });
    if (!payment || payment.refundedAt === null) return fail(PaymentCodes.notFound, `payment ${paymentId} does not exist`);
    return ok<RefundResult>({ paymentId, amount: payment.amount, status: payment.status, refundedAt: payment.refundedAt.toISOString() });
  },
});

export function paymentHandlers(): ParticipantHandler[] {
  return [charge, refund];
}
