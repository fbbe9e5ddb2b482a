/**
 * inventory.reserve (action) and inventory.release (its compensation).
 *
 * Each command is ONE parameterised SQL statement (data-modifying CTEs) sent through
 * `context.query` (a prepared statement, parsed once per connection), inside the toolkit's transaction: one round trip, whatever the outcome.
 *
 * Guarantees:
 * - A reservation is all or nothing: an unknown sku (UNKNOWN_SKU, listing them), an existing
 *   reservation id (RESERVATION_EXISTS) or a short sku (OUT_OF_STOCK, naming the first short sku,
 *   the quantity requested and the quantity available) fails the command, checked in that order.
 *   Stock moves and items are only written when every sku is known and has enough; the toolkit
 *   also discards the reservation row written before a failure (savepoint).
 * - No lost update, never a negative stock: the stock rows are locked (SELECT ... FOR NO KEY
 *   UPDATE, which returns the latest committed row under READ COMMITTED) before the check, the
 *   check uses those locked values, only locked rows are updated, and the new stock is computed
 *   from the locked value (see NEW VALUES below). The CHECK on stock stays the last line of
 *   defence: a violation aborts the command (retryable), it never stores a negative stock.
 * - No deadlock between concurrent reservations and releases, whatever the order of the items:
 *   every statement locks its stock rows in one global order (sku COLLATE "C", the lock is taken
 *   by a LockRows node above the sort) and updates only rows it already locked. A reservation
 *   takes no stock lock before its reservation row is inserted, so two commands contending for
 *   the same reservation id never wait on each other while holding stock.
 * - One reservation row per reservation id; release restores exactly the stored quantities once
 *   (RESERVED → RELEASED is a conditional update; a second release changes nothing).
 */
import { defineAction, defineCompensation, fail, ok, type ParticipantHandler } from '#saga/participant';
import { z } from 'zod';

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

