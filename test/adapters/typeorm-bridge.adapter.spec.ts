/**
 * What libs/persistence/src/sql/typeorm-bridge.ts relies on in TypeORM's PostgresQueryRunner and
 * PostgresDriver, against the real PostgreSQL. After a TypeORM upgrade that moves any of it, this
 * file fails, and its messages name the TypeORM version and what the bridge relied on.
 *
 * One DataSource with a pool of ONE connection (so "the same connection next time" is provable),
 * and a separate plain pg Client to look from outside (what is committed, which backends live).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeUnsupportedError, beforeRunnerQueries, checkRunner, markTransaction, openRunner, poolOf, releaseRunner, transactionDepth } from '#saga/persistence';
import { Client, Pool, type PoolClient } from 'pg';
import { DataSource, type QueryRunner } from 'typeorm';
import { createTestDatabase, runId, waitFor } from '../support/infra';

const TYPEORM_VERSION = (JSON.parse(readFileSync(join(__dirname, '../../node_modules/typeorm/package.json'), 'utf8')) as { version: string }).version;

/** Runs `check`; a failure names the TypeORM version and what the bridge relied on. */
async function relied(what: string, check: () => Promise<void> | void): Promise<void> {
  try {
    await check();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`TypeORM ${TYPEORM_VERSION}: typeorm-bridge.ts relies on ${what}, and that no longer holds.\n${message}`, { cause: error });
  }
}

/** The SQL texts the runner's pg connection is asked to run, while recording. */
function recordSql(client: PoolClient): { readonly sql: string[]; stop(): void } {
  const spy = jest.spyOn(client as unknown as { query: (...args: unknown[]) => unknown }, 'query');
  return {
    get sql() {
      return spy.mock.calls.map(([first]) => (typeof first === 'string' ? first : (first as { text: string }).text));
    },
    stop: () => spy.mockRestore(),
  };
}

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dataSource: DataSource;
let observer: Client;

beforeAll(async () => {
  database = await createTestDatabase(runId(), 'bridge');
  dataSource = new DataSource({ type: 'postgres', url: database.url, extra: { max: 1 } });
  await dataSource.initialize();
  await dataSource.query('CREATE TABLE bridge_rows (id text PRIMARY KEY)');
  observer = new Client({ connectionString: database.url });
  await observer.connect();
});

afterAll(async () => {
  await observer?.end();
  await dataSource?.destroy();
  await database?.drop();
});

beforeEach(async () => {
  await dataSource.query('TRUNCATE bridge_rows');
});

/** Rows as a connection outside the runner's transaction sees them (committed ones). */
async function committedRows(): Promise<string[]> {
  return (await observer.query<{ id: string }>('SELECT id FROM bridge_rows ORDER BY id')).rows.map((row) => row.id);
}

async function backendPid(client: PoolClient): Promise<number> {
  return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
}

