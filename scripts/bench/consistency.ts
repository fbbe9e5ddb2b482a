/**
 * The bench's consistency check: after the run, every saga is terminal with the status its
 * input demands, and every participant's effects match the outcomes exactly.
 *
 * Guarantees: reads only the bench's own databases; reports every kind of mismatch it finds
 * (not just the first), each with its count and examples (at most EXAMPLES sagas named per kind,
 * so a long run gone wrong stays readable), so a failed check says what drifted. The saga ids go
 * to PostgreSQL as ONE uuid[] parameter (fine for the ~100k of a 10-minute run); participants'
 * tables are read whole (the bench's own databases hold only this run). Checked, for every saga
 * the run started:
 * - no saga RUNNING/COMPENSATING/COMPENSATION_FAILED; each saga's status is the expected one;
 * - one order per saga: APPROVED (place-order) or PENDING (bench) when completed, REJECTED when
 *   compensated;
 * - payments exactly for the completed sagas, all CHARGED;
 * - reservations RESERVED exactly for the completed sagas, RELEASED for the compensated ones
 *   (but those in `neverReserved`: refused for lack of stock, nothing to release);
 * - stock: on_hand - available equals the quantities still reserved, for every sku.
 */
import { Client } from 'pg';

const EXAMPLES = 5;

export interface ConsistencyResult {
  ok: boolean;
  sagas: number;
  problems: string[];
}

async function rows<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

function sameSet(label: string, actual: string[], expected: string[], problems: string[]): void {
  const want = new Set(expected);
  const have = new Set(actual);
  const missing = expected.filter((id) => !have.has(id));
  const extra = actual.filter((id) => !want.has(id));
  if (actual.length !== have.size) problems.push(`${label}: ${actual.length - have.size} duplicate rows`);
  if (missing.length > 0) problems.push(`${label}: ${missing.length} missing (e.g. ${missing[0]})`);
  if (extra.length > 0) problems.push(`${label}: ${extra.length} unexpected (e.g. ${extra[0]})`);
}

export async function checkConsistency(
  databases: { orchestrator: string; orders: string; inventory: string; payments: string },
  expected: Map<string, 'COMPLETED' | 'COMPENSATED'>,
  completedOrderStatus: 'APPROVED' | 'PENDING',
  /** Compensated sagas whose reservation was refused (out of stock): nothing to release. */
  neverReserved: ReadonlySet<string> = new Set(),
): Promise<ConsistencyResult> {
  const problems: string[] = [];
  // Only this run's sagas: seeded ones (--seed-finished/--seed-waiting) have no participant effects.
  const sagas = await rows<{ id: string; status: string }>(databases.orchestrator, 'SELECT id, status FROM saga_instances WHERE id = ANY($1::uuid[])', [[...expected.keys()]]);
  const statusOf = new Map(sagas.map((saga) => [saga.id, saga.status]));
  const wrong: string[] = [];
  for (const [id, status] of expected) {
    if (statusOf.get(id) !== status) wrong.push(`saga ${id}: ${statusOf.get(id) ?? 'missing'}, expected ${status}`);
  }
  if (wrong.length > 0) problems.push(`${wrong.length} sagas not in their expected status: ${wrong.slice(0, EXAMPLES).join(', ')}${wrong.length > EXAMPLES ? ', …' : ''}`);
  const unfinished = sagas.filter((saga) => saga.status !== 'COMPLETED' && saga.status !== 'COMPENSATED');
  if (unfinished.length > 0) problems.push(`${unfinished.length} sagas not COMPLETED/COMPENSATED (e.g. ${unfinished[0].id} ${unfinished[0].status})`);
  const completed = sagas.filter((saga) => saga.status === 'COMPLETED').map((saga) => saga.id);
  const compensated = sagas.filter((saga) => saga.status === 'COMPENSATED').map((saga) => saga.id);

  const orders = await rows<{ order_id: string; status: string }>(databases.orders, 'SELECT order_id, status FROM orders');
  sameSet(
    'orders',
    orders.map((o) => o.order_id),
    sagas.map((s) => s.id),
    problems,
  );
  const wrongOrders = orders.filter((o) => o.status !== (statusOf.get(o.order_id) === 'COMPLETED' ? completedOrderStatus : 'REJECTED'));
  if (wrongOrders.length > 0) problems.push(`orders: ${wrongOrders.length} in the wrong status (e.g. ${wrongOrders[0].order_id} ${wrongOrders[0].status})`);

  const payments = await rows<{ payment_id: string; status: string }>(databases.payments, 'SELECT payment_id, status FROM payments');
  sameSet(
    'payments',
    payments.map((p) => p.payment_id),
    completed,
    problems,
  );
  if (payments.some((p) => p.status !== 'CHARGED')) problems.push('payments: some are not CHARGED');

  const reservations = await rows<{ reservation_id: string; status: string }>(databases.inventory, 'SELECT reservation_id, status FROM reservations');
  sameSet(
    'reserved',
    reservations.filter((r) => r.status === 'RESERVED').map((r) => r.reservation_id),
    completed,
    problems,
  );
  sameSet(
    'released',
    reservations.filter((r) => r.status === 'RELEASED').map((r) => r.reservation_id),
    compensated.filter((id) => !neverReserved.has(id)),
    problems,
  );
  problems.push(...(await stockDrift(databases.inventory)));
  return { ok: problems.length === 0, sagas: sagas.length, problems };
}

/** Every sku whose on_hand - available differs from the quantities still RESERVED, as problems. */
export async function stockDrift(inventoryUrl: string): Promise<string[]> {
  const drift = await rows<{ sku: string; drift: number }>(
    inventoryUrl,
    `SELECT s.sku, (s.on_hand - s.available - COALESCE(SUM(i.quantity) FILTER (WHERE r.status = 'RESERVED'), 0))::int AS drift
       FROM stock s LEFT JOIN reservation_items i ON i.sku = s.sku LEFT JOIN reservations r ON r.reservation_id = i.reservation_id
      GROUP BY s.sku, s.on_hand, s.available`,
  );
  return drift.filter((row) => row.drift !== 0).map((row) => `stock ${row.sku}: drift ${row.drift}`);
}