export interface ReleaseResult {
  reservationId: string;
  released: ReservedItem[];
  alreadyReleased: boolean;
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

/*
 * NEW VALUES: `SET available = l.available ± quantity` (l = the locked row), NOT `s.available ±
 * quantity`. Every part of a statement reads one snapshot; when a stock row was changed by a
 * transaction that committed after it, the UPDATE first builds the new row from the snapshot's
 * stale version and checks the table's CHECK constraints on it, and only then finds the newer
 * version and redoes the row from it (EvalPlanQual). Built from the stale version, a correct
 * reservation could be refused by `available >= 0` (or a release by `available <= on_hand`).
 * The locked value is the latest committed version, which no one else can change before we
 * commit, so it is right on both passes (inventory-concurrency.spec.ts races exactly this).
 */

/** Sums duplicate skus (a sku appears once per reservation); sorted by sku. */
function aggregate(items: ReserveCommand['items']): ReservedItem[] {
  const totals = new Map<string, number>();
  for (const { sku, quantity } of items) totals.set(sku, (totals.get(sku) ?? 0) + quantity);
  return [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([sku, quantity]) => ({ sku, quantity }));
}

/**
 * $1 reservation id, $2 skus (distinct), $3 quantities (bigint: duplicates summed past the int
 * range are simply out of stock). Evaluation order is forced by the data
 * dependencies: `unknown` (plain read) → `reservation` (insert, only when every sku is known)
 * → `locked` (only once the reservation row is ours; rows locked in sku order) → `short` (on the
 * locked values) → stock moves and items (only when nothing is short, only on locked rows).
 * One row per requested sku: its locked `available` (null when not locked), whether it is
 * unknown, and how many rows each write touched.
 */
const RESERVE_SQL = `
WITH requested AS (
  SELECT sku, quantity FROM unnest($2::text[], $3::bigint[]) AS r (sku, quantity)
), unknown AS (
  SELECT q.sku FROM requested q WHERE NOT EXISTS (SELECT 1 FROM stock s WHERE s.sku = q.sku)
), reservation AS (
  INSERT INTO reservations (reservation_id, status)
  SELECT $1::text, 'RESERVED' WHERE NOT EXISTS (SELECT 1 FROM unknown)
  ON CONFLICT (reservation_id) DO NOTHING
  RETURNING reservation_id
), locked AS MATERIALIZED (
  SELECT s.sku, s.available FROM stock s
  WHERE s.sku = ANY ($2::text[]) AND EXISTS (SELECT 1 FROM reservation)
  ORDER BY s.sku COLLATE "C"
  FOR NO KEY UPDATE OF s
), short AS (
  SELECT q.sku FROM requested q JOIN locked l ON l.sku = q.sku WHERE l.available < q.quantity
), moved AS (
  UPDATE stock s SET available = l.available - q.quantity
  FROM requested q JOIN locked l ON l.sku = q.sku
  WHERE s.sku = q.sku AND NOT EXISTS (SELECT 1 FROM short)
  RETURNING s.sku
), items AS (
  INSERT INTO reservation_items (reservation_id, sku, quantity)
  SELECT r.reservation_id, q.sku, q.quantity FROM reservation r CROSS JOIN requested q
  WHERE NOT EXISTS (SELECT 1 FROM short)
  RETURNING sku
)
SELECT q.sku, l.available, u.sku IS NOT NULL AS unknown,
       (SELECT count(*) FROM reservation)::int AS inserted,
       (SELECT count(*) FROM moved)::int AS moved,
       (SELECT count(*) FROM items)::int AS items
FROM requested q LEFT JOIN locked l ON l.sku = q.sku LEFT JOIN unknown u ON u.sku = q.sku`;

interface ReserveRow {
  sku: string;
  available: number | null;
  unknown: boolean;
  inserted: number;
  moved: number;
  items: number;
}

/**
 * $1 reservation id. RESERVED → RELEASED, then its items' stock rows are locked in sku order
 * and given back. One row: whether the reservation moved, how many stock rows moved, and the
 * items (sorted by sku), empty when nothing was released.
 */
const RELEASE_SQL = `
WITH released AS (
  UPDATE reservations SET status = 'RELEASED', released_at = now()
  WHERE reservation_id = $1 AND status = 'RESERVED'
  RETURNING reservation_id
), held AS (
  SELECT i.sku, i.quantity FROM reservation_items i JOIN released r ON r.reservation_id = i.reservation_id
), locked AS MATERIALIZED (
  SELECT s.sku, s.available FROM stock s
  WHERE s.sku IN (SELECT sku FROM held)
  ORDER BY s.sku COLLATE "C"
  FOR NO KEY UPDATE OF s
), moved AS (
  UPDATE stock s SET available = l.available + h.quantity
  FROM held h JOIN locked l ON l.sku = h.sku
  WHERE s.sku = h.sku
  RETURNING s.sku
)
SELECT (SELECT count(*) FROM released)::int AS released,
       (SELECT count(*) FROM moved)::int AS moved,
       COALESCE((SELECT array_agg(sku ORDER BY sku) FROM held), '{}') AS skus,
       COALESCE((SELECT array_agg(quantity ORDER BY sku) FROM held), '{}') AS quantities`;

interface ReleaseRow {
  released: number;
  moved: number;
  skus: string[];
  quantities: number[];
}

const reserve = defineAction('inventory.reserve', {
  schema: reserveSchema,
  handle: async (command: ReserveCommand, { query }) => {
    const items = aggregate(command.items);
    const rows: ReserveRow[] = await query(RESERVE_SQL, [command.reservationId, items.map((item) => item.sku), items.map((item) => item.quantity)]);
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
    return ok<ReserveResult>({ reservationId: command.reservationId, items });
  },
});

const release = defineCompensation('inventory.release', 'inventory.reserve', {
  handle: async (_data: unknown, { query, action }) => {
    const { reservationId } = reserveResultSchema.parse(action.result);
    const [row]: ReleaseRow[] = await query(RELEASE_SQL, [reservationId]);
    if (row.released !== 1) return ok<ReleaseResult>({ reservationId, released: [], alreadyReleased: true });
    if (row.moved !== row.skus.length) throw new Error(`reservation ${reservationId}: gave back ${row.moved} of ${row.skus.length} skus`);
    const released = row.skus.map((sku, index) => ({ sku, quantity: row.quantities[index] }));
    return ok<ReleaseResult>({ reservationId, released, alreadyReleased: false });
  },
});

export function inventoryHandlers(): ParticipantHandler[] {
  return [reserve, release];
}
