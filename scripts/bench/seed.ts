/**
 * Seeds an orchestrator database with realistic growth: `finished` terminal sagas and `waiting`
 * running ones, written set-based (generate_series) in batches of BATCH_SAGAS sagas per
 * transaction, two batches at a time, so 1M + 100k sagas take minutes, not hours.
 *
 * Guarantees:
 * - Every row is what the engine and SagaStore would have written for the same saga (same
 *   columns, statuses, history types and fields, timer ids and events, inbox keys), so the
 *   product loads, lists and reads seeded sagas like any other (SagaStore.loadForUpdate included).
 * - Finished sagas: 9 in 10 COMPLETED; every 10th COMPENSATED (its failing step, by default the
 *   step before the pivot, else the last, is DECLINED; earlier compensable steps are undone in
 *   reverse order). One saga_steps row per step, the history the engine records (SAGA_STARTED,
 *   COMMAND_SENT / REPLY_RECEIVED per step, ... SAGA_COMPLETED or SAGA_COMPENSATED), one inbox
 *   row per reply handled; no outbox rows, no timers. Created over the last 30 days.
 * - business_key is what the runtime stores for the definition's businessKey (the seeded input
 *   has customerId "customer-<n % 50000>"); has_exceptions is true exactly for the sagas whose
 *   seeded history has a failure entry (the COMPENSATED ones).
 * - Waiting sagas: RUNNING, first step (current_step 0) in flight at attempt 1, history
 *   SAGA_STARTED + COMMAND_SENT, and exactly one saga_timers row: the step's ATTEMPT_TIMED_OUT
 *   timer (id `${sagaId}/${step}/action/1/timeout`, as the engine writes it) due 30 days after
 *   the command was sent (created over the last day, so due 29..30 days ahead).
 * - Adds to what is there (fresh random uuids, as the runtime uses); runs the migrations if
 *   the tables are missing; drops or disables nothing (indexes stay). Ends with VACUUM (ANALYZE):
 *   fresh statistics, and the visibility map and hint bits a long-lived database would have (so
 *   no insert-triggered autovacuum of ~10M rows lands in the middle of a following bench).
 * - Each batch commits alone: after a failure, the batches already reported stay.
 */
import 'reflect-metadata';
import { expiryGraceMs, MAX_BUSINESS_KEY_LENGTH, parseBusinessKeyPath, timeoutFor, type SagaDefinition } from '#saga/core';
import { Client } from 'pg';
import { openSagaDataSource } from '../../libs/persistence/src/saga-data-source';

export interface SeedStepDetail {
  command: string;
  /** The undo command; steps without one are never compensated. */
  compensation?: string;
  timeoutMs: number;
  pivot?: boolean;
}

export interface SeedOptions {
  databaseUrl: string;
  finished: number;
  waiting: number;
  /** Optional `details` (one per step, see seedDefinitionOf) make commands, timeouts, pivot and
   *  compensations match a real definition; without them every step is compensable, its command
   *  is its name and its timeout 5 s. */
  definition: { name: string; version: number; steps: string[]; details?: SeedStepDetail[]; businessKey?: string };
  onProgress?: (done: number, total: number) => void;
}

export interface SeedResult {
  finished: number;
  waiting: number;
  seconds: number;
  /** pg_size_pretty(pg_total_relation_size) of each saga_* table, indexes included. */
  tableSizes: Record<string, string>;
}

export const BATCH_SAGAS = 50_000;
const WORKERS = 2;
const FINISHED_SPAN_MS = 30 * 86_400_000;
const WAITING_SPAN_MS = 86_400_000;
/** The waiting step's timeout: its timer is due this long after the command was sent. */
export const WAITING_TIMEOUT_MS = 30 * 86_400_000;
/** Base time between a command and its reply; each saga scales it by a random 0.5..3. */
const REPLY_MS = 40;
const DECLINED = { code: 'DECLINED', message: "amount is above the customer's charge limit" };
const TABLES = ['saga_instances', 'saga_steps', 'saga_history', 'saga_outbox', 'saga_inbox', 'saga_timers'];

/** The seed view of a real definition: step names, commands, timeouts, compensations, pivot. */
export function seedDefinitionOf(definition: SagaDefinition): SeedOptions['definition'] {
  const { name, version, steps } = definition;
  const details = steps.map((step, i) => ({
    command: step.action.command,
    compensation: step.compensation?.command,
    timeoutMs: timeoutFor(definition, i, 'action'),
    pivot: step.pivot === true,
  }));
  return { name, version, steps: steps.map((step) => step.name), details, businessKey: definition.businessKey };
}

