/**
 * The chaos run's effects check: each participant's net effect exactly once per saga, judged
 * against the status each saga ended in (whether that status was allowed is chaos-verdict's
 * question).
 *
 * Why not the bench's check (scripts/bench/consistency.ts): there every compensated saga failed
 * at a known step, so which rows exist is known. Under cancels and timeouts a saga may be rolled
 * back before, while or after any action ran, so a compensated saga may have a row in the undone
 * state or none at all; never a row in the done state.
 *
 * Guarantees: reads only this run's databases; reports every kind of mismatch with a count and
 * at most EXAMPLES saga ids. Checked:
 * - orders: one per COMPLETED saga, APPROVED; a COMPENSATED saga's order REJECTED or absent;
 * - payments: one per COMPLETED saga, CHARGED; a COMPENSATED saga's payment REFUNDED or absent;
 * - reservations: one per COMPLETED saga, RESERVED; a COMPENSATED saga's RELEASED or absent;
 * - no row of any table for a saga the run did not start (or that did not finish);
 * - stock: on_hand - available equals the quantities still reserved, for every sku.
 */
import { stockDrift } from '../bench/consistency';
import { queryRows } from './chaos-sql';

export interface Databases {
  orchestrator: string;
  orders: string;
  inventory: string;
  payments: string;
}

const EXAMPLES = 3;

interface Effects {
  table: string;
  done: string;
  undone: string;
  rows: { id: string; status: string }[];
}

export interface EffectsVerdict {
  /** Every mismatch, readable (empty when every effect is exactly as the statuses demand). */
  problems: string[];
  /** Effects that should not exist: duplicate rows, rows of no finished saga, a compensated
   *  saga's effect left done. */
  doubled: number;
  /** Effects a completed saga lacks, or has in another state. */
  lost: number;
}

export async function checkEffects(databases: Databases, statusOf: ReadonlyMap<string, string>): Promise<EffectsVerdict> {
  const tables: Effects[] = [
    { table: 'orders', done: 'APPROVED', undone: 'REJECTED', rows: await queryRows(databases.orders, 'SELECT order_id AS id, status FROM orders') },
    { table: 'payments', done: 'CHARGED', undone: 'REFUNDED', rows: await queryRows(databases.payments, 'SELECT payment_id AS id, status FROM payments') },
    {
      table: 'reservations',
      done: 'RESERVED',
      undone: 'RELEASED',
      rows: await queryRows(databases.inventory, 'SELECT reservation_id AS id, status FROM reservations'),
    },
  ];
  const problems: string[] = [];
  const counts = { doubled: 0, lost: 0 };
  const report = (what: string, ids: string[], kind: keyof typeof counts) => {
    if (ids.length === 0) return;
    problems.push(`${what}: ${ids.length} (e.g. ${ids.slice(0, EXAMPLES).join(', ')})`);
    counts[kind] += ids.length;
  };
  for (const { table, done, undone, rows: found } of tables) {
    const byId = new Map(found.map((row) => [row.id, row.status]));
    const seen = new Set<string>();
    report(
      `${table}: duplicate rows`,
      found.filter((row) => seen.has(row.id) || !seen.add(row.id)).map((row) => row.id),
      'doubled',
    );
    report(
      `${table}: rows of no finished saga`,
      found.filter((row) => statusOf.get(row.id) !== 'COMPLETED' && statusOf.get(row.id) !== 'COMPENSATED').map((row) => row.id),
      'doubled',
    );
    const completed = [...statusOf].filter(([, status]) => status === 'COMPLETED').map(([id]) => id);
    report(
      `${table}: COMPLETED sagas without a row`,
      completed.filter((id) => !byId.has(id)),
      'lost',
    );
    report(
      `${table}: COMPLETED sagas with a row not ${done}`,
      completed.filter((id) => byId.has(id) && byId.get(id) !== done),
      'lost',
    );
    const compensated = [...statusOf].filter(([, status]) => status === 'COMPENSATED').map(([id]) => id);
    report(
      `${table}: COMPENSATED sagas with a row not ${undone}`,
      compensated.filter((id) => byId.has(id) && byId.get(id) !== undone),
      'doubled',
    );
  }
  problems.push(...(await stockDrift(databases.inventory)));
  return { problems, ...counts };
}
