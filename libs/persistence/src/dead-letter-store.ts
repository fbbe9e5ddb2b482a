/**
 * The statements of the `dead_letters` table (messages taken from `<prefix>.dead-letter`) and of
 * its audit, `dead_letter_actions`. Values are always bound parameters.
 *
 * Guarantees:
 * - insert is idempotent on `messageKey`: the same key again returns the existing row's id with
 *   `inserted: false` and changes nothing, also when two replicas insert it at the same time.
 * - A dead letter leaves `parked` once: lockParked takes the row FOR UPDATE in the caller's
 *   transaction and resolve only moves a parked row, so two operators never both replay it.
 * - list pages newest first by id (a keyset cursor: the id of the last row shown), with every
 *   filter served by an index in that order (migrations/1765300000000-DeadLetters.ts).
 */
import type { EntityManager } from 'typeorm';

export type DeadLetterState = 'parked' | 'replayed' | 'discarded';
export type DeadLetterKind = 'command' | 'reply' | 'unknown';
export type ReasonOrigin = 'ours' | 'broker' | 'unknown';

/** A message as it is stored; see apps/orchestrator/src/dead-letters/dead-letter-record.ts. */
export interface NewDeadLetter {
  messageKey: string;
  sourceQueue: string | null;
  reason: string | null;
  reasonOrigin: ReasonOrigin;
  deathCount: number | null;
  sagaId: string | null;
  step: string | null;
  direction: string | null;
  attempt: number | null;
  kind: DeadLetterKind;
  pattern: string | null;
  messageId: string | null;
  correlationId: string | null;
  contentType: string | null;
  properties: Record<string, unknown>;
  headers: Record<string, unknown> | null;
  body: Buffer;
  replayOf: number | null;
  /** Set when part of the message could not be stored as it is (what was left out, and why). */
  storageNote: string | null;
  deadLetteredAt: Date;
}

export interface DeadLetterSummary extends Pick<
  NewDeadLetter,
  'sourceQueue' | 'reason' | 'reasonOrigin' | 'deathCount' | 'sagaId' | 'step' | 'direction' | 'attempt' | 'kind' | 'pattern' | 'deadLetteredAt'
> {
  id: number;
  state: DeadLetterState;
  storedAt: Date;
}

export interface DeadLetterRow
  extends DeadLetterSummary, Pick<NewDeadLetter, 'messageId' | 'correlationId' | 'contentType' | 'properties' | 'headers' | 'body' | 'replayOf' | 'storageNote'> {
  resolvedBy: string | null;
  resolvedAt: Date | null;
  resolvedReason: string | null;
  sagaNoted: boolean;
}

export interface DeadLetterAction {
  id: number;
  action: 'replay' | 'discard';
  actor: string;
  reason: string;
  at: Date;
  outcome: string;
  detail: string | null;
}

export interface DeadLetterFilter {
  state?: DeadLetterState;
  sourceQueue?: string;
  sagaId?: string;
  /** A part of the reason, any case. */
  reason?: string;
  /** Dead-lettered before this time. */
  before?: Date;
}

const SUMMARY_COLUMNS = `id::text AS id, source_queue AS "sourceQueue", reason, reason_origin AS "reasonOrigin", death_count AS "deathCount",
  saga_id AS "sagaId", step, direction, attempt, kind, pattern, state, dead_lettered_at AS "deadLetteredAt", stored_at AS "storedAt"`;

const ROW_COLUMNS = `${SUMMARY_COLUMNS}, message_id AS "messageId", correlation_id AS "correlationId", content_type AS "contentType",
  properties, headers, body, replay_of::text AS "replayOf", storage_note AS "storageNote", resolved_by AS "resolvedBy",
  resolved_at AS "resolvedAt", resolved_reason AS "resolvedReason", saga_noted AS "sagaNoted"`;

/** On conflict the row is "updated" to itself so RETURNING gives its id; xmax = 0 only for a fresh insert. */
const INSERT = `
  INSERT INTO dead_letters (message_key, source_queue, reason, reason_origin, death_count, saga_id, step, direction, attempt, kind, pattern,
                            message_id, correlation_id, content_type, properties, headers, body, replay_of, storage_note, dead_lettered_at, stored_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, now())
  ON CONFLICT (message_key) DO UPDATE SET message_key = EXCLUDED.message_key
  RETURNING id::text AS id, (xmax = 0) AS inserted, saga_noted AS "sagaNoted"`;

/** The filters of list, bulk selection and counts: $1 state, $2 source queue, $3 saga id, $4 reason part, $5 before. */
const FILTER = `($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR source_queue = $2) AND ($3::text IS NULL OR saga_id = $3)
  AND ($4::text IS NULL OR strpos(lower(reason), lower($4)) > 0) AND ($5::timestamptz IS NULL OR dead_lettered_at < $5)`;

function filterValues(filter: DeadLetterFilter): unknown[] {
  return [filter.state ?? null, filter.sourceQueue ?? null, filter.sagaId ?? null, filter.reason ?? null, filter.before ?? null];
}

function numbered<T extends { id: unknown; replayOf?: unknown }>(row: T): T {
  const out = { ...row, id: Number(row.id) };
  if ('replayOf' in row) (out as { replayOf: number | null }).replayOf = row.replayOf === null ? null : Number(row.replayOf);
  return out;
}

