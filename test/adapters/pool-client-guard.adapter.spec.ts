/**
 * A pooled connection that PostgreSQL terminates while it is checked out and idle (no query
 * running, no query runner listening) must not crash the process: pg emits 'error' on the
 * client, and without the guard nobody listens. Real PostgreSQL: the backend is terminated with
 * pg_terminate_backend, as a server restart does.
 */
import { sagaDataSourceOptions } from '#saga/persistence';
import type { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { createTestDatabase, runId } from '../support/infra';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dataSource: DataSource;

beforeAll(async () => {
  database = await createTestDatabase(runId(), 'pool_guard');
  dataSource = new DataSource(sagaDataSourceOptions(database.url, 2));
  await dataSource.initialize();
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

it('survives a checked-out connection being terminated, and the pool goes on with a new one', async () => {
  const pool = (dataSource.driver as unknown as { master: Pool }).master;
  const client: PoolClient = await pool.connect();
  const [{ pid }] = (await client.query('SELECT pg_backend_pid() AS pid')).rows as { pid: number }[];
  await dataSource.query('SELECT pg_terminate_backend($1)', [pid]);
  // Give the dying backend's message time to reach the idle client: without the guard, the
  // 'error' it emits is thrown out of the socket callback and fails this test.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await expect(client.query('SELECT 1')).rejects.toThrow(/not queryable/);
  client.release(new Error('terminated'));
  const [{ one }] = await dataSource.query('SELECT 1 AS one');
  expect(one).toBe(1);
});

it('leaves a listener on every pooled client even while no one else listens', async () => {
  const pool = (dataSource.driver as unknown as { master: Pool }).master;
  const client: PoolClient = await pool.connect();
  try {
    // Checked out: the pool has taken its own idle listener off; the guard is what remains.
    expect(client.listenerCount('error')).toBe(1);
  } finally {
    client.release();
  }
});
