/**
 * Deletes finished sagas older than a cutoff, with every row that belongs to them
 * (docs/operations.md "Retention"): steps, history, inbox keys, and any timers or outbox rows left
 * over (a finished saga has none; they are deleted so nothing can outlive its saga).
 *
 * Guarantees:
 * - Only COMPLETED, COMPENSATED and RESOLVED_MANUALLY sagas are pruned: they never change again
 *   (docs/semantics.md S2). RUNNING and COMPENSATING sagas, and COMPENSATION_FAILED ones (they
 *   wait for an operator, S8), are never touched.
 * - A saga is deleted whole or not at all: one statement deletes it and all its rows.
 * - Candidates are locked FOR UPDATE SKIP LOCKED: replicas pruning at once share the work (each
 *   saga is deleted by one of them) and never wait on a saga the runtime is writing (the
 *   committer locks a saga before it touches it, LOCK_SAGAS); a saga locked by a writer is
 *   skipped and taken by a later run.
 * - Finding candidates is one range scan of ix_saga_status_updated (status, updated_at, id) per
 *   finished status, oldest first: the equality on status with the order on updated_at is what
 *   that index alone serves, so the plan does not hinge on statistics (a filter on status over
 *   ix_saga_updated would step over every old RUNNING or COMPENSATION_FAILED saga). The
 *   children are found by their saga_id indexes (saga_steps' key, ix_saga_history_saga,
 *   ix_saga_inbox_saga, ix_saga_timers_saga; the outbox is drained and small).
 */
import type { EntityManager } from 'typeorm';

export const PRUNABLE_STATUSES = ['COMPLETED', 'COMPENSATED', 'RESOLVED_MANUALLY'] as const;

export const PRUNED_TABLES = ['saga_instances', 'saga_steps', 'saga_history', 'saga_inbox', 'saga_timers', 'saga_outbox'] as const;
export type PrunedTable = (typeof PRUNED_TABLES)[number];
export type PrunedCounts = Record<PrunedTable, number>;

const PRUNE_FINISHED_SAGAS = `
  WITH doomed AS (
    SELECT candidate.id
      FROM unnest($1::text[]) AS finished(status)
     CROSS JOIN LATERAL (
       SELECT id FROM saga_instances
        WHERE status = finished.status AND updated_at < $2
        ORDER BY updated_at
        LIMIT $3
          FOR UPDATE SKIP LOCKED
     ) AS candidate
     LIMIT $3
  ), steps AS (
    DELETE FROM saga_steps WHERE saga_id IN (SELECT id FROM doomed) RETURNING 1
  ), history AS (
    DELETE FROM saga_history WHERE saga_id IN (SELECT id FROM doomed) RETURNING 1
  ), inbox AS (
    DELETE FROM saga_inbox WHERE saga_id IN (SELECT id FROM doomed) RETURNING 1
  ), timers AS (
    DELETE FROM saga_timers WHERE saga_id IN (SELECT id FROM doomed) RETURNING 1
  ), outbox AS (
    DELETE FROM saga_outbox WHERE saga_id IN (SELECT id FROM doomed) RETURNING 1
  ), sagas AS (
    DELETE FROM saga_instances WHERE id IN (SELECT id FROM doomed) RETURNING 1
  )
  SELECT (SELECT count(*) FROM sagas)::int AS saga_instances, (SELECT count(*) FROM steps)::int AS saga_steps,
         (SELECT count(*) FROM history)::int AS saga_history, (SELECT count(*) FROM inbox)::int AS saga_inbox,
         (SELECT count(*) FROM timers)::int AS saga_timers, (SELECT count(*) FROM outbox)::int AS saga_outbox`;

/** Deletes at most `batch` finished sagas last updated before `cutoff`, in one statement (run it
 *  in a transaction of its own), and returns how many rows of each table went. */
export async function pruneFinishedSagas(manager: EntityManager, cutoff: Date, batch: number): Promise<PrunedCounts> {
  const [row]: PrunedCounts[] = await manager.query(PRUNE_FINISHED_SAGAS, [PRUNABLE_STATUSES, cutoff, batch]);
  return row;
}

/** The statement, for EXPLAIN in tests and the docs. */
export const PRUNE_FINISHED_SAGAS_SQL = PRUNE_FINISHED_SAGAS;