/** The property names of a business key path, or null (the saga has none). */
function businessKeyPath(path: string | undefined): string[] | null {
  if (path === undefined) return null;
  const parsed = parseBusinessKeyPath(path);
  if (!parsed.ok) throw new Error(`businessKey ${parsed.error}`);
  return parsed.segments;
}

type Kind = 'completed' | 'compensated' | 'waiting';

/** Replays what the engine decides for one saga of `kind`, with times as offsets (ms) from its
 *  start; SQL then stamps the plan on every saga of the batch (times scaled per saga). */
function plan(definition: SeedOptions['definition'], kind: Kind) {
  const details = definition.steps.map((name, i) => definition.details?.[i] ?? { command: name, compensation: `${name}.undo`, timeoutMs: 5_000 });
  const pivot = details.findIndex((d) => d.pivot);
  const failAt = kind === 'compensated' ? Math.max(0, (pivot >= 0 ? pivot : details.length) - 1) : -1;
  const steps = definition.steps.map((name, pos) => ({
    kind,
    pos,
    name,
    status: 'PENDING',
    attempt: 0,
    comp: 0,
    started: null as number | null,
    finished: null as number | null,
    result: false,
    error: null as object | null,
  }));
  const [history, inbox]: object[][] = [[], []];
  const saga = { kind, status: 'RUNNING', current_step: 0, past_pivot: false, failure: null as object | null, version: 1, updated: 0, has_exceptions: false };
  let t = 0;
  const record = (type: string, fields: Record<string, unknown> = {}) =>
    history.push({
      kind,
      seq: history.length,
      type,
      off: t,
      failure_type: null,
      step: null,
      direction: null,
      attempt: null,
      reason: null,
      detail: null,
      expires_in: null,
      ...fields,
    });
  const send = (pos: number, direction: 'action' | 'compensation') => {
    const step = steps[pos];
    if (direction === 'action') Object.assign(step, { status: 'RUNNING', attempt: 1, started: t });
    else Object.assign(step, { status: 'COMPENSATING', comp: 1 });
    const timeoutMs = kind === 'waiting' ? WAITING_TIMEOUT_MS : details[pos].timeoutMs;
    const command = direction === 'action' ? details[pos].command : details[pos].compensation;
    saga.current_step = pos;
    record(direction === 'action' ? 'COMMAND_SENT' : 'COMPENSATION_SENT', { step: step.name, direction, attempt: 1, detail: { command }, expires_in: timeoutMs });
  };
  const reply = (pos: number, direction: 'action' | 'compensation', declined = false) => {
    t += REPLY_MS * (1 + pos);
    Object.assign(saga, { version: saga.version + 1, updated: t });
    inbox.push({ kind, key: `${steps[pos].name}/${direction}/1`, off: t });
    const where = { step: steps[pos].name, direction, attempt: 1 };
    if (declined) record('REPLY_RECEIVED', { ...where, failure_type: 'business', reason: DECLINED.code, detail: { outcome: 'failure', message: DECLINED.message } });
    else record('REPLY_RECEIVED', { ...where, reason: 'success' });
  };
  record('SAGA_STARTED', { detail: { definition: `${definition.name}@${definition.version}` } });
  send(0, 'action');
  for (let pos = 0; kind !== 'waiting' && pos < steps.length; pos++) {
    const step = steps[pos];
    if (pos === failAt) {
      reply(pos, 'action', true);
      Object.assign(step, { status: 'FAILED', finished: t, error: DECLINED });
      record('STEP_FAILED', { step: step.name, direction: 'action', attempt: 1, failure_type: 'business', reason: DECLINED.code, detail: { message: DECLINED.message } });
      saga.failure = { step: step.name, type: 'business', ...DECLINED };
      record('COMPENSATION_STARTED', { step: step.name, direction: 'compensation', reason: DECLINED.code, detail: { message: DECLINED.message } });
      for (let undo = pos - 1; undo >= 0; undo--) {
        if (!details[undo].compensation) continue;
        send(undo, 'compensation');
        reply(undo, 'compensation');
        Object.assign(steps[undo], { status: 'COMPENSATED', finished: t });
      }
      Object.assign(saga, { status: 'COMPENSATED', current_step: -1 });
      record('SAGA_COMPENSATED', { reason: DECLINED.code });
      break;
    }
    reply(pos, 'action');
    Object.assign(step, { status: 'SUCCEEDED', finished: t, result: true });
    if (details[pos].pivot) saga.past_pivot = true;
    if (pos + 1 < steps.length) send(pos + 1, 'action');
    else {
      Object.assign(saga, { status: 'COMPLETED', current_step: -1 });
      record('SAGA_COMPLETED');
    }
  }
  saga.has_exceptions = history.some((entry) => (entry as { failure_type: string | null }).failure_type !== null);
  return { saga, steps, history, inbox };
}

