/**
 * Batched starts against the real PostgreSQL: SagaStore.insertMany and the orchestrator's
 * StartWriter over SagaCommitter.start.
 *
 * Proves: insertMany stores each saga exactly as insertNew stores it alone (instance, steps,
 * history, outbox, timers), returns each saga's own commands with their outbox ids, and writes
 * nothing at all when one saga of the batch cannot be stored (a saga id taken); StartWriter
 * writes a burst of keyless starts with one statement, redoes a failed batch start by start so
 * only the bad one fails, and with maxBatchSize 1 never batches. Starts with an idempotency key:
 * test/adapters/keyed-starts.adapter.spec.ts.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { commandEnvelope, commandRoutes, decide, validateDefinition } from '#saga/core';
import { openSagaDataSource, SagaCommitter, SagaStore, type NewSaga, type ToOutbox } from '#saga/persistence';
import { demoCatalog } from '../../apps/orchestrator/src/definitions/built-in/demo-catalog';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { StartWriter, type StartWritten } from '../../apps/orchestrator/src/runtime/start-writer';
import { createTestDatabase, runId } from '../support/infra';

const definition = validateDefinition(structuredClone(placeOrderSaga), demoCatalog('saga'), 'place-order');
const routes = commandRoutes(demoCatalog('saga'));
const toOutbox: ToOutbox = (command) => commandEnvelope(command, routes.get(command.command)!.queue, 'saga.replies', Date.now());
/** Far in the future, so these timers are never due for anyone. */
const NOW = Date.UTC(2100, 0, 1);
const inputs = [
  { customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 2 }], amount: 120.5, note: 'ring twice' },
  {
    customerId: 'ç-ü "quoted" \\ back',
    items: [
      { sku: 'sku-2', quantity: 1 },
      { sku: 'sku-3', quantity: 7 },
    ],
    amount: 0.1,
  },
  { customerId: 'c-3', items: [{ sku: 'sku-1', quantity: 1 }], amount: 99999999.99, note: null },
];

const newSaga = (input: unknown, idempotencyKey: string | null = null, now = NOW): NewSaga => ({
  decision: decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, now),
  meta: { idempotencyKey, inputHash: `hash-${JSON.stringify(input).length}` },
});

