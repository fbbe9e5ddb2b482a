/**
 * The chaos run's verdict, read once the system drained: the invariants (each a row of the
 * table, PASS or FAIL with what it saw) and the figures (lost, doubled, recovery times).
 *
 * Guarantees: reads only this run's databases and the run's own cluster; every invariant is
 * evaluated (a failure does not hide the others); `lost` counts accepted starts whose saga is
 * missing or not terminal, plus effects a completed saga lacks; `doubled` counts sagas beyond
 * one per Idempotency-Key plus participant effects that should not exist (duplicates, or a
 * compensated saga's effect left in place); which status a saga may end in is
 * chaos-expectations.ts's rule, and the effects are judged against the status it did end in
 * (chaos-effects.ts: orders, reservations − releases, charges − refunds, stock drift).
 */
import { queryRows } from './chaos-sql';
import { ctl, type Cluster } from '../cluster/local-cluster';
import { checkEffects, type Databases } from './chaos-effects';
import { statusProblem } from './chaos-expectations';
import type { FaultRecord } from './chaos-faults';
import type { Accepted } from './chaos-load';

export type { Databases } from './chaos-effects';

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
  /** Step attempts that got no reply in time, and sagas whose rollback a timeout or an expired
   *  command started. */
  timedOutAttempts: number;
  rolledBackByTimeout: number;
  /** Per fault kind: ms from the fault until the first saga accepted after it finished. */
  recoveryMs: Record<string, { count: number; p50: number | null; p99: number | null }>;
}

export async function leftovers(databases: Databases): Promise<number> {
  const [row] = await queryRows<{ n: number }>(databases.orchestrator, 'SELECT ((SELECT count(*) FROM saga_outbox) + (SELECT count(*) FROM saga_timers))::int AS n');
  return row.n;
}

export async function unfinished(databases: Databases): Promise<number> {
  const [row] = await queryRows<{ n: number }>(databases.orchestrator, "SELECT count(*)::int AS n FROM saga_instances WHERE status NOT IN ('COMPLETED','COMPENSATED')");
  return row.n;
}

export interface QueueDepth {
  name: string;
  ready: number;
  unacked: number;
  consumers: number;
  leader: string;
}

/** Every queue of the cluster's `/` vhost with its ready and unacknowledged messages, consumers
 *  and leader (asked of the first node that answers). */