/** A time `offset` ms (scaled by the saga's speed) after the saga's start, whole milliseconds. */
const at = (offset: string) => `(timestamptz 'epoch' + (b.ms + round(${offset} * b.speed)::bigint) * interval '1 millisecond')`;

/** The definition's business key of a seeded input: string or number values, cut as the runtime cuts them. */
const BUSINESS_KEY = `CASE WHEN jsonb_typeof(b.input #> $4::text[]) IN ('string', 'number') THEN left(b.input #>> $4::text[], ${MAX_BUSINESS_KEY_LENGTH}) END`;

/** $1 first index, $2 last index, $3 start of the span (epoch ms), $4 ms between sagas, $5 waiting batch. */
const BATCH = `
  CREATE TEMP TABLE seed_batch ON COMMIT DROP AS
  SELECT gen_random_uuid() AS id, g AS n, kind, $3::bigint + ((g - $1) * $4::float8)::bigint AS ms, 0.5 + random() * 2.5 AS speed, input::jsonb AS input,
         encode(sha256(convert_to(input, 'UTF8')), 'hex') AS hash
    FROM (SELECT g, kind, format('{"amount":%s,"customerId":"customer-%s","items":[{"quantity":%s,"sku":"sku-%s"}]}',
                  CASE WHEN kind = 'compensated' THEN 20000 + g % 1000 ELSE 10 + g % 490 END, g % 50000, 1 + g % 3, g % 500) AS input
            FROM (SELECT g, CASE WHEN $5 THEN 'waiting' WHEN g % 10 = 9 THEN 'compensated' ELSE 'completed' END AS kind
                    FROM generate_series($1::bigint, $2::bigint) AS g) AS k) AS i`;

const INSTANCES = `
  INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, failure,
                              idempotency_key, input_hash, version, created_at, updated_at, business_key, has_exceptions)
  SELECT b.id, $2::text, $3::int, p.status, b.input, p.current_step, p.past_pivot, p.failure,
         CASE WHEN b.n % 2 = 0 THEN 'order-' || b.id END, b.hash, p.version, ${at('0')}, ${at('p.updated')}, ${BUSINESS_KEY}, p.has_exceptions
    FROM seed_batch b JOIN jsonb_to_recordset($1::jsonb) AS p(kind text, status text, current_step int, past_pivot boolean,
                                                             failure jsonb, version int, updated int, has_exceptions boolean) USING (kind)
   ORDER BY b.n`;

const STEPS = `
  INSERT INTO saga_steps (saga_id, position, name, status, attempt, compensation_attempt, waiting_for_retry, request, result, last_error, started_at, finished_at)
  SELECT b.id, s.pos, s.name, s.status, s.attempt, s.comp, false,
         CASE WHEN s.started IS NOT NULL THEN jsonb_build_object('sagaId', b.id) || b.input END,
         CASE WHEN s.result THEN jsonb_build_object('id', b.id || '/' || s.name, 'status', 'DONE') END,
         s.error, CASE WHEN s.started IS NOT NULL THEN ${at('s.started')} END, CASE WHEN s.finished IS NOT NULL THEN ${at('s.finished')} END
    FROM seed_batch b JOIN jsonb_to_recordset($1::jsonb) AS s(kind text, pos int, name text, status text, attempt int, comp int,
                                                             started int, finished int, result boolean, error jsonb) USING (kind)
   ORDER BY b.n, s.pos`;

/** The history in engine order (ids follow it); COMMAND_SENT details get their expiresAt. */
const HISTORY = `
  INSERT INTO saga_history (saga_id, type, failure_type, at, step, direction, attempt, reason, detail)
  SELECT b.id, h.type, h.failure_type, ${at('h.off')}, h.step, h.direction, h.attempt, h.reason,
         CASE WHEN h.expires_in IS NULL THEN h.detail
              ELSE h.detail || jsonb_build_object('expiresAt', b.ms + round(h.off * b.speed)::bigint + h.expires_in) END
    FROM seed_batch b JOIN jsonb_to_recordset($1::jsonb) AS h(kind text, seq int, type text, failure_type text, off int, step text,
                                                             direction text, attempt int, reason text, detail jsonb, expires_in bigint) USING (kind)
   ORDER BY b.n, h.seq`;

