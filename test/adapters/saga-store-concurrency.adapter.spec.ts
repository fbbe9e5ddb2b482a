/**
 * SagaStore under concurrency, on the real PostgreSQL (docs/semantics.md S7: events of one saga apply one at
 * a time, a timer fires once, a reply is handled once), plus the timer queries.
 *
 * Proves: loadForUpdate takes the row lock (a second transaction's loadForUpdate waits, seen
 * in pg_stat_activity, until the first commits, then reads the committed version);
 * claimInbox / claimTimer answer "yours" exactly once per key when transactions race, and hand
 * the key to the next transaction when the winner rolls back (a crash before commit);
 * dueTimers returns only due timers, oldest first, up to the limit; nextTimerAt the first fire
 * time after `now`, rounded up to the millisecond; cancelTimers deletes the
 * named timers; a timer whose id exists is ignored (ON CONFLICT DO NOTHING), not overwritten.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource, QueryRunner } from 'typeorm';
import { commandEnvelope, commandRoutes, decide, validateDefinition, type Decision } from '#saga/core';
import { openSagaDataSource, SagaStore, type ToOutbox, type LoadedSaga } from '#saga/persistence';
import { DUE_TIMERS } from '../../libs/persistence/src/saga-sql';
import { demoCatalog } from '../../apps/orchestrator/src/definitions/built-in/demo-catalog';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { createTestDatabase, runId, waitFor } from '../support/infra';

const definition = validateDefinition(structuredClone(placeOrderSaga), demoCatalog('saga'), 'place-order');
const routes = commandRoutes(demoCatalog('saga'));
const toOutbox: ToOutbox = (command) => commandEnvelope(command, routes.get(command.command)!.queue, 'saga.replies', Date.now());
const input = { customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 1 }], amount: 10 };
const NOW = Date.UTC(2100, 0, 1);

interface Tx {
  runner: QueryRunner;
  pid: number;
}

describe('SagaStore concurrency and timers on PostgreSQL', () => {
  const store = new SagaStore();
  let ds: DataSource;
  let drop: () => Promise<void>;
  const open: QueryRunner[] = [];

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'store_conc');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 12);
  });

  afterEach(async () => {
    for (const runner of open.splice(0)) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      await runner.release();
    }
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  async function begin(): Promise<Tx> {
    const runner = ds.createQueryRunner();
    open.push(runner);
    await runner.connect();
    await runner.startTransaction();
    const [{ pid }] = await runner.query('SELECT pg_backend_pid() AS pid');
    return { runner, pid };
  }

  /** Seen from outside: the backend is waiting for a lock another transaction holds. */
  async function waitUntilBlocked(tx: Tx): Promise<void> {
    await waitFor(async () => {
      const [row] = await ds.query('SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1', [tx.pid]);
      return row?.wait_event_type === 'Lock';
    }, `backend ${tx.pid} to wait for a lock`);
  }

  async function start(): Promise<string> {
    const decision = decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, NOW);
    await ds.transaction((manager) => store.insertNew(manager, decision, { idempotencyKey: null, inputHash: 'hash' }, toOutbox));
    return decision.state.id;
  }

  async function insertTimer(sagaId: string, id: string, fireAt: number, event: Record<string, unknown> = { type: 'DEADLINE_REACHED' }): Promise<void> {
    await ds.query('INSERT INTO saga_timers (id, saga_id, fire_at, event) VALUES ($1, $2, $3, $4)', [id, sagaId, new Date(fireAt), event]);
  }

  const noChange = (before: LoadedSaga, extra: Partial<Decision>): Decision => ({ state: before.state, commands: [], timers: [], cancelTimers: [], history: [], ...extra });

  it('loadForUpdate locks the saga: a second transaction waits until the first commits, then reads its result', async () => {
    const id = await start();
    const first = await begin();
    const second = await begin();
    const events: string[] = [];
    const loaded = (await store.loadForUpdate(first.runner.manager, id))!;

    let secondLoadedAt = 0;
    const secondLoad = store.loadForUpdate(second.runner.manager, id).then((result) => {
      secondLoadedAt = Date.now();
      events.push('second loaded');
      return result;
    });
    await waitUntilBlocked(second);
    const decision = decide(
      definition,
      loaded.state,
      { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 1, outcome: { kind: 'success', result: { ok: 1 } } },
      NOW + 1,
    );
    await store.applyDecision(first.runner.manager, loaded, decision, toOutbox);
    events.push('first applied');
    await waitUntilBlocked(second); // still waiting: applying is not committing
    expect(events).toEqual(['first applied']);

    events.push('first commits');
    const commitAt = Date.now();
    await first.runner.commitTransaction();
    const seen = await secondLoad;
    expect(events).toEqual(['first applied', 'first commits', 'second loaded']);
    expect(secondLoadedAt).toBeGreaterThanOrEqual(commitAt);
    expect(seen).toStrictEqual({ state: decision.state, version: 2 });
    await second.runner.commitTransaction();
  });

  it('claimInbox: true once per key; a racing transaction waits for the winner and gets false', async () => {
    const sagaId = await start();
    const key = `${sagaId}/create-order/action/1`;
    const first = await begin();
    const second = await begin();
    expect(await store.claimInbox(first.runner.manager, key, sagaId)).toBe(true);
    const secondClaim = store.claimInbox(second.runner.manager, key, sagaId);
    await waitUntilBlocked(second);
    await first.runner.commitTransaction();
    expect(await secondClaim).toBe(false);
    await second.runner.commitTransaction();

    expect(await ds.transaction((manager) => store.claimInbox(manager, key, sagaId))).toBe(false);
    expect(await ds.transaction((manager) => store.claimInbox(manager, `${key}-other`, sagaId))).toBe(true);
  });

  it('claimInbox: when the winner rolls back (crash before commit) the waiting transaction gets the key', async () => {
    const sagaId = await start();
    const key = `${sagaId}/reserve-inventory/action/1`;
    const first = await begin();
    const second = await begin();
    expect(await store.claimInbox(first.runner.manager, key, sagaId)).toBe(true);
    const secondClaim = store.claimInbox(second.runner.manager, key, sagaId);
    await waitUntilBlocked(second);
    await first.runner.rollbackTransaction();
    expect(await secondClaim).toBe(true);
    await second.runner.commitTransaction();
  });

  it('claimInbox: of 8 transactions racing for one key exactly one wins', async () => {
    const sagaId = await start();
    const key = `${sagaId}/race`;
    const results = await Promise.all(Array.from({ length: 8 }, () => ds.transaction((manager) => store.claimInbox(manager, key, sagaId))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await ds.query('SELECT saga_id FROM saga_inbox WHERE message_key = $1', [key])).toEqual([{ saga_id: sagaId }]);
  });

  it('claimTimer: returns the row to one transaction; a racing one skips it at once (no wait); a rollback gives it back', async () => {
    const sagaId = await start();
    const event = { type: 'ATTEMPT_TIMED_OUT', step: 'create-order', direction: 'action', attempt: 1 };
    await insertTimer(sagaId, 't-claim', NOW, event);

    const first = await begin();
    const second = await begin();
    expect(await store.claimTimer(first.runner.manager, 't-claim')).toEqual({ id: 't-claim', sagaId, fireAt: new Date(NOW), event });
    // Another replica firing the same timer does not queue up behind the first: it moves on.
    expect(await store.claimTimer(second.runner.manager, 't-claim')).toBeNull();
    await second.runner.commitTransaction();
    await first.runner.rollbackTransaction(); // crashed before commit: the timer must fire again

    const third = await begin();
    expect(await store.claimTimer(third.runner.manager, 't-claim')).toEqual({ id: 't-claim', sagaId, fireAt: new Date(NOW), event });
    await third.runner.commitTransaction();
    expect(await ds.query('SELECT id FROM saga_timers WHERE id = $1', ['t-claim'])).toEqual([]);
    const fourth = await begin();
    expect(await store.claimTimer(fourth.runner.manager, 't-claim')).toBeNull();
    await fourth.runner.commitTransaction();
  });

  it('claimTimer: of 8 transactions racing for one timer exactly one gets it', async () => {
    const sagaId = await start();
    await insertTimer(sagaId, 't-race', NOW);
    const results = await Promise.all(Array.from({ length: 8 }, () => ds.transaction((manager) => store.claimTimer(manager, 't-race'))));
    expect(results.filter((row) => row !== null)).toEqual([{ id: 't-race', sagaId, fireAt: new Date(NOW), event: { type: 'DEADLINE_REACHED' } }]);
  });

  it('dueTimers returns only timers due at `now`, oldest first, at most `limit`', async () => {
    await ds.query('DELETE FROM saga_timers');
    const sagaId = randomUUID();
    const now = Date.now();
    await insertTimer(sagaId, 'due-now', now);
    await insertTimer(sagaId, 'future', now + 60_000);
    await insertTimer(sagaId, 'due-2s-ago', now - 2_000, { type: 'RETRY_DUE', step: 's', direction: 'action', attempt: 2 });
    await insertTimer(sagaId, 'due-1ms-later', now + 1);
    await insertTimer(sagaId, 'due-1s-ago', now - 1_000);

    const due = await store.dueTimers(ds.manager, now, 100);
    expect(due).toEqual([
      { id: 'due-2s-ago', sagaId, fireAt: new Date(now - 2_000), event: { type: 'RETRY_DUE', step: 's', direction: 'action', attempt: 2 } },
      { id: 'due-1s-ago', sagaId, fireAt: new Date(now - 1_000), event: { type: 'DEADLINE_REACHED' } },
      { id: 'due-now', sagaId, fireAt: new Date(now), event: { type: 'DEADLINE_REACHED' } },
    ]);
    expect((await store.dueTimers(ds.manager, now, 2)).map((timer) => timer.id)).toEqual(['due-2s-ago', 'due-1s-ago']);
    expect((await store.dueTimers(ds.manager, now + 1, 100)).map((timer) => timer.id)).toEqual(['due-2s-ago', 'due-1s-ago', 'due-now', 'due-1ms-later']);
    // What the scheduler sleeps until: the first timer after `now` (not one already due).
    expect(await store.nextTimerAt(ds.manager, now)).toBe(now + 1);
    expect(await store.nextTimerAt(ds.manager, now + 1)).toBe(now + 60_000);
    expect(await store.nextTimerAt(ds.manager, now + 60_000)).toBeNull();
  });

  it('nextTimerAt rounds a fire time with microseconds up to the millisecond (a wake-up then finds it due)', async () => {
    await ds.query('DELETE FROM saga_timers');
    const now = Date.now();
    await ds.query(`INSERT INTO saga_timers (id, saga_id, fire_at, event) VALUES ('micro', $1, $2::timestamptz + interval '300 microseconds', '{"type":"DEADLINE_REACHED"}')`, [
      randomUUID(),
      new Date(now + 5),
    ]);
    expect(await store.nextTimerAt(ds.manager, now)).toBe(now + 6);
    expect((await store.dueTimers(ds.manager, now + 6, 100)).map((timer) => timer.id)).toEqual(['micro']);
    await ds.query('DELETE FROM saga_timers');
  });

  it('dueTimers reads an index range, not the table, with 200k timers waiting far ahead', async () => {
    await ds.query('DELETE FROM saga_timers');
    await ds.query(
      `INSERT INTO saga_timers (id, saga_id, fire_at, event)
       SELECT 'far-' || n, gen_random_uuid(), now() + interval '30 days' + n * interval '1 ms', '{"type":"DEADLINE_REACHED"}'::jsonb FROM generate_series(1, 200000) AS n`,
    );
    await insertTimer(randomUUID(), 'due-one', Date.now() - 1_000);
    await ds.query('ANALYZE saga_timers');
    const [
      {
        'QUERY PLAN': [plan],
      },
    ] = await ds.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${DUE_TIMERS}`, [new Date(), 100]);
    const nodes: { 'Node Type': string; 'Index Name'?: string; 'Actual Rows'?: number }[] = [];
    const walk = (node: { Plans?: unknown[] } & (typeof nodes)[number]) => {
      nodes.push(node);
      for (const child of node.Plans ?? []) walk(child as typeof node);
    };
    walk(plan.Plan);
    expect(nodes.map((node) => node['Node Type'])).not.toContain('Seq Scan');
    expect(nodes.find((node) => node['Index Name'] === 'ix_saga_timers_fire_at')).toMatchObject({ 'Actual Rows': 1 });
    expect((await store.dueTimers(ds.manager, Date.now(), 100)).map((timer) => timer.id)).toEqual(['due-one']);
    await ds.query('DELETE FROM saga_timers');
  });

  it('cancelTimers deletes exactly the named timers (unknown ids are fine)', async () => {
    const sagaId = await start();
    await insertTimer(sagaId, `${sagaId}/a`, NOW);
    await insertTimer(sagaId, `${sagaId}/b`, NOW);
    const before = (await ds.transaction((manager) => store.loadForUpdate(manager, sagaId)))!;
    await ds.transaction((manager) =>
      store.applyDecision(manager, before, noChange(before, { cancelTimers: [`${sagaId}/a`, `${sagaId}/create-order/action/1/timeout`, 'no-such-timer'] }), toOutbox),
    );
    expect(await ds.query('SELECT id FROM saga_timers WHERE saga_id = $1', [sagaId])).toEqual([{ id: `${sagaId}/b` }]);
  });

  it('a timer whose id already exists is ignored, not overwritten, and the others are still inserted', async () => {
    const sagaId = await start();
    const existing = `${sagaId}/create-order/action/1/timeout`;
    const [original] = await ds.query('SELECT fire_at, event FROM saga_timers WHERE id = $1', [existing]);
    expect(original.fire_at.getTime()).toBeLessThan(NOW + 999_999);
    const before = (await ds.transaction((manager) => store.loadForUpdate(manager, sagaId)))!;
    const timers = [
      { id: existing, fireAt: NOW + 999_999, event: { type: 'DEADLINE_REACHED' as const } },
      { id: `${sagaId}/deadline`, fireAt: NOW + 1_000, event: { type: 'DEADLINE_REACHED' as const } },
    ];
    await ds.transaction((manager) => store.applyDecision(manager, before, noChange(before, { timers }), toOutbox));
    expect(await ds.query('SELECT fire_at, event FROM saga_timers WHERE id = $1', [existing])).toEqual([original]);
    expect(await ds.query('SELECT id, fire_at FROM saga_timers WHERE saga_id = $1 ORDER BY fire_at', [sagaId])).toEqual([
      { id: `${sagaId}/deadline`, fire_at: new Date(NOW + 1_000) },
      { id: existing, fire_at: original.fire_at },
    ]);
  });
});