export async function queueDepths(cluster: Cluster): Promise<QueueDepth[]> {
  let last: unknown;
  for (const node of cluster.nodes) {
    try {
      const rows = JSON.parse(
        await ctl(cluster.dir, node, ['list_queues', '-q', '-p', '/', 'name', 'messages_ready', 'messages_unacknowledged', 'consumers', 'leader', '--formatter', 'json'], 15_000),
      ) as { name: string; messages_ready: number; messages_unacknowledged: number; consumers: number; leader: string }[];
      return rows.map((row) => ({ name: row.name, ready: row.messages_ready, unacked: row.messages_unacknowledged, consumers: row.consumers, leader: row.leader }));
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

/** How long the verdict gives a redelivered message to be consumed before calling it left over. */
const QUEUE_SETTLE_MS = 30_000;

/** Queues holding messages (the dead-letter queue aside), once they are empty or `waitMs` passed.
 *  Waiting matters: at-least-once delivery may put a message back after the system looked quiet
 *  (an ack lost with a node or a connection is redelivered, and answered from the inbox); what
 *  must never happen is a message that stays. */
async function busyQueues(cluster: Cluster, deadLetterQueue: string, waitMs: number): Promise<{ busy: QueueDepth[]; waitedMs: number; all: number; first: QueueDepth[] }> {
  const since = Date.now();
  let first: QueueDepth[] | undefined;
  for (;;) {
    const depths = await queueDepths(cluster);
    const busy = depths.filter((queue) => queue.name !== deadLetterQueue && queue.ready + queue.unacked > 0);
    first ??= busy;
    if (busy.length === 0 || Date.now() - since >= waitMs) return { busy, waitedMs: Date.now() - since, all: depths.length, first };
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

const describeQueues = (queues: QueueDepth[]) => queues.map((q) => `${q.name}: ${q.ready} ready, ${q.unacked} unacked, ${q.consumers} consumers, leader ${q.leader}`).join('; ');

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
  const sagas = await queryRows<{ id: string; status: string; key: string; done: Date }>(
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
  const rollbacks = await queryRows<{ saga_id: string; reason: string | null }>(
    databases.orchestrator,
    "SELECT DISTINCT ON (saga_id) saga_id, reason FROM saga_history WHERE type = 'COMPENSATION_STARTED' ORDER BY saga_id, id",
  );
  const rollbackOf = new Map(rollbacks.map((row) => [row.saga_id, row.reason]));
  const wrong = accepted.flatMap((a) => {
    const status = byId.get(a.id)?.status;
    const problem = terminal(status) ? statusProblem(a, status!, rollbackOf.get(a.id) ?? null) : null;
    return problem ? [`${a.id} ${problem}`] : [];
  });
  invariants.push({
    name: 'status as input, cancel and faults allow',
    ok: wrong.length === 0,
    detail: wrong.length === 0 ? statusSummary(accepted, byId, rollbackOf) : `${wrong.length} wrong, e.g. ${wrong[0]}`,
  });
  invariants.push({ name: 'one saga per Idempotency-Key', ok: extraSagas === 0 && keyDoubles === 0, detail: `${sagas.length} sagas for ${accepted.length} accepted starts` });

  const statusOf = new Map(accepted.map((a) => [a.id, byId.get(a.id)?.status ?? 'missing'] as const));
  const effects = await checkEffects(databases, statusOf);
  invariants.push({
    name: 'each effect exactly once per saga',
    ok: effects.problems.length === 0,
    detail: effects.problems.length === 0 ? 'orders, reservations, charges, stock' : effects.problems.join('; '),
  });

  // Compensations in reverse order, each step compensated at most once (history).
  const compensations = await queryRows<{ saga_id: string; steps: number[] }>(
    databases.orchestrator,
    `SELECT h.saga_id, array_agg(s.position ORDER BY h.id) AS steps
       FROM saga_history h JOIN saga_steps s ON s.saga_id = h.saga_id AND s.name = h.step
      WHERE h.type = 'COMPENSATION_SENT' GROUP BY h.saga_id`,
  );
  const outOfOrder = compensations.filter(({ steps }) => {
    const firsts = steps.filter((position, k) => steps.indexOf(position) === k);
    return firsts.some((position, k) => k > 0 && position >= firsts[k - 1]);
  });
  const [{ n: twice }] = await queryRows<{ n: number }>(
    databases.orchestrator,
    "SELECT count(*)::int AS n FROM (SELECT saga_id, step FROM saga_history WHERE type = 'COMPENSATION_SENT' GROUP BY saga_id, step, attempt HAVING count(*) > 1) x",
  );
  invariants.push({
    name: 'compensations in reverse order',
    ok: outOfOrder.length === 0 && twice === 0,
    detail: `${compensations.length} sagas compensated${outOfOrder.length ? `; ${outOfOrder.length} out of order, e.g. ${outOfOrder[0].saga_id}` : ''}${twice ? `; ${twice} compensation attempts sent twice` : ''}`,
  });

  // History: one start, one terminal record matching the status.
  const history = await queryRows<{ id: string; status: string; started: number; completed: number; compensated: number }>(
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

  const queues = await busyQueues(cluster, deadLetterQueue, QUEUE_SETTLE_MS);
  invariants.push({
    name: 'queues empty (but dead letters)',
    ok: queues.busy.length === 0,
    detail:
      queues.busy.length === 0
        ? `${queues.all} queues${queues.first.length > 0 ? ` (empty after ${Math.round(queues.waitedMs / 1000)} s; at first ${describeQueues(queues.first)})` : ''}`
        : `after ${Math.round(queues.waitedMs / 1000)} s: ${describeQueues(queues.busy)}`,
  });

  // Garbage and poison we published carry correlation ids `chaos-…`: each must be parked once,
  // and nothing else may be parked (a real command or reply dead-lettered by a fault is a bug).
  const parked = await queryRows<{ ours: number; others: number }>(
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

  const [{ n: timedOutAttempts }] = await queryRows<{ n: number }>(databases.orchestrator, "SELECT count(*)::int AS n FROM saga_history WHERE type = 'ATTEMPT_TIMED_OUT'");
  return {
    timedOutAttempts,
    rolledBackByTimeout: rollbacks.filter((row) => row.reason === 'TIMEOUT' || row.reason === 'EXPIRED').length,
    invariants,
    lost: lostIds.length + effects.lost,
    doubled: extraSagas + keyDoubles + effects.doubled,
    finished: sagas.filter((saga) => terminal(saga.status)).length,
    deadLetters,
    recoveryMs,
  };
}

/** How the accepted sagas ended, by why their rollback started. */
function statusSummary(accepted: Accepted[], byId: Map<string, { status: string }>, rollbackOf: Map<string, string | null>): string {
  const counts = new Map<string, number>();
  for (const a of accepted) {
    const status = byId.get(a.id)?.status ?? 'missing';
    const label = status === 'COMPENSATED' ? `COMPENSATED (${rollbackOf.get(a.id) ?? '?'})` : status;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([label, n]) => `${n} ${label}`)
    .join(', ');
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
