/**
 * SQL for the inbox table (processed_commands) and the per-step lock, as statements the toolkit
 * batches into its two round trips per command (libs/persistence pipelined-session.ts sends
 * each batch as ONE simple-protocol query). The statements are prepared once per connection and
 * run as EXECUTE with the values inlined as literals, so they are not parsed or planned again.
 *
 * Guarantees:
 * - The lock is a transaction-scoped advisory lock on (saga id, step), taken by its OWN statement
 *   placed BEFORE the lookup statement: under READ COMMITTED each statement of a multi-statement
 *   query takes its own snapshot once it starts, so the lookup (which starts only after the lock
 *   was granted) sees everything committed before, including by the holder we waited for. An
 *   action and its undo for the same step (and two deliveries of one message) are processed one
 *   at a time; the lock is released by commit or rollback, never leaked.
 * - The lock key is (ADVISORY_LOCK_NAMESPACE, hashtext(JSON of [saga id, step])), the very key
 *   earlier versions took with bound parameters, so old and new processes exclude each other.
 * - Every value that comes from a message (saga id, step, pattern, message ids, data) reaches
 *   the SQL only as an EXECUTE argument quoted by the pg driver's escapeLiteral (see
 *   libs/persistence pipelined-session.ts); the attempt is checked to be an integer first.
 *   JSON goes in as a jsonb argument of JSON.stringify's output, as a bound parameter did.
 * - The store statement returns the outcome as PostgreSQL stored it: replies are always built
 *   from the stored form, so a first reply and its replays are identical.
 */
import { commandMessageId, type Direction } from '#saga/core';
import type { PreparedStatement, SqlValue } from '#saga/persistence';
import type { QueryResult } from 'pg';
import type { StoredCommand } from './decision';
import type { StoredOutcome } from './outcomes';

/** First key of the two-key advisory lock: keeps the toolkit's locks apart from a service's own. */
export const ADVISORY_LOCK_NAMESPACE = 0x5a6a;

/** Builds the EXECUTE of a prepared statement with its values inlined as literals, quoted by the
 *  driver (PipelinedSession.execute; never hand-rolled). */
export interface StatementRunner {
  execute(statement: PreparedStatement, values: readonly SqlValue[]): string;
}

/** The toolkit's statements, prepared once per connection: each command then costs no parsing
 *  or planning of them, only their EXECUTE (its two round trips stay two). */
export const TOOLKIT_STATEMENTS = {
  lockStep: { name: 'toolkit_lock_step', sql: 'SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))' },
  lookup: { name: 'toolkit_lookup', sql: 'SELECT message_id, direction, pattern, outcome, request FROM processed_commands WHERE message_id IN ($1::text, $2::text)' },
  insert: {
    name: 'toolkit_insert_processed',
    sql: `INSERT INTO processed_commands (message_id, saga_id, step, direction, pattern, attempt, outcome, request)
          VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::int, $7::jsonb, $8::jsonb) RETURNING outcome`,
  },
  touch: { name: 'toolkit_touch_processed', sql: 'UPDATE processed_commands SET last_seen_at = now() WHERE message_id = $1::text' },
} as const satisfies Record<string, PreparedStatement>;

/** Statements to run in one round trip, and how to read their results (one per statement). */
export interface Batch<T> {
  statements: string[];
  read(results: QueryResult[]): T;
}

export interface ProcessedPair {
  /** The record of this very message (a duplicate). */
  existing: StoredCommand | undefined;
  /** The record of its counterpart: the action this undo undoes, or the undo that tombstoned
   *  this action. */
  counterpart: StoredCommand | undefined;
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

function integer(value: number): string {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${value} is not an integer that can be stored`);
  return String(value);
}

/** The lock key of a command's (saga id, step), as text; the toolkit hashes it in SQL. Batches
 *  take their locks in the order of these keys. */
export function stepLockKey(command: { sagaId: string; step: string }): string {
  return JSON.stringify([command.sagaId, command.step]);
}

/** The advisory lock on (saga id, step), held until commit or rollback. */
export function lockStep(runner: StatementRunner, command: { sagaId: string; step: string }): string {
  return runner.execute(TOOLKIT_STATEMENTS.lockStep, [ADVISORY_LOCK_NAMESPACE, stepLockKey(command)]);
}

/** The records of this message and of its counterpart; run only after lockStep (its own statement). */
export function lookupPair(runner: StatementRunner, command: { sagaId: string; step: string; direction: Direction }): Batch<ProcessedPair> {
  const { sagaId, step, direction } = command;
  const own = commandMessageId({ sagaId, step, direction });
  const other = commandMessageId({ sagaId, step, direction: direction === 'action' ? 'compensation' : 'action' });
  return {
    statements: [runner.execute(TOOLKIT_STATEMENTS.lookup, [own, other])],
    read: (results) => {
      const rows = results[0].rows as Row[];
      const existing = rows.find((row) => row.message_id === own);
      const counterpart = rows.find((row) => row.message_id === other);
      return { existing: existing && toStored(existing), counterpart: counterpart && toStored(counterpart) };
    },
  };
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

/** A duplicate was received: its record's retention window starts again (last_seen_at; see
 *  processed-commands-retention.ts). Sent with the COMMIT, so it costs no round trip. */
export function touchProcessed(runner: StatementRunner, messageId: string): string {
  return runner.execute(TOOLKIT_STATEMENTS.touch, [messageId]);
}

/** Stores the record and returns the outcome as stored (jsonb), so the first reply is
 *  byte-for-byte the one every duplicate will get. Serialises here: a value JSON cannot carry
 *  throws before anything is sent. */
export function insertProcessed(runner: StatementRunner, record: NewProcessedCommand): Batch<StoredOutcome> {
  integer(record.attempt);
  const values: SqlValue[] = [
    record.messageId,
    record.sagaId,
    record.step,
    record.direction,
    record.pattern,
    record.attempt,
    JSON.stringify(record.outcome),
    JSON.stringify(record.request ?? null),
  ];
  return {
    statements: [runner.execute(TOOLKIT_STATEMENTS.insert, values)],
    read: (results) => (results[0].rows as { outcome: StoredOutcome }[])[0].outcome,
  };
}
