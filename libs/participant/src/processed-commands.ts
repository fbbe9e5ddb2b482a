/**
 * SQL for the inbox table (processed_commands) and the per-step lock, always run on the caller's
 * transaction (an EntityManager bound to the toolkit's QueryRunner).
 *
 * Guarantees:
 * - lockStep takes a transaction-scoped advisory lock on (saga id, step): an action and its undo
 *   for the same step (and two deliveries of one message) are processed one at a time; the lock
 *   is released by commit or rollback, never leaked.
 * - Lookups run after the lock, so under READ COMMITTED they see everything committed before.
 * - insertProcessed returns the outcome as PostgreSQL stored it: replies are always built from
 *   the stored form, so a first reply and its replays are identical.
 */
import { commandMessageId, type Direction } from '#saga/core';
import type { EntityManager } from 'typeorm';
import type { StoredCommand } from './decision';
import type { StoredOutcome } from './outcomes';

/** First key of the two-key advisory lock: keeps the toolkit's locks apart from a service's own. */
export const ADVISORY_LOCK_NAMESPACE = 0x5a6a;

export async function lockStep(manager: EntityManager, sagaId: string, step: string): Promise<void> {
  await manager.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2))', [ADVISORY_LOCK_NAMESPACE, JSON.stringify([sagaId, step])]);
}

interface Row {
  message_id: string;
  direction: Direction;
  pattern: string;
  outcome: StoredOutcome;
  request: unknown;
}

function toStored(row: Row): StoredCommand {
  return { messageId: row.message_id, direction: row.direction, pattern: row.pattern, outcome: row.outcome, request: row.request };
}

/** The record of this very message (a duplicate) and of its counterpart (the action this undo
 *  undoes, or the undo that tombstoned this action), in one round trip. */
export async function findProcessedPair(
  manager: EntityManager,
  sagaId: string,
  step: string,
  direction: Direction,
): Promise<{ existing: StoredCommand | undefined; counterpart: StoredCommand | undefined }> {
  const own = commandMessageId({ sagaId, step, direction });
  const other = commandMessageId({ sagaId, step, direction: direction === 'action' ? 'compensation' : 'action' });
  const rows: Row[] = await manager.query(
    'SELECT message_id, direction, pattern, outcome, request FROM processed_commands WHERE message_id IN ($1, $2)',
    [own, other],
  );
  const existing = rows.find((row) => row.message_id === own);
  const counterpart = rows.find((row) => row.message_id === other);
  return { existing: existing && toStored(existing), counterpart: counterpart && toStored(counterpart) };
}

export interface NewProcessedCommand {
  messageId: string;
  sagaId: string;
  step: string;
  direction: Direction;
  pattern: string;
  attempt: number;
  outcome: StoredOutcome;
  request: unknown;
}

/** Stores the record and returns the outcome as stored (jsonb), so the first reply is
 *  byte-for-byte the one every duplicate will get. */
export async function insertProcessed(manager: EntityManager, record: NewProcessedCommand): Promise<StoredOutcome> {
  const rows: { outcome: StoredOutcome }[] = await manager.query(
    `INSERT INTO processed_commands (message_id, saga_id, step, direction, pattern, attempt, outcome, request)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)
     RETURNING outcome`,
    [
      record.messageId,
      record.sagaId,
      record.step,
      record.direction,
      record.pattern,
      record.attempt,
      JSON.stringify(record.outcome),
      JSON.stringify(record.request ?? null),
    ],
  );
  return rows[0].outcome;
}
