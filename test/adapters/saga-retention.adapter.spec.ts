/**
 * Retention of finished sagas (apps/orchestrator/src/runtime/saga-retention.service.ts and
 * libs/persistence/src/retention/finished-saga-retention.ts) against the real PostgreSQL, on
 * sagas seeded by scripts/bench/seed.ts and then aged.
 *
 * Proves: exactly the COMPLETED, COMPENSATED and RESOLVED_MANUALLY sagas last changed before the
 * cutoff go, each with all its steps, history, inbox keys and leftover timers/outbox rows (no
 * orphan is left); RUNNING, COMPENSATION_FAILED and young finished sagas stay untouched, rows
 * included; two replicas pruning at once in small batches delete each saga once (their counts add
 * up to the candidates); a saga locked by a writer is skipped, never waited on, and pruned by a
 * later run; saga_pruned_total gets the per-table counts; finding candidates plans on
 * ix_saga_status_updated and the children are deleted through their saga_id indexes; the
 * runtime session runs the sweep without JIT compilation (jit off, saga-data-source.ts).
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { openSagaDataSource, PRUNE_FINISHED_SAGAS_SQL, PRUNED_TABLES, type PrunedTable } from '#saga/persistence';
import type { OrchestratorConfig } from '../../apps/orchestrator/src/config/orchestrator-config';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { SagaRetention } from '../../apps/orchestrator/src/runtime/saga-retention.service';
import type { SagaMetrics } from '../../apps/orchestrator/src/runtime/saga-metrics';
import { seedDefinitionOf, seedSagas } from '../../scripts/bench/seed';
import { createTestDatabase, runId } from '../support/infra';

const DAY = 86_400_000;
const WINDOW = 30 * DAY;
const CHILDREN = ['saga_steps', 'saga_history', 'saga_inbox', 'saga_timers', 'saga_outbox'] as const;

function retention(ds: DataSource, batchSize: number, pruned: Record<string, number>): SagaRetention {
  // vacuum: auto, so replicas vacuum at the end of their sweeps as in production (a no-op where the
  // server's autovacuum is on); what the vacuum does is test/adapters/churn-vacuum.adapter.spec.ts.
  const config = { retention: { finishedSagasMs: WINDOW, intervalMs: 60_000, batchSize, vacuum: 'auto' } } as OrchestratorConfig;
  const metrics = { rowsPruned: (table: string, rows: number) => (pruned[table] = (pruned[table] ?? 0) + rows) } as unknown as SagaMetrics;
  return new SagaRetention(ds, config, metrics);
}

/** Runs until a run says there is nothing more (as the loop would). */
async function drain(service: SagaRetention): Promise<void> {
  while (await service.run());
}

