/**
 * SagaStore against the real PostgreSQL (SPEC S4): what the pure engine decides is stored and
 * read back unchanged, and one decision is committed whole or not at all.
 *
 * Proves: migrations build the schema on a fresh database (synchronize off; the entities match
 * it but for one foreign key); insertNew + loadForUpdate round-trip a SagaState made by
 * `decide` with the shipped place-order saga; applyDecision writes state, only the changed step rows, history, outbox
 * rows in the wire format ({pattern,data,id} + correlationId/replyTo/headers) and timers, and an
 * error thrown later in the same transaction leaves no trace (not even the NOTIFY); a stale
 * version raises ConcurrentSagaUpdateError; a decision that changes no state keeps the version.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { commandRoutes, decide, validateDefinition, type Decision, type SagaEvent, type SagaState } from '#saga/core';
import { ConcurrentSagaUpdateError, OUTBOX_CHANNEL, openSagaDataSource, sagaDataSourceOptions, SagaStore, type CommandRouting, type LoadedSaga } from '#saga/persistence';
import { demoCatalog } from '../../apps/orchestrator/src/definitions/built-in/demo-catalog';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { createTestDatabase, runId, waitFor } from '../support/infra';

const definition = validateDefinition(structuredClone(placeOrderSaga), demoCatalog('saga'), 'place-order');
const routes = commandRoutes(demoCatalog('saga'));
const routing: CommandRouting = { queueFor: (command) => routes.get(command)!.queue, replyTo: 'saga.replies' };
const input = { customerId: 'c-42', items: [{ sku: 'sku-1', quantity: 2 }], amount: 120.5, note: 'ring twice' };
/** Far in the future, so these timers are never due for anyone. */
const NOW = Date.UTC(2100, 0, 1);

