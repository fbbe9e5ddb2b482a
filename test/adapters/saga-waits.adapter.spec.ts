/**
 * Waiting for sagas to end (GET /sagas/{id}?waitMs=N) against the real PostgreSQL, with the
 * statuses changed by ANOTHER connection (another replica: no in-process signal).
 *
 * Proves: many waiters on different sagas end within about one poll interval of the commit
 * that made their saga terminal, and only theirs; the whole crowd costs one poll query per
 * tick (plus one status read per waiter on entry), and the poller stops when nobody waits; a
 * waiter on a missing saga returns at once, one on a saga deleted meanwhile at the next poll,
 * one on a saga that never ends at its own deadline; an in-process terminal signal ends the
 * wait at once without reading again, a non-terminal one does not; an upper-case id works; a
 * failing poll neither rejects nor stops the others, and is retried.
 */
import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Client, type Pool, type QueryConfig } from 'pg';
import type { DataSource } from 'typeorm';
import { openSagaDataSource } from '#saga/persistence';
import { SagaQueries, WAIT_POLL_MS } from '../../apps/orchestrator/src/api/sagas/saga-queries';
import { RuntimeSignals } from '../../apps/orchestrator/src/runtime/runtime-signals';
import { createTestDatabase, runId } from '../support/infra';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Scheduling slack on a busy machine, on top of one poll interval. */
const SLACK_MS = 250;