describe('Finished-saga retention on PostgreSQL', () => {
  let ds: DataSource;
  let replica: DataSource;
  let db: Client;
  let drop: () => Promise<void>;
  /** Rows per table of the sagas that must go, and ids of those that must stay. */
  const doomedRows: Partial<Record<PrunedTable, number>> = {};
  let doomed: string[];
  let kept: { id: string; status: string; rows: number }[];

  const ids = async (sql: string) => (await db.query(sql)).rows.map((row: { id: string }) => row.id);
  async function rowsOf(sagaIds: string[]): Promise<Record<PrunedTable, number>> {
    const counts = { saga_instances: (await db.query('SELECT count(*)::int AS n FROM saga_instances WHERE id = ANY($1::uuid[])', [sagaIds])).rows[0].n } as Record<
      PrunedTable,
      number
    >;
    for (const table of CHILDREN) counts[table] = (await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE saga_id = ANY($1::uuid[])`, [sagaIds])).rows[0].n;
    return counts;
  }
  async function keptRows(): Promise<{ id: string; status: string; rows: number }[]> {
    const { rows } = await db.query(`
      SELECT i.id, i.status,
             (SELECT count(*) FROM saga_steps s WHERE s.saga_id = i.id) + (SELECT count(*) FROM saga_history h WHERE h.saga_id = i.id)
           + (SELECT count(*) FROM saga_inbox x WHERE x.saga_id = i.id) + (SELECT count(*) FROM saga_timers t WHERE t.saga_id = i.id) AS rows
        FROM saga_instances i
       WHERE NOT (i.status IN ('COMPLETED', 'COMPENSATED', 'RESOLVED_MANUALLY') AND i.updated_at < now() - interval '30 days')
       ORDER BY i.id`);
    return rows.map((row) => ({ id: row.id, status: row.status, rows: Number(row.rows) }));
  }

  beforeAll(async () => {
    const created = await createTestDatabase(runId(), 'retention');
    drop = created.drop;
    await seedSagas({ databaseUrl: created.url, finished: 1_500, waiting: 150, definition: seedDefinitionOf(placeOrderSaga) });
    ds = await openSagaDataSource(created.url, 2);
    replica = await openSagaDataSource(created.url, 2);
    db = new Client({ connectionString: created.url });
    await db.connect();
    // Everything old; then some finished sagas young, some stuck for an operator, some resolved.
    await db.query(`UPDATE saga_instances SET updated_at = now() - interval '40 days'`);
    await db.query(`UPDATE saga_instances SET updated_at = now() - interval '29 days'
                     WHERE id IN (SELECT id FROM saga_instances WHERE status = 'COMPLETED' ORDER BY id LIMIT 200)`);
    await db.query(`UPDATE saga_instances SET status = 'COMPENSATION_FAILED'
                     WHERE id IN (SELECT id FROM saga_instances WHERE status = 'COMPENSATED' ORDER BY id LIMIT 60)`);
    await db.query(`UPDATE saga_instances SET status = 'RESOLVED_MANUALLY'
                     WHERE id IN (SELECT id FROM saga_instances WHERE status = 'COMPLETED' AND updated_at < now() - interval '30 days' ORDER BY id LIMIT 40)`);
    // Leftovers a finished saga should not have: they go with it.
    const [leftover] = await ids(`SELECT id FROM saga_instances WHERE status = 'COMPLETED' AND updated_at < now() - interval '30 days' ORDER BY id DESC LIMIT 1`);
    await db.query(`INSERT INTO saga_timers (id, saga_id, fire_at, event) VALUES ($1, $2, now() + interval '1 day', '{"type":"DEADLINE_REACHED"}')`, [
      `${leftover}/deadline`,
      leftover,
    ]);
    await db.query(`INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at) VALUES ($1, 'saga.inventory', '{}', '{}', now())`, [leftover]);
    await db.query('ANALYZE');

    doomed = await ids(`SELECT id FROM saga_instances WHERE status IN ('COMPLETED', 'COMPENSATED', 'RESOLVED_MANUALLY') AND updated_at < now() - interval '30 days'`);
    Object.assign(doomedRows, await rowsOf(doomed));
    kept = await keptRows();
  }, 120_000);

  afterAll(async () => {
    await db?.end();
    await ds?.destroy();
    await replica?.destroy();
    await drop?.();
  });

  it('plans candidates on ix_saga_status_updated and children on their saga_id indexes (in the runtime session)', async () => {
    // The runtime's sessions price sequential scans out (saga-data-source.ts); the plan at scale
    // with the default planner settings is in docs/operations.md "Retention".
    const rows: { 'QUERY PLAN': string }[] = await ds.query(
      `EXPLAIN ${PRUNE_FINISHED_SAGAS_SQL.replaceAll('$1::text[]', `'{COMPLETED,COMPENSATED,RESOLVED_MANUALLY}'::text[]`).replaceAll('$2', `now() - interval '30 days'`).replaceAll('$3', '500')}`,
    );
    const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/(Index (Only )?Scan using|Bitmap Index Scan on) ix_saga_status_updated/);
    expect(plan).not.toMatch(/Seq Scan on (saga_instances|saga_steps|saga_history|saga_inbox|saga_timers)\b/);
    expect(plan).toMatch(/ix_saga_inbox_saga/);
    expect(plan).toMatch(/ix_saga_history_saga/);
  });

  it('is not JIT-compiled in the runtime session, whose cost a priced-out scan puts above jit_above_cost', async () => {
    expect(await ds.query('SHOW jit')).toEqual([{ jit: 'off' }]);
    const [
      {
        'QUERY PLAN': [plan],
      },
    ]: { 'QUERY PLAN': { Plan: { 'Total Cost': number }; JIT?: unknown }[] }[] = await ds.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${PRUNE_FINISHED_SAGAS_SQL}`, [
      ['NONE'],
      new Date(0),
      1,
    ]);
    const [{ jit_above_cost: above }]: { jit_above_cost: string }[] = await ds.query('SHOW jit_above_cost');
    expect(plan.Plan['Total Cost']).toBeGreaterThan(Number(above)); // what made PostgreSQL compile it with jit on
    expect(plan.JIT).toBeUndefined();
  });

  it('two replicas in small batches delete exactly the old finished sagas, each once, whole', async () => {
    expect(doomed.length).toBeGreaterThan(1_000);
    expect(kept.map((saga) => saga.status)).toEqual(expect.arrayContaining(['RUNNING', 'COMPENSATION_FAILED', 'COMPLETED']));
    const prunedA: Record<string, number> = {};
    const prunedB: Record<string, number> = {};
    await Promise.all([drain(retention(ds, 37, prunedA)), drain(retention(replica, 37, prunedB))]);

    for (const table of PRUNED_TABLES) expect((prunedA[table] ?? 0) + (prunedB[table] ?? 0)).toBe(doomedRows[table]);
    expect(prunedA.saga_instances).toBeGreaterThan(0);
    expect(prunedB.saga_instances).toBeGreaterThan(0);
    expect(doomedRows.saga_timers).toBe(1);
    expect(doomedRows.saga_outbox).toBe(1);
    expect(await rowsOf(doomed)).toEqual(Object.fromEntries(PRUNED_TABLES.map((table) => [table, 0])));
    expect(await keptRows()).toEqual(kept);
  });

  it('skips a saga a writer holds, without waiting, and prunes it on a later run', async () => {
    const insert = async () => {
      const id = randomUUID();
      await db.query(
        `INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, input_hash, version, created_at, updated_at)
         VALUES ($1, 'place-order', 1, 'COMPLETED', '{}', 0, false, 'h', 3, now() - interval '50 days', now() - interval '45 days')`,
        [id],
      );
      return id;
    };
    const held = await insert();
    const free = await insert();
    const writer = new Client({ connectionString: (ds.options as { url: string }).url });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query('SELECT id FROM saga_instances WHERE id = $1 FOR UPDATE', [held]);
      const pruned: Record<string, number> = {};
      await drain(retention(ds, 10, pruned));
      expect(pruned.saga_instances).toBe(1);
      expect(await rowsOf([held, free])).toMatchObject({ saga_instances: 1 });
      expect((await db.query('SELECT id FROM saga_instances WHERE id = $1', [held])).rows).toHaveLength(1);
      await writer.query('COMMIT');
      await drain(retention(ds, 10, pruned));
      expect(pruned.saga_instances).toBe(2);
      expect(await rowsOf([held, free])).toMatchObject({ saga_instances: 0 });
    } finally {
      await writer.end();
    }
  });

  it('is off when the window is null and vacuum is off', async () => {
    const config = { retention: { finishedSagasMs: null, intervalMs: 60_000, batchSize: 10, vacuum: 'off' } } as OrchestratorConfig;
    const service = new SagaRetention(ds, config, {} as SagaMetrics);
    expect(await service.run()).toBe(false);
    service.onApplicationBootstrap();
    await service.onModuleDestroy();
  });
});
