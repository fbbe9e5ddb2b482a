/**
 * The participant toolkit's savepoint folding (HandlerStatements over a PipelinedSession) against
 * real PostgreSQL: deferred statements run first and in order,
 * riding along with the next prepared query; a value folded into SQL text reads back exactly as
 * the same value bound by the driver; what cannot be folded still runs (bound, after a flush);
 * a failed round trip carrying deferred statements spoils the transaction.
 */
import { PipelinedSession } from '#saga/persistence';
import { HandlerStatements } from '../../libs/participant/src/handler-statements';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { createTestDatabase, runId } from '../support/infra';

let dataSource: DataSource;
let db: Client;
let drop: () => Promise<void>;
const sent: string[] = [];
let restore: () => void;

beforeAll(async () => {
  const database = await createTestDatabase(runId(), 'defer');
  drop = database.drop;
  dataSource = new DataSource({ type: 'postgres', url: database.url, extra: { max: 1 } });
  await dataSource.initialize();
  await dataSource.query('CREATE TABLE notes (id serial PRIMARY KEY, note text NOT NULL)');
  db = new Client({ connectionString: database.url });
  await db.connect();
  const prototype = Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = prototype.query;
  prototype.query = function (this: Client, ...args: unknown[]) {
    if (this !== db) sent.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text));
    return original.apply(this, args);
  };
  restore = () => (prototype.query = original);
});

afterAll(async () => {
  restore?.();
  await dataSource?.destroy();
  await db?.end();
  await drop?.();
});

async function inTransaction<T>(work: (transaction: HandlerStatements, session: PipelinedSession) => Promise<T>): Promise<T> {
  const session = await PipelinedSession.open(dataSource);
  try {
    await session.begin([]);
    return await work(new HandlerStatements(session), session);
  } finally {
    await session.release();
  }
}

const TRICKY = [
  'it\'s \\ a "quote" and ünïcødé 🎉',
  '',
  42,
  -0.5,
  12345678901234567890n,
  true,
  null,
  undefined,
  { nested: { list: [1, 'two', null], quote: '\'"\\' } },
  ['a"b', 'c\\d', 'e,f', '{g}', 'NULL', ''],
  [1, 2.5, -3],
  ['x', null],
] as const;

const READ_BACK =
  'SELECT $1::text AS a, $2::text AS b, $3::int AS c, $4::numeric AS d, $5::numeric AS e, $6::boolean AS f, $7::text AS g, $8::text AS h, $9::jsonb AS i, $10::text[] AS j, $11::numeric[] AS k, $12::text[] AS l';

it('folds the next prepared query with the deferred statements, values reading back as bound ones do', async () => {
  const bound = await inTransaction((_, session) => session.bound(READ_BACK, TRICKY)); // the driver's own binding
  sent.length = 0;
  const folded = await inTransaction(async (transaction) => {
    transaction.defer([`SET LOCAL application_name = 'deferred'`]);
    const rows = await transaction.query<Record<string, unknown>>(READ_BACK, TRICKY);
    const [name] = await transaction.query<{ application_name: string }>('SHOW application_name', []);
    return { rows, name };
  });
  expect(folded.rows).toEqual(bound);
  expect(folded.name.application_name).toBe('deferred');
  // PREPARE once (in a savepoint of its own), then the deferred statement and the EXECUTE together.
  expect(sent.filter((text) => text.includes(`SET LOCAL application_name = 'deferred';\nEXECUTE f_`))).toHaveLength(1);
});

it('sends what cannot be folded bound, after the deferred statements, in order', async () => {
  const rows = await inTransaction(async (transaction, session) => {
    transaction.defer(["INSERT INTO notes (note) VALUES ('first')"]);
    await transaction.query('INSERT INTO notes (note) VALUES ($1::text)', [new Date(0)]); // a Date: bound
    transaction.defer(["INSERT INTO notes (note) VALUES ('third')"]);
    await session.manager.query('INSERT INTO notes (note) VALUES ($1)', ['fourth']); // through TypeORM: flushed first
    return transaction.query<{ note: string }>('SELECT note FROM notes ORDER BY id', []);
  });
  expect(rows.map((row) => row.note)).toEqual(['first', expect.stringMatching(/^1970-01-01/), 'third', 'fourth']);
});

it('is spoiled by a failed round trip that carried deferred statements, and will not commit', async () => {
  await inTransaction(async (transaction) => {
    transaction.defer(['INSERT INTO notes (note) VALUES (NULL)']); // violates NOT NULL
    await expect(transaction.query('SELECT $1::int AS one', [1])).rejects.toThrow(/null value/);
    expect(transaction.spoiledByDeferred).toBe(true);
    await expect(transaction.commit([])).rejects.toThrow('not committed: a round trip carrying deferred statements failed');
  });
  const unchanged = await inTransaction((transaction) => transaction.query<{ n: number }>('SELECT count(*)::int AS n FROM notes WHERE note IS NULL', []));
  expect(unchanged[0].n).toBe(0);
});

it('sends a statement PostgreSQL cannot PREPARE bound, after the deferred statements, with its own error', async () => {
  const text = 'SELECT $1 IS NULL AS unknown_type'; // the parameter's type cannot be inferred
  sent.length = 0;
  await inTransaction(async (transaction) => {
    transaction.defer([`SET LOCAL application_name = 'kept'`]);
    await expect(transaction.query(text, [null])).rejects.toThrow(/could not determine data type of parameter \$1/);
    expect(transaction.spoiledByDeferred).toBe(false); // the deferred statement ran on its own
  });
  const prepare = sent.findIndex((sql) => sql.includes('PREPARE f_'));
  const deferred = sent.indexOf(`SET LOCAL application_name = 'kept'`);
  expect(prepare).toBeGreaterThanOrEqual(0);
  expect(deferred).toBeGreaterThan(prepare);
  expect(sent.indexOf(text)).toBeGreaterThan(deferred);
});
