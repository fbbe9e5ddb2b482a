/**
 * saga_instances.has_exceptions against the real PostgreSQL: the flag GET /sagas?hasExceptions
 * reads is set by the very statement that writes a failure entry, on every write path.
 *
 * Proves: a start without failure leaves it false; a timeout (single path, saga row written)
 * sets it; a late reply sets it on the held path (saga row written, version checked) and on the
 * read path (no saga row written: the flagging statement); a duplicate reply and a history-only
 * write (a parked malformed reply) set it; a success reply leaves it false; and after each write
 * the flag equals "the history has an entry with a failure type".
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { attemptTimerId, commandEnvelope, commandRoutes, decide, validateDefinition, type Decision, type ReplyEvent } from '#saga/core';
import { openSagaDataSource, SagaCommitter, type Decide, type ToOutbox } from '#saga/persistence';
import { demoCatalog } from '../../apps/orchestrator/src/definitions/built-in/demo-catalog';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { createTestDatabase, runId } from '../support/infra';

const definition = validateDefinition(structuredClone(placeOrderSaga), demoCatalog('saga'), 'place-order');
const routes = commandRoutes(demoCatalog('saga'));
const toOutbox: ToOutbox = (command) => commandEnvelope(command, routes.get(command.command)!.queue, 'saga.replies', Date.now());
const input = { customerId: 'c-flag', items: [{ sku: 'sku-1', quantity: 1 }], amount: 12.5 };
const NOW = Date.UTC(2100, 0, 1);
const engine: Decide = (state, event) => decide(definition, state, event, NOW + 100);

/** A reply for a step that is not in flight: the engine records LATE_REPLY_IGNORED and changes nothing. */
const lateReply = (sagaId: string) => ({
  kind: 'reply' as const,
  sagaId,
  inboxKey: `${sagaId}/charge-payment/action/1`,
  event: { type: 'REPLY', step: 'charge-payment', direction: 'action', attempt: 1, outcome: { kind: 'success', result: {} } } as ReplyEvent,
});
const successReply = (sagaId: string) => ({
  kind: 'reply' as const,
  sagaId,
  inboxKey: `${sagaId}/create-order/action/1`,
  event: { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 1, outcome: { kind: 'success', result: { orderId: sagaId } } } as ReplyEvent,
});

describe('has_exceptions on PostgreSQL', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;
  let held: SagaCommitter;
  let unheld: SagaCommitter;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'flag');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 4);
    held = new SagaCommitter(ds, { toOutbox, stateCacheSize: 100, clock: () => NOW + 50 });
    unheld = new SagaCommitter(ds, { toOutbox, stateCacheSize: 0, clock: () => NOW + 50 });
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  async function started(committer: SagaCommitter): Promise<Decision> {
    const decision = decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, NOW);
    await committer.start([{ decision, meta: { idempotencyKey: null, inputHash: 'hash' } }]);
    return decision;
  }

  /** The flag and what it must equal: whether the history has a failure entry. */
  async function flag(id: string): Promise<{ flag: boolean; history: boolean }> {
    const [row] = await ds.query(
      'SELECT has_exceptions AS flag, EXISTS (SELECT 1 FROM saga_history WHERE saga_id = $1 AND failure_type IS NOT NULL) AS history FROM saga_instances WHERE id = $1',
      [id],
    );
    return row;
  }

  it('is false after a start and a success reply', async () => {
    const { state } = await started(held);
    expect(await flag(state.id)).toEqual({ flag: false, history: false });
    const committed = await held.commit([successReply(state.id)], engine);
    expect(committed.path).toBe('held');
    expect(await flag(state.id)).toEqual({ flag: false, history: false });
  });

  it('is set by a timeout, in the statement that records it', async () => {
    const { state } = await started(held);
    const timerId = attemptTimerId(state.id, 'create-order', 'action', 1, 'timeout');
    const committed = await held.commit(
      [{ kind: 'timer', sagaId: state.id, timerId, event: { type: 'ATTEMPT_TIMED_OUT', step: 'create-order', direction: 'action', attempt: 1 } }],
      engine,
    );
    expect(committed.outcomes[0].kind).toBe('applied');
    expect(await flag(state.id)).toEqual({ flag: true, history: true });
  });

  it('is set by a late reply on the held path (the saga row is written with its version checked)', async () => {
    const { state } = await started(held);
    const committed = await held.commit([lateReply(state.id)], engine);
    expect(committed.path).toBe('held');
    expect(await flag(state.id)).toEqual({ flag: true, history: true });
  });

  it('is set by a late reply on the read path, in the saga row it writes (version moved by one)', async () => {
    const { state } = await started(unheld);
    const before = (await ds.query('SELECT version FROM saga_instances WHERE id = $1', [state.id]))[0].version;
    const committed = await unheld.commit([lateReply(state.id), successReply(randomUUID())], engine);
    expect(committed.path).toBe('read');
    expect(committed.outcomes.map((outcome) => outcome.kind)).toEqual(['applied', 'unknown-saga']);
    expect(await flag(state.id)).toEqual({ flag: true, history: true });
    expect((await ds.query('SELECT version FROM saga_instances WHERE id = $1', [state.id]))[0].version).toBe(before + 1);
  });

  it('is set by a duplicate reply and by a history-only write, and left alone on other sagas of the batch', async () => {
    const [duplicated, other] = [await started(unheld), await started(unheld)];
    await unheld.commit([successReply(duplicated.state.id)], engine);
    expect(await flag(duplicated.state.id)).toEqual({ flag: false, history: false });
    const committed = await unheld.commit([successReply(duplicated.state.id), successReply(other.state.id)], engine);
    expect(committed.outcomes.map((outcome) => outcome.kind)).toEqual(['duplicate', 'applied']);
    expect(await flag(duplicated.state.id)).toEqual({ flag: true, history: true });
    expect(await flag(other.state.id)).toEqual({ flag: false, history: false });

    const parked = await started(unheld);
    const entry = { type: 'MALFORMED_REPLY_PARKED', failureType: 'malformed', at: NOW, step: null, direction: null, attempt: null, reason: 'unreadable', detail: null } as const;
    expect(await unheld.appendHistory(parked.state.id, [entry])).toBe(true);
    expect(await flag(parked.state.id)).toEqual({ flag: true, history: true });
  });
});
