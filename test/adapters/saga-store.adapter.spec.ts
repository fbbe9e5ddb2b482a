/**
 * SagaStore against the real PostgreSQL (docs/semantics.md S4): what the pure engine decides is stored and
 * read back unchanged, and one decision is committed whole or not at all.
 *
 * Proves: migrations build the schema on a fresh database (synchronize off; the entities match
 * it but for one foreign key); insertNew + loadForUpdate round-trip a SagaState made by
 * `decide` with the shipped place-order saga; applyDecision writes state, only the changed step rows, history, outbox
 * rows in the wire format ({pattern,data,id} + correlationId/replyTo/headers) and timers, and an
 * error thrown later in the same transaction leaves no trace; both return the commands written
 * with their outbox ids; a batch of sagas is written in one statement, each inbox key claimed
 * once, and one stale version in a batch writes nothing; a stale version raises
 * ConcurrentSagaUpdateError; a decision that changes no state keeps the version.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { commandEnvelope, commandRoutes, decide, validateDefinition, type Decision, type SagaEvent, type SagaState } from '#saga/core';
import { PipelinedSession, ConcurrentSagaUpdateError, openSagaDataSource, sagaDataSourceOptions, SagaStore, type ToOutbox, type LoadedSaga } from '#saga/persistence';
import { demoCatalog } from '../../apps/orchestrator/src/definitions/built-in/demo-catalog';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { LOCK_SAGAS } from '../../libs/persistence/src/saga-sql';
import { createTestDatabase, runId } from '../support/infra';

const definition = validateDefinition(structuredClone(placeOrderSaga), demoCatalog('saga'), 'place-order');
const routes = commandRoutes(demoCatalog('saga'));
const toOutbox: ToOutbox = (command) => commandEnvelope(command, routes.get(command.command)!.queue, 'saga.replies', Date.now());
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
    await ds.transaction((manager) => store.insertNew(manager, decision, { idempotencyKey: null, inputHash: 'hash' }, toOutbox));
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
    expect(await ds.query('SELECT name FROM saga_migrations ORDER BY id')).toEqual([
      { name: 'CreateSagaTables1763700000000' },
      { name: 'TimersBySaga1765000000000' },
      { name: 'SagaSearch1765100000000' },
      { name: 'StepRepairs1765200000000' },
      { name: 'DeadLetters1765300000000' },
      { name: 'StoredDefinitions1765400000000' },
      { name: 'RetentionIndexes1765510000000' },
    ]);
    const tables = await ds.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`);
    expect(tables.map((row: { table_name: string }) => row.table_name)).toEqual([
      'dead_letter_actions',
      'dead_letters',
      'saga_definitions',
      'saga_history',
      'saga_inbox',
      'saga_instances',
      'saga_migrations',
      'saga_outbox',
      'saga_steps',
      'saga_timers',
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

    await ds.transaction((manager) => store.applyDecision(manager, before, decision, toOutbox));

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
      properties: {
        correlationId: `${id}/reserve-inventory/action/1`,
        replyTo: 'saga.replies',
        persistent: true,
        headers: { 'x-saga-step': 'reserve-inventory', 'x-saga-attempt': 1 },
      },
    });
    // The answered attempt's timeout timer is cancelled; the new attempt has one.
    expect(await ds.query('SELECT id FROM saga_timers WHERE saga_id = $1', [id])).toEqual([{ id: `${id}/reserve-inventory/action/1/timeout` }]);
  });

  it('an error thrown after applyDecision in the same transaction leaves nothing behind', async () => {
    const { id } = (await start()).state;
    const before = (await load(id))!;
    const untouched = await snapshot(id);

    const failing = ds.transaction(async (manager) => {
      await store.applyDecision(manager, before, replied(before.state, 'create-order', { orderId: id }, NOW + 100), toOutbox);
      throw new Error('crash after applyDecision');
    });
    await expect(failing).rejects.toThrow('crash after applyDecision');

    expect(await snapshot(id)).toEqual(untouched);
  });

  it('insertNew and applyDecision return the commands they wrote, keyed by their outbox row ids, for publishing after the commit', async () => {
    const decision = decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, NOW);
    const { id } = decision.state;
    const started = await store.insertNew(ds.manager, decision, { idempotencyKey: null, inputHash: 'hash' }, toOutbox);
    const before = (await load(id))!;
    const next = replied(before.state, 'create-order', { orderId: id }, NOW + 100);
    const applied = await ds.transaction((manager) => store.applyDecision(manager, before, next, toOutbox));

    const rows: { id: string; queue: string; body: unknown; properties: { correlationId: string } }[] = await ds.query(
      'SELECT id::text, queue, body, properties FROM saga_outbox WHERE saga_id = $1 ORDER BY id',
      [id],
    );
    expect(
      [...started!, ...applied].map((command) => ({
        id: command.outboxId,
        queue: command.envelope.queue,
        body: command.envelope.body,
        correlationId: command.envelope.properties.correlationId,
      })),
    ).toEqual(rows.map((row) => ({ id: row.id, queue: row.queue, body: row.body, correlationId: row.properties.correlationId })));
    expect(rows.map((row) => row.properties.correlationId)).toEqual([`${id}/create-order/action/1`, `${id}/reserve-inventory/action/1`]);
  });

  it('writeDecisions writes the decisions of several sagas in one statement; loadMany claims each inbox key once', async () => {
    const ids = [(await start()).state.id, (await start()).state.id, (await start()).state.id];
    const keys = ids.map((id) => `${id}/create-order/action/1`);
    const result = await ds.transaction(async (manager) => {
      expect(await store.lockMany(manager, [...ids, randomUUID()])).toEqual(new Set(ids));
      // The first saga's key is offered twice and the third's was claimed before: each key is claimed once.
      await store.claimInbox(manager, keys[2], ids[2]);
      const loaded = await store.loadMany(manager, ids, [...keys.map((key, i) => ({ key, sagaId: ids[i] })), { key: keys[0], sagaId: ids[0] }]);
      expect(loaded.claimed).toEqual(new Set([keys[0], keys[1]]));
      expect([...loaded.sagas.keys()].sort()).toEqual([...ids].sort());
      const writes = ids.map((id) => {
        const before = loaded.sagas.get(id)!;
        return { kind: 'decision' as const, before, decision: replied(before.state, 'create-order', { orderId: id }, NOW + 100) };
      });
      return { writes, committed: await store.writeDecisions(manager, writes, toOutbox) };
    });
    for (const { decision } of result.writes) expect(await load(decision.state.id)).toStrictEqual({ state: decision.state, version: 2 });
    expect(result.committed.map((command) => command.envelope.properties.correlationId).sort()).toEqual(ids.map((id) => `${id}/reserve-inventory/action/1`).sort());
  });

  it('beginBatch + commitBatch: two round trips lock, read, claim, write and commit a batch; a stale version writes nothing', async () => {
    const ids = [(await start()).state.id, (await start()).state.id];
    const missing = randomUUID();
    const transaction = await PipelinedSession.open(ds);
    let committed;
    try {
      const loaded = await store.beginBatch(
        transaction,
        [...ids, missing],
        [...ids, missing].map((id) => ({ key: `${id}/create-order/action/1`, sagaId: id })),
      );
      expect([...loaded.sagas.keys()].sort()).toEqual([...ids].sort());
      expect(loaded.claimed).toEqual(new Set(ids.map((id) => `${id}/create-order/action/1`))); // none for the missing saga
      const writes = ids.map((id) => ({
        kind: 'decision' as const,
        before: loaded.sagas.get(id)!,
        decision: replied(loaded.sagas.get(id)!.state, 'create-order', { orderId: id }, NOW + 100),
      }));
      committed = await store.commitBatch(transaction, writes, toOutbox);
      for (const { decision } of writes) expect(await load(decision.state.id)).toStrictEqual({ state: decision.state, version: 2 });
    } finally {
      await transaction.release();
    }
    expect(committed.map((command) => command.envelope.properties.correlationId).sort()).toEqual(ids.map((id) => `${id}/reserve-inventory/action/1`).sort());
    expect(await ds.query('SELECT 1 FROM saga_inbox WHERE saga_id = $1', [missing])).toEqual([]);

    // A write made from a stale read fails inside the batch, so its COMMIT never runs.
    const stale = (await ds.transaction((manager) => store.loadForUpdate(manager, ids[0])))!;
    await ds.transaction((manager) => store.applyDecision(manager, stale, replied(stale.state, 'reserve-inventory', { reservationId: ids[0] }, NOW + 200), toOutbox));
    const before = await snapshot(ids[0]);
    const again = await PipelinedSession.open(ds);
    try {
      await store.beginBatch(again, [ids[0]], []);
      await expect(
        store.commitBatch(
          again,
          [{ kind: 'decision' as const, before: stale, decision: replied(stale.state, 'reserve-inventory', { reservationId: 'other' }, NOW + 300) }],
          toOutbox,
        ),
      ).rejects.toBeInstanceOf(ConcurrentSagaUpdateError);
    } finally {
      await again.release();
    }
    expect(await snapshot(ids[0])).toEqual(before);
  });

  it('keeps reading sagas by key as the tables grow: its sessions price sequential scans out of cached plans', async () => {
    const single = await openSagaDataSource(url, 1); // one connection: every batch reuses its prepared plans
    const control = new Client({ connectionString: url }); // a default session, for comparison
    await control.connect();
    try {
      const id = (await start()).state.id;
      // Generic plans from the first run on (PostgreSQL may switch to them after five runs):
      // both sessions plan now, while the table is tiny.
      await single.query('SET plan_cache_mode = force_generic_plan');
      await control.query('SET plan_cache_mode = force_generic_plan');
      await control.query(`PREPARE lock_control AS ${LOCK_SAGAS}`);
      for (let i = 0; i < 2; i++) {
        const transaction = await PipelinedSession.open(single);
        try {
          await store.beginBatch(transaction, [id], []);
          await store.commitBatch(transaction, [], toOutbox);
        } finally {
          await transaction.release();
        }
        await control.query('BEGIN');
        await control.query(`EXECUTE lock_control('{${id}}')`);
        await control.query('ROLLBACK');
      }
      // The table grows by far more than it held when the plans were made, with no ANALYZE.
      await ds.query(
        `INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, version, created_at, updated_at, input_hash)
         SELECT gen_random_uuid(), 'place-order', 1, 'COMPLETED', '{}', 3, true, 1, now(), now(), 'h' FROM generate_series(1, 30000)`,
      );
      const plan = async (query: (sql: string) => Promise<{ 'QUERY PLAN': string }[]>, execute: string) =>
        (await query(`EXPLAIN ${execute}`)).map((row) => row['QUERY PLAN']).join('\n');
      expect(await plan((sql) => single.query(sql), `EXECUTE saga_batch_lock('{${id}}')`)).not.toMatch(/Seq Scan/);
      expect(await plan((sql) => single.query(sql), `EXECUTE saga_batch_load('{${id}}', '{}', '{}')`)).not.toMatch(/Seq Scan on saga_instances/);
      // What a default session keeps doing with the same statement: reading the whole table.
      expect(await plan(async (sql) => (await control.query(sql)).rows, `EXECUTE lock_control('{${id}}')`)).toMatch(/Seq Scan on saga_instances/);
    } finally {
      await control.end();
      await single.destroy();
    }
  });

  it('writeDecisions writes nothing at all when one saga of the batch has a stale version', async () => {
    const [a, b] = [(await start()).state.id, (await start()).state.id];
    const staleB = (await load(b))!;
    await ds.transaction((manager) => store.applyDecision(manager, staleB, replied(staleB.state, 'create-order', { orderId: b }, NOW + 100), toOutbox));
    const before = { a: await snapshot(a), b: await snapshot(b) };
    const freshA = (await load(a))!;

    const attempt = ds.transaction((manager) =>
      store.writeDecisions(
        manager,
        [
          { kind: 'decision' as const, before: freshA, decision: replied(freshA.state, 'create-order', { orderId: a }, NOW + 200) },
          { kind: 'decision' as const, before: staleB, decision: replied(staleB.state, 'create-order', { orderId: 'other' }, NOW + 200) },
        ],
        toOutbox,
      ),
    );
    await expect(attempt).rejects.toBeInstanceOf(ConcurrentSagaUpdateError);
    expect({ a: await snapshot(a), b: await snapshot(b) }).toEqual(before);
  });

  it('raises ConcurrentSagaUpdateError when the version it loaded is stale, and that transaction changes nothing', async () => {
    const { id } = (await start()).state;
    const stale = (await load(id))!;
    const first = replied(stale.state, 'create-order', { orderId: id }, NOW + 100);
    await ds.transaction((manager) => store.applyDecision(manager, stale, first, toOutbox));
    const afterFirst = await snapshot(id);

    const second = replied(stale.state, 'create-order', { orderId: 'other' }, NOW + 200);
    const attempt = ds.transaction((manager) => store.applyDecision(manager, stale, second, toOutbox));
    await expect(attempt).rejects.toBeInstanceOf(ConcurrentSagaUpdateError);
    await expect(attempt).rejects.toMatchObject({ code: 'CONCURRENT_SAGA_UPDATE' });
    expect(await snapshot(id)).toEqual(afterFirst);
    expect((await load(id))!.version).toBe(2);
  });

  it('a decision that changes no state (a late reply) appends history, flags the saga and moves its version like every write', async () => {
    const { id } = (await start()).state;
    const before = (await load(id))!;
    const late: SagaEvent = { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 7, outcome: { kind: 'success', result: null } };
    const decision = decide(definition, before.state, late, NOW + 300);
    expect(decision.history.map((entry) => entry.type)).toEqual(['LATE_REPLY_IGNORED']);

    await ds.transaction((manager) => store.applyDecision(manager, before, decision, toOutbox));

    // The state is as it was; the version names the new content of the saga's rows (one more entry).
    expect(await load(id)).toStrictEqual({ state: before.state, version: 2 });
    // has_exceptions is set in the same statement as the failure entry (GET /sagas?hasExceptions).
    expect(await ds.query('SELECT has_exceptions FROM saga_instances WHERE id = $1', [id])).toEqual([{ has_exceptions: true }]);
    // A second late reply read at the old version is refused whole, like any stale write.
    await expect(ds.transaction((manager) => store.applyDecision(manager, before, decision, toOutbox))).rejects.toBeInstanceOf(ConcurrentSagaUpdateError);
    await ds.transaction((manager) => store.applyDecision(manager, { state: before.state, version: 2 }, decision, toOutbox));
    expect((await load(id))!.version).toBe(3);
    const history = await ds.query('SELECT type, failure_type, attempt, reason, detail FROM saga_history WHERE saga_id = $1 ORDER BY id', [id]);
    expect(history.slice(-2).map((row: { type: string }) => row.type)).toEqual(['LATE_REPLY_IGNORED', 'LATE_REPLY_IGNORED']);
    expect(history.at(-1)).toEqual({
      type: 'LATE_REPLY_IGNORED',
      failure_type: 'late',
      attempt: 7,
      reason: 'success',
      detail: { outcome: 'success', message: 'ok', sagaStatus: 'RUNNING' },
    });
    expect(history.slice(0, -2).map((row: { failure_type: string | null }) => row.failure_type)).toEqual([null, null]); // started, command sent
  });

  it('stores the failure type of exception-log entries, and the database refuses an unknown one', async () => {
    const { id } = (await start()).state;
    const before = (await load(id))!;
    const failed = decide(
      definition,
      before.state,
      { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 1, outcome: { kind: 'failure', code: 'INVALID', message: 'bad order' } },
      NOW + 50,
    );
    await ds.transaction((manager) => store.applyDecision(manager, before, failed, toOutbox));
    const rows = await ds.query(`SELECT type, failure_type, reason FROM saga_history WHERE saga_id = $1 AND failure_type IS NOT NULL ORDER BY id`, [id]);
    expect(rows).toEqual([
      { type: 'REPLY_RECEIVED', failure_type: 'business', reason: 'INVALID' },
      { type: 'STEP_FAILED', failure_type: 'business', reason: 'INVALID' },
    ]);
    const bogus = { type: 'OPERATOR_ACTION' as const, failureType: 'oops' as never, at: NOW, step: null, direction: null, attempt: null, reason: 'x', detail: null };
    await expect(ds.transaction((manager) => store.appendHistory(manager, id, [bogus]))).rejects.toThrow(/check constraint/);
  });
});