describe(`typeorm-bridge against TypeORM ${TYPEORM_VERSION}`, () => {
  describe('checkRunner', () => {
    it('accepts a real PostgresQueryRunner (openRunner gives it with its pg connection)', async () => {
      const { runner, client } = await openRunner(dataSource);
      try {
        await relied('PostgresQueryRunner having isTransactionActive, transactionDepth, releasePostgresConnection and a prototype query', () => {
          expect(runner.constructor.name).toBe('PostgresQueryRunner');
          expect(() => checkRunner(runner)).not.toThrow();
          expect(runner.isTransactionActive).toBe(false);
          expect(transactionDepth(runner)).toBe(0);
          expect(typeof client.escapeLiteral).toBe('function');
        });
      } finally {
        await releaseRunner(runner);
      }
    });

    /** A stand-in with the runner's shape, minus `without`. */
    function fakeRunner(without?: 'isTransactionActive' | 'transactionDepth' | 'releasePostgresConnection' | 'query' | 'own query'): QueryRunner {
      const prototype: Record<string, unknown> = { query: async () => [], releasePostgresConnection: async () => undefined };
      if (without === 'query') delete prototype.query;
      if (without === 'releasePostgresConnection') delete prototype.releasePostgresConnection;
      const fake = Object.create(prototype) as Record<string, unknown>;
      if (without !== 'isTransactionActive') fake.isTransactionActive = false;
      if (without !== 'transactionDepth') fake.transactionDepth = 0;
      if (without === 'own query') fake.query = async () => [];
      return fake as unknown as QueryRunner;
    }

    it('accepts a stand-in that has everything (so each refusal below is for the one missing field)', () => {
      expect(() => checkRunner(fakeRunner())).not.toThrow();
    });

    it.each([
      ['isTransactionActive', /isTransactionActive/],
      ['transactionDepth', /transactionDepth/],
      ['releasePostgresConnection', /releasePostgresConnection/],
      ['query', /query is not a prototype method/],
      ['own query', /query is not a prototype method/],
    ] as const)('refuses a runner without %s and names it', (without, names) => {
      const attempt = () => checkRunner(fakeRunner(without));
      expect(attempt).toThrow(BridgeUnsupportedError);
      expect(attempt).toThrow(names);
      expect(attempt).toThrow(/typeorm-bridge\.ts/);
    });
  });

  describe('markTransaction', () => {
    it('after our own BEGIN, manager.transaction() nests with a savepoint: an inner failure rolls back to it, the outer insert survives', async () => {
      const { runner, client } = await openRunner(dataSource);
      const sent = recordSql(client);
      try {
        await client.query('BEGIN');
        markTransaction(runner, true);
        await runner.manager.query(`INSERT INTO bridge_rows VALUES ('outer')`);

        let depthInside = -1;
        const failure = new Error('the inner transaction fails');
        await expect(
          runner.manager.transaction(async (manager) => {
            depthInside = transactionDepth(runner);
            await manager.query(`INSERT INTO bridge_rows VALUES ('inner-failed')`);
            throw failure;
          }),
        ).rejects.toBe(failure);
        let depthInsideCommitted = -1;
        await runner.manager.transaction(async (manager) => {
          depthInsideCommitted = transactionDepth(runner);
          await manager.query(`INSERT INTO bridge_rows VALUES ('inner-kept')`);
        });

        await relied('startTransaction() nesting with SAVEPOINT typeorm_<depth> when isTransactionActive/transactionDepth say a transaction is open', async () => {
          expect(depthInside).toBe(2);
          expect(depthInsideCommitted).toBe(2);
          expect(transactionDepth(runner)).toBe(1);
          expect(runner.isTransactionActive).toBe(true);
          expect(sent.sql).toEqual(expect.arrayContaining(['SAVEPOINT typeorm_1', 'ROLLBACK TO SAVEPOINT typeorm_1', 'RELEASE SAVEPOINT typeorm_1']));
          expect(sent.sql).not.toContain('START TRANSACTION');
          expect(sent.sql).not.toContain('COMMIT');
          expect(sent.sql).not.toContain('ROLLBACK');
          // Still one open transaction of ours: nothing is visible outside it yet, and it is usable.
          expect(await committedRows()).toEqual([]);
          expect((await client.query<{ status: string }>(`SELECT 'usable' AS status`)).rows[0].status).toBe('usable');
        });

        await client.query('COMMIT');
        markTransaction(runner, false);
        expect(await committedRows()).toEqual(['inner-kept', 'outer']);
      } finally {
        sent.stop();
        await releaseRunner(runner);
      }
    });

    it('after our own COMMIT and markTransaction(runner, false), manager.transaction() opens a real transaction again', async () => {
      const { runner, client } = await openRunner(dataSource);
      try {
        await client.query('BEGIN');
        markTransaction(runner, true);
        await client.query('COMMIT');
        markTransaction(runner, false);
        expect(runner.isTransactionActive).toBe(false);
        expect(transactionDepth(runner)).toBe(0);

        const sent = recordSql(client);
        let depthInside = -1;
        let inBlock = false;
        await expect(
          runner.manager.transaction(async (manager) => {
            depthInside = transactionDepth(runner);
            await manager.query(`INSERT INTO bridge_rows VALUES ('rolled-back')`);
            // A real transaction: the row is not visible outside before it ends.
            inBlock = (await committedRows()).length === 0;
            throw new Error('roll it back');
          }),
        ).rejects.toThrow('roll it back');
        await runner.manager.transaction(async (manager) => {
          await manager.query(`INSERT INTO bridge_rows VALUES ('committed')`);
        });
        const sql = sent.sql;
        sent.stop();

        await relied('startTransaction() sending START TRANSACTION at depth 0, and COMMIT/ROLLBACK resetting isTransactionActive', async () => {
          expect(depthInside).toBe(1);
          expect(inBlock).toBe(true);
          expect(sql.filter((text) => text === 'START TRANSACTION')).toHaveLength(2);
          expect(sql).toEqual(expect.arrayContaining(['ROLLBACK', 'COMMIT']));
          expect(sql.some((text) => text.startsWith('SAVEPOINT'))).toBe(false);
          expect(runner.isTransactionActive).toBe(false);
          expect(transactionDepth(runner)).toBe(0);
          expect(await committedRows()).toEqual(['committed']);
        });
      } finally {
        await releaseRunner(runner);
      }
    });
  });

  describe('releaseRunner', () => {
    it('with an error has the pool destroy the connection', async () => {
      const pool = poolOf(dataSource);
      const { runner, client } = await openRunner(dataSource);
      const pid = await backendPid(client);
      await releaseRunner(runner, new Error('connection state unknown'));
      await relied('releasePostgresConnection(error) passing the error to the pool, which then destroys the connection', async () => {
        expect(runner.isReleased).toBe(true);
        expect(pool.totalCount).toBe(0);
        await waitFor(
          async () => (await observer.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0,
          `backend ${pid} to end after releaseRunner(runner, error)`,
          5_000,
        );
      });
      const next = await openRunner(dataSource);
      try {
        expect(await backendPid(next.client)).not.toBe(pid);
      } finally {
        await releaseRunner(next.runner);
      }
    });

    it('without an error returns the connection for reuse (same backend next time, pool of one)', async () => {
      const pool = poolOf(dataSource);
      const first = await openRunner(dataSource);
      const pid = await backendPid(first.client);
      await releaseRunner(first.runner);
      await relied('release() returning the connection to the pool', async () => {
        expect(first.runner.isReleased).toBe(true);
        expect(pool.totalCount).toBe(1);
        expect(pool.idleCount).toBe(1);
        const second = await openRunner(dataSource);
        try {
          expect(second.client).toBe(first.client);
          expect(await backendPid(second.client)).toBe(pid);
        } finally {
          await releaseRunner(second.runner);
        }
      });
    });
  });

  describe('beforeRunnerQueries', () => {
    it('runs (and awaits) its hook before a manager.query, and the returned function puts the prototype method back', async () => {
      const { runner, client } = await openRunner(dataSource);
      const sent = recordSql(client);
      const events: string[] = [];
      try {
        let letThrough!: () => void;
        const gate = new Promise<void>((resolve) => (letThrough = resolve));
        const restore = beforeRunnerQueries(runner, async () => {
          events.push(`hook (sent so far: ${sent.sql.length})`);
          await gate;
        });
        const query = runner.manager.query('SELECT 41 + 1 AS answer');
        await new Promise((resolve) => setImmediate(resolve));
        await relied('manager.query() going through the runner query method (an own property in front of the prototype)', async () => {
          expect(events).toEqual(['hook (sent so far: 0)']);
          expect(sent.sql).toEqual([]); // held by the hook
          letThrough();
          expect(await query).toEqual([{ answer: 42 }]);
          expect(sent.sql).toEqual(['SELECT 41 + 1 AS answer']);
          expect(Object.prototype.hasOwnProperty.call(runner, 'query')).toBe(true);
        });

        restore();
        await relied('query being a prototype method (deleting the own property restores it)', async () => {
          expect(Object.prototype.hasOwnProperty.call(runner, 'query')).toBe(false);
          expect(runner.query).toBe(Object.getPrototypeOf(runner).query);
          expect(() => checkRunner(runner)).not.toThrow();
          await runner.manager.query('SELECT 2');
          expect(events).toHaveLength(1); // the hook is gone
          expect(sent.sql).toEqual(['SELECT 41 + 1 AS answer', 'SELECT 2']);
        });
      } finally {
        sent.stop();
        await releaseRunner(runner);
      }
    });

    it('sends nothing when the hook fails: the query rejects with the hook error', async () => {
      const { runner, client } = await openRunner(dataSource);
      const sent = recordSql(client);
      const refusal = new Error('not now');
      const restore = beforeRunnerQueries(runner, async () => {
        throw refusal;
      });
      try {
        await expect(runner.manager.query('SELECT 1')).rejects.toBe(refusal);
        expect(sent.sql).toEqual([]);
      } finally {
        restore();
        sent.stop();
        await releaseRunner(runner);
      }
    });
  });

  describe('poolOf', () => {
    it("returns the DataSource's pg Pool (driver.master), which runs queries", async () => {
      await relied('PostgresDriver.master being the pg Pool', async () => {
        const pool = poolOf(dataSource);
        expect(pool).toBeInstanceOf(Pool);
        expect(pool).toBe((dataSource.driver as unknown as { master: unknown }).master);
        expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      });
    });

    it('throws BridgeUnsupportedError for a DataSource without driver.master', () => {
      const notInitialized = new DataSource({ type: 'postgres', url: database.url });
      expect(() => poolOf(notInitialized)).toThrow(BridgeUnsupportedError);
      expect(() => poolOf({ driver: {} } as unknown as DataSource)).toThrow(/driver\.master/);
      expect(() => poolOf({ driver: { master: {} } } as unknown as DataSource)).toThrow(BridgeUnsupportedError);
    });
  });
});
