/**
 * GET /sagas/{id} of an in-process orchestrator against the real PostgreSQL: the saga, its
 * steps and its history must come from one snapshot, or a reader sees a status that
 * contradicts the history next to it (seen in practice while polling a saga that timed out:
 * status RUNNING with COMPENSATION_SENT already in the history).
 *
 * Proves (deterministically, by holding a lock between the endpoint's reads): a transaction
 * that commits between the read of the saga row and the read of its steps/history must not
 * show up in only half of the answer. And the view built by the one-statement read is, byte for
 * byte, the one built from the ORM's entities (microsecond and offset timestamps, SQL NULL
 * and JSON null, history order by id, failure entries, empty step and history lists).
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { openSagaDataSource, SagaHistoryEntity, SagaInstanceEntity, SagaStepEntity, SagaTimerEntity } from '#saga/persistence';
import { historyCursor, SagaQueries } from '../../apps/orchestrator/src/api/sagas/saga-queries';
import { RuntimeSignals } from '../../apps/orchestrator/src/runtime/runtime-signals';
import { createTestDatabase, runId, waitFor } from '../support/infra';
import { OrchestratorEnvironment, PLACE_ORDER_INPUT, type SagaRead } from './orchestrator-under-test';

describe('GET /sagas/{id} reads one snapshot', () => {
  let env: OrchestratorEnvironment;

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('read_snapshot');
    await env.start({ OUTBOX_POLL_MS: '60000' });
  });

  afterAll(async () => {
    await env?.close();
  });

  it('does not mix the saga row from before a commit with the history from after it', async () => {
    const id = await env.startSaga('place-order', PLACE_ORDER_INPUT);
    const writer = new Client({ connectionString: env.databaseUrl });
    await writer.connect();
    try {
      // Another writer (a replica handling an event) holds the steps table while the read starts.
      await writer.query('BEGIN');
      await writer.query('LOCK TABLE saga_steps IN ACCESS EXCLUSIVE MODE');
      const reading = env
        .http()
        .get(`/sagas/${id}`)
        .then((response) => response.body as SagaRead);
      await waitFor(async () => {
        const rows = await env.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%saga_steps%'`);
        return rows.length > 0;
      }, 'the read to wait for the steps table (it has read the saga row already)');

      // The writer commits one event: status and history change together.
      await writer.query(`UPDATE saga_instances SET status = 'COMPENSATING', version = version + 1 WHERE id = $1`, [id]);
      await writer.query(`INSERT INTO saga_history (saga_id, type, at, reason) VALUES ($1, 'CANCEL_REQUESTED', now(), 'consistency probe')`, [id]);
      await writer.query('COMMIT');

      const saga = await reading;
      const sawCommit = saga.history.some((entry) => entry.type === 'CANCEL_REQUESTED');
      // Either all of the commit or none of it.
      expect({ status: saga.status, sawCommit }).toEqual(sawCommit ? { status: 'COMPENSATING', sawCommit: true } : { status: 'RUNNING', sawCommit: false });
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      await writer.end();
    }
  });
});

describe('GET /sagas/{id} view', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'read_view');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 2);
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  /** The view as it was built from the ORM's entities, field by field, as the oracle. */
  async function viewFromEntities(id: string): Promise<unknown> {
    const instance = await ds.manager.findOne(SagaInstanceEntity, { where: { id } });
    if (!instance) return undefined;
    const steps = await ds.manager.find(SagaStepEntity, { where: { sagaId: id }, order: { position: 'ASC' } });
    const history = await ds.manager.find(SagaHistoryEntity, { where: { sagaId: id }, order: { id: 'ASC' } });
    const iso = (date: Date | null) => (date ? date.toISOString() : null);
    return {
      id,
      name: instance.definitionName,
      version: instance.definitionVersion,
      status: instance.status,
      links: { self: `/sagas/${id}` },
      definition: { name: instance.definitionName, version: instance.definitionVersion, fingerprint: instance.definitionFingerprint },
      businessKey: instance.businessKey,
      input: instance.input,
      failure: instance.failure,
      currentStep: instance.currentStep >= 0 ? (steps[instance.currentStep]?.name ?? null) : null,
      createdAt: instance.createdAt.toISOString(),
      updatedAt: instance.updatedAt.toISOString(),
      steps: steps.map((step) => ({
        name: step.name,
        status: step.status,
        attempt: step.attempt,
        compensationAttempt: step.compensationAttempt,
        waitingForRetry: step.waitingForRetry,
        request: step.request ?? null,
        result: step.result ?? null,
        lastError: step.lastError,
        startedAt: iso(step.startedAt),
        finishedAt: iso(step.finishedAt),
        manual: step.repair?.manual ?? false,
      })),
      history: history.map((entry) => ({
        type: entry.type,
        failureType: entry.failureType,
        at: entry.at.toISOString(),
        step: entry.step,
        direction: entry.direction,
        attempt: entry.attempt,
        reason: entry.reason,
        detail: entry.detail,
      })),
      historyTotal: history.length,
      historyNext: null,
      exceptions: history
        .filter((entry) => entry.failureType !== null)
        .map((entry) => ({
          type: entry.failureType,
          at: entry.at.toISOString(),
          entry: entry.type,
          step: entry.step,
          direction: entry.direction,
          attempt: entry.attempt,
          reason: entry.reason,
          message: typeof entry.detail?.message === 'string' ? entry.detail.message : null,
        })),
      timers: (await ds.manager.find(SagaTimerEntity, { where: { sagaId: id }, order: { fireAt: 'ASC', id: 'ASC' } })).map((timer) => ({
        id: timer.id,
        fireAt: timer.fireAt.toISOString(),
        event: timer.event,
      })),
    };
  }

  async function insertSaga(id: string, currentStep: number, failure: unknown): Promise<void> {
    await ds.query(
      `INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, failure, input_hash, version, created_at, updated_at)
       VALUES ($1, 'place-order', 3, 'COMPENSATED', $2, $3, true, $4, 'hash', 7, '2026-03-04 05:06:07.891234+00', '2026-03-04 07:06:07.000999+02:00')`,
      [
        id,
        // eslint-disable-next-line no-loss-of-precision -- a number beyond 2^53 on purpose: JSON round trip
        JSON.stringify({ customerId: 'c-1', amount: 120.5, note: 'é "quoted" \\ \u00e9', nested: { list: [1, null, true], big: 12345678901234567890 } }),
        currentStep,
        failure === undefined ? null : JSON.stringify(failure),
      ],
    );
  }

  it('is the view built from the entities, for a saga with steps, failures and odd values', async () => {
    const id = randomUUID();
    await insertSaga(id, 1, { step: 'charge-payment', type: 'business', code: 'DECLINED', message: 'over the limit' });
    await ds.query(
      `INSERT INTO saga_steps (saga_id, position, name, status, attempt, compensation_attempt, waiting_for_retry, request, result, last_error, started_at, finished_at, repair) VALUES
         ($1, 0, 'reserve-inventory', 'COMPENSATED', 1, 2, false, '{"sku":"sku-1","quantity":2}', '{"reservationId":"r-1"}', NULL, '2026-03-04 05:06:07.999999+00', '2026-03-04 05:06:08.0005+00', '{"manual":true,"compensationBudgetFrom":1}'),
         ($1, 2, 'ship', 'PENDING', 0, 0, false, NULL, 'null', NULL, NULL, NULL, NULL),
         ($1, 1, 'charge-payment', 'FAILED', 3, 0, true, 'null', NULL, '{"code":"DECLINED","message":"no"}', '1999-12-31 23:59:59.123456-05:30', NULL, NULL)`,
      [id],
    );
    await ds.query(
      `INSERT INTO saga_history (id, saga_id, type, failure_type, at, step, direction, attempt, reason, detail) VALUES
         (1000, $1, 'ATTEMPT_TIMED_OUT', 'timeout', '2026-03-04 05:06:09.000001+00', 'charge-payment', 'action', 1, 'TIMEOUT', '{"message":"no reply to attempt 1 in time"}'),
         (9, $1, 'SAGA_STARTED', NULL, '2026-03-04 05:06:07.891234+00', NULL, NULL, NULL, NULL, NULL),
         (100, $1, 'COMMAND_SENT', NULL, '2026-03-04 05:06:08.5+00', 'charge-payment', 'action', 1, NULL, '{"message":"not a failure"}'),
         (5000, $1, 'STEP_FAILED', 'business', '2026-03-04 05:06:10.999+00', 'charge-payment', 'action', 3, 'DECLINED', '{"message":42}'),
         (6000, $1, 'CANCEL_REFUSED', 'operator', '2026-03-04 05:06:11+00', NULL, NULL, NULL, 'past pivot', 'null')`,
      [id],
    );
    await ds.query(
      `INSERT INTO saga_timers (id, saga_id, fire_at, event) VALUES
         ($1 || '/later', $1::uuid, '2026-03-04 06:00:00+00', '{"type":"DEADLINE_REACHED"}'),
         ($1 || '/sooner', $1::uuid, '2026-03-04 05:07:00.5+00', '{"type":"ATTEMPT_TIMED_OUT","step":"charge-payment","direction":"action","attempt":3}')`,
      [id],
    );
    const view = await new SagaQueries(ds, new RuntimeSignals(), { maxWaiters: 1000, historyLimit: 200 }).findOne(id);
    const expected = await viewFromEntities(id);
    expect(view!.timers.map((timer) => timer.id)).toEqual([`${id}/sooner`, `${id}/later`]);
    expect(view).toEqual(expected);
    expect(JSON.stringify(view)).toBe(JSON.stringify(expected));
    expect(view!.history.map((entry) => entry.type)).toEqual(['SAGA_STARTED', 'COMMAND_SENT', 'ATTEMPT_TIMED_OUT', 'STEP_FAILED', 'CANCEL_REFUSED']);
    expect(view!.currentStep).toBe('charge-payment');
  });

  it('is the view built from the entities for a saga with no steps and no history, and undefined for no saga', async () => {
    const id = randomUUID();
    await insertSaga(id, -1, undefined);
    const queries = new SagaQueries(ds, new RuntimeSignals(), { maxWaiters: 1000, historyLimit: 200 });
    const view = await queries.findOne(id);
    expect(JSON.stringify(view)).toBe(JSON.stringify(await viewFromEntities(id)));
    expect(view).toMatchObject({ steps: [], history: [], exceptions: [], currentStep: null, failure: null });
    expect(await queries.findOne(randomUUID())).toBeUndefined();
  });

  it('returns the latest HISTORY_LIMIT entries with a cursor that pages through the rest, oldest first in each page', async () => {
    const id = randomUUID();
    await insertSaga(id, -1, undefined);
    await ds.query(
      `INSERT INTO saga_history (saga_id, type, failure_type, at, reason)
       SELECT $1, 'RETRY_SCHEDULED', NULL, '2026-03-04 05:00:00+00'::timestamptz + n * interval '1 second', 'r' || n FROM generate_series(1, 7) AS n`,
      [id],
    );
    const queries = new SagaQueries(ds, new RuntimeSignals(), { maxWaiters: 1000, historyLimit: 3 });
    const view = (await queries.findOne(id))!;
    expect(view.history.map((entry) => entry.reason)).toEqual(['r5', 'r6', 'r7']);
    expect(view.historyTotal).toBe(7);
    expect(view.historyNext).toEqual(expect.any(String));
    const older = (await queries.historyPage(id, historyCursor(view.historyNext!), 3))!;
    expect(older.entries.map((entry) => entry.reason)).toEqual(['r2', 'r3', 'r4']);
    const oldest = (await queries.historyPage(id, historyCursor(older.next!), 3))!;
    expect(oldest).toEqual({ sagaId: id, entries: [expect.objectContaining({ reason: 'r1' })], next: null });
    expect((await queries.historyPage(id, undefined, 100))!.entries).toHaveLength(7);
    expect(await queries.historyPage(randomUUID(), undefined, 10)).toBeUndefined();
    expect(historyCursor('not-ours')).toBeUndefined();
  });
});
