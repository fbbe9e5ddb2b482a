/**
 * order-service table (created by migrations, never synchronized).
 *
 * Guarantees: one row per order id (the saga id); status only moves PENDING → APPROVED or
 * PENDING → REJECTED (conditional updates in the handlers; the CHECK keeps the value set closed).
 */
import { Column, Entity, PrimaryColumn, type ValueTransformer } from 'typeorm';

export type OrderStatus = 'PENDING' | 'APPROVED' | 'REJECTED';

export interface OrderLine {
  sku: string;
  quantity: number;
}

/** numeric comes back from pg as a string; amounts are exact to the cent, well within a double. */
export const decimalTransformer: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

@Entity({ name: 'orders' })
export class Order {
  @PrimaryColumn({ name: 'order_id', type: 'text' })
  orderId: string;

  @Column({ name: 'customer_id', type: 'text' })
  customerId: string;

  @Column({ type: 'jsonb' })
  items: OrderLine[];

  @Column({ type: 'numeric', precision: 14, scale: 2, transformer: decimalTransformer })
  amount: number;

  @Column({ type: 'text' })
  status: OrderStatus;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}

export const ORDER_ENTITIES = [Order];
