/**
 * inventory-service's SQL: one statement per command (data-modifying CTEs), run through
 * `saga.query` as prepared statements. The guarantees they keep are listed in
 * inventory.controller.ts; NEW VALUES below explains the one subtle line.
 */
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

/**
 * $1 reservation id, $2 skus (distinct), $3 quantities (bigint: duplicates summed past the int
 * range are simply out of stock). Evaluation order is forced by the data
 * dependencies: `unknown` (plain read) → `reservation` (insert, only when every sku is known)
 * → `locked` (only once the reservation row is ours; rows locked in sku order) → `short` (on the
 * locked values) → stock moves and items (only when nothing is short, only on locked rows).
 * One row per requested sku: its locked `available` (null when not locked), whether it is
 * unknown, and how many rows each write touched.
 */
export const RESERVE_SQL = `
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

export interface ReserveRow {
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
export const RELEASE_SQL = `
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

export interface ReleaseRow {
  released: number;
  moved: number;
  skus: string[];
  quantities: number[];
}
