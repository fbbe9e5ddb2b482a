/**
 * inventory-service tables (created by migrations, never synchronized).
 *
 * Guarantees (kept by the schema, so they are checkable in SQL at any time):
 * - stock.available is never negative nor above on_hand;
 * - one reservation row per reservation id (the saga id), items unique per (reservation, sku);
 * - for every sku: on_hand - available = sum of the quantities of RESERVED reservations
 *   (kept by the handlers: each stock move happens in the transaction that changes a reservation).
 */
import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'stock' })
export class StockItem {
  @PrimaryColumn({ type: 'text' })
  sku: string;

  @Column({ name: 'on_hand', type: 'integer' })
  onHand: number;

  @Column({ type: 'integer' })
  available: number;
}

export type ReservationStatus = 'RESERVED' | 'RELEASED';

@Entity({ name: 'reservations' })
export class Reservation {
  @PrimaryColumn({ name: 'reservation_id', type: 'text' })
  reservationId: string;

  @Column({ type: 'text' })
  status: ReservationStatus;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'released_at', type: 'timestamptz', nullable: true })
  releasedAt: Date | null;
}

@Entity({ name: 'reservation_items' })
export class ReservationItem {
  @PrimaryColumn({ name: 'reservation_id', type: 'text' })
  reservationId: string;

  @PrimaryColumn({ type: 'text' })
  sku: string;

  @Column({ type: 'integer' })
  quantity: number;
}

export const INVENTORY_ENTITIES = [StockItem, Reservation, ReservationItem];
