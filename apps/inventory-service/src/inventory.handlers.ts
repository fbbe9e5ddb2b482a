/**
 * inventory.reserve (action) and inventory.release (its compensation).
 *
 * Guarantees:
 * - Stock is decremented with one conditional UPDATE per sku (`available >= quantity`), in sku
 *   order, inside the toolkit's transaction: no lost update and no deadlock between concurrent
 *   reservations, and never a negative stock.
 * - A reservation is all or nothing: an unknown sku (UNKNOWN_SKU) or a short sku (OUT_OF_STOCK,
 *   naming the sku) fails the command and the toolkit discards every write made so far.
 * - One reservation row per reservation id; release restores exactly the stored quantities once
 *   (RESERVED → RELEASED is a conditional update; a second release changes nothing).
 */
import { defineAction, defineCompensation, fail, ok, type ParticipantHandler } from '#saga/participant';
import type { EntityManager } from 'typeorm';
import { z } from 'zod';
import { Reservation, ReservationItem, StockItem } from './entities';

export const reserveSchema = z.object({
  reservationId: z.string().min(1),
  items: z.array(z.object({ sku: z.string().min(1), quantity: z.number().int().positive().max(1_000_000_000) })).min(1),
});
export type ReserveCommand = z.infer<typeof reserveSchema>;

export interface ReservedItem {
  sku: string;
  quantity: number;
}

export interface ReserveResult {
  reservationId: string;
  items: ReservedItem[];
}

const reserveResultSchema = z.object({
  reservationId: z.string(),
  items: z.array(z.object({ sku: z.string(), quantity: z.number().int().positive() })),
});

export const InventoryCodes = {
  unknownSku: 'UNKNOWN_SKU',
  outOfStock: 'OUT_OF_STOCK',
  reservationExists: 'RESERVATION_EXISTS',
} as const;

/** Sums duplicate skus; sorted by sku so concurrent reservations lock rows in the same order. */
function aggregate(items: ReserveCommand['items']): ReservedItem[] {
  const totals = new Map<string, number>();
  for (const { sku, quantity } of items) totals.set(sku, (totals.get(sku) ?? 0) + quantity);
  return [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([sku, quantity]) => ({ sku, quantity }));
}

async function moveStock(manager: EntityManager, sku: string, delta: number): Promise<boolean> {
  const query = manager
    .createQueryBuilder()
    .update(StockItem)
    .set({ available: () => 'available + :delta' })
    .where('sku = :sku', { sku })
    .setParameter('delta', delta);
  if (delta < 0) query.andWhere('available >= :needed', { needed: -delta });
  const result = await query.execute();
  return result.affected === 1;
}

const reserve = defineAction('inventory.reserve', {
  schema: reserveSchema,
  handle: async (command: ReserveCommand, { manager }) => {
    const items = aggregate(command.items);
    const skus = items.map((item) => item.sku);
    const known = await manager.getRepository(StockItem).createQueryBuilder('s').where('s.sku IN (:...skus)', { skus }).getMany();
    const unknown = skus.filter((sku) => !known.some((row) => row.sku === sku));
    if (unknown.length > 0) return fail(InventoryCodes.unknownSku, `unknown sku(s): ${unknown.join(', ')}`);

    const inserted = await manager
      .createQueryBuilder()
      .insert()
      .into(Reservation)
      .values({ reservationId: command.reservationId, status: 'RESERVED', releasedAt: null })
      .orIgnore()
      .returning(['reservationId'])
      .execute();
    if (inserted.raw.length === 0) return fail(InventoryCodes.reservationExists, `reservation ${command.reservationId} already exists`);

    for (const { sku, quantity } of items) {
      if (!(await moveStock(manager, sku, -quantity))) {
        const available = known.find((row) => row.sku === sku)?.available;
        return fail(InventoryCodes.outOfStock, `sku ${sku} is out of stock: ${quantity} requested, ${available ?? 0} available`);
      }
    }
    await manager.insert(
      ReservationItem,
      items.map((item) => ({ reservationId: command.reservationId, ...item })),
    );
    return ok<ReserveResult>({ reservationId: command.reservationId, items });
  },
});

const release = defineCompensation('inventory.release', 'inventory.reserve', {
  handle: async (_data: unknown, { manager, action }) => {
    const { reservationId } = reserveResultSchema.parse(action.result);
    const released = await manager
      .createQueryBuilder()
      .update(Reservation)
      .set({ status: 'RELEASED', releasedAt: () => 'now()' })
      .where('reservation_id = :reservationId AND status = :status', { reservationId, status: 'RESERVED' })
      .execute();
    if (released.affected !== 1) return ok({ reservationId, released: [] as ReservedItem[], alreadyReleased: true });
    const items = await manager.find(ReservationItem, { where: { reservationId }, order: { sku: 'ASC' } });
    for (const { sku, quantity } of items) await moveStock(manager, sku, quantity);
    return ok({ reservationId, released: items.map(({ sku, quantity }) => ({ sku, quantity })), alreadyReleased: false });
  },
});

export function inventoryHandlers(): ParticipantHandler[] {
  return [reserve, release];
}
