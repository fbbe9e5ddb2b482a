/**
 * Confirmed outbox rows deleted by the committer's own writes, against the real PostgreSQL
 * (docs/semantics.md S4; published-outbox.ts, saga-sql.ts).
 *
 * Proves: a start, a held reply batch and a read reply batch (even one that writes no saga) each
 * delete the confirmed rows they were given, in their own statement, and nothing else of the
 * outbox; a write that fails deletes nothing and gives its rows back, and a later write deletes
 * them; a row another transaction holds (the relay claiming it) is skipped at once, not waited for.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { decide, type Decision, type ReplyEvent } from '#saga/core';
import { openSagaDataSource, PublishedOutbox, SagaCommitter, SagaStore } from '#saga/persistence';
import { createTestDatabase, runId } from '../support/infra';
import { createOrderReply, FAR_NOW as NOW, placeOrderDefinition as definition, placeOrderEngine as engine, placeOrderToOutbox as toOutbox } from '../support/place-order-engine';

const input = { customerId: 'c-9', items: [{ sku: 'sku-1', quantity: 1 }], amount: 3 };
const reply = (sagaId: string) => ({ kind: 'reply' as const, sagaId, event: createOrderReply(sagaId), inboxKey: `${sagaId}/create-order/action/1` });

describe('confirmed outbox rows deleted by the committer writes', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;
  const published = new PublishedOutbox();
  let committer: SagaCommitter;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'published');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 4);
    committer = new SagaCommitter(ds, { toOutbox, stateCacheSize: 100, publishedOutbox: published, clock: () => NOW + 50 });
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  const newStart = (): { decision: Decision; meta: { idempotencyKey: null; inputHash: string } } => ({
    decision: decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, NOW),
    meta: { idempotencyKey: null, inputHash: 'hash' },
  });
  /** Starts a saga and returns its id and the outbox id of its first command (confirmed, say). */
  async function started(): Promise<{ id: string; outboxId: string }> {
    const start = newStart();
    const [outcome] = await committer.start([start]);
    if (outcome.kind !== 'stored') throw new Error('not stored');
    return { id: start.decision.state.id, outboxId: outcome.publish[0].outboxId };
  }
  const outboxIds = async (): Promise<string[]> => (await ds.query('SELECT id::text AS id FROM saga_outbox ORDER BY id')).map((row: { id: string }) => row.id);

  it('a start deletes the confirmed rows it was given, and only those', async () => {
    const first = await started();
    const second = await started();
    published.add(first.outboxId);
    const third = await started();
    expect(await outboxIds()).toEqual([second.outboxId, third.outboxId]);
    expect(published.size).toBe(0);
    published.add(second.outboxId);
    published.add(third.outboxId);
    await started();
    expect(await outboxIds()).not.toContain(second.outboxId);
    expect(await outboxIds()).not.toContain(third.outboxId);
  });

  it('a held reply batch and a read one delete them too', async () => {
    const [a, b] = [await started(), await started()];
    published.add(a.outboxId);
    const held = await committer.commit([reply(b.id)], engine);
    expect(held.path).toBe('held');
    expect(await outboxIds()).not.toContain(a.outboxId);

    // Another writer moves saga a, so the committer's next batch on it goes the read way.
    const store = new SagaStore();
    await ds.transaction(async (manager) => {
      const loaded = (await store.loadForUpdate(manager, a.id))!;
      await store.applyDecision(manager, loaded, engine(loaded.state, createOrderReply(a.id)), toOutbox);
    });
    published.add(b.outboxId);
    const next: ReplyEvent = { type: 'REPLY', step: 'reserve-inventory', direction: 'action', attempt: 1, outcome: { kind: 'success', result: { reservationId: a.id } } };
    const read = await committer.commit([{ kind: 'reply', sagaId: a.id, event: next, inboxKey: `${a.id}/reserve-inventory/action/1` }], engine);
    expect(read.path).toBe('read');
    expect(await outboxIds()).not.toContain(b.outboxId);
    expect(published.size).toBe(0);
  });

  it('a reply batch that writes no saga (its saga is unknown) still deletes them', async () => {
    const saga = await started();
    published.add(saga.outboxId);
    const committed = await committer.commit([reply(randomUUID())], engine);
    expect(committed.outcomes).toEqual([{ kind: 'unknown-saga' }]);
    expect(await outboxIds()).not.toContain(saga.outboxId);
    expect(published.size).toBe(0);
  });

  it('a write that fails deletes nothing and gives its rows back; a later write deletes them', async () => {
    const saga = await started();
    published.add(saga.outboxId);
    const taken = newStart();
    taken.decision = { ...taken.decision, state: { ...taken.decision.state, id: saga.id } }; // a saga id already stored: unique violation
    await expect(committer.start([taken])).rejects.toThrow(/duplicate key/);
    expect(await outboxIds()).toContain(saga.outboxId);
    expect(published.size).toBe(1);
    await started();
    expect(await outboxIds()).not.toContain(saga.outboxId);
    expect(published.size).toBe(0);
  });

  it('skips a row another transaction holds instead of waiting for it', async () => {
    const saga = await started();
    const runner = ds.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.query('SELECT id FROM saga_outbox WHERE id = $1 FOR UPDATE', [saga.outboxId]); // as the relay's claim holds it
      published.add(saga.outboxId);
      const startedAt = Date.now();
      await started();
      expect(Date.now() - startedAt).toBeLessThan(2_000); // a lock wait would block until the rollback below
      expect(published.size).toBe(0); // the holder now owns the row: deletes it, or leaves it to publish again
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    expect(await outboxIds()).toContain(saga.outboxId);
  });
});
