/**
 * PipelinedSession.executeText (values inlined as quoted EXECUTE arguments) gives exactly the
 * values the pg driver's own binding gives, against the real PostgreSQL: a property over random
 * values of several types, examples for the edge cases, and the bounded prepared-statement cache.
 */
import { createHash } from 'node:crypto';
import { PipelinedSession, type PreparedStatement, type SqlValue, preparedStatementStats } from '#saga/persistence';
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { createTestDatabase, runId } from '../support/infra';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dataSource: DataSource;

beforeAll(async () => {
  database = await createTestDatabase(runId(), 'inlining');
  dataSource = new DataSource({ type: 'postgres', url: database.url, extra: { max: 1 } });
  await dataSource.initialize();
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

type Outcome = { rows: unknown[] } | { error: string };

/** Rows, or the SQLSTATE the statement failed with. */
async function outcome(work: () => Promise<unknown[]>): Promise<Outcome> {
  try {
    return { rows: await work() };
  } catch (error) {
    return { error: (error as { code?: string }).code ?? String(error) };
  }
}

/** Whether the value holds a NUL character anywhere (a string, an array element, a JSON string). */
function hasNul(value: unknown): boolean {
  if (value === null || value === undefined || typeof value === 'bigint') return false;
  return (JSON.stringify(value) ?? '').includes('\\u0000');
}

/** Runs the statement both ways on one session: bound by the driver, and as executeText in run(). */
async function bothWays(
  session: PipelinedSession,
  statement: PreparedStatement,
  values: readonly unknown[],
): Promise<{ text: string | undefined; bound: Outcome; inlined?: Outcome }> {
  await session.prepare([statement]);
  const text = session.executeText(statement, values);
  const bound = await outcome(() => session.bound(statement.sql, values));
  if (text === undefined) return { text, bound };
  await session.begin([]);
  try {
    const inlined = await outcome(async () => (await session.run([text]))[0].rows);
    return { text, bound, inlined };
  } finally {
    await session.release(); // rolls back
  }
}

async function withSession<T>(work: (session: PipelinedSession) => Promise<T>, source = dataSource, options?: { preparedCapacity?: number }): Promise<T> {
  const session = await PipelinedSession.open(source, options);
  try {
    return await work(session);
  } finally {
    await session.release();
  }
}

// --- value generators -------------------------------------------------------------------------

const NASTY = [
  "'",
  "''",
  '\\',
  "\\'",
  '"',
  '$1',
  '$2',
  '$1::text',
  "E'",
  "E'\\n'",
  "E'\\x41'",
  '\n',
  '\r\n',
  '\t',
  '--',
  '/*',
  '*/',
  ';',
  ')',
  '(',
  ',',
  'NULL',
  'null',
  '{',
  '}',
  '$$',
  '$tag$',
  '\u00e9',
  '\u{1F600}',
  '\u0301',
];

/** Text: unicode strings with SQL-ish pieces in them, never a NUL (NUL refusal is tested apart). */
const text: fc.Arbitrary<string> = fc
  .array(fc.oneof({ weight: 2, arbitrary: fc.string({ unit: 'binary' }) }, { weight: 3, arbitrary: fc.constantFrom(...NASTY) }), { maxLength: 8 })
  .map((parts) => parts.join('').replace(/\0/g, ''));

const ARRAY_PIECES = ['', 'NULL', 'null', ' NULL ', '"', '""', ',', '{', '}', '{}', '{a,b}', '\\', '\\"', ' padded ', "'", 'a,b'];

const COLUMNS = {
  text: text,
  int4: fc.integer({ min: -2147483648, max: 2147483647 }),
  int8: fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.maxSafeInteger()),
  numeric: fc.oneof(
    fc.integer(),
    fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.nat({ max: 10 ** 9 })).map(([whole, fraction]) => `${whole}.${fraction}`),
  ),
  float8: fc.double({ noNaN: true, noDefaultInfinity: true }),
  boolean: fc.boolean(),
  jsonb: fc.dictionary(fc.string({ unit: 'grapheme' }), fc.jsonValue({ stringUnit: 'grapheme' })),
  'text[]': fc.array(fc.option(fc.oneof(text, fc.constantFrom(...ARRAY_PIECES)), { nil: null, freq: 6 }), { maxLength: 6 }),
} satisfies Record<string, fc.Arbitrary<unknown>>;

type Column = keyof typeof COLUMNS;
const COLUMN_NAMES = Object.keys(COLUMNS) as Column[];

/** `1 - $n` columns beside the numeric ones: arithmetic on a negative value, never a comment. */
const ARITHMETIC: Partial<Record<Column, string>> = { int4: 'numeric', int8: 'numeric', numeric: 'numeric', float8: 'float8' };