describe('Batched saga starts on PostgreSQL', () => {
  const store = new SagaStore();
  let ds: DataSource;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'starts');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 4);
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  afterEach(() => jest.restoreAllMocks());

  /** Everything stored about one saga, with its id and the row serials taken out. */
  async function stored(id: string): Promise<unknown> {
    const q = (sql: string) => ds.query(sql, [id]);
    const rows = {
      instance: await q('SELECT * FROM saga_instances WHERE id = $1'),
      steps: await q('SELECT * FROM saga_steps WHERE saga_id = $1 ORDER BY position'),
      history: await q('SELECT saga_id, type, failure_type, at, step, direction, attempt, reason, detail FROM saga_history WHERE saga_id = $1 ORDER BY id'),
      outbox: await q('SELECT saga_id, queue, body, properties FROM saga_outbox WHERE saga_id = $1 ORDER BY id'),
      timers: await q('SELECT * FROM saga_timers WHERE saga_id = $1 ORDER BY id'),
    };
    for (const row of rows.outbox) delete row.properties.timestamp; // the envelope's send time, in seconds
    return JSON.parse(JSON.stringify(rows).replaceAll(id, '<saga>'));
  }

  /** A StartWriter over a committer whose every statement (SagaCommitter.start) is recorded. */
  function startWriter(maxBatchSize: number) {
    const committer = new SagaCommitter(ds, { toOutbox, stateCacheSize: 0 });
    return { writer: new StartWriter(committer, maxBatchSize), many: jest.spyOn(committer, 'start') };
  }

  const count = async (id: string): Promise<number> => Number((await ds.query('SELECT count(*) AS n FROM saga_instances WHERE id = $1', [id]))[0].n);

  it('insertMany stores every saga of a batch exactly as insertNew stores one alone', async () => {
    for (const input of inputs) {
      const [keyAlone, keyTogether] = [`key-${randomUUID()}`, `key-${randomUUID()}`];
      const alone = newSaga(input, keyAlone);
      const together = [newSaga(input, keyTogether), newSaga(input, null), newSaga(inputs[0], null)];
      // decide() is deterministic for one input and time: the same content under other saga ids.
      await store.insertNew(ds.manager, alone.decision, alone.meta, toOutbox);
      await store.insertMany(ds.manager, together, toOutbox);
      const expected = JSON.parse(JSON.stringify(await stored(alone.decision.state.id)).replaceAll(keyAlone, '<key>'));
      expect(JSON.parse(JSON.stringify(await stored(together[0].decision.state.id)).replaceAll(keyTogether, '<key>'))).toEqual(expected);
      expect(await stored(together[1].decision.state.id)).toEqual({ ...expected, instance: [{ ...expected.instance[0], idempotency_key: null }] });
    }
  });

  it('insertMany returns each saga its own commands, under the outbox rows that hold them', async () => {
    const starts = inputs.map((input) => newSaga(input));
    const committed = await store.insertMany(ds.manager, starts, toOutbox);
    expect(committed).toHaveLength(3);
    for (const [index, { decision }] of starts.entries()) {
      expect(committed[index]!.map((command) => command.envelope.properties.correlationId)).toEqual(decision.commands.map((command) => command.correlationId));
      const [row] = await ds.query('SELECT id::text AS id, properties FROM saga_outbox WHERE saga_id = $1', [decision.state.id]);
      expect(committed[index]).toEqual([{ outboxId: row.id, envelope: expect.objectContaining({ queue: 'saga.order', properties: row.properties }) }]);
    }
  });

  it('insertMany writes nothing at all when one saga of the batch cannot be stored', async () => {
    const existing = newSaga(inputs[0]);
    await store.insertMany(ds.manager, [existing], toOutbox);
    const fresh = [newSaga(inputs[1]), newSaga(inputs[2])];
    const clash: NewSaga = { decision: existing.decision, meta: existing.meta }; // its id is taken
    await expect(store.insertMany(ds.manager, [...fresh, clash], toOutbox)).rejects.toMatchObject({ code: '23505' });
    for (const { decision } of fresh) {
      expect(await count(decision.state.id)).toBe(0);
      expect(
        await ds.query(
          'SELECT 1 FROM saga_steps WHERE saga_id = $1 UNION ALL SELECT 1 FROM saga_outbox WHERE saga_id = $1 UNION ALL SELECT 1 FROM saga_history WHERE saga_id = $1 UNION ALL SELECT 1 FROM saga_timers WHERE saga_id = $1',
          [decision.state.id],
        ),
      ).toEqual([]);
    }
  });

  it('StartWriter stores a burst of keyless starts with one statement after the first', async () => {
    const { writer, many } = startWriter(64);
    const starts = Array.from({ length: 20 }, (_, index) => newSaga(inputs[index % 3]));
    const committed = await Promise.all(starts.map((start) => writer.write(start)));
    // The first start finds the writer free (one batch at a time) and goes at once; the 19 that
    // arrive meanwhile share the next statement.
    expect(many.mock.calls.map(([batch]) => batch.length)).toEqual([1, 19]);
    for (const [index, start] of starts.entries()) {
      expect(await count(start.decision.state.id)).toBe(1);
      expect(committed[index]).toMatchObject({ kind: 'stored' });
      const { publish } = committed[index] as Extract<StartWritten, { kind: 'stored' }>;
      expect(publish.map((command) => command.envelope.body.id)).toEqual([`${start.decision.state.id}/create-order/action`]);
    }
  });

  it('StartWriter: a batch that fails is redone start by start, and only the bad start fails', async () => {
    const { writer, many } = startWriter(64);
    const existing = newSaga(inputs[0]);
    await writer.write(existing);
    many.mockClear();
    const blocker = newSaga(inputs[1]);
    const good = [newSaga(inputs[1]), newSaga(inputs[2])];
    const clash: NewSaga = { decision: existing.decision, meta: existing.meta }; // its id is taken
    const outcomes = await Promise.allSettled([blocker, ...good, clash].map((start) => writer.write(start)));
    // One batch (with the clash) failed; each of its starts was then written alone.
    const batches = many.mock.calls.map(([batch]) => batch);
    const failed = batches.filter((batch) => batch.length > 1);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toContain(clash);
    const idOf = (start: NewSaga) => start.decision.state.id;
    for (const start of failed[0]) expect(batches.filter((batch) => batch.length === 1 && idOf(batch[0]) === idOf(start))).toHaveLength(1);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((outcomes[3] as PromiseRejectedResult).reason).toMatchObject({ code: '23505' });
    for (const { decision } of [blocker, ...good]) expect(await count(decision.state.id)).toBe(1);
  });

  it('StartWriter with maxBatchSize 1 writes every start with its own statement', async () => {
    const { writer, many } = startWriter(1);
    const starts = Array.from({ length: 5 }, () => newSaga(inputs[0]));
    await Promise.all(starts.map((start) => writer.write(start)));
    expect(many.mock.calls.map(([batch]) => batch.length)).toEqual([1, 1, 1, 1, 1]);
    for (const { decision } of starts) expect(await count(decision.state.id)).toBe(1);
  });
});