describe('SagaStore on PostgreSQL', () => {
  const store = new SagaStore();
  let ds: DataSource;
  let drop: () => Promise<void>;
  let url: string;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'store');
    ({ url, drop } = db);
    ds = await openSagaDataSource(url, 4);
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  async function start(now = NOW): Promise<Decision> {
    const decision = decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, now);
    await ds.transaction((manager) => store.insertNew(manager, decision, { idempotencyKey: null, inputHash: 'hash' }, routing));
    return decision;
  }

  const load = (id: string): Promise<LoadedSaga | null> => ds.transaction((manager) => store.loadForUpdate(manager, id));
  const replied = (state: SagaState, step: string, result: unknown, now: number): Decision =>
    decide(definition, state, { type: 'REPLY', step, direction: 'action', attempt: 1, outcome: { kind: 'success', result } }, now);

  /** Everything stored about one saga, to compare before/after. */
  async function snapshot(id: string): Promise<unknown> {
    const q = (sql: string) => ds.query(sql, [id]);
    return {
      instance: await q('SELECT *, xmin::text AS xmin FROM saga_instances WHERE id = $1'),
      steps: await q('SELECT *, xmin::text AS xmin FROM saga_steps WHERE saga_id = $1 ORDER BY position'),
      history: await q('SELECT * FROM saga_history WHERE saga_id = $1 ORDER BY id'),
      outbox: await q('SELECT * FROM saga_outbox WHERE saga_id = $1 ORDER BY id'),
      timers: await q('SELECT * FROM saga_timers WHERE saga_id = $1 ORDER BY id'),
    };
  }

  it('builds the schema with the migration on a fresh database; synchronize is off and the entities match it', async () => {
    expect(sagaDataSourceOptions(url).synchronize).toBe(false);
    expect(ds.options.synchronize).toBe(false);
    expect(await ds.query('SELECT name FROM saga_migrations')).toEqual([{ name: 'CreateSagaTables1763700000000' }]);
    const tables = await ds.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`);
    expect(tables.map((row: { table_name: string }) => row.table_name)).toEqual([
      'saga_history', 'saga_inbox', 'saga_instances', 'saga_migrations', 'saga_outbox', 'saga_steps', 'saga_timers',
    ]);
    expect(await ds.runMigrations()).toEqual([]);
    // What `synchronize` would run to make the database match the entities. The only drift is the
    // steps → instances foreign key that the migration adds and the entities do not model: turning
    // synchronize on would drop it, one more reason it stays off. Any other drift fails here.
    const pending = await ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((query) => query.query)).toEqual(['ALTER TABLE "saga_steps" DROP CONSTRAINT "saga_steps_saga_id_fkey"']);
  });

  it('insertNew + loadForUpdate round-trip the state decide() made, with its outbox row, timer and history', async () => {
    const started = await start();
    const { id } = started.state;
    expect(await load(id)).toStrictEqual({ state: started.state, version: 1 });
    expect(await load(randomUUID())).toBeNull();

    const [outbox] = await ds.query('SELECT saga_id, queue, body, properties FROM saga_outbox WHERE saga_id = $1', [id]);
    expect(outbox).toEqual({
      saga_id: id,
      queue: 'saga.order',
      body: { pattern: 'order.create', data: { orderId: id, customerId: 'c-42', items: input.items, amount: 120.5 }, id: `${id}/create-order/action` },
      properties: {
        messageId: `${id}/create-order/action`,
        correlationId: `${id}/create-order/action/1`,
        replyTo: 'saga.replies',
        persistent: true,
        contentType: 'application/json',
        timestamp: expect.any(Number),
        headers: {
          'x-saga-id': id,
          'x-saga-name': 'place-order',
          'x-saga-step': 'create-order',
          'x-saga-direction': 'action',
          'x-saga-attempt': 1,
          'x-saga-expires-at': NOW + 5_000,
        },
      },
    });
    // The timer exactly as decided (it fires a grace period after the command's expiry).
    const [timer] = started.timers;
    expect(timer).toMatchObject({ id: `${id}/create-order/action/1/timeout`, event: { type: 'ATTEMPT_TIMED_OUT', step: 'create-order', direction: 'action', attempt: 1 } });
    expect(timer.fireAt).toBeGreaterThan(NOW + 5_000);
    expect(await ds.query('SELECT id, saga_id, fire_at, event FROM saga_timers WHERE saga_id = $1', [id])).toEqual([
      { id: timer.id, saga_id: id, fire_at: new Date(timer.fireAt), event: timer.event },
    ]);
    expect(await ds.query('SELECT type, step, attempt FROM saga_history WHERE saga_id = $1 ORDER BY id', [id])).toEqual([
      { type: 'SAGA_STARTED', step: null, attempt: null },
      { type: 'COMMAND_SENT', step: 'create-order', attempt: 1 },
    ]);
  });

  it('applyDecision writes the new state, only the changed step rows, history, outbox and timers', async () => {
    const { id } = (await start()).state;
    const before = (await load(id))!;
    const stepsBefore = await ds.query('SELECT position, xmin::text AS xmin FROM saga_steps WHERE saga_id = $1 ORDER BY position', [id]);
    const decision = replied(before.state, 'create-order', { orderId: id, status: 'PENDING' }, NOW + 100);

    await ds.transaction((manager) => store.applyDecision(manager, before, decision, routing));

    expect(await load(id)).toStrictEqual({ state: decision.state, version: 2 });
    const stepsAfter = await ds.query('SELECT position, xmin::text AS xmin FROM saga_steps WHERE saga_id = $1 ORDER BY position', [id]);
    const rewritten = stepsAfter.filter((row: { xmin: string }, i: number) => row.xmin !== stepsBefore[i].xmin).map((row: { position: number }) => row.position);
    expect(rewritten).toEqual([0, 1]); // create-order SUCCEEDED, reserve-inventory RUNNING; 2 and 3 untouched
    expect(await ds.query('SELECT type, step, attempt FROM saga_history WHERE saga_id = $1 ORDER BY id', [id])).toEqual([
      { type: 'SAGA_STARTED', step: null, attempt: null },
      { type: 'COMMAND_SENT', step: 'create-order', attempt: 1 },
      { type: 'REPLY_RECEIVED', step: 'create-order', attempt: 1 },
      { type: 'COMMAND_SENT', step: 'reserve-inventory', attempt: 1 },
    ]);
    const outbox = await ds.query('SELECT queue, body, properties FROM saga_outbox WHERE saga_id = $1 ORDER BY id', [id]);
    expect(outbox).toHaveLength(2);
    expect(outbox[1]).toMatchObject({
      queue: 'saga.inventory',
      body: { pattern: 'inventory.reserve', data: { reservationId: id, items: input.items }, id: `${id}/reserve-inventory/action` },
      properties: { correlationId: `${id}/reserve-inventory/action/1`, replyTo: 'saga.replies', persistent: true, headers: { 'x-saga-step': 'reserve-inventory', 'x-saga-attempt': 1 } },
    });
    // The answered attempt's timeout timer is cancelled; the new attempt has one.
    expect(await ds.query('SELECT id FROM saga_timers WHERE saga_id = $1', [id])).toEqual([{ id: `${id}/reserve-inventory/action/1/timeout` }]);
  });

  it('an error thrown after applyDecision in the same transaction leaves nothing behind, and no NOTIFY is delivered', async () => {
    const listener = new Client({ connectionString: url });
    const notified: string[] = [];
    listener.on('notification', (message) => notified.push(message.payload ?? ''));
    await listener.connect();
    try {
      await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
      const { id } = (await start()).state;
      await waitFor(async () => notified.includes(id), 'the NOTIFY of the committed start');
      const before = (await load(id))!;
      const untouched = await snapshot(id);

      const failing = ds.transaction(async (manager) => {
        await store.applyDecision(manager, before, replied(before.state, 'create-order', { orderId: id }, NOW + 100), routing);
        throw new Error('crash after applyDecision');
      });
      await expect(failing).rejects.toThrow('crash after applyDecision');

      expect(await snapshot(id)).toEqual(untouched);
      // Notifications arrive in commit order: once a later commit's is in, the rolled-back one never came.
      const other = (await start()).state.id;
      await waitFor(async () => notified.includes(other), 'the NOTIFY of a later commit');
      expect(notified).toEqual([id, other]);
    } finally {
      await listener.end();
    }
  });

  it('raises ConcurrentSagaUpdateError when the version it loaded is stale, and that transaction changes nothing', async () => {
    const { id } = (await start()).state;
    const stale = (await load(id))!;
    const first = replied(stale.state, 'create-order', { orderId: id }, NOW + 100);
    await ds.transaction((manager) => store.applyDecision(manager, stale, first, routing));
    const afterFirst = await snapshot(id);

    const second = replied(stale.state, 'create-order', { orderId: 'other' }, NOW + 200);
    const attempt = ds.transaction((manager) => store.applyDecision(manager, stale, second, routing));
    await expect(attempt).rejects.toBeInstanceOf(ConcurrentSagaUpdateError);
    await expect(attempt).rejects.toMatchObject({ code: 'CONCURRENT_SAGA_UPDATE' });
    expect(await snapshot(id)).toEqual(afterFirst);
    expect((await load(id))!.version).toBe(2);
  });

  it('a decision that changes no state (a late reply) only appends history and keeps the version', async () => {
    const { id } = (await start()).state;
    const before = (await load(id))!;
    const late: SagaEvent = { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 7, outcome: { kind: 'success', result: null } };
    const decision = decide(definition, before.state, late, NOW + 300);
    expect(decision.history.map((entry) => entry.type)).toEqual(['LATE_REPLY_IGNORED']);
    const [instanceBefore] = await ds.query('SELECT xmin::text AS xmin FROM saga_instances WHERE id = $1', [id]);

    await ds.transaction((manager) => store.applyDecision(manager, before, decision, routing));

    expect(await load(id)).toStrictEqual({ state: before.state, version: 1 });
    expect(await ds.query('SELECT xmin::text AS xmin FROM saga_instances WHERE id = $1', [id])).toEqual([instanceBefore]);
    const history = await ds.query('SELECT type, failure_type, attempt, reason, detail FROM saga_history WHERE saga_id = $1 ORDER BY id', [id]);
    expect(history.at(-1)).toEqual({ type: 'LATE_REPLY_IGNORED', failure_type: 'late', attempt: 7, reason: 'success', detail: { outcome: 'success', message: 'ok', sagaStatus: 'RUNNING' } });
    expect(history.slice(0, -1).map((row: { failure_type: string | null }) => row.failure_type)).toEqual([null, null]); // started, command sent
  });

  it('stores the failure type of exception-log entries, and the database refuses an unknown one', async () => {
    const { id } = (await start()).state;
    const before = (await load(id))!;
    const failed = decide(definition, before.state, { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 1, outcome: { kind: 'failure', code: 'INVALID', message: 'bad order' } }, NOW + 50);
    await ds.transaction((manager) => store.applyDecision(manager, before, failed, routing));
    const rows = await ds.query(`SELECT type, failure_type, reason FROM saga_history WHERE saga_id = $1 AND failure_type IS NOT NULL ORDER BY id`, [id]);
    expect(rows).toEqual([
      { type: 'REPLY_RECEIVED', failure_type: 'business', reason: 'INVALID' },
      { type: 'STEP_FAILED', failure_type: 'business', reason: 'INVALID' },
    ]);
    const bogus = { type: 'OPERATOR_ACTION' as const, failureType: 'oops' as never, at: NOW, step: null, direction: null, attempt: null, reason: 'x', detail: null };
    await expect(ds.transaction((manager) => store.appendHistory(manager, id, [bogus]))).rejects.toThrow(/check constraint/);
  });
});
