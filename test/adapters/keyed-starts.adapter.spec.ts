/**
 * Starts with an idempotency key against the real PostgreSQL (docs/semantics.md S6): START_SAGAS
 * through SagaStore, and the orchestrator's StartWriter over SagaCommitter, on one database that
 * two "replicas" share (two DataSources, two committers, two writers).
 *
 * Proves: one statement leaves out whole a start whose key is taken (before, or earlier in the
 * same statement) and stores the others, each with all its rows; a burst of keyed starts with new
 * keys shares statements exactly like keyless starts and reads nothing (statements counted on
 * the wire), a repeated key costs its share of the write plus one read; starts with one key in
 * one batch, in two batches or racing on two replicas make one saga and every caller is told its
 * id (with the stored input hash, from which the runtime answers 409); a key freed between the
 * write and the read is written again, a key that never settles fails with nothing stored; and,
 * over random mixes of keyed, keyless and repeated starts on both replicas (fast-check): one
 * saga per key, every answer consistent with what is stored, no orphan or partial rows.
 */
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { commandEnvelope, commandRoutes, decide, validateDefinition } from '#saga/core';
import { openSagaDataSource, SagaCommitter, SagaStore, type NewSaga, type ToOutbox } from '#saga/persistence';
import { demoCatalog } from '../../apps/orchestrator/src/definitions/built-in/demo-catalog';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { inputHash } from '../../apps/orchestrator/src/runtime/input-hash';
import { KeyedStartUnsettledError, StartWriter, type StartWritten } from '../../apps/orchestrator/src/runtime/start-writer';
import { createTestDatabase, runId, waitFor } from '../support/infra';

const definition = validateDefinition(structuredClone(placeOrderSaga), demoCatalog('saga'), 'place-order');
const routes = commandRoutes(demoCatalog('saga'));
const toOutbox: ToOutbox = (command) => commandEnvelope(command, routes.get(command.command)!.queue, 'saga.replies', Date.now());
/** Far in the future, so these timers are never due for anyone. */
const NOW = Date.UTC(2100, 0, 1);
const inputs = [
  { customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 2 }], amount: 120.5 },
  { customerId: 'c-2', items: [{ sku: 'sku-2', quantity: 1 }], amount: 0.1 },
  { customerId: 'c-3', items: [{ sku: 'sku-1', quantity: 1 }], amount: 99 },
];

const newSaga = (input: unknown, idempotencyKey: string | null): NewSaga => ({
  decision: decide(definition, null, { type: 'START', sagaId: randomUUID(), input }, NOW),
  meta: { idempotencyKey, inputHash: inputHash(input) },
});
const idOf = (start: NewSaga): string => start.decision.state.id;
const freshKey = (): string => `key-${randomUUID()}`;

/** Rows of one saga in every table a start writes (saga_inbox: a start writes none, ever). */
interface Rows {
  instance: number;
  steps: number;
  history: number;
  outbox: number;
  timers: number;
  inbox: number;
}
/** The rows START_SAGAS writes for `start` when it stores it. */
const rowsOfStored = ({ decision }: NewSaga): Rows => ({
  instance: 1,
  steps: decision.state.steps.length,
  history: decision.history.length,
  outbox: decision.commands.length,
  timers: decision.timers.length,
  inbox: 0,
});
const NO_ROWS: Rows = { instance: 0, steps: 0, history: 0, outbox: 0, timers: 0, inbox: 0 };

