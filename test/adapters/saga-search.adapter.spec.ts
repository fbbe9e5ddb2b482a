/**
 * GET /sagas's search (apps/orchestrator/src/api/sagas/saga-search.ts) against the real
 * PostgreSQL, on sagas seeded by scripts/bench/seed.ts (two definitions, two versions of one).
 *
 * Proves: each filter of scripts/bench/search-cases.ts plans through its intended index, with no
 * Seq Scan on saga_instances, in a session with enable_seqscan at its default (on), after
 * ANALYZE; each filter returns exactly the matching sagas, in order (updated_at DESC, id DESC),
 * when walked page by page with the cursor; rows tied on updated_at (to the microsecond) are
 * neither lost nor repeated across a page boundary; counts match the table.
 */
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { openSagaDataSource } from '#saga/persistence';
import { countSagas } from '../../apps/orchestrator/src/api/sagas/saga-counts';
import { encodeCursor, decodeCursor, searchSagas, type SagaSearchFilter, type SqlReader } from '../../apps/orchestrator/src/api/sagas/saga-search';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';
import { planIndexes, searchCases } from '../../scripts/bench/search-cases';
import { seedDefinitionOf, seedSagas } from '../../scripts/bench/seed';
import { createTestDatabase, runId } from '../support/infra';

interface Row {
  id: string;
  status: string;
  name: string;
  version: number;
  created: string;
  updated: string;
  business_key: string | null;
  has_exceptions: boolean;
  current_step: number;
}

/** What a filter means, written plainly over every row. */
function matches(row: Row, filter: SagaSearchFilter): boolean {
  const iso = (date: Date) => date.toISOString().replace('Z', '000Z');
  if (filter.statuses && !filter.statuses.includes(row.status as never)) return false;
  if (filter.name !== undefined && row.name !== filter.name) return false;
  if (filter.version !== undefined && row.version !== filter.version) return false;
  if (filter.createdFrom && row.created < iso(filter.createdFrom)) return false;
  if (filter.createdTo && row.created >= iso(filter.createdTo)) return false;
  if (filter.updatedFrom && row.updated < iso(filter.updatedFrom)) return false;
  if (filter.updatedTo && row.updated >= iso(filter.updatedTo)) return false;
  if (filter.businessKey !== undefined && row.business_key !== filter.businessKey) return false;
  if (filter.hasExceptions !== undefined && row.has_exceptions !== filter.hasExceptions) return false;
  if (filter.steps && !filter.steps.some((s) => s.name === row.name && s.version === row.version && s.position === row.current_step)) return false;
  if (filter.unfinishedOf && !(['RUNNING', 'COMPENSATING'].includes(row.status) && filter.unfinishedOf.some((v) => v.name === row.name && v.version === row.version))) return false;
  return true;
}

const byOrder = (a: Row, b: Row) => (a.updated === b.updated ? (a.id < b.id ? 1 : -1) : a.updated < b.updated ? 1 : -1);

