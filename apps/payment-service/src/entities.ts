/**
 * payment-service tables (created by migrations, never synchronized).
 *
 * Guarantees: one payment per payment id (the saga id); status only moves CHARGED → REFUNDED,
 * with refunded_at set exactly when REFUNDED; customer_limits optionally overrides the default
 * per-charge limit.
 */
import { Column, Entity, PrimaryColumn, type ValueTransformer } from 'typeorm';

export type PaymentStatus = 'CHARGED' | 'REFUNDED';

/** numeric comes back from pg as a string; amounts are exact to the cent, well within a double. */
export const decimalTransformer: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

@Entity({ name: 'payments' })
export class Payment {
  @PrimaryColumn({ name: 'payment_id', type: 'text' })
  paymentId: string;

  @Column({ name: 'customer_id', type: 'text' })
  customerId: string;

  @Column({ type: 'numeric', precision: 14, scale: 2, transformer: decimalTransformer })
  amount: number;

  @Column({ type: 'text' })
  status: PaymentStatus;

  @Column({ name: 'charged_at', type: 'timestamptz', default: () => 'now()' })
  chargedAt: Date;

  @Column({ name: 'refunded_at', type: 'timestamptz', nullable: true })
  refundedAt: Date | null;
}

@Entity({ name: 'customer_limits' })
export class CustomerLimit {
  @PrimaryColumn({ name: 'customer_id', type: 'text' })
  customerId: string;

  @Column({ name: 'max_amount', type: 'numeric', precision: 14, scale: 2, transformer: decimalTransformer })
  maxAmount: number;
}

export const PAYMENT_ENTITIES = [Payment, CustomerLimit];
