/**
 * SagaCommitter, the one owner of the saga write path, against the real PostgreSQL
 * (docs/semantics.md S4, S7).
 *
 * Proves: a reply batch on states the committer holds is one statement (path "held"); when the
 * state moved (another writer, a reply seen before) the batch goes the read way with the outcome
 * it would have had, logged at debug with the reason; any other error on the held path (here:
 * decide throwing) propagates and writes nothing; a duplicate writes one history entry and
 * nothing else; timers fire once; unknown sagas change nothing; history-only writes refuse a
 * saga that does not exist.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { decide, type Decision, type ReplyEvent, type SagaEvent } from '#saga/core';
import { openSagaDataSource, SagaCommitter, SagaStore, type Decide } from '#saga/persistence';
import { createTestDatabase, runId } from '../support/infra';
import { createOrderReply, FAR_NOW as NOW, placeOrderDefinition as definition, placeOrderEngine as engine, placeOrderToOutbox as toOutbox } from '../support/place-order-engine';

const input = { customerId: 'c-7', items: [{ sku: 'sku-1', quantity: 1 }], amount: 12.5 };
const inboxKey = (sagaId: string) => `${sagaId}/create-order/action/1`;

describe('SagaCommitter on PostgreSQL', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;
  const debug: string[] = [];
  let committer: SagaCommitter;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'committer');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 4);
    committer = new SagaCommitter(ds, { toOutbox, stateCacheSize: 100, logger: { debug: (message) => debug.push(message) }, clock: () => NOW + 50 });
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  /** A new saga through the committer (which then holds its state). */
  async function started(): Promise<Decision> {
    const decision = decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, NOW);
    await committer.start([{ decision, meta: { idempotencyKey: null, inputHash: 'hash' } }]);
    return decision;
  }

  const version = async (id: string): Promise<number> => (await ds.query('SELECT version FROM saga_instances WHERE id = $1', [id]))[0].version;
  const historyTypes = async (id: string): Promise<string[]> =>
    (await ds.query('SELECT type FROM saga_history WHERE saga_id = $1 ORDER BY id', [id])).map((row: { type: string }) => row.type);
  const reply = (sagaId: string) => ({ kind: 'reply' as const, sagaId, event: createOrderReply(sagaId), inboxKey: inboxKey(sagaId) });

  it('commits a reply batch on held states in one statement, and publishes what it wrote', async () => {
    const sagas = [await started(), await started()];
    const committed = await committer.commit(
      sagas.map(({ state }) => reply(state.id)),
      engine,
    );
    expect(committed.path).toBe('held');
    expect(committed.outcomes.map((outcome) => outcome.kind)).toEqual(['applied', 'applied']);
    expect(committed.publish.map((command) => command.envelope.properties.correlationId).sort()).toEqual(sagas.map(({ state }) => `${state.id}/reserve-inventory/action/1`).sort());
    for (const { state } of sagas) expect(await version(state.id)).toBe(2);
  });

  it('goes the read way when another writer moved a saga, with the same outcome, and says why at debug', async () => {
    const { state } = await started();
    // Another writer (a second replica, say) commits a step of this saga first.
    const store = new SagaStore();
    await ds.transaction(async (manager) => {
      const loaded = (await store.loadForUpdate(manager, state.id))!;
      await store.applyDecision(manager, loaded, engine(loaded.state, createOrderReply(state.id)), toOutbox);
    });
    debug.length = 0;
    const next: SagaEvent = { type: 'REPLY', step: 'reserve-inventory', direction: 'action', attempt: 1, outcome: { kind: 'success', result: { reservationId: state.id } } };
    const committed = await committer.commit([{ kind: 'reply', sagaId: state.id, event: next as ReplyEvent, inboxKey: `${state.id}/reserve-inventory/action/1` }], engine);
    expect(committed.path).toBe('read');
    expect(committed.outcomes[0]).toMatchObject({ kind: 'applied', decision: { state: { current: 2 } } });
    expect(debug).toEqual([expect.stringMatching(/falls back to lock and read: .*changed by another writer/)]);
    expect(await version(state.id)).toBe(3);
  });

  it('records a reply seen before as a duplicate: one history entry, the saga unchanged but for its version', async () => {
    const { state } = await started();
    const applied = await committer.commit([reply(state.id)], engine);
    expect(applied.outcomes[0]).toMatchObject({ kind: 'applied', version: 2 });
    const before = await ds.query('SELECT version, status, current_step FROM saga_instances WHERE id = $1', [state.id]);
    expect(before[0].version).toBe(2);
    const types = await historyTypes(state.id);
    debug.length = 0;
    const committed = await committer.commit([reply(state.id)], engine);
    expect(committed.outcomes).toEqual([{ kind: 'duplicate' }]);
    expect(committed.publish).toEqual([]);
    expect(debug).toEqual([expect.stringMatching(/inbox key taken/)]);
    // The entry is a write of the saga: the version moves (docs/semantics.md S7), nothing else does.
    expect(await ds.query('SELECT version, status, current_step FROM saga_instances WHERE id = $1', [state.id])).toEqual([{ ...before[0], version: 3 }]);
    expect(await historyTypes(state.id)).toEqual([...types, 'DUPLICATE_REPLY_IGNORED']);
    // The committer holds the touched version: the next reply takes the one-statement path.
    debug.length = 0;
    const next = await committer.commit([{ ...reply(state.id), inboxKey: `${inboxKey(state.id)}:next` }], engine);
    expect(next.path).toBe('held');
    expect(next.outcomes[0]).toMatchObject({ version: 4 });
    expect(debug).toEqual([]);
  });

  it('lets any other error of the held path through, having written nothing', async () => {
    const { state } = await started();
    const failing: Decide = () => {
      throw new Error('definition place-order@3 is not loaded');
    };
    await expect(committer.commit([reply(state.id)], failing)).rejects.toThrow('definition place-order@3 is not loaded');
    expect(await version(state.id)).toBe(1);
    expect(await ds.query('SELECT 1 FROM saga_inbox WHERE message_key = $1', [inboxKey(state.id)])).toEqual([]);
    // The reply is still there to be handled.
    expect((await committer.commit([reply(state.id)], engine)).outcomes[0].kind).toBe('applied');
  });

  it('fires a timer once and ignores events for sagas that do not exist', async () => {
    const { state, timers } = await started();
    const [timer] = timers;
    const fire = () => committer.commit([{ kind: 'timer', sagaId: state.id, event: timer.event as SagaEvent, timerId: timer.id }], engine);
    const first = await fire();
    expect(first.path).toBe('single');
    expect(first.outcomes[0].kind).toBe('applied');
    expect((await fire()).outcomes).toEqual([{ kind: 'timer-already-fired' }]);
    const missing = randomUUID();
    expect((await committer.commit([reply(missing)], engine)).outcomes).toEqual([{ kind: 'unknown-saga' }]);
    expect((await committer.commit([{ kind: 'operator', sagaId: missing, event: { type: 'CANCEL', reason: 'test', by: 'test' } }], engine)).outcomes).toEqual([
      { kind: 'unknown-saga' },
    ]);
    expect(await ds.query('SELECT 1 FROM saga_inbox WHERE saga_id = $1', [missing])).toEqual([]);
  });

  it('writes history alone only for a saga that exists', async () => {
    const { state } = await started();
    const entry = {
      type: 'MALFORMED_REPLY_PARKED' as const,
      failureType: 'malformed' as const,
      at: NOW,
      step: 'create-order',
      direction: 'action' as const,
      attempt: 1,
      reason: 'malformed',
      detail: null,
    };
    expect(await committer.appendHistory(state.id, [entry])).toBe(true);
    expect(await committer.appendHistory(randomUUID(), [entry])).toBe(false);
    expect(await historyTypes(state.id)).toContain('MALFORMED_REPLY_PARKED');
    expect(await version(state.id)).toBe(2); // a note is a write of the saga: it moves the version
  });

  it('refuses a batch that mixes kinds or names one saga twice', async () => {
    const { state } = await started();
    await expect(committer.commit([reply(state.id), reply(state.id)], engine)).rejects.toThrow('at most one reply per saga');
    await expect(committer.commit([reply(state.id), { kind: 'operator', sagaId: state.id, event: { type: 'CANCEL', reason: 'x', by: 'y' } }], engine)).rejects.toThrow(
      'only replies are committed in batches',
    );
  });
});
