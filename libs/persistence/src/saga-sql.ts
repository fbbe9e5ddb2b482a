/**
 * The hot-path SQL of the saga store. Each statement takes any number of sagas at once, so a
 * batch of events costs a lock, a read (with the inbox claim) and one write, however many sagas,
 * steps, history entries, commands and timers it carries. Rows travel as one jsonb array per
 * table (jsonb_to_recordset) or one array parameter, so the statements stay fixed (and cached).
 *
 * Guarantees:
 * - LOCK_SAGAS locks in id order, so two transactions locking overlapping sets never deadlock.
 * - LOAD_SAGAS runs after the lock, in a statement of its own: it sees every commit made before
 *   the locks were granted (a statement's snapshot predates its own lock wait).
 * - WRITE_DECISIONS and START_SAGAS are single statements: all their rows commit together or not
 *   at all; WRITE_DECISIONS updates a saga only if its optimistic version still matches and
 *   reports how many it updated. Both return the outbox ids they wrote, keyed by correlation id,
 *   so the caller can publish those commands after the commit and delete the rows.
 * - START_SAGAS leaves out a saga whose idempotency key is taken, with every row of it (steps,
 *   history, outbox, timers), instead of failing, and returns the ids it stored: a batch of keyed
 *   starts is one statement even when some keys were used before.
 * - No NOTIFY: a commit never takes PostgreSQL's global notify lock (commits stay group-committed).
 * - WRITE_DECISIONS (and so CLAIM_AND_WRITE) and START_SAGAS also delete the outbox rows whose
 *   commands the broker confirmed (published-outbox.ts), as a part of the same statement: rows
 *   another transaction holds (the relay claiming them) are skipped, never waited for; the relay
 *   then deletes them itself, or publishes them again if it rolls back (at-least-once).
 */
/** Locks the sagas that exist among $1 and returns their ids. */
export const LOCK_SAGAS = 'SELECT id FROM saga_instances WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE';

/** Sagas $1 with their steps, as one row: `sagas` (jsonb array, epoch-ms times) and `claimed`,
 *  the inbox keys $2 (for sagas $3) this statement claimed (a key already there, or twice in $2,
 *  is claimed once; keys of sagas that do not exist are not stored). */
export const LOAD_SAGAS = `
  WITH claimed AS (
    INSERT INTO saga_inbox (message_key, saga_id, received_at)
    SELECT key, saga_id, now() FROM unnest($2::text[], $3::uuid[]) AS c(key, saga_id)
     WHERE EXISTS (SELECT 1 FROM saga_instances WHERE id = c.saga_id)
    ON CONFLICT (message_key) DO NOTHING
    RETURNING message_key
  )
  SELECT (SELECT coalesce(array_agg(message_key), '{}') FROM claimed) AS claimed,
         (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'id', i.id, 'name', i.definition_name, 'definitionVersion', i.definition_version, 'status', i.status,
                   'input', i.input, 'current', i.current_step, 'pastPivot', i.past_pivot, 'failure', i.failure,
                   'version', i.version,
                   'createdAt', (extract(epoch FROM i.created_at) * 1000)::bigint,
                   'updatedAt', (extract(epoch FROM i.updated_at) * 1000)::bigint,
                   'steps', (SELECT jsonb_agg(jsonb_build_object(
                               'name', s.name, 'status', s.status, 'attempt', s.attempt,
                               'compensationAttempt', s.compensation_attempt, 'waitingForRetry', s.waiting_for_retry,
                               'request', s.request, 'result', s.result, 'lastError', s.last_error,
                               'startedAt', (extract(epoch FROM s.started_at) * 1000)::bigint,
                               'finishedAt', (extract(epoch FROM s.finished_at) * 1000)::bigint,
                               'repair', s.repair) ORDER BY s.position)
                               FROM saga_steps s WHERE s.saga_id = i.id))), '[]')
            FROM saga_instances i WHERE i.id = ANY($1::uuid[])) AS sagas`;

/** Claims inbox keys $1 for sagas $2 without loading anything (used where no state is needed). */
export const CLAIM_INBOX = `
  INSERT INTO saga_inbox (message_key, saga_id, received_at)
  SELECT key, saga_id, now() FROM unnest($1::text[], $2::uuid[]) AS c(key, saga_id)
  ON CONFLICT (message_key) DO NOTHING
  RETURNING message_key`;

