/**
 * The outbox table's statements outside the write path: rows a writer did not publish are
 * claimed by the relay, rows whose commands the broker confirmed are deleted, and the backlog is
 * counted for the metrics. (Rows are written only by the committer's statements: saga-sql.ts.)
 *
 * Guarantees (docs/semantics.md S4, S7):
 * - oldestAgeMs is a plain read (no lock, no transaction id) by the primary key: how old the
 *   oldest row is (ids grow with time), so an idle relay opens no write transaction, and one
 *   that finds a row too young to claim knows when it will be old enough.
 * - claimUnpublished deletes and returns rows older than the given age, claimed FOR UPDATE SKIP
 *   LOCKED, inside the caller's transaction: the delete only becomes visible if the caller
 *   publishes every row and commits, and two replicas never claim one row at the same time.
 * - deletePublished is one statement for any number of confirmed rows (a fixed prepared text).
 */
import type { DataSource, EntityManager } from 'typeorm';
import { preparedQuery } from './sql/prepared-query';

/** An outbox row: a command in its wire form. */
export interface OutboxRow {
  id: string;
  queue: string;
  body: Record<string, unknown>;
  properties: Record<string, unknown>;
}

const CLAIM_UNPUBLISHED = `
  DELETE FROM saga_outbox WHERE id IN (
    SELECT id FROM saga_outbox WHERE created_at < now() - make_interval(secs => $2::double precision / 1000)
     ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
  RETURNING id, queue, body, properties`;

const OLDEST_AGE = `SELECT (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms FROM saga_outbox ORDER BY id LIMIT 1`;

const DELETE_PUBLISHED = 'DELETE FROM saga_outbox WHERE id = ANY($1::bigint[])';

export class OutboxStore {
  /** The age in ms of the oldest row (null: none): claimUnpublished finds rows once it is at least its `olderThanMs`. */
  async oldestAgeMs(manager: EntityManager): Promise<number | null> {
    const [row]: { age_ms: number }[] = await manager.query(OLDEST_AGE);
    return row === undefined ? null : row.age_ms;
  }

  /** Claims up to `limit` rows at least `olderThanMs` old, oldest first, in the caller's transaction. */
  async claimUnpublished(manager: EntityManager, limit: number, olderThanMs: number): Promise<OutboxRow[]> {
    const [rows]: [OutboxRow[], number] = await manager.query(CLAIM_UNPUBLISHED, [limit, olderThanMs]);
    return rows.sort((a, b) => Number(a.id) - Number(b.id));
  }

  async deletePublished(dataSource: DataSource, ids: readonly string[]): Promise<void> {
    await preparedQuery(dataSource, DELETE_PUBLISHED, [ids]);
  }

  /** Commands committed but not yet published. */
  async backlog(manager: EntityManager): Promise<number> {
    const [row]: { n: number }[] = await manager.query('SELECT count(*)::int AS n FROM saga_outbox');
    return row.n;
  }
}
