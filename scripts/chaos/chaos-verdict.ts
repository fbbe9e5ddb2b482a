/**
 * The chaos run's verdict, read once the system drained: the invariants (each a row of the
 * table, PASS or FAIL with what it saw) and the figures (lost, doubled, recovery times).
 *
 * Guarantees: reads only this run's databases and the run's own cluster; every invariant is
 * evaluated (a failure does not hide the others); `lost` counts accepted starts whose saga is
 * missing or not terminal; `doubled` counts sagas beyond one per Idempotency-Key plus duplicate
 * participant effects; the effects check is the bench's (scripts/bench/consistency.ts: orders,
 * reservations − releases, charges − refunds, stock drift, against each saga's expected status).
 */
import { Client } from 'pg';
import { checkConsistency } from '../bench/consistency';
import { ctl, type Cluster } from '../cluster/local-cluster';
import type { FaultRecord } from './chaos-faults';
import type { Accepted } from './chaos-load';
import { expectedStatus, kindOf } from './chaos-load';

export interface Databases {
  orchestrator: string;
  orders: string;
  inventory: string;
  payments: string;
}

export interface Invariant {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Verdict {
  invariants: Invariant[];
  lost: number;
  doubled: number;
  finished: number;
  deadLetters: number;
  /** Per fault kind: ms from the fault until the first saga accepted after it finished. */
  recoveryMs: Record<string, { count: number; p50: number | null; p99: number | null }>;
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

export async function leftovers(databases: Databases): Promise<number> {
  const [row] = await rows<{ n: number }>(databases.orchestrator, 'SELECT ((SELECT count(*) FROM saga_outbox) + (SELECT count(*) FROM saga_timers))::int AS n');
  return row.n;
}

export async function unfinished(databases: Databases): Promise<number> {
  const [row] = await rows<{ n: number }>(databases.orchestrator, "SELECT count(*)::int AS n FROM saga_instances WHERE status NOT IN ('COMPLETED','COMPENSATED')");
  return row.n;
}

export interface QueueDepth {
  name: string;
  ready: number;
  unacked: number;
}

/** Every queue of the cluster's `/` vhost with its ready and unacknowledged messages (asked of the first node that answers). */
export async function queueDepths(cluster: Cluster): Promise<QueueDepth[]> {
  let last: unknown;
  for (const node of cluster.nodes) {
    try {
      const rows = JSON.parse(
        await ctl(cluster.dir, node, ['list_queues', '-q', '-p', '/', 'name', 'messages_ready', 'messages_unacknowledged', '--formatter', 'json'], 15_000),
      ) as {
        name: string;
        messages_ready: number;
        messages_unacknowledged: number;
      }[];
      return rows.map((row) => ({ name: row.name, ready: row.messages_ready, unacked: row.messages_unacknowledged }));
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]);

export async function judge(
  databases: Databases,
  cluster: Cluster,
  accepted: Accepted[],
  faults: FaultRecord[],
  expectedDeadLetters: number,
  deadLetterQueue: string,
): Promise<Verdict> {
  const invariants: Invariant[] = [];
  const sagas = await rows<{ id: string; status: string; key: string; done: Date }>(
    databases.orchestrator,
    'SELECT id, status, idempotency_key AS key, updated_at AS done FROM saga_instances',
  );
  const byId = new Map(sagas.map((saga) => [saga.id, saga]));
  const terminal = (status: string | undefined) => status === 'COMPLETED' || status === 'COMPENSATED';

  const lostIds = accepted.filter((a) => !terminal(byId.get(a.id)?.status));
  const acceptedIds = new Set(accepted.map((a) => a.id));
  const extraSagas = sagas.filter((saga) => !acceptedIds.has(saga.id)).length;
  const keys = new Map<string, number>();
  for (const saga of sagas) keys.set(saga.key, (keys.get(saga.key) ?? 0) + 1);
  const keyDoubles = [...keys.values()].reduce((sum, n) => sum + (n - 1), 0);
  invariants.push({
    name: 'every accepted saga terminal',
    ok: lostIds.length === 0,
    detail: `${accepted.length - lostIds.length}/${accepted.length}${lostIds.length ? `; e.g. ${lostIds[0].id} ${byId.get(lostIds[0].id)?.status ?? 'missing'}` : ''}`,
  });
  const wrong = accepted.filter((a) => terminal(byId.get(a.id)?.status) && byId.get(a.id)!.status !== expectedStatus(a.index));
  invariants.push({
    name: 'status as the input demands',
    ok: wrong.length === 0,
    detail: wrong.length === 0 ? 'all' : `${wrong.length} wrong, e.g. ${wrong[0].id} ${byId.get(wrong[0].id)!.status}`,
  });
  invariants.push({ name: 'one saga per Idempotency-Key', ok: extraSagas === 0 && keyDoubles === 0, detail: `${sagas.length} sagas for ${accepted.length} accepted starts` });

  const expected = new Map(accepted.map((a) => [a.id, expectedStatus(a.index)] as const));
  const outOfStock = new Set(accepted.filter((a) => kindOf(a.index) === 'short').map((a) => a.id));
  const consistency = await checkConsistency(databases, expected, 'APPROVED', outOfStock);
  const duplicateEffects = consistency.problems.filter((problem) => /duplicate|unexpected/.test(problem)).length;
  invariants.push({
    name: 'each effect exactly once per saga',
    ok: consistency.ok,
    detail: consistency.ok ? 'orders, reservations, charges, stock' : consistency.problems.join('; '),
  });

  // Compensations in reverse order, each step compensated at most once (history).
  const compensations = await rows<{ saga_id: string; steps: number[] }>(
    databases.orchestrator,
    `SELECT h.saga_id, array_agg(s.position ORDER BY h.id) AS steps
       FROM saga_history h JOIN saga_steps s ON s.saga_id = h.saga_id AND s.name = h.step
      WHERE h.type = 'COMPENSATION_SENT' GROUP BY h.saga_id`,
  );
  const outOfOrder = compensations.filter(({ steps }) => {
    const firsts = steps.filter((position, k) => steps.indexOf(position) === k);
    return firsts.some((position, k) => k > 0 && position >= firsts[k - 1]);
  });
  const [{ n: twice }] = await rows<{ n: number }>(
    databases.orchestrator,
    "SELECT count(*)::int AS n FROM (SELECT saga_id, step FROM saga_history WHERE type = 'COMPENSATION_SENT' GROUP BY saga_id, step, attempt HAVING count(*) > 1) x",
  );
  invariants.push({
    name: 'compensations in reverse order',
    ok: outOfOrder.length === 0 && twice === 0,
    detail: `${compensations.length} sagas compensated${outOfOrder.length ? `; ${outOfOrder.length} out of order, e.g. ${outOfOrder[0].saga_id}` : ''}${twice ? `; ${twice} compensation attempts sent twice` : ''}`,
  });

  // History: one start, one terminal record matching the status.
  const history = await rows<{ id: string; status: string; started: number; completed: number; compensated: number }>(
    databases.orchestrator,
    `SELECT i.id, i.status,
            count(*) FILTER (WHERE h.type = 'SAGA_STARTED')::int AS started,
            count(*) FILTER (WHERE h.type = 'SAGA_COMPLETED')::int AS completed,
            count(*) FILTER (WHERE h.type = 'SAGA_COMPENSATED')::int AS compensated
       FROM saga_instances i LEFT JOIN saga_history h ON h.saga_id = i.id GROUP BY i.id, i.status`,
  );
  const badHistory = history.filter((h) => h.started !== 1 || h.completed + h.compensated !== 1 || (h.status === 'COMPLETED' ? h.completed : h.compensated) !== 1);
  invariants.push({
    name: 'history: one start, one terminal',
    ok: badHistory.length === 0,
    detail: badHistory.length === 0 ? `${history.length} sagas` : `${badHistory.length} bad, e.g. ${badHistory[0].id}`,
  });

  const left = await leftovers(databases);
  invariants.push({ name: 'outbox and timers drained', ok: left === 0, detail: `${left} rows left` });

  const queues = await queueDepths(cluster);
  const busy = queues.filter((queue) => queue.name !== deadLetterQueue && queue.ready + queue.unacked > 0);
  invariants.push({
    name: 'queues empty (but dead letters)',
    ok: busy.length === 0,
    detail: busy.length === 0 ? `${queues.length} queues` : busy.map((q) => `${q.name}: ${q.ready} ready, ${q.unacked} unacked`).join('; '),
  });

  // Garbage and poison we published carry correlation ids `chaos-…`: each must be parked once,
  // and nothing else may be parked (a real command or reply dead-lettered by a fault is a bug).
  const parked = await rows<{ ours: number; others: number }>(
    databases.orchestrator,
    "SELECT count(DISTINCT correlation_id) FILTER (WHERE correlation_id LIKE 'chaos-%')::int AS ours, count(*) FILTER (WHERE correlation_id IS NULL OR correlation_id NOT LIKE 'chaos-%')::int AS others FROM dead_letters",
  );
  const deadLetters = parked[0].ours + parked[0].others;
  invariants.push({
    name: 'dead letters = injected garbage',
    ok: parked[0].ours === expectedDeadLetters && parked[0].others === 0,
    detail: `${parked[0].ours} of ${expectedDeadLetters} garbage/poison parked, ${parked[0].others} other dead letters`,
  });

  const recovery: Record<string, number[]> = {};
  const sortedAccepted = [...accepted].sort((a, b) => a.acceptedAt - b.acceptedAt);
  for (const fault of faults) {
    const after = sortedAccepted.find((a) => a.acceptedAt > fault.at && terminal(byId.get(a.id)?.status));
    if (!after) continue;
    (recovery[fault.kind] ??= []).push(byId.get(after.id)!.done.getTime() - fault.at);
  }
  const recoveryMs = Object.fromEntries(
    Object.entries(recovery).map(([kind, values]) => {
      const sorted = values.sort((a, b) => a - b);
      return [kind, { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }];
    }),
  );

  return {
    invariants,
    lost: lostIds.length,
    doubled: extraSagas + keyDoubles + duplicateEffects,
    finished: sagas.filter((saga) => terminal(saga.status)).length,
    deadLetters,
    recoveryMs,
  };
}

export function renderTable(verdict: Verdict, figures: Record<string, string | number>, faultCounts: Record<string, number>): string {
  const width = Math.max(...verdict.invariants.map((i) => i.name.length));
  const lines = ['Invariants', ...verdict.invariants.map((i) => `  ${i.ok ? 'PASS' : 'FAIL'}  ${i.name.padEnd(width)}  ${i.detail}`), '', 'Figures'];
  for (const [name, value] of Object.entries(figures)) lines.push(`  ${name.padEnd(22)} ${value}`);
  lines.push('', 'Faults injected            count   recovery p50 / p99 (ms)');
  for (const [kind, count] of Object.entries(faultCounts)) {
    const r = verdict.recoveryMs[kind];
    lines.push(`  ${kind.padEnd(26)} ${String(count).padStart(4)}   ${r ? `${r.p50} / ${r.p99}` : '-'}`);
  }
  return lines.join('\n');
}