const STEP_COLUMNS = `position int, name text, status text, attempt int, compensation_attempt int, waiting_for_retry boolean,
  request jsonb, result jsonb, last_error jsonb, started_at timestamptz, finished_at timestamptz, repair jsonb`;

/** The rows of $`param` (a jsonb array) for one table; `where`: which of them (START_SAGAS keeps
 *  the rows of the sagas it stored), all when omitted. */
const historyInsert = (param: number, where?: string) => `
  INSERT INTO saga_history (saga_id, type, failure_type, at, step, direction, attempt, reason, detail)
  SELECT saga_id, type, "failureType", at, step, direction, attempt, reason, detail
    FROM jsonb_to_recordset($${param}::jsonb)
      AS h(saga_id uuid, type text, "failureType" text, at timestamptz, step text, direction text, attempt int, reason text, detail jsonb)${whereClause(where)}`;

const outboxInsert = (param: number, where?: string) => `
  INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at)
  SELECT saga_id, queue, body, properties, now()
    FROM jsonb_to_recordset($${param}::jsonb) AS o(saga_id uuid, queue text, body jsonb, properties jsonb)${whereClause(where)}
  RETURNING id, properties->>'correlationId' AS correlation_id`;

const timersInsert = (param: number, where?: string) => `
  INSERT INTO saga_timers (id, saga_id, fire_at, event)
  SELECT id, saga_id, fire_at, event FROM jsonb_to_recordset($${param}::jsonb) AS t(id text, saga_id uuid, fire_at timestamptz, event jsonb)${whereClause(where)}
  ON CONFLICT (id) DO NOTHING`;

/** Deletes the confirmed outbox rows $`param` (bigint[]; often empty). */
const publishedDelete = (param: number) => `
  DELETE FROM saga_outbox WHERE id IN (SELECT id FROM saga_outbox WHERE id = ANY($${param}::bigint[]) FOR UPDATE SKIP LOCKED)`;

const whereClause = (where: string | undefined): string => (where === undefined ? '' : `\n   WHERE ${where}`);

/** START_SAGAS: a row of a saga the statement stored (its `saga` part returned the id). */
const OF_STORED_SAGA = 'saga_id IN (SELECT id FROM saga)';

const OUTBOX_IDS = `(SELECT coalesce(jsonb_agg(jsonb_build_object('id', id::text, 'correlationId', correlation_id)), '[]') FROM outbox)`;

/** Marks the error WRITE_DECISIONS raises when a saga's version did not match. */
export const CONCURRENT_UPDATE_MARK = 'concurrent saga update';

/**
 * $1 saga rows (id, status, current_step, past_pivot, failure, updated_at, version = the version
 * loaded, has_exceptions = the decision wrote a failure entry: the flag is only ever set), $2
 * changed step rows (saga_id + STEP_COLUMNS), $3 history, $4 outbox rows, $5 timer ids to
 * cancel, $6 new timers, $7 the number of saga rows in $1, $8 confirmed outbox rows to delete
 * (bigint[]). Returns `outbox`. If fewer sagas
 * than $7 had the version loaded, the statement fails (an error naming CONCURRENT_UPDATE_MARK),
 * so nothing of it is written and a COMMIT sent after it in the same batch never runs.
 */
