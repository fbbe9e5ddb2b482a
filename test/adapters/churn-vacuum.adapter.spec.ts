/**
 * Vacuum of the churned tables (libs/persistence/src/retention/churn-vacuum.ts, and its use by
 * apps/orchestrator/src/runtime/saga-retention.service.ts) against the real PostgreSQL, whatever
 * its autovacuum setting: every expectation is derived from `SHOW autovacuum` (and
 * `SHOW track_counts`), asked by the test itself.
 *
 * Proves: a retention run with RETENTION_VACUUM=auto vacuums every saga table (vacuum_count + 1)
 * exactly when the server's autovacuum is off, through the pooled DataSource; with `off` never;
 * the loop runs for vacuum alone when the finished-saga window is off; the boot warns exactly when
 * autovacuum is off; ANALYZE goes with the VACUUM only for a table changed past autovacuum's
 * analyze threshold; two replicas' runners at once both return promptly while another session
 * holds a table in SHARE UPDATE EXCLUSIVE mode (the lock a VACUUM takes), skipping only that table;
 * and with autovacuum off, a table churned by inserts and deletes stops growing on disk with the
 * runs, while its unvacuumed twin keeps growing.
 */
import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { ChurnVacuum, openSagaDataSource, PRUNED_TABLES } from '#saga/persistence';
import type { OrchestratorConfig } from '../../apps/orchestrator/src/config/orchestrator-config';
import type { SagaMetrics } from '../../apps/orchestrator/src/runtime/saga-metrics';
import { SagaRetention } from '../../apps/orchestrator/src/runtime/saga-retention.service';
import { createTestDatabase, runId, waitFor } from '../support/infra';

type Counts = Record<string, { vacuums: number; analyses: number }>;

function retention(ds: DataSource, finishedSagasMs: number | null, vacuum: 'auto' | 'off'): SagaRetention {
  const config = { retention: { finishedSagasMs, intervalMs: 60_000, batchSize: 100, vacuum } } as OrchestratorConfig;
  return new SagaRetention(ds, config, { rowsPruned: () => undefined } as unknown as SagaMetrics);
}

