/**
 * A mixed place-order workload for the fault e2e tests (crash, broker restart), and the check
 * that every participant effect matches the saga outcomes exactly: nothing applied twice,
 * nothing left applied for a rolled-back saga.
 *
 * Guarantees: saga i's input and expected outcome depend only on i; the effect check reads the
 * participants' own tables and fails on any drift.
 */
import { waitFor } from '../support/infra';
import { TestSystem } from './system-harness';

export type Kind = 'ok' | 'declined' | 'short';

export const kindOf = (i: number): Kind => (i % 10 === 3 ? 'declined' : i % 10 === 7 ? 'short' : 'ok');

export const expectedStatus = (i: number): string => (kindOf(i) === 'ok' ? 'COMPLETED' : 'COMPENSATED');

export const inputOf = (i: number, tag: string) => ({
  customerId: `${tag}-${i}`,
  items: [{ sku: `sku-${(i % 3) + 1}`, quantity: kindOf(i) === 'short' ? 5_000_000 : (i % 4) + 1 }],
  amount: kindOf(i) === 'declined' ? 25_000 : 10 + i,
});

/** POSTs saga i with Idempotency-Key `<tag>-<i>` to an orchestrator's base URL; returns its id. */
export async function postSaga(baseUrl: string, i: number, tag: string): Promise<string> {
  const response = await fetch(`${baseUrl}/sagas/place-order`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `${tag}-${i}` },
    body: JSON.stringify(inputOf(i, tag)),
  });
  if (response.status !== 202) throw new Error(`POST saga ${i}: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

/**
 * Starts `count` sagas (20 at a time) while no participant runs, so they are all in flight,
 * then the participants, and waits for the first 5 to finish: the moment a fault test strikes.
 */
export async function startWorkloadInFlight(system: TestSystem, count: number, tag: string): Promise<{ baseUrl: string; ids: string[] }> {
  const baseUrl = (await system.orchestrator.getUrl()).replace('[::1]', '127.0.0.1');
  const ids: string[] = [];
  for (let batch = 0; batch < count; batch += 20) {
    ids.push(...(await Promise.all(Array.from({ length: Math.min(20, count - batch) }, (_, k) => postSaga(baseUrl, batch + k, tag)))));
  }
  await system.startParticipants();
  await waitFor(async () => (await countTerminal(system)) >= 5, 'the first sagas to finish', 60_000, 5);
  return { baseUrl, ids };
}

export async function countTerminal(system: TestSystem): Promise<number> {
  const [row] = await system.query<{ n: number }>(
    'orchestrator',
    "SELECT count(*)::int AS n FROM saga_instances WHERE status IN ('COMPLETED','COMPENSATED','COMPENSATION_FAILED')",
  );
  return row.n;
}

/** Every saga ended as its input demands, every participant effect matches exactly, and no
 *  work is left behind. Commands a killed orchestrator had published but not yet deleted stay in
 *  the outbox until the relay re-sends them (OUTBOX_CLAIM_AFTER_MS, 2 s, then its next poll): the
 *  outbox must drain within a bound, and the effects are checked after those repeats arrived. */
export async function expectOutcomesAndEffects(system: TestSystem, ids: string[]): Promise<void> {
  const leftovers = async () =>
    (await system.query<{ n: number }>('orchestrator', 'SELECT ((SELECT count(*) FROM saga_outbox) + (SELECT count(*) FROM saga_timers))::int AS n'))[0].n;
  await waitFor(async () => (await leftovers()) === 0, 'the outbox and timer tables to drain', 15_000);
  const rows = await system.query<{ id: string; status: string }>('orchestrator', 'SELECT id, status FROM saga_instances');
  const statusOf = new Map(rows.map((row) => [row.id, row.status]));
  expect(rows).toHaveLength(ids.length);
  ids.forEach((id, i) => expect([i, statusOf.get(id)]).toEqual([i, expectedStatus(i)]));

  const orders = await system.query<{ order_id: string; status: string }>('orders', 'SELECT order_id, status FROM orders');
  expect(orders).toHaveLength(ids.length);
  for (const order of orders) expect([order.order_id, order.status]).toEqual([order.order_id, statusOf.get(order.order_id) === 'COMPLETED' ? 'APPROVED' : 'REJECTED']);
  const completed = ids.filter((id) => statusOf.get(id) === 'COMPLETED').sort();
  const payments = await system.query<{ payment_id: string; status: string }>('payments', 'SELECT payment_id, status FROM payments');
  expect(payments.map((p) => p.payment_id).sort()).toEqual(completed);
  expect(payments.every((p) => p.status === 'CHARGED')).toBe(true);
  const reserved = await system.query<{ reservation_id: string }>('inventory', "SELECT reservation_id FROM reservations WHERE status = 'RESERVED'");
  expect(reserved.map((r) => r.reservation_id).sort()).toEqual(completed);
  const stock = await system.query<{ sku: string; drift: number }>(
    'inventory',
    `SELECT s.sku, (s.on_hand - s.available - COALESCE(SUM(i.quantity) FILTER (WHERE r.status = 'RESERVED'), 0))::int AS drift
       FROM stock s LEFT JOIN reservation_items i ON i.sku = s.sku LEFT JOIN reservations r ON r.reservation_id = i.reservation_id
      GROUP BY s.sku, s.on_hand, s.available`,
  );
  expect(stock.map((s) => [s.sku, s.drift])).toEqual(stock.map((s) => [s.sku, 0]));
  expect(await leftovers()).toBe(0);
}