export const WRITE_DECISIONS = `
  WITH sagas AS (
    UPDATE saga_instances i
       SET status = v.status, current_step = v.current_step, past_pivot = v.past_pivot, failure = v.failure,
           updated_at = v.updated_at, version = i.version + 1, has_exceptions = i.has_exceptions OR v.has_exceptions
      FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, status text, current_step int, past_pivot boolean, failure jsonb, updated_at timestamptz,
                                              version int, has_exceptions boolean)
     WHERE i.id = v.id AND i.version = v.version
       -- Names the ids again as an array: the planner then reads the few rows by primary key
       -- (it cannot size jsonb_to_recordset and would otherwise scan and hash the whole table).
       AND i.id = ANY (ARRAY(SELECT (row->>'id')::uuid FROM jsonb_array_elements($1::jsonb) AS row))
    RETURNING i.id
  ), steps AS (
    UPDATE saga_steps s
       SET status = v.status, attempt = v.attempt, compensation_attempt = v.compensation_attempt,
           waiting_for_retry = v.waiting_for_retry, request = v.request, result = v.result, last_error = v.last_error,
           started_at = v.started_at, finished_at = v.finished_at, repair = v.repair
      FROM jsonb_to_recordset($2::jsonb) AS v(saga_id uuid, ${STEP_COLUMNS})
     WHERE s.saga_id = v.saga_id AND s.position = v.position
       AND s.saga_id = ANY (ARRAY(SELECT (row->>'saga_id')::uuid FROM jsonb_array_elements($2::jsonb) AS row))
  ), history AS (${historyInsert(3)}
  ), outbox AS (${outboxInsert(4)}
  ), cancelled AS (
    DELETE FROM saga_timers WHERE id = ANY($5::text[])
  ), timers AS (${timersInsert(6)}
  ), published AS (${publishedDelete(8)}
  )
  SELECT ${OUTBOX_IDS} AS outbox,
         CASE WHEN (SELECT count(*) FROM sagas) = $7 THEN 0
              ELSE CAST('${CONCURRENT_UPDATE_MARK}: ' || (SELECT count(*) FROM sagas) || ' of ' || $7 || ' sagas had the version loaded' AS int) END AS version_check`;

/**
 * WRITE_DECISIONS for states the caller already holds (the runtime's cache), as ONE statement
 * without a transaction around it: it also claims inbox keys $9 for sagas $10, strictly. A key
 * claimed before fails the whole statement with a unique violation (23505), a version that is
 * not the one the caller holds fails it with CONCURRENT_UPDATE_MARK: nothing is written either
 * way, and the caller goes back to locking and reading.
 */
export const CLAIM_AND_WRITE = WRITE_DECISIONS.replace(
  'WITH sagas AS (',
  `WITH claimed AS (
    INSERT INTO saga_inbox (message_key, saga_id, received_at)
    SELECT key, saga_id, now() FROM unnest($9::text[], $10::uuid[]) AS c(key, saga_id)
  ), sagas AS (`,
);

/**
 * WRITE_DECISIONS that also touches the sagas $`param` (uuid[]): those whose history it writes
 * without writing their saga row (a duplicate reply, a note). A touch moves the version, so
 * every write of a saga moves it, and sets has_exceptions on those of them in $`param + 1`
 * (uuid[]: a failure entry). Used only for such writes, which are rare: every other write keeps
 * the plain statement. The ids never include a saga of $1 (one statement updates a row once).
 */
export function touchingSagas(sql: string, param: number): string {
  const at = sql.lastIndexOf('\n  )\n  SELECT ');
  return `${sql.slice(0, at)}
  ), touched AS (
    UPDATE saga_instances SET version = version + 1, has_exceptions = has_exceptions OR id = ANY($${param + 1}::uuid[])
     WHERE id = ANY($${param}::uuid[])${sql.slice(at)}`;
}

/**
 * New sagas with their steps and the effects of their first decisions, in one statement (atomic
 * without an explicit transaction): $1 the instance rows, $2 their steps (saga_id + STEP_COLUMNS),
 * $3 history, $4 outbox, $5 timers, $6 confirmed outbox rows to delete (bigint[]). Returns
 * `outbox` and `stored`, the ids of the sagas stored.
 *
 * A saga whose idempotency key its definition already holds (uq_saga_idempotency: stored before,
 * being stored by a concurrent statement, or earlier in this one) is not stored, and neither is
 * any other row of it: every table keeps only the rows of the sagas `saga` returned. So one taken
 * key never fails the statement; the caller learns it from `stored`. The keys are inserted in
 * sorted order, so two statements racing for the same keys wait for each other in one order
 * (never a deadlock). Any other unique violation (a saga id taken) fails it whole, writing nothing.
 */