describe('waiting for terminal sagas with one shared poller', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;
  let writer: Client;
  let signals: RuntimeSignals;
  let queries: SagaQueries;
  let query: jest.SpyInstance;
  let pool: Pool;
  let realQuery: (config: QueryConfig) => Promise<unknown>;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'waits');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 4);
    // The reads run as prepared statements on the DataSource's pool: that is what is counted.
    pool = (ds.driver as unknown as { master: Pool }).master;
    realQuery = pool.query.bind(pool) as (config: QueryConfig) => Promise<unknown>;
    writer = new Client({ connectionString: db.url });
    await writer.connect();
  });

  beforeEach(() => {
    signals = new RuntimeSignals();
    queries = new SagaQueries(ds, signals, { maxWaiters: 1000, historyLimit: 200 });
    query = jest.spyOn(pool, 'query');
  });

  afterEach(() => {
    queries.onModuleDestroy();
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await writer?.end();
    await ds?.destroy();
    await drop?.();
  });

  const sqlOf = (call: unknown[]) => (typeof call[0] === 'string' ? call[0] : String((call[0] as QueryConfig).text));
  const polls = () => query.mock.calls.filter((call) => sqlOf(call).includes('= ANY($1::uuid[])'));
  const entryReads = () => query.mock.calls.filter((call) => /^SELECT status FROM saga_instances WHERE id = \$1$/.test(sqlOf(call)));

  async function insertRunning(count: number): Promise<string[]> {
    const ids = Array.from({ length: count }, () => randomUUID());
    await writer.query(
      `INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, failure, input_hash, version, created_at, updated_at)
       SELECT id, 'probe', 1, 'RUNNING', '{}', 0, false, NULL, 'hash', 1, now(), now() FROM unnest($1::uuid[]) AS id`,
      [ids],
    );
    return ids;
  }

  /** Commits a terminal status from the other connection; returns when the commit is done. */
  async function endFromElsewhere(ids: string[], status = 'COMPLETED'): Promise<number> {
    await writer.query(`UPDATE saga_instances SET status = $2, version = version + 1 WHERE id = ANY($1::uuid[])`, [ids, status]);
    return Date.now();
  }

  /** Starts a wait; `endedAt` is set when it returns. */
  function startWait(id: string, waitMs: number): { promise: Promise<number>; endedAt?: number } {
    const handle: { promise: Promise<number>; endedAt?: number } = { promise: Promise.resolve(0) };
    handle.promise = queries.waitForTerminal(id, waitMs).then(() => (handle.endedAt = Date.now()));
    return handle;
  }

  it('ends many waiters within about one poll interval of the commits made by another connection, with one poll query per tick', async () => {
    const ids = await insertRunning(40);
    const [first, second] = [ids.slice(0, 20), ids.slice(20)];
    const startedAt = Date.now();
    const waits = ids.map((id) => startWait(id, 30_000));

    await sleep(3 * WAIT_POLL_MS);
    expect(waits.filter((wait) => wait.endedAt !== undefined)).toHaveLength(0);

    const firstCommittedAt = await endFromElsewhere(first.slice(0, 10), 'COMPLETED');
    await endFromElsewhere(first.slice(10), 'COMPENSATED');
    await Promise.all(waits.slice(0, 20).map((wait) => wait.promise));
    await sleep(2 * WAIT_POLL_MS);
    expect(waits.slice(20).filter((wait) => wait.endedAt !== undefined)).toHaveLength(0);

    const secondCommittedAt = await endFromElsewhere(second, 'COMPENSATION_FAILED');
    await Promise.all(waits.map((wait) => wait.promise));
    const finishedAt = Date.now();

    for (const wait of waits.slice(0, 20)) expect(wait.endedAt! - firstCommittedAt).toBeLessThanOrEqual(WAIT_POLL_MS + SLACK_MS);
    for (const wait of waits.slice(20)) expect(wait.endedAt! - secondCommittedAt).toBeLessThanOrEqual(WAIT_POLL_MS + SLACK_MS);

    // One status read per waiter on entry; then one query per tick for the whole crowd.
    expect(entryReads()).toHaveLength(40);
    const ticks = (finishedAt - startedAt) / WAIT_POLL_MS;
    expect(polls().length).toBeGreaterThanOrEqual(3);
    expect(polls().length).toBeLessThanOrEqual(Math.ceil(ticks) + 1);
    expect(((polls()[0][0] as QueryConfig).values as string[][])[0]).toHaveLength(40);

    // Nobody waits any more: the poller has stopped.
    const pollsWhenDone = polls().length;
    await sleep(3 * WAIT_POLL_MS);
    expect(polls()).toHaveLength(pollsWhenDone);
  });

  it('returns at once for a missing saga, and at the next poll for a saga deleted meanwhile', async () => {
    const missingStartedAt = Date.now();
    await queries.waitForTerminal(randomUUID(), 30_000);
    expect(Date.now() - missingStartedAt).toBeLessThan(WAIT_POLL_MS);
    expect(polls()).toHaveLength(0);

    const [id] = await insertRunning(1);
    const wait = startWait(id, 30_000);
    await sleep(2 * WAIT_POLL_MS);
    expect(wait.endedAt).toBeUndefined();
    await writer.query('DELETE FROM saga_instances WHERE id = $1', [id]);
    const deletedAt = Date.now();
    await wait.promise;
    expect(wait.endedAt! - deletedAt).toBeLessThanOrEqual(WAIT_POLL_MS + SLACK_MS);
  });

  it('returns each waiter at its own deadline when its saga never ends, then stops polling', async () => {
    const ids = await insertRunning(3);
    const startedAt = Date.now();
    const deadlines = [300, 700, 1100];
    const waits = ids.map((id, i) => startWait(id, deadlines[i]));
    await Promise.all(waits.map((wait) => wait.promise));
    waits.forEach((wait, i) => {
      expect(wait.endedAt! - startedAt).toBeGreaterThanOrEqual(deadlines[i] - 5);
      expect(wait.endedAt! - startedAt).toBeLessThanOrEqual(deadlines[i] + SLACK_MS);
    });
    expect(polls().length).toBeGreaterThanOrEqual(2);
    const pollsWhenDone = polls().length;
    await sleep(3 * WAIT_POLL_MS);
    expect(polls()).toHaveLength(pollsWhenDone);
  });

  it('ends at once on an in-process terminal signal without reading again, and keeps waiting on a non-terminal one', async () => {
    const [id] = await insertRunning(1);
    const wait = startWait(id, 30_000);
    await sleep(100);
    signals.sagaChanged(id, 'COMPENSATING');
    await sleep(2 * WAIT_POLL_MS);
    expect(wait.endedAt).toBeUndefined();

    // The database still says RUNNING: only the signal can end this wait.
    const queriesBefore = query.mock.calls.length;
    const signalledAt = Date.now();
    signals.sagaChanged(id, 'COMPLETED');
    await wait.promise;
    expect(wait.endedAt! - signalledAt).toBeLessThan(50);
    expect(query.mock.calls.length).toBe(queriesBefore);
  });

  it('waits on an upper-case id like on its lower-case form', async () => {
    const [id] = await insertRunning(1);
    const wait = startWait(id.toUpperCase(), 30_000);
    await sleep(3 * WAIT_POLL_MS);
    expect(wait.endedAt).toBeUndefined();
    const committedAt = await endFromElsewhere([id]);
    await wait.promise;
    expect(wait.endedAt! - committedAt).toBeLessThanOrEqual(WAIT_POLL_MS + SLACK_MS);
  });

  it('survives failing polls: nobody is rejected, deadlines hold, and polling resumes when the database answers again', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    let failing = true;
    query.mockImplementation((config: QueryConfig) =>
      failing && config.text.includes('= ANY(') ? Promise.reject(new Error('Connection terminated unexpectedly')) : realQuery(config),
    );
    const ids = await insertRunning(2);
    const startedAt = Date.now();
    const short = startWait(ids[0], 600);
    const long = startWait(ids[1], 30_000);
    await short.promise;
    expect(short.endedAt! - startedAt).toBeGreaterThanOrEqual(595);
    expect(short.endedAt! - startedAt).toBeLessThanOrEqual(600 + SLACK_MS);
    expect(polls().length).toBeGreaterThanOrEqual(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(long.endedAt).toBeUndefined();

    failing = false;
    const committedAt = await endFromElsewhere([ids[1]]);
    await long.promise;
    expect(long.endedAt! - committedAt).toBeLessThanOrEqual(WAIT_POLL_MS + SLACK_MS);
    expect(polls().length).toBeGreaterThanOrEqual(3);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('skips the wait, at once, for requests beyond MAX_WAITERS, and waits again once a place is free', async () => {
    const capped = new SagaQueries(ds, signals, { maxWaiters: 2, historyLimit: 200 });
    try {
      const ids = await insertRunning(3);
      const holding = [capped.waitForTerminal(ids[0], 10_000), capped.waitForTerminal(ids[1], 10_000)];
      const started = Date.now();
      expect(await capped.waitForTerminal(ids[2], 10_000)).toBe(false); // a third: skipped
      expect(Date.now() - started).toBeLessThan(1_000);
      await endFromElsewhere([ids[0], ids[1]]);
      expect(await Promise.all(holding)).toEqual([true, true]);
      await endFromElsewhere([ids[2]]);
      expect(await capped.waitForTerminal(ids[2], 10_000)).toBe(true); // a place is free again (and it is terminal)
    } finally {
      capped.onModuleDestroy();
    }
  });
});
