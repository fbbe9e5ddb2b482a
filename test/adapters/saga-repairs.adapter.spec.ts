/**
 * Operator repairs on the committer's write path, against the real PostgreSQL (docs/semantics.md S8).
 *
 * Proves: an operator input's idempotency key is claimed in the decision's transaction (a repeat,
 * also a concurrent one, is `duplicate` and writes nothing) and the first request's entry can be
 * found again by key and actor; the timer it fires is claimed there too, and when that timer is
 * gone nothing of the request is kept (not even the key); the step repair fields round-trip
 * through the `repair` column exactly; pending attempt timers are listed without the deadline.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { commandEnvelope, commandRoutes, decide, validateDefinition, type Decision, type RepairEvent } from '#saga/core';
import { openSagaDataSource, SagaCommitter, SagaStore, type Decide, type ToOutbox } from '#saga/persistence';
import { demoCatalog } from '../../apps/orchestrator/src/definitions/built-in/demo-catalog';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { createTestDatabase, runId } from '../support/infra';

const definition = validateDefinition(structuredClone({ ...placeOrderSaga, deadlineMs: 3_600_000 }), demoCatalog('saga'), 'place-order');
const routes = commandRoutes(demoCatalog('saga'));
const toOutbox: ToOutbox = (command) => commandEnvelope(command, routes.get(command.command)!.queue, 'saga.replies', Date.now());
const input = { customerId: 'c-7', items: [{ sku: 'sku-1', quantity: 1 }], amount: 12.5 };
const NOW = Date.UTC(2100, 0, 1);
const engine: Decide = (state, event) => decide(definition, state, event, NOW + 100);
const resolve = (requestKey: string | null): RepairEvent => ({ type: 'RESOLVE', by: 'olga', reason: 'done elsewhere', requestKey });

describe('operator repairs on PostgreSQL', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;
  let committer: SagaCommitter;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'repairs');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 4);
    committer = new SagaCommitter(ds, { toOutbox, stateCacheSize: 100 });
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  async function started(): Promise<Decision> {
    const decision = decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, NOW);
    await committer.start([{ decision, meta: { idempotencyKey: null, inputHash: 'hash' } }]);
    return decision;
  }
  const rows = async (id: string) => ({
    version: (await ds.query('SELECT version FROM saga_instances WHERE id = $1', [id]))[0].version as number,
    history: (await ds.query('SELECT type FROM saga_history WHERE saga_id = $1 ORDER BY id', [id])).map((row: { type: string }) => row.type) as string[],
    inbox: (await ds.query('SELECT message_key FROM saga_inbox WHERE saga_id = $1', [id])).map((row: { message_key: string }) => row.message_key) as string[],
    timers: (await ds.query('SELECT id FROM saga_timers WHERE saga_id = $1 ORDER BY id', [id])).map((row: { id: string }) => row.id) as string[],
  });

  it('claims the idempotency key with the decision: a repeat is a duplicate that writes nothing', async () => {
    const { state } = await started();
    const key = `op:olga:${state.id}:k1`;
    const first = await committer.commit([{ kind: 'operator', sagaId: state.id, event: resolve('k1'), inboxKey: key }], engine);
    expect(first.outcomes[0]).toMatchObject({ kind: 'applied', decision: { state: { status: 'RESOLVED_MANUALLY' } } });
    const after = await rows(state.id);
    expect(after.inbox).toEqual([key]);
    expect(after.history.slice(-2)).toEqual(['OPERATOR_ACTION', 'SAGA_RESOLVED_MANUALLY']);

    const again = await committer.commit([{ kind: 'operator', sagaId: state.id, event: resolve('k1'), inboxKey: key }], engine);
    expect(again.outcomes).toEqual([{ kind: 'duplicate' }]);
    expect(await rows(state.id)).toEqual(after);
    expect(await committer.findOperatorEntry(state.id, 'k1', 'olga')).toMatchObject({ type: 'OPERATOR_ACTION', reason: 'RESOLVE', detail: { by: 'olga', requestKey: 'k1' } });
    expect(await committer.findOperatorEntry(state.id, 'k1', 'someone-else')).toBeNull();
  });

  it('settles two concurrent requests with one key: one applies, the other is a duplicate', async () => {
    const { state } = await started();
    const input = { kind: 'operator' as const, sagaId: state.id, event: resolve('k2'), inboxKey: `op:olga:${state.id}:k2` };
    const outcomes = (await Promise.all([committer.commit([input], engine), committer.commit([input], engine)])).map((c) => c.outcomes[0].kind).sort();
    expect(outcomes).toEqual(['applied', 'duplicate']);
    expect((await rows(state.id)).history.filter((type) => type === 'OPERATOR_ACTION')).toHaveLength(1);
  });

  it('claims the timer it fires; a timer already gone keeps nothing of the request, not even its key', async () => {
    const { state } = await started();
    const timerId = `${state.id}/create-order/action/1/timeout`;
    expect((await committer.pendingAttemptTimers(state.id)).map((t) => [t.id, t.event.type])).toEqual([[timerId, 'ATTEMPT_TIMED_OUT']]);
    expect((await rows(state.id)).timers).toEqual([`${state.id}/deadline`, timerId].sort());
    const fire = (key: string): RepairEvent => ({
      type: 'FIRE_TIMER_NOW',
      by: 'olga',
      reason: 'now',
      requestKey: key,
      timer: { type: 'ATTEMPT_TIMED_OUT', step: 'create-order', direction: 'action', attempt: 1 },
    });

    await ds.query('DELETE FROM saga_timers WHERE id = $1', [timerId]); // as if the scheduler got there first
    const before = await rows(state.id);
    const gone = await committer.commit([{ kind: 'operator', sagaId: state.id, event: fire('t1'), inboxKey: `op:olga:${state.id}:t1`, timerId }], engine);
    expect(gone.outcomes).toEqual([{ kind: 'timer-already-fired' }]);
    expect(await rows(state.id)).toEqual(before);

    await ds.query(`INSERT INTO saga_timers (id, saga_id, fire_at, event) VALUES ($1, $2, now() + interval '1 hour', $3)`, [
      timerId,
      state.id,
      JSON.stringify({ type: 'ATTEMPT_TIMED_OUT', step: 'create-order', direction: 'action', attempt: 1 }),
    ]);
    const fired = await committer.commit([{ kind: 'operator', sagaId: state.id, event: fire('t1'), inboxKey: `op:olga:${state.id}:t1`, timerId }], engine);
    expect(fired.outcomes[0]).toMatchObject({ kind: 'applied' });
    const after = await rows(state.id);
    expect(after.history.slice(-3)).toEqual(['OPERATOR_ACTION', 'ATTEMPT_TIMED_OUT', 'RETRY_SCHEDULED']);
    expect(after.timers).toEqual([`${state.id}/create-order/action/2/retry`, `${state.id}/deadline`]);
  });

  it('stores the step repair fields and reads them back exactly; untouched steps carry none', async () => {
    const { state } = await started();
    const [outcome] = (await committer.commit([{ kind: 'operator', sagaId: state.id, event: resolve(null) }], engine)).outcomes;
    if (outcome.kind !== 'applied') throw new Error(`expected applied, got ${outcome.kind}`);
    const loaded = await ds.transaction((manager) => new SagaStore().loadForUpdate(manager, state.id));
    expect(loaded!.state).toStrictEqual(outcome.decision.state);
    expect(loaded!.state.steps[0].manual).toBe(true);
    expect('manual' in loaded!.state.steps[1]).toBe(false);
    expect(await ds.query('SELECT position, repair FROM saga_steps WHERE saga_id = $1 ORDER BY position LIMIT 2', [state.id])).toEqual([
      { position: 0, repair: { manual: true } },
      { position: 1, repair: null },
    ]);
  });

  it('an operator input for a saga that does not exist writes nothing, key or not', async () => {
    const id = randomUUID();
    const outcome = await committer.commit([{ kind: 'operator', sagaId: id, event: resolve('k3'), inboxKey: `op:olga:${id}:k3` }], engine);
    expect(outcome.outcomes).toEqual([{ kind: 'unknown-saga' }]);
    expect(await ds.query('SELECT 1 FROM saga_inbox WHERE saga_id = $1', [id])).toEqual([]);
  });
});