describe('Starts with an idempotency key on PostgreSQL', () => {
  const store = new SagaStore();
  let replicas: [DataSource, DataSource];
  /** The tests' own connection: its statements are never counted. */
  let db: Client;
  let drop: () => Promise<void>;
  /** Statements sent by the replicas' pools while counting (one each: a round trip and a commit). */
  let sent: string[] | undefined;
  let restore: () => void;

  beforeAll(async () => {
    const database = await createTestDatabase(runId(), 'keyed_starts');
    drop = database.drop;
    replicas = [await openSagaDataSource(database.url, 4), await openSagaDataSource(database.url, 4)];
    db = new Client({ connectionString: database.url });
    await db.connect();
    const prototype = Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = prototype.query;
    prototype.query = function (this: Client, ...args: unknown[]) {
      if (this !== db) sent?.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text));
      return original.apply(this, args);
    };
    restore = () => (prototype.query = original);
  });

  afterAll(async () => {
    restore?.();
    for (const ds of replicas ?? []) await ds?.destroy();
    await db?.end();
    await drop?.();
  });

  afterEach(() => jest.restoreAllMocks());

  /** A StartWriter on replica `replica` whose batches (SagaCommitter.start) and reads are recorded. */
  function startWriter(maxBatchSize: number, replica: 0 | 1 = 0) {
    const committer = new SagaCommitter(replicas[replica], { toOutbox, stateCacheSize: 0 });
    return { writer: new StartWriter(committer, maxBatchSize), batches: jest.spyOn(committer, 'start'), reads: jest.spyOn(committer, 'findStart') };
  }

  async function rowsOf(ids: string[]): Promise<Map<string, Rows>> {
    const { rows } = await db.query<Rows & { id: string }>(
      `SELECT id::text,
              (SELECT count(*) FROM saga_instances WHERE id = i.id)::int AS instance, (SELECT count(*) FROM saga_steps WHERE saga_id = i.id)::int AS steps,
              (SELECT count(*) FROM saga_history WHERE saga_id = i.id)::int AS history, (SELECT count(*) FROM saga_outbox WHERE saga_id = i.id)::int AS outbox,
              (SELECT count(*) FROM saga_timers WHERE saga_id = i.id)::int AS timers, (SELECT count(*) FROM saga_inbox WHERE saga_id = i.id)::int AS inbox
         FROM unnest($1::uuid[]) AS i(id)`,
      [ids],
    );
    return new Map(rows.map(({ id, ...counts }) => [id, counts]));
  }

  /** The sagas stored under each key: id and input hash. */
  async function sagasByKey(keys: string[]): Promise<Map<string, { id: string; inputHash: string }[]>> {
    const { rows } = await db.query<{ key: string; id: string; input_hash: string }>(
      `SELECT idempotency_key AS key, id::text, input_hash FROM saga_instances WHERE definition_name = $1 AND idempotency_key = ANY($2::text[])`,
      [definition.name, keys],
    );
    const found = new Map<string, { id: string; inputHash: string }[]>(keys.map((key) => [key, []]));
    for (const row of rows) found.get(row.key)!.push({ id: row.id, inputHash: row.input_hash });
    return found;
  }

  const stored = (written: StartWritten): boolean => written.kind === 'stored';
  const answeredId = (start: NewSaga, written: StartWritten): string => (written.kind === 'stored' ? idOf(start) : written.saga.id);

  it('one statement leaves out whole a start whose key is taken, before or earlier in the same statement, and stores the others', async () => {
    const [taken, twice] = [freshKey(), freshKey()];
    const earlier = newSaga(inputs[0], taken);
    await store.insertMany(replicas[0].manager, [earlier], toOutbox);
    const batch = [newSaga(inputs[1], taken), newSaga(inputs[0], twice), newSaga(inputs[2], null), newSaga(inputs[1], twice), newSaga(inputs[2], freshKey())];

    const committed = await store.insertMany(replicas[0].manager, batch, toOutbox);

    expect(committed[0]).toBeNull();
    expect(committed.filter((commands) => commands === null)).toHaveLength(2); // the taken key and one of the pair
    const [winner] = [batch[1], batch[3]].filter((start) => committed[batch.indexOf(start)] !== null);
    expect(await sagasByKey([taken, twice])).toEqual(
      new Map([
        [taken, [{ id: idOf(earlier), inputHash: earlier.meta.inputHash }]],
        [twice, [{ id: idOf(winner), inputHash: winner.meta.inputHash }]],
      ]),
    );
    const rows = await rowsOf(batch.map(idOf));
    for (const [index, start] of batch.entries()) {
      expect(rows.get(idOf(start))).toEqual(committed[index] === null ? NO_ROWS : rowsOfStored(start));
      if (committed[index] !== null)
        expect(committed[index]!.map((command) => command.envelope.properties.correlationId)).toEqual(start.decision.commands.map((c) => c.correlationId));
    }
  });

  it('a burst of keyed starts with new keys shares statements like keyless ones and reads nothing; a repeated key adds one read', async () => {
    const { writer, batches, reads } = startWriter(64);
    const burst = () => Array.from({ length: 20 }, (_, index) => newSaga(inputs[index % 3], freshKey()));
    await Promise.all(burst().map((start) => writer.write(start))); // opens the pool's connections and prepares the statement
    batches.mockClear();

    sent = [];
    const starts = burst();
    const written = await Promise.all(starts.map((start) => writer.write(start)));
    const statements = sent;
    sent = undefined;

    expect(written.every(stored)).toBe(true);
    // As for keyless starts: the first goes at once (one batch in flight), the other 19 share the next statement.
    expect(batches.mock.calls.map(([batch]) => batch.length)).toEqual([1, 19]);
    expect(reads).not.toHaveBeenCalled();
    expect(statements).toHaveLength(2); // 20 keyed starts: 2 round trips and 2 commits (before: 2 each, 40)

    batches.mockClear();
    sent = [];
    const repeats = starts.map((start) => newSaga(start.decision.state.input, start.meta.idempotencyKey));
    const again = await Promise.all(repeats.map((start) => writer.write(start)));
    const repeatStatements = sent;
    sent = undefined;

    expect(again.map((answer, index) => answer.kind === 'existing' && answer.saga.id === idOf(starts[index]))).toEqual(Array(20).fill(true));
    expect(reads).toHaveBeenCalledTimes(20);
    expect(repeatStatements).toHaveLength(batches.mock.calls.length + 20); // the shared writes, then one read each
    expect([...(await rowsOf(repeats.map(idOf))).values()]).toEqual(Array(20).fill(NO_ROWS));
  });

  it('starts with one key in one batch make one saga, and every caller is told its id and input hash', async () => {
    const { writer, batches } = startWriter(64);
    const key = freshKey();
    const blockers = [newSaga(inputs[0], null)]; // takes the one batch slot
    const same = [newSaga(inputs[0], key), newSaga(inputs[0], key), newSaga(inputs[0], key), newSaga(inputs[1], key)];

    const written = await Promise.all([...blockers, ...same].map((start) => writer.write(start)));

    expect(batches.mock.calls.map(([batch]) => batch.length)).toEqual([1, 4]); // all four in one statement
    const answers = written.slice(blockers.length);
    expect(answers.filter(stored)).toHaveLength(1);
    const winner = same[answers.findIndex(stored)];
    for (const [index, answer] of answers.entries()) {
      expect(answeredId(same[index], answer)).toBe(idOf(winner));
      if (answer.kind === 'existing') expect(answer.saga).toMatchObject({ inputHash: winner.meta.inputHash, version: definition.version, status: 'RUNNING' });
    }
    expect(await sagasByKey([key])).toEqual(new Map([[key, [{ id: idOf(winner), inputHash: winner.meta.inputHash }]]]));
    const rows = await rowsOf(same.map(idOf));
    for (const start of same) expect(rows.get(idOf(start))).toEqual(start === winner ? rowsOfStored(start) : NO_ROWS);
  });

  it('a key used by an earlier batch: the repeat gets that saga, with its input hash whether the input is the same or not', async () => {
    const { writer } = startWriter(64);
    const key = freshKey();
    const first = newSaga(inputs[0], key);
    expect(await writer.write(first)).toMatchObject({ kind: 'stored' });

    const same = newSaga(inputs[0], key);
    const other = newSaga(inputs[2], key);
    expect(await writer.write(same)).toEqual({ kind: 'existing', saga: { id: idOf(first), version: definition.version, status: 'RUNNING', inputHash: inputHash(inputs[0]) } });
    const conflicting = await writer.write(other);
    expect(conflicting).toEqual({ kind: 'existing', saga: expect.objectContaining({ id: idOf(first), inputHash: inputHash(inputs[0]) }) });
    expect(inputHash(inputs[2])).not.toBe(inputHash(inputs[0])); // what SagaRuntime.start answers 409 from
    expect(await sagasByKey([key])).toEqual(new Map([[key, [{ id: idOf(first), inputHash: first.meta.inputHash }]]]));
    expect([...(await rowsOf([idOf(same), idOf(other)])).values()]).toEqual([NO_ROWS, NO_ROWS]);
  });

  it('two replicas racing for the same keys, batches in opposite key order: one saga per key, both told its id, no batch redone', async () => {
    const replica = [startWriter(64, 0), startWriter(64, 1)];
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const keys = Array.from({ length: 30 }, freshKey);
      const starts = replica.map((_, r) => (r === 0 ? keys : [...keys].reverse()).map((key) => newSaga(inputs[0], key)));

      const written = await Promise.all(replica.map(({ writer }, r) => Promise.all(starts[r].map((start) => writer.write(start)))));

      const byKey = await sagasByKey(keys);
      for (const [index, key] of keys.entries()) {
        const [a, b] = [index, keys.length - 1 - index];
        expect(byKey.get(key)).toHaveLength(1);
        const { id } = byKey.get(key)![0];
        expect([answeredId(starts[0][a], written[0][a]), answeredId(starts[1][b], written[1][b])]).toEqual([id, id]);
        expect([written[0][a], written[1][b]].filter(stored)).toHaveLength(1);
      }
    }
    // Each start was in exactly one statement: no batch failed (a deadlock would have) and was redone alone.
    for (const { batches } of replica) expect(batches.mock.calls.reduce((sum, [batch]) => sum + batch.length, 0)).toBe(rounds * 30);
  });

  it('two statements racing for the same keys in opposite orders wait for each other in one order: no deadlock', async () => {
    const keys = Array.from({ length: 30 }, (_, index) => `${randomUUID()}-${String(index).padStart(2, '0')}`).sort();
    const gate = keys[15];
    // An uncommitted start holding the middle key: each statement stops there, having taken the keys before it in ITS order.
    await db.query('BEGIN');
    await db.query(
      `INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, idempotency_key, input_hash, version, created_at, updated_at)
       VALUES (gen_random_uuid(), $1, 1, 'RUNNING', '{}', 0, false, $2, 'gate', 1, now(), now())`,
      [definition.name, gate],
    );
    const orders = [keys, [...keys].reverse()];
    const racing = orders.map((order, r) =>
      store
        .insertMany(
          replicas[r].manager,
          order.map((key) => newSaga(inputs[r], key)),
          toOutbox,
        )
        .then(
          (committed) => committed,
          (error: { code?: string }) => error,
        ),
    );
    await waitFor(async () => {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      return rows[0].n >= 2;
    }, 'both statements to wait');
    await db.query('ROLLBACK');
    const [first, second] = await Promise.all(racing);

    expect([first, second].map((outcome) => Array.isArray(outcome))).toEqual([true, true]); // not a deadlock (40P01)
    const storedBy = (outcome: typeof first, order: string[]) => order.filter((_, index) => (outcome as unknown[])[index] !== null).sort();
    expect([...storedBy(first, orders[0]), ...storedBy(second, orders[1])].sort()).toEqual(keys); // each key stored once, by one of them
    expect([...(await sagasByKey(keys)).values()].map((sagas) => sagas.length)).toEqual(Array(30).fill(1));
  });

  it('a key freed between the write and the read is written again; one that never settles fails with nothing stored', async () => {
    const { writer, batches, reads } = startWriter(64);
    const key = freshKey();
    const holder = newSaga(inputs[0], key);
    await writer.write(holder);
    batches.mockClear();
    // Retention deletes the holder right after the write found the key taken.
    reads.mockImplementationOnce(async () => {
      await db.query('DELETE FROM saga_instances WHERE id = $1', [idOf(holder)]);
      return null;
    });
    const next = newSaga(inputs[0], key);
    expect(await writer.write(next)).toMatchObject({ kind: 'stored' });
    expect(batches.mock.calls.map(([batch]) => batch.map(idOf))).toEqual([[idOf(next)], [idOf(next)]]);
    expect(await sagasByKey([key])).toEqual(new Map([[key, [{ id: idOf(next), inputHash: next.meta.inputHash }]]]));

    reads.mockImplementation(async () => null); // the key is taken at every write, held by nobody at every read
    batches.mockClear();
    const unsettled = newSaga(inputs[0], key);
    await expect(writer.write(unsettled)).rejects.toThrow(KeyedStartUnsettledError);
    expect(batches).toHaveBeenCalledTimes(3);
    expect((await rowsOf([idOf(unsettled)])).get(idOf(unsettled))).toEqual(NO_ROWS);
  });

  it('random mixes of keyed, keyless and repeated starts on two replicas: one saga per key, every answer consistent, no orphan rows', async () => {
    const start = fc.record({ replica: fc.constantFrom<0 | 1>(0, 1), key: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }), input: fc.integer({ min: 0, max: 2 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(start, { minLength: 1, maxLength: 30 }), fc.constantFrom(1, 4, 64), async (plan, maxBatchSize) => {
        const run = randomUUID();
        const writers = [
          new StartWriter(new SagaCommitter(replicas[0], { toOutbox, stateCacheSize: 0 }), maxBatchSize),
          new StartWriter(new SagaCommitter(replicas[1], { toOutbox, stateCacheSize: 0 }), maxBatchSize),
        ];
        const starts = plan.map((item) => newSaga(inputs[item.input], item.key === null ? null : `${run}-${item.key}`));
        const written = await Promise.all(starts.map((one, index) => writers[plan[index].replica].write(one)));

        const keys = [...new Set(starts.flatMap(({ meta }) => (meta.idempotencyKey === null ? [] : [meta.idempotencyKey])))];
        const byKey = await sagasByKey(keys);
        const rows = await rowsOf(starts.map(idOf));
        for (const key of keys) {
          expect(byKey.get(key)).toHaveLength(1); // one saga per key...
          const holder = byKey.get(key)![0];
          const withKey = starts.flatMap((one, index) => (one.meta.idempotencyKey === key ? [index] : []));
          expect(withKey.filter((index) => stored(written[index])).map((index) => idOf(starts[index]))).toEqual([holder.id]); // ...stored by exactly one of its starts
          for (const index of withKey) {
            expect(answeredId(starts[index], written[index])).toBe(holder.id);
            if (written[index].kind === 'existing') expect((written[index] as Extract<StartWritten, { kind: 'existing' }>).saga.inputHash).toBe(holder.inputHash);
          }
        }
        for (const [index, one] of starts.entries()) {
          if (one.meta.idempotencyKey === null) expect(written[index].kind).toBe('stored');
          expect(rows.get(idOf(one))).toEqual(stored(written[index]) ? rowsOfStored(one) : NO_ROWS); // all of a stored start, nothing of another
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