export const START_SAGAS = `
  WITH saga AS (
    INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, failure,
                                idempotency_key, input_hash, version, created_at, updated_at,
                                definition_fingerprint, business_key, has_exceptions)
    SELECT id, definition_name, definition_version, status, coalesce(input, 'null'::jsonb), current_step, past_pivot, failure,
           idempotency_key, input_hash, 1, created_at, created_at,
           definition_fingerprint, business_key, coalesce(has_exceptions, false)
      FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, definition_name text, definition_version int, status text, input jsonb,
                                              current_step int, past_pivot boolean, failure jsonb, idempotency_key text,
                                              input_hash text, created_at timestamptz,
                                              definition_fingerprint text, business_key text, has_exceptions boolean)
     ORDER BY definition_name, idempotency_key
    ON CONFLICT (definition_name, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
  ), steps AS (
    INSERT INTO saga_steps (saga_id, position, name, status, attempt, compensation_attempt, waiting_for_retry,
                            request, result, last_error, started_at, finished_at, repair)
    SELECT saga_id, position, name, status, attempt, compensation_attempt, waiting_for_retry, request, result, last_error, started_at, finished_at, repair
      FROM jsonb_to_recordset($2::jsonb) AS v(saga_id uuid, ${STEP_COLUMNS})
     WHERE ${OF_STORED_SAGA}
  ), history AS (${historyInsert(3, OF_STORED_SAGA)}
  ), outbox AS (${outboxInsert(4, OF_STORED_SAGA)}
  ), timers AS (${timersInsert(5, OF_STORED_SAGA)}
  ), published AS (${publishedDelete(6)}
  )
  SELECT ${OUTBOX_IDS} AS outbox, (SELECT coalesce(array_agg(id::text), '{}') FROM saga) AS stored`;

/** Deletes timer $1 if no one else holds it. SKIP LOCKED: a timer another replica is firing right
 *  now is not waited for; if that replica rolls back, the row is still there and fires later. */
export const CLAIM_TIMER =
  'DELETE FROM saga_timers WHERE id = (SELECT id FROM saga_timers WHERE id = $1 FOR UPDATE SKIP LOCKED) RETURNING id, saga_id AS "sagaId", fire_at AS "fireAt", event';

/** The due timer row a scheduler read: its id AND a fire time no later than the one read (to
 *  the millisecond, the precision the read gave it). A timer set again under the same id (a
 *  refused deadline is) is a new, later row: not the one that came due, it fires at its own time. */
export const CLAIM_DUE_TIMER =
  'DELETE FROM saga_timers WHERE id = (SELECT id FROM saga_timers WHERE id = $1 AND date_trunc(\'milliseconds\', fire_at) <= $2 FOR UPDATE SKIP LOCKED) RETURNING id, saga_id AS "sagaId", fire_at AS "fireAt", event';

export const POSTPONE_TIMER = 'UPDATE saga_timers SET fire_at = $2 WHERE id = $1';

/** Saga $1's pending retry and timeout timers, soonest first (ix_saga_timers_saga). */
export const PENDING_ATTEMPT_TIMERS = `SELECT id, fire_at AS "fireAt", event FROM saga_timers
  WHERE saga_id = $1 AND event->>'type' IN ('RETRY_DUE', 'ATTEMPT_TIMED_OUT') ORDER BY fire_at, id`;

/** The entry actor $3's operator request key $2 recorded on saga $1. */
export const OPERATOR_ENTRY = `SELECT type, failure_type AS "failureType", at, step, direction, attempt, reason, detail FROM saga_history
  WHERE saga_id = $1 AND type IN ('OPERATOR_ACTION', 'OPERATOR_ACTION_REJECTED') AND detail->>'requestKey' = $2 AND detail->>'by' = $3
  ORDER BY id LIMIT 1`;

/** Due timers, oldest first: a range scan of ix_saga_timers_fire_at, however many wait later. */
export const DUE_TIMERS = 'SELECT id, saga_id AS "sagaId", fire_at AS "fireAt", event FROM saga_timers WHERE fire_at <= $1 ORDER BY fire_at LIMIT $2';

/** When the first timer after $1 fires, in epoch ms with the microseconds kept (null: none): the
 *  first entry of ix_saga_timers_fire_at past $1, so the scheduler can sleep until then. */
export const NEXT_TIMER_AT = 'SELECT (extract(epoch FROM min(fire_at)) * 1000)::float8 AS at FROM saga_timers WHERE fire_at > $1';

/** The reply batch's statements, prepared once per connection (PipelinedSession.prepare). */
export const BATCH_STATEMENTS = {
  lock: { name: 'saga_batch_lock', sql: LOCK_SAGAS },
  load: { name: 'saga_batch_load', sql: LOAD_SAGAS },
  write: { name: 'saga_batch_write', sql: WRITE_DECISIONS },
  writeTouching: { name: 'saga_batch_write_touching', sql: touchingSagas(WRITE_DECISIONS, 9) },
} as const;
