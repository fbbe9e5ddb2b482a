/**
 * inventory-service's saga commands: inventory.reserve (action) and inventory.release (its
 * undo). An ordinary Nest controller served by SagaTransport.
 *
 * What the toolkit guarantees around every method: one (saga id, step) at a time (advisory
 * lock); a redelivered or retried command is answered from its stored outcome, never re-run; an
 * action that arrives after its undo is refused; an expired command is not run; what the method
 * writes through `saga.query`/`saga.manager` commits together with the command's dedupe record,
 * or not at all (discarded on fail()); the reply is confirmed before the message is acked.
 * Return ok()/fail()/retry(); a throw rolls the command back and answers it retryable.
 *
 * Each command is ONE statement (inventory.sql.ts) through `saga.query`: one round trip.
 *
 * Guarantees of the handlers:
 * - A reservation is all or nothing: an unknown sku (UNKNOWN_SKU, listing them), an existing
 *   reservation id (RESERVATION_EXISTS) or a short sku (OUT_OF_STOCK, naming the first short sku,
 *   the quantity requested and the quantity available) fails the command, checked in that order.
 *   Stock moves and items are only written when every sku is known and has enough; the toolkit
 *   also discards the reservation row written before a failure (savepoint).
 * - No lost update, never a negative stock: the stock rows are locked (SELECT ... FOR NO KEY
 *   UPDATE, which returns the latest committed row under READ COMMITTED) before the check, the
 *   check uses those locked values, only locked rows are updated, and the new stock is computed
 *   from the locked value (NEW VALUES in inventory.sql.ts). The CHECK on stock stays the last
 *   line of defence: a violation aborts the command (retryable), it never stores a negative stock.
 * - No deadlock between concurrent reservations and releases, whatever the order of the items:
 *   every statement locks its stock rows in one global order (sku COLLATE "C", the lock is taken
 *   by a LockRows node above the sort) and updates only rows it already locked. A reservation
 *   takes no stock lock before its reservation row is inserted, so two commands contending for
 *   the same reservation id never wait on each other while holding stock.
 * - One reservation row per reservation id; release restores exactly the stored quantities once
 *   (RESERVED → RELEASED is a conditional update; a second release changes nothing).
 */
import { Controller, UsePipes } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { fail, ok, SagaCompensation, SagaContext, SagaValidationPipe, toDto, type HandlerOutcome } from '#saga/participant';
import { ReservationIdDto, ReserveDto } from './inventory.dto';
import { RELEASE_SQL, RESERVE_SQL, type ReleaseRow, type ReserveRow } from './inventory.sql';

export interface ReservedItem {
  sku: string;
  quantity: number;
}

export interface ReserveResult {
  reservationId: string;
  items: ReservedItem[];
}

export interface ReleaseResult {
  reservationId: string;
  released: ReservedItem[];
  alreadyReleased: boolean;
}

export const InventoryCodes = {
  unknownSku: 'UNKNOWN_SKU',
  outOfStock: 'OUT_OF_STOCK',
  reservationExists: 'RESERVATION_EXISTS',
} as const;

/** Sums duplicate skus (a sku appears once per reservation); sorted by sku. */
function aggregate(items: ReserveDto['items']): ReservedItem[] {
  const totals = new Map<string, number>();
  for (const { sku, quantity } of items) totals.set(sku, (totals.get(sku) ?? 0) + quantity);
  return [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([sku, quantity]) => ({ sku, quantity }));
}

@Controller()
@UsePipes(SagaValidationPipe)
export class InventoryController {
  @MessagePattern('inventory.reserve')
  async reserve(@Payload() command: ReserveDto, @Ctx() saga: SagaContext): Promise<HandlerOutcome<ReserveResult>> {
    const items = aggregate(command.items);
    const rows = await saga.query<ReserveRow>(RESERVE_SQL, [command.reservationId, items.map((item) => item.sku), items.map((item) => item.quantity)]);
    const bySku = new Map(rows.map((row) => [row.sku, row]));
    const { inserted, moved, items: written } = rows[0];

    const unknown = items.filter((item) => bySku.get(item.sku)?.unknown);
    if (unknown.length > 0) return fail(InventoryCodes.unknownSku, `unknown sku(s): ${unknown.map((item) => item.sku).join(', ')}`);
    if (inserted === 0) return fail(InventoryCodes.reservationExists, `reservation ${command.reservationId} already exists`);
    for (const { sku, quantity } of items) {
      const available = bySku.get(sku)?.available ?? 0;
      if (available < quantity) return fail(InventoryCodes.outOfStock, `sku ${sku} is out of stock: ${quantity} requested, ${available} available`);
    }
    // Every sku was locked with enough stock: anything else is a broken invariant, not a business
    // outcome. Throwing rolls the whole command back (the toolkit answers it retryable).
    if (moved !== items.length || written !== items.length) throw new Error(`reservation ${command.reservationId}: moved ${moved} and wrote ${written} of ${items.length} skus`);
    return ok({ reservationId: command.reservationId, items });
  }

  /** Releases the reservation the action made (its stored result). */
  @SagaCompensation('inventory.release', { undoes: 'inventory.reserve' })
  async release(@Ctx() saga: SagaContext): Promise<HandlerOutcome<ReleaseResult>> {
    const { reservationId } = toDto(ReservationIdDto, saga.action.result);
    const [row] = await saga.query<ReleaseRow>(RELEASE_SQL, [reservationId]);
    if (row.released !== 1) return ok({ reservationId, released: [], alreadyReleased: true });
    if (row.moved !== row.skus.length) throw new Error(`reservation ${reservationId}: gave back ${row.moved} of ${row.skus.length} skus`);
    const released = row.skus.map((sku, index) => ({ sku, quantity: row.quantities[index] }));
    return ok({ reservationId, released, alreadyReleased: false });
  }
}
