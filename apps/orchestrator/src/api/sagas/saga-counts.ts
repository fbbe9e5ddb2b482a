/**
 * GET /sagas/counts: how many sagas there are, by status and by definition version.
 *
 * Guarantees: counts are exact for RUNNING, COMPENSATING, COMPENSATION_FAILED and
 * RESOLVED_MANUALLY (what an operator acts on, and few; read through the status index, never
 * the finished million); COMPLETED and COMPENSATED are exact while the table is small
 * (EXACT_COUNT_ROWS) and otherwise PostgreSQL's estimate from its statistics, labelled
 * `exact: false`.
 */
import type { SagaStatus } from '#saga/core';
import type { DataSource } from 'typeorm';
import type { SqlReader } from './saga-search';

/** Counted exactly at any size: in flight, waiting for an operator, or settled by one (all few). */
export const ACTIVE_STATUSES: readonly SagaStatus[] = ['RUNNING', 'COMPENSATING', 'COMPENSATION_FAILED', 'RESOLVED_MANUALLY'];
/** Counted exactly only on a small table (EXACT_COUNT_ROWS); estimated beyond. */
const FINISHED_STATUSES: readonly SagaStatus[] = ['COMPLETED', 'COMPENSATED'];
/** Up to this many rows (PostgreSQL's estimate), finished sagas are counted exactly too. */
export const EXACT_COUNT_ROWS = 200_000;

export interface StatusCount {
  status: SagaStatus;
  count: number;
  exact: boolean;
}

export interface DefinitionCount {
  name: string;
  version: number;
  status: SagaStatus;
  count: number;
}

export interface SagaCounts {
  byStatus: StatusCount[];
  byDefinition: DefinitionCount[];
}

/** The sagas of statuses $1 by definition version: a bitmap scan of ix_saga_status_updated, so
 *  it reads the sagas counted (~35 ms for 100k in flight), never the finished million. */
const COUNTS = `
  SELECT status, definition_name AS name, definition_version AS version, count(*)::int AS count
    FROM saga_instances WHERE status = ANY($1::text[])
   GROUP BY 1, 2, 3 ORDER BY 2, 3, 1`;

/** PostgreSQL's row estimate and, per finished status, its share of the rows (statistics). */
const ESTIMATES = `
  SELECT (SELECT reltuples::float8 FROM pg_class WHERE oid = 'saga_instances'::regclass) AS rows,
         (SELECT json_object_agg(v, f) FROM pg_stats s, unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS m(v, f)
           WHERE s.schemaname = current_schema() AND s.tablename = 'saga_instances' AND s.attname = 'status') AS shares`;

/** `exactUpTo`: the table size (estimated) up to which finished sagas are counted exactly. */
export async function countSagas(dataSource: SqlReader & Pick<DataSource, 'transaction'>, exactUpTo = EXACT_COUNT_ROWS): Promise<SagaCounts> {
  // JIT off for this transaction: the count's estimated cost grows with the sagas in flight and
  // crosses jit_above_cost near 100k, where compiling it costs more (~40 ms) than it saves.
  return dataSource.transaction(async (manager) => {
    await manager.query('SET LOCAL jit = off');
    return countIn(manager, exactUpTo);
  });
}

async function countIn(dataSource: SqlReader, exactUpTo: number): Promise<SagaCounts> {
  const [estimate]: { rows: number; shares: Record<string, number> | null }[] = await dataSource.query(ESTIMATES);
  const exactAll = estimate.rows < 0 || estimate.rows <= exactUpTo || estimate.shares === null;
  const counted = exactAll ? [...ACTIVE_STATUSES, ...FINISHED_STATUSES] : ACTIVE_STATUSES;
  const rows: DefinitionCount[] = await dataSource.query(COUNTS, [counted]);
  const byStatus: StatusCount[] = [...ACTIVE_STATUSES, ...FINISHED_STATUSES].map((status) => {
    if (counted.includes(status)) return { status, count: rows.filter((row) => row.status === status).reduce((sum, row) => sum + row.count, 0), exact: true };
    return { status, count: Math.round(estimate.rows * (estimate.shares?.[status] ?? 0)), exact: false };
  });
  return { byStatus, byDefinition: rows };
}
