/**
 * The hot-path SQL of the saga store: each event costs a lock, a read, one state write and
 * one effects write, whatever the number of steps, history entries, commands and timers.
 * Rows travel as one jsonb array per table (jsonb_to_recordset), so statements stay fixed.
 *
 * Guarantees: every statement runs inside the caller's transaction; the effects statement
 * signals the outbox channel only when it inserted outbox rows (NOTIFY is delivered at commit).
 */
/** Taken before LOAD_SAGA, in its own statement, so the read that follows sees every commit
 *  made before the lock was granted (one statement's snapshot predates its lock wait). */
export const LOCK_SAGA = 'SELECT 1 FROM saga_instances WHERE id = $1 FOR UPDATE';

export const LOAD_SAGA = `
  SELECT i.id, i.definition_name, i.definition_version, i.status, i.input, i.current_step, i.past_pivot,
         i.failure, i.version, i.created_at, i.updated_at,
         (SELECT jsonb_agg(jsonb_build_object(
                   'position', s.position, 'name', s.name, 'status', s.status, 'attempt', s.attempt,
                   'compensationAttempt', s.compensation_attempt, 'waitingForRetry', s.waiting_for_retry,
                   'request', s.request, 'result', s.result, 'lastError', s.last_error,
                   'startedAt', (extract(epoch FROM s.started_at) * 1000)::bigint,
                   'finishedAt', (extract(epoch FROM s.finished_at) * 1000)::bigint) ORDER BY s.position)
            FROM saga_steps s WHERE s.saga_id = i.id) AS steps
    FROM saga_instances i
   WHERE i.id = $1`;

const STEP_COLUMNS = `position int, name text, status text, attempt int, compensation_attempt int, waiting_for_retry boolean,
  request jsonb, result jsonb, last_error jsonb, started_at timestamptz, finished_at timestamptz`;

export const INSERT_SAGA = `
  WITH saga AS (
    INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, failure,
                                idempotency_key, input_hash, version, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11)
  )
  INSERT INTO saga_steps (saga_id, position, name, status, attempt, compensation_attempt, waiting_for_retry,
                          request, result, last_error, started_at, finished_at)
  SELECT $1, position, name, status, attempt, compensation_attempt, waiting_for_retry, request, result, last_error, started_at, finished_at
    FROM jsonb_to_recordset($12::jsonb) AS v(${STEP_COLUMNS})`;

/** Returns one row when the optimistic version matched; the steps update rides along. */
export const UPDATE_SAGA = `
  WITH saga AS (
    UPDATE saga_instances
       SET status = $2, current_step = $3, past_pivot = $4, failure = $5, updated_at = $6, version = version + 1
     WHERE id = $1 AND version = $7
    RETURNING version
  ), steps AS (
    UPDATE saga_steps s
       SET status = v.status, attempt = v.attempt, compensation_attempt = v.compensation_attempt,
           waiting_for_retry = v.waiting_for_retry, request = v.request, result = v.result, last_error = v.last_error,
           started_at = v.started_at, finished_at = v.finished_at
      FROM jsonb_to_recordset($8::jsonb) AS v(${STEP_COLUMNS})
     WHERE s.saga_id = $1 AND s.position = v.position
  )
  SELECT version FROM saga`;

export const WRITE_EFFECTS = `
  WITH history AS (
    INSERT INTO saga_history (saga_id, type, failure_type, at, step, direction, attempt, reason, detail)
    SELECT $1, type, "failureType", at, step, direction, attempt, reason, detail
      FROM jsonb_to_recordset($2::jsonb) AS h(type text, "failureType" text, at timestamptz, step text, direction text, attempt int, reason text, detail jsonb)
  ), outbox AS (
    INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at)
    SELECT $1, queue, body, properties, now()
      FROM jsonb_to_recordset($3::jsonb) AS o(queue text, body jsonb, properties jsonb)
    RETURNING id
  ), cancelled AS (
    DELETE FROM saga_timers WHERE id = ANY($4::text[])
  ), timers AS (
    INSERT INTO saga_timers (id, saga_id, fire_at, event)
    SELECT id, $1, fire_at, event FROM jsonb_to_recordset($5::jsonb) AS t(id text, fire_at timestamptz, event jsonb)
    ON CONFLICT (id) DO NOTHING
  )
  SELECT pg_notify($6, $1::text) FROM (SELECT 1 FROM outbox LIMIT 1) AS any_command`;

/** Due timers, oldest first: a range scan of ix_saga_timers_fire_at, however many wait later. */
export const DUE_TIMERS = 'SELECT id, saga_id AS "sagaId", fire_at AS "fireAt", event FROM saga_timers WHERE fire_at <= $1 ORDER BY fire_at LIMIT $2';