/** Rejects when `promise` takes longer than `ms`: a runner that waited for a lock would hang. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('Vacuum of the churned tables on PostgreSQL', () => {
  let ds: DataSource;
  let replica: DataSource;
  let db: Client;
  let drop: () => Promise<void>;
  /** What the server says, asked independently of the code under test. */
  let autovacuumOff: boolean;

  async function counts(tables: readonly string[] = PRUNED_TABLES): Promise<Counts> {
    await db.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await db.query('SELECT relname, vacuum_count, analyze_count FROM pg_stat_user_tables WHERE relname = ANY($1::text[])', [tables]);
    return Object.fromEntries(rows.map((row) => [row.relname, { vacuums: Number(row.vacuum_count), analyses: Number(row.analyze_count) }]));
  }
  const vacuumsSince = (before: Counts, after: Counts) => Object.fromEntries(Object.keys(after).map((table) => [table, after[table].vacuums - before[table].vacuums]));
  const each = (tables: readonly string[], value: number) => Object.fromEntries(tables.map((table) => [table, value]));

  beforeAll(async () => {
    const created = await createTestDatabase(runId(), 'churn_vacuum');
    drop = created.drop;
    ds = await openSagaDataSource(created.url, 2);
    replica = await openSagaDataSource(created.url, 2);
    db = new Client({ connectionString: created.url });
    await db.connect();
    const setting = async (name: string) => (await db.query(`SHOW ${name}`)).rows[0][name];
    autovacuumOff = (await setting('autovacuum')) === 'off' || (await setting('track_counts')) === 'off';
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await db?.end();
    await ds?.destroy();
    await replica?.destroy();
    await drop?.();
  });

  it('a retention run with auto vacuums every saga table exactly when the server autovacuum is off; with off never', async () => {
    const before = await counts();
    expect(Object.keys(before).sort()).toEqual([...PRUNED_TABLES].sort());
    expect(await retention(ds, 30 * 86_400_000, 'auto').run()).toBe(false);
    const afterAuto = await counts();
    expect(vacuumsSince(before, afterAuto)).toEqual(each(PRUNED_TABLES, autovacuumOff ? 1 : 0));

    expect(await retention(ds, 30 * 86_400_000, 'off').run()).toBe(false);
    expect(await retention(ds, null, 'off').run()).toBe(false);
    expect(vacuumsSince(afterAuto, await counts())).toEqual(each(PRUNED_TABLES, 0));
  });

  it('runs the loop for vacuum alone when the window is off, and warns at boot exactly when autovacuum is off', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const before = await counts();
    const service = retention(ds, null, 'auto');
    await service.onApplicationBootstrap();
    try {
      const vacuumWarnings = () => warn.mock.calls.map(([message]) => String(message)).filter((message) => message.includes('autovacuum is off'));
      if (autovacuumOff) {
        expect(vacuumWarnings()).toEqual([expect.stringMatching(/vacuums its own tables \(saga_instances, saga_steps, .*every RETENTION_INTERVAL_MS/)]);
        await waitFor(async () => Object.values(vacuumsSince(before, await counts())).every((n) => n === 1), 'the loop to vacuum every saga table');
      } else {
        expect(vacuumWarnings()).toEqual([]);
      }
    } finally {
      await service.onModuleDestroy();
      warn.mockRestore();
    }
    if (!autovacuumOff) expect(vacuumsSince(before, await counts())).toEqual(each(PRUNED_TABLES, 0));

    const off = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const idle = retention(ds, null, 'off');
    await idle.onApplicationBootstrap();
    await idle.onModuleDestroy();
    const offWarnings = off.mock.calls.map(([message]) => String(message)).filter((message) => message.includes('RETENTION_VACUUM=off'));
    expect(offWarnings).toHaveLength(autovacuumOff ? 1 : 0);
    off.mockRestore();
  });

  it('analyses a table with its vacuum only once it changed past the analyze threshold', async () => {
    await db.query(`INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at)
                    SELECT gen_random_uuid(), 'saga.inventory', '{}', '{}', now() FROM generate_series(1, 300)`);
    // Backends report their counts to the statistics at most once a second.
    await waitFor(
      async () =>
        (await db.query(`SELECT pg_stat_clear_snapshot(), n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'saga_outbox'`)).rows[0].n_mod_since_analyze >= 300,
      'the inserts to reach the statistics',
    );
    const vacuum = new ChurnVacuum(ds, 'auto', ['saga_outbox', 'saga_timers'], 60_000);
    const before = await counts(['saga_outbox', 'saga_timers']);
    expect(await vacuum.run()).toBe(autovacuumOff);
    const first = await counts(['saga_outbox', 'saga_timers']);
    expect(await vacuum.run()).toBe(autovacuumOff);
    const second = await counts(['saga_outbox', 'saga_timers']);

    const analysed = (from: Counts, to: Counts) => ({ outbox: to.saga_outbox.analyses - from.saga_outbox.analyses, timers: to.saga_timers.analyses - from.saga_timers.analyses });
    expect(analysed(before, first)).toEqual({ outbox: autovacuumOff ? 1 : 0, timers: 0 });
    expect(analysed(first, second)).toEqual({ outbox: 0, timers: 0 });
    expect(vacuumsSince(first, second)).toEqual(each(['saga_outbox', 'saga_timers'], autovacuumOff ? 1 : 0));
  });

  it('two replicas at once skip a table another session holds, without waiting, and vacuum the rest', async () => {
    const holder = new Client({ connectionString: (ds.options as { url: string }).url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE saga_history IN SHARE UPDATE EXCLUSIVE MODE');
      const before = await counts();
      const started = Date.now();
      const done = await within(15_000, Promise.all([new ChurnVacuum(ds, 'auto', PRUNED_TABLES, 60_000).run(), new ChurnVacuum(replica, 'auto', PRUNED_TABLES, 60_000).run()]));
      expect(done).toEqual([autovacuumOff, autovacuumOff]);
      expect(Date.now() - started).toBeLessThan(15_000);
      const vacuumed = vacuumsSince(before, await counts());
      expect(vacuumed.saga_history).toBe(0);
      for (const table of PRUNED_TABLES.filter((name) => name !== 'saga_history')) {
        // Each replica vacuums it, unless the other one held it at that moment (then it skips).
        if (autovacuumOff) expect([1, 2]).toContain(vacuumed[table]);
        else expect(vacuumed[table]).toBe(0);
      }
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('with autovacuum off a churned table stops growing on disk, while its unvacuumed twin grows', async () => {
    await db.query('CREATE TABLE churn_twin (LIKE saga_outbox INCLUDING ALL)');
    const vacuum = new ChurnVacuum(ds, 'auto', ['saga_outbox'], 60_000);
    const rows = 2_000;
    const sizes: Record<'saga_outbox' | 'churn_twin', number[]> = { saga_outbox: [], churn_twin: [] };
    for (let round = 0; round < 7; round++) {
      for (const table of ['saga_outbox', 'churn_twin'] as const) {
        // Each round: a new generation of rows in, the previous one out (a steady count of live rows).
        await db.query(`DELETE FROM ${table}`);
        await db.query(
          `INSERT INTO ${table} (saga_id, queue, body, properties, created_at)
           SELECT gen_random_uuid(), 'saga.inventory', jsonb_build_object('pad', repeat('x', 300), 'n', g), '{}', now() FROM generate_series(1, $1::int) AS g`,
          [rows],
        );
        sizes[table].push(Number((await db.query(`SELECT pg_relation_size('${table}') AS bytes`)).rows[0].bytes));
      }
      expect(await vacuum.run()).toBe(autovacuumOff);
    }
    expect(Number((await db.query('SELECT count(*) AS n FROM saga_outbox')).rows[0].n)).toBe(rows);
    const [, second] = sizes.saga_outbox;
    const last = sizes.saga_outbox.at(-1)!;
    if (autovacuumOff) {
      expect(last).toBeLessThanOrEqual(second);
      // The twin grows by a generation's pages every round: the test can tell the difference.
      expect(sizes.churn_twin.at(-1)!).toBeGreaterThan(2.5 * sizes.churn_twin[1]);
    } else {
      // Autovacuum works on its own schedule; what holds either way: the rows fit at least once.
      expect(last).toBeGreaterThan(0);
      expect(second).toBeGreaterThan(0);
    }
  });
});