export class DeadLetterStore {
  /** Stores a dead letter unless one with its key exists; the row's id either way. */
  async insert(manager: EntityManager, row: NewDeadLetter): Promise<{ id: number; inserted: boolean; sagaNoted: boolean }> {
    const [result]: { id: string; inserted: boolean; sagaNoted: boolean }[] = await manager.query(INSERT, [
      row.messageKey,
      row.sourceQueue,
      row.reason,
      row.reasonOrigin,
      row.deathCount,
      row.sagaId,
      row.step,
      row.direction,
      row.attempt,
      row.kind,
      row.pattern,
      row.messageId,
      row.correlationId,
      row.contentType,
      JSON.stringify(row.properties),
      row.headers === null ? null : JSON.stringify(row.headers),
      row.body,
      row.replayOf,
      row.storageNote,
      row.deadLetteredAt,
    ]);
    return { id: Number(result.id), inserted: result.inserted, sagaNoted: result.sagaNoted };
  }

  /** The saga the dead letter names has been told (or does not exist). */
  async markSagaNoted(manager: EntityManager, id: number): Promise<void> {
    await manager.query('UPDATE dead_letters SET saga_noted = true WHERE id = $1', [id]);
  }

  /** Newest first; `after` is the id of the last row of the previous page. */
  async list(manager: EntityManager, filter: DeadLetterFilter, limit: number, after?: number): Promise<DeadLetterSummary[]> {
    const rows: DeadLetterSummary[] = await manager.query(
      `SELECT ${SUMMARY_COLUMNS} FROM dead_letters WHERE ${FILTER} AND ($6::bigint IS NULL OR id < $6) ORDER BY dead_letters.id DESC LIMIT $7`,
      [...filterValues(filter), after ?? null, limit],
    );
    return rows.map(numbered);
  }

  /** Ids matching the filter, oldest first (the order to replay in), at most `limit`. */
  async selectIds(manager: EntityManager, filter: DeadLetterFilter, limit: number): Promise<{ ids: number[]; total: number }> {
    const rows: { id: string; total: number }[] = await manager.query(
      `SELECT id::text AS id, count(*) OVER ()::int AS total FROM dead_letters WHERE ${FILTER} ORDER BY dead_letters.id LIMIT $6`,
      [...filterValues(filter), limit],
    );
    return { ids: rows.map((row) => Number(row.id)), total: rows[0]?.total ?? 0 };
  }

  async get(manager: EntityManager, id: number): Promise<DeadLetterRow | null> {
    const [row]: DeadLetterRow[] = await manager.query(`SELECT ${ROW_COLUMNS} FROM dead_letters WHERE id = $1`, [id]);
    return row ? numbered(row) : null;
  }

  /** The row, locked until the caller's transaction ends (null: no such dead letter). */
  async lockForUpdate(manager: EntityManager, id: number): Promise<DeadLetterRow | null> {
    const [row]: DeadLetterRow[] = await manager.query(`SELECT ${ROW_COLUMNS} FROM dead_letters WHERE id = $1 FOR UPDATE`, [id]);
    return row ? numbered(row) : null;
  }

  /** Moves a parked dead letter to `state`; false when it was not parked any more. */
  async resolve(manager: EntityManager, id: number, state: Exclude<DeadLetterState, 'parked'>, by: string, reason: string, at: Date): Promise<boolean> {
    const [rows]: [unknown[], number] = await manager.query(
      `UPDATE dead_letters SET state = $2, resolved_by = $3, resolved_reason = $4, resolved_at = $5 WHERE id = $1 AND state = 'parked' RETURNING id`,
      [id, state, by, reason, at],
    );
    return rows.length === 1;
  }

  async audit(manager: EntityManager, entry: Omit<DeadLetterAction, 'id'> & { deadLetterId: number }): Promise<void> {
    await manager.query('INSERT INTO dead_letter_actions (dead_letter_id, action, actor, reason, at, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      entry.deadLetterId,
      entry.action,
      entry.actor,
      entry.reason,
      entry.at,
      entry.outcome,
      entry.detail,
    ]);
  }

  /** The audit of one dead letter, oldest first. */
  async actions(manager: EntityManager, id: number): Promise<DeadLetterAction[]> {
    const rows: DeadLetterAction[] = await manager.query(
      'SELECT id::text AS id, action, actor, reason, at, outcome, detail FROM dead_letter_actions WHERE dead_letter_id = $1 ORDER BY dead_letter_actions.id',
      [id],
    );
    return rows.map(numbered);
  }

  /** How many dead letters are in each (state, source queue). */
  async counts(manager: EntityManager): Promise<{ state: DeadLetterState; sourceQueue: string | null; count: number }[]> {
    return manager.query('SELECT state, source_queue AS "sourceQueue", count(*)::int AS count FROM dead_letters GROUP BY state, source_queue ORDER BY state, source_queue');
  }

  async countParked(manager: EntityManager): Promise<number> {
    const [row]: { n: number }[] = await manager.query(`SELECT count(*)::int AS n FROM dead_letters WHERE state = 'parked'`);
    return row.n;
  }
}