function statementFor(columns: readonly Column[]): PreparedStatement {
  const selected = columns.flatMap((column, index) => {
    const expression = [`$${index + 1}::${column} AS c${index + 1}`];
    const arithmetic = ARITHMETIC[column];
    if (arithmetic) expression.push(`1-$${index + 1}::${arithmetic} AS d${index + 1}`);
    return expression;
  });
  return { name: `inl_${columns.map((column) => column.replace('[]', '_arr')).join('_')}`, sql: `SELECT ${selected.join(', ')}` };
}

/** A tuple of column types, and for each a value of it (or null / undefined). */
const tuple = fc
  .array(fc.constantFrom(...COLUMN_NAMES), { minLength: 1, maxLength: 3 })
  .chain((columns) =>
    fc.tuple(
      fc.constant(columns),
      fc.tuple(
        ...columns.map((column) => fc.oneof({ weight: 12, arbitrary: COLUMNS[column] as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.constantFrom(null, undefined) })),
      ),
    ),
  );

// --- the property ---------------------------------------------------------------------------

describe('PipelinedSession.executeText', () => {
  it('gives exactly the values the driver binds, for random values of text, int4, int8, numeric, float8, boolean, jsonb, text[] and null', async () => {
    let compared = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(tuple, async ([columns, values]) => {
        const statement = statementFor(columns);
        const result = await withSession((session) => bothWays(session, statement, values));
        if (values.some(hasNul)) {
          refused++;
          expect(result.text).toBeUndefined();
          return;
        }
        expect(result.text).toBeDefined();
        expect(result.inlined).toEqual(result.bound);
        if ('rows' in result.bound) compared++;
      }),
      { numRuns: 200 },
    );
    // Most runs compared actual rows (not just two errors alike, nor a refusal).
    expect(compared).toBeGreaterThan(120);
    expect(refused).toBeLessThan(10);
  });

  it('refuses (undefined) a value with a NUL character anywhere, and execute() throws a RangeError naming it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(text, text).map(([before, after]) => `${before}\0${after}`),
        fc.constantFrom<Column>('text', 'jsonb', 'text[]'),
        async (withNul, column) => {
          const value = column === 'text' ? withNul : column === 'jsonb' ? { key: withNul } : ['fine', withNul];
          await withSession(async (session) => {
            const statement = statementFor([column]);
            await session.prepare([statement]);
            expect(session.executeText(statement, [value])).toBeUndefined();
            if (column !== 'jsonb') expect(() => session.execute(statement, [value as SqlValue])).toThrow(/NUL/);
            expect(() => session.execute(statement, [value as SqlValue])).toThrow(RangeError);
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  describe('examples', () => {
    const cases: [string, string, unknown[], unknown][] = [
      ['1 - a negative int is arithmetic, not a comment', 'SELECT 1 - $1::int AS v', [-5], 6],
      ['1-$1 without spaces', 'SELECT 1-$1::int AS v', [-5], 6],
      ['$1-$2 both negative', 'SELECT $1::int-$2::int AS v', [-5, -7], 2],
      ['1-$1 on int8 given as a bigint', 'SELECT 1-$1::int8 AS v', [-9007199254740993n], '9007199254740994'],
      ['1-$1 on numeric given as a string', 'SELECT 1-$1::numeric AS v', ['-5.25'], '6.25'],
      ['a quote and a backslash', 'SELECT $1::text AS v', ["it's a \\ back'slash"], "it's a \\ back'slash"],
      ['placeholders inside the value', 'SELECT $1::text AS v, $2::text AS w', ['$2', '$1'], '$2'],
      ["an E'' sequence stays literal", 'SELECT $1::text AS v', ["E'\\n' and \\x41"], "E'\\n' and \\x41"],
      ['newlines and an injection attempt', 'SELECT $1::text AS v', ["a\nb'); DROP TABLE x; --"], "a\nb'); DROP TABLE x; --"],
      [
        'text[] with quotes, commas, braces, NULL strings, empty strings and a null',
        'SELECT $1::text[] AS v',
        [['a"b', 'c,d', '{e}', 'NULL', 'null', '', null, 'f\\g', "h'i"]],
        ['a"b', 'c,d', '{e}', 'NULL', 'null', '', null, 'f\\g', "h'i"],
      ],
      ['jsonb with quotes and backslashes', 'SELECT $1::jsonb AS v', [{ "k'": 'v"\\', n: -1.5, a: [null, true] }], { "k'": 'v"\\', n: -1.5, a: [null, true] }],
      ['null and undefined', 'SELECT $1::int AS v, $2::text AS w', [null, undefined], null],
      ['a boolean', 'SELECT $1::boolean AS v', [false], false],
    ];

    it.each(cases)('%s', async (_name, sql, values, expected) => {
      const statement = { name: `ex_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`, sql };
      const result = await withSession((session) => bothWays(session, statement, values));
      expect(result.text).toMatch(/^EXECUTE ex_\w+\(/);
      expect(result.bound).toEqual({ rows: [expect.objectContaining({ v: expected })] });
      expect(result.inlined).toEqual(result.bound);
    });

    it('quotes every argument, numbers included, and leaves the prepared SQL untouched', async () => {
      await withSession(async (session) => {
        const statement = { name: 'ex_quoted', sql: 'SELECT 1-$1::int AS v, $2::text AS w' };
        await session.prepare([statement]);
        expect(session.executeText(statement, [-5, "o'k"])).toBe(`EXECUTE ex_quoted('-5', 'o''k')`);
        expect(session.executeText(statement, [null, 'back\\slash'])).toBe(`EXECUTE ex_quoted(NULL,  E'back\\\\slash')`);
      });
    });

    it.each([
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a Date', new Date(0)],
      ['a Buffer', Buffer.from('x')],
      ['a nested array', [['a']]],
    ])('refuses %s rather than approximating it', async (_name, value) => {
      await withSession(async (session) => {
        const statement = statementFor(['text']);
        await session.prepare([statement]);
        expect(session.executeText(statement, [value])).toBeUndefined();
      });
    });
  });
});

// --- the bounded cache ------------------------------------------------------------------------

describe('the prepared-statement cache, through the session', () => {
  let small: DataSource;

  beforeAll(async () => {
    // Its own pool of one: a fresh connection, so its cache is made with capacity 3.
    small = new DataSource({ type: 'postgres', url: database.url, extra: { max: 1 } });
    await small.initialize();
  });

  afterAll(async () => {
    await small?.destroy();
  });

  const statement = (n: number): PreparedStatement => ({ name: `cache_s${n}`, sql: `SELECT ${n}::int AS v` });

  const preparedOnServer = async (session: PipelinedSession) =>
    (await session.bound<{ name: string }>(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'cache_s%' ORDER BY name`, [])).map((row) => row.name);

  it('keeps at most preparedCapacity statements per connection, deallocating the least recently used', async () => {
    const before = preparedStatementStats();
    await withSession(
      async (session) => {
        for (const n of [1, 2, 3, 4, 5]) await session.prepare([statement(n)]);
        expect(await preparedOnServer(session)).toEqual(['cache_s3', 'cache_s4', 'cache_s5']);
        // The evicted ones are gone, from the server and from the session's knowledge.
        expect(() => session.executeText(statement(1), [])).toThrow(/not prepared/);
        await expect(session.send(['EXECUTE cache_s1'])).rejects.toMatchObject({ code: '26000' });
        await expect(session.send(['EXECUTE cache_s2'])).rejects.toMatchObject({ code: '26000' });
        // A use makes a statement recent: s3 is used, so s6 evicts s4.
        expect((await session.send([session.execute(statement(3), [])]))[0].rows).toEqual([{ v: 3 }]);
        await session.prepare([statement(6)]);
        expect(await preparedOnServer(session)).toEqual(['cache_s3', 'cache_s5', 'cache_s6']);
      },
      small,
      { preparedCapacity: 3 },
    );
    const after = preparedStatementStats();
    expect(after.prepared - before.prepared).toBe(6);
    expect(after.evicted - before.evicted).toBe(3);

    // The knowledge lives with the connection: the next session on it (pool of one) prepares nothing.
    await withSession(
      async (session) => {
        await session.prepare([statement(5), statement(6)]);
        expect(preparedStatementStats()).toEqual(after);
        expect((await session.send([session.execute(statement(6), [])]))[0].rows).toEqual([{ v: 6 }]);
        expect(await preparedOnServer(session)).toEqual(['cache_s3', 'cache_s5', 'cache_s6']);
      },
      small,
      { preparedCapacity: 3 },
    );
  });

  it('refuses more statements at once than the bound, and follows a lower bound asked for later', async () => {
    await withSession(
      async (session) => {
        await expect(session.prepare([statement(7), statement(8), statement(9), statement(10)])).rejects.toThrow(/4 statements at once exceed the bound of 3/);
        expect(await preparedOnServer(session)).toEqual(['cache_s3', 'cache_s5', 'cache_s6']);
      },
      small,
      { preparedCapacity: 3 },
    );
    await withSession(
      async (session) => {
        await session.prepare([statement(7)]);
        expect(await preparedOnServer(session)).toEqual(['cache_s7']);
      },
      small,
      { preparedCapacity: 1 },
    );
  });
});