const INBOX = `
  INSERT INTO saga_inbox (message_key, saga_id, received_at)
  SELECT b.id || '/' || i.key, b.id, ${at('i.off')}
    FROM seed_batch b JOIN jsonb_to_recordset($1::jsonb) AS i(kind text, key text, off int) USING (kind)`;

/** The first step's action timed out at attempt 1: the timer SagaStore would have written. */
const TIMERS = `
  INSERT INTO saga_timers (id, saga_id, fire_at, event)
  SELECT b.id || '/' || $1::text || '/action/1/timeout', b.id, timestamptz 'epoch' + (b.ms + $2::bigint) * interval '1 millisecond',
         jsonb_build_object('type', 'ATTEMPT_TIMED_OUT', 'step', $1::text, 'direction', 'action', 'attempt', 1)
    FROM seed_batch b WHERE b.kind = 'waiting'`;

export async function seedSagas(options: SeedOptions): Promise<SeedResult> {
  const { databaseUrl, finished, waiting, definition } = options;
  if (!Number.isInteger(finished) || finished < 0 || !Number.isInteger(waiting) || waiting < 0) throw new Error('finished and waiting must be integers >= 0');
  if (definition.steps.length === 0) throw new Error(`definition ${definition.name} has no steps`);
  if (definition.details && definition.details.length !== definition.steps.length) throw new Error('definition.details needs one entry per step');
  const started = Date.now();
  await (await openSagaDataSource(databaseUrl, 1)).destroy(); // creates the tables when missing

  const plans = (['completed', 'compensated', 'waiting'] as const).map((kind) => plan(definition, kind));
  const rows = (part: 'steps' | 'history' | 'inbox') => JSON.stringify(plans.flatMap((p) => p[part]));
  const statements: [string, unknown[]][] = [
    [INSTANCES, [JSON.stringify(plans.map((p) => p.saga)), definition.name, definition.version, businessKeyPath(definition.businessKey)]],
    [STEPS, [rows('steps')]],
    [HISTORY, [rows('history')]],
    [INBOX, [rows('inbox')]],
  ];
  const firstStep = definition.steps[0];
  const firstTimeout = WAITING_TIMEOUT_MS + expiryGraceMs(WAITING_TIMEOUT_MS);
  // Batches: [first, last] indexes, span start and spacing; finished sagas first (older), then waiting.
  const batches: { first: number; last: number; startMs: number; stepMs: number; waiting: boolean }[] = [];
  for (const [count, isWaiting, span] of [
    [finished, false, FINISHED_SPAN_MS],
    [waiting, true, WAITING_SPAN_MS],
  ] as const) {
    const spanStart = started - span;
    for (let first = 0; first < count; first += BATCH_SAGAS) {
      const last = Math.min(count, first + BATCH_SAGAS) - 1;
      batches.push({ first, last, startMs: Math.round(spanStart + (first * span) / count), stepMs: span / count, waiting: isWaiting });
    }
  }

  const total = finished + waiting;
  let done = 0;
  const runBatch = async (client: Client, batch: (typeof batches)[number]) => {
    await client.query('BEGIN');
    try {
      await client.query(BATCH, [batch.first, batch.last, batch.startMs, batch.stepMs, batch.waiting]);
      for (const [sql, params] of statements) await client.query(sql, params);
      if (batch.waiting) await client.query(TIMERS, [firstStep, firstTimeout]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    done += batch.last - batch.first + 1;
    options.onProgress?.(done, total);
  };

  const clients = Array.from({ length: Math.min(WORKERS, Math.max(1, batches.length)) }, () => new Client({ connectionString: databaseUrl }));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    let next = 0;
    let failed = false; // one failed batch stops both workers; the other's batch in flight finishes
    const work = async (client: Client) => {
      while (next < batches.length && !failed) await runBatch(client, batches[next++]).catch((error: unknown) => ((failed = true), Promise.reject(error)));
    };
    const outcomes = await Promise.allSettled(clients.map(work));
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    await clients[0].query(`VACUUM (ANALYZE) ${TABLES.join(', ')}`);
    const sizes = await clients[0].query<{ name: string; size: string }>(
      'SELECT name, pg_size_pretty(pg_total_relation_size(to_regclass(name))) AS size FROM unnest($1::text[]) AS name',
      [TABLES],
    );
    return { finished, waiting, seconds: (Date.now() - started) / 1000, tableSizes: Object.fromEntries(sizes.rows.map((s) => [s.name, s.size])) };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}