describe('Saga search on PostgreSQL', () => {
  let ds: DataSource;
  let plain: Client;
  let drop: () => Promise<void>;
  let rows: Row[];
  const now = Date.now();

  /** Every page of a search, following the cursor; the ids in the order returned. */
  async function walk(filter: SagaSearchFilter): Promise<string[]> {
    const ids: string[] = [];
    let page: SagaSearchFilter | undefined = filter;
    while (page) {
      const { rows: found, more } = await searchSagas(ds, page);
      ids.push(...found.map((row) => row.id));
      const last = found.at(-1);
      // Through the wire form of the cursor, as a client would pass it back.
      page = more && last ? { ...filter, after: decodeCursor(encodeCursor({ updatedAt: last.cursor_at, id: last.id })) } : undefined;
      if (ids.length > 100_000) throw new Error('runaway walk');
    }
    return ids;
  }

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'search');
    drop = db.drop;
    const other = { name: 'ship-parcel', version: 1, steps: ['pack', 'label', 'hand-over'], businessKey: '$.input.customerId' };
    await seedSagas({ databaseUrl: db.url, finished: 6_000, waiting: 600, definition: seedDefinitionOf(placeOrderSaga) });
    await seedSagas({ databaseUrl: db.url, finished: 300, waiting: 60, definition: { ...seedDefinitionOf(placeOrderSaga), version: 2 } });
    await seedSagas({ databaseUrl: db.url, finished: 2_000, waiting: 200, definition: other });
    ds = await openSagaDataSource(db.url, 2);
    plain = new Client({ connectionString: db.url });
    await plain.connect();
    await plain.query('ANALYZE saga_instances');
    rows = await ds.query(`
      SELECT id, status, definition_name AS name, definition_version AS version, business_key, has_exceptions, current_step,
             to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created,
             to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated
        FROM saga_instances`);
  }, 120_000);

  afterAll(async () => {
    await plain?.end();
    await ds?.destroy();
    await drop?.();
  });

  const reader = (): SqlReader => ({ query: async (sql: string, values?: unknown[]) => (await plain.query(sql, values)).rows }) as SqlReader;

  it('plans every filter through its index, with enable_seqscan at its default', async () => {
    expect((await plain.query('SHOW enable_seqscan')).rows[0].enable_seqscan).toBe('on');
    const cases = [
      ...searchCases(now),
      { name: 'name (two versions)', filter: { name: 'place-order' }, index: 'ix_saga_name_version_updated' },
      { name: 'name+version (rare version)', filter: { name: 'place-order', version: 2 }, index: 'ix_saga_name_version_updated' },
      { name: 'version alone (rare version)', filter: { version: 2 }, index: 'ix_saga_name_version_updated' },
    ];
    const planned = [];
    for (const testCase of cases) {
      const { indexes, seqScan } = await planIndexes(reader(), { ...testCase.filter, limit: 50 });
      planned.push({ name: testCase.name, seqScan, usesIntended: indexes.includes(testCase.index), indexes });
    }
    expect(planned.filter((p) => p.seqScan || !p.usesIntended)).toEqual([]);
  });

  it('returns exactly the matching sagas, in order, page after page', async () => {
    for (const testCase of searchCases(now)) {
      const filter = { ...testCase.filter, limit: 500 };
      const expected = rows
        .filter((row) => matches(row, filter))
        .sort(byOrder)
        .map((row) => row.id);
      expect({ name: testCase.name, ids: await walk(filter) }).toEqual({ name: testCase.name, ids: expected });
    }
    // Small pages over a filter with many matches, and a rare version.
    for (const filter of [
      { name: 'place-order', limit: 37 },
      { name: 'place-order', version: 2, limit: 7 },
      { version: 2, limit: 9 },
      { statuses: ['RUNNING', 'COMPENSATED'], limit: 45 },
      { statuses: ['RUNNING'], name: 'ship-parcel', hasExceptions: false, limit: 11 },
      { steps: [{ name: 'place-order', version: 1, position: 0 }], statuses: ['RUNNING', 'COMPENSATING'], limit: 13 },
      { steps: [{ name: 'place-order', version: 1, position: 0 }], statuses: ['COMPLETED', 'COMPENSATED'], limit: 13 },
      { version: 1, statuses: ['COMPENSATED', 'RUNNING'], createdFrom: new Date(now - 3 * 86_400_000), limit: 50 },
      {
        unfinishedOf: [
          { name: 'place-order', version: 2 },
          { name: 'ship-parcel', version: 1 },
        ],
        limit: 3,
      },
      { unfinishedOf: [{ name: 'place-order', version: 1 }], name: 'ship-parcel', limit: 5 },
    ] as SagaSearchFilter[]) {
      const expected = rows
        .filter((row) => matches(row, filter))
        .sort(byOrder)
        .map((row) => row.id);
      expect(await walk(filter)).toEqual(expected);
    }
  });

  it('loses and repeats no row across a page boundary when rows tie on updated_at', async () => {
    const tied = rows.filter((row) => row.name === 'ship-parcel').slice(0, 7);
    await ds.query(`UPDATE saga_instances SET updated_at = '2100-01-01 00:00:00.123456+00' WHERE id = ANY($1::uuid[])`, [tied.map((row) => row.id)]);
    const ids = await walk({ name: 'ship-parcel', limit: 2 });
    expect(ids.slice(0, 7)).toEqual(
      tied
        .map((row) => row.id)
        .sort()
        .reverse(),
    );
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(rows.filter((row) => row.name === 'ship-parcel').length);
    const first = await searchSagas(ds, { limit: 3 });
    expect(first.rows[0].cursor_at).toBe('2100-01-01T00:00:00.123456Z');
  });

  it('counts finished sagas from the statistics beyond the exact bound, in-flight ones always exactly', async () => {
    const counts = await countSagas(ds, 0);
    for (const entry of counts.byStatus) {
      const actual = rows.filter((row) => row.status === entry.status).length;
      if (['COMPLETED', 'COMPENSATED'].includes(entry.status)) {
        expect(entry.exact).toBe(false);
        expect(Math.abs(entry.count - actual)).toBeLessThanOrEqual(actual * 0.2 + 50); // ANALYZE samples
      } else expect(entry).toEqual({ status: entry.status, count: actual, exact: true });
    }
    expect(counts.byDefinition.every((entry) => !['COMPLETED', 'COMPENSATED'].includes(entry.status))).toBe(true);
  });

  it('counts by status and definition version, exactly on a small table', async () => {
    const counts = await countSagas(ds);
    const expected = (status: string) => rows.filter((row) => row.status === status).length;
    for (const entry of counts.byStatus) expect(entry).toEqual({ status: entry.status, count: expected(entry.status), exact: true });
    const running = counts.byDefinition.filter((entry) => entry.status === 'RUNNING');
    expect(running).toEqual([
      { name: 'place-order', version: 1, status: 'RUNNING', count: 600 },
      { name: 'place-order', version: 2, status: 'RUNNING', count: 60 },
      { name: 'ship-parcel', version: 1, status: 'RUNNING', count: 200 },
    ]);
  });
});
