/**
 * The orchestrator's database becomes unreachable and comes back, without a process restart:
 * starts are refused with 503 (nothing stored, never a 202 that is later lost), /health says
 * why, and once the database is back the pool reconnects and sagas run again.
 */
import { Client } from 'pg';
import { TEST_POSTGRES_URL, waitFor } from '../support/infra';
import { TestSystem } from './system-harness';

const input = { customerId: 'c-db', items: [{ sku: 'sku-1', quantity: 1 }], amount: 10 };

async function admin(sql: string): Promise<void> {
  const client = new Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('orchestrator database outage (e2e)', () => {
  let system: TestSystem;
  let database = '';

  beforeAll(async () => {
    system = await TestSystem.start();
    database = new URL(system.databases.orchestrator).pathname.slice(1);
  });

  afterAll(async () => {
    await admin(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    await system?.close();
  });

  it('answers 503 while the database is unreachable and recovers on its own', async () => {
    const before = await system.startSaga('place-order', input).expect(202);
    expect((await system.waitForSaga(before.body.id)).status).toBe('COMPLETED');

    // Take the database away: no new connections, and every open one is cut.
    await admin(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS false`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`);
    const refused = await system.startSaga('place-order', input, 'during-outage').expect(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toMatchObject({ statusCode: 503, message: expect.stringContaining('nothing was stored') });
    const health = await system.http().get('/health').expect(503);
    expect(health.body).toMatchObject({ status: 'degraded', database: false, broker: true });
    await system.http().get(`/sagas/${before.body.id}`).expect(503);

    await admin(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS true`);
    await waitFor(async () => (await system.http().get('/health')).status === 200, 'health to recover');
    const after = await system.startSaga('place-order', input, 'during-outage').expect(202);
    expect(after.headers['idempotent-replayed']).toBeUndefined(); // the refused start had stored nothing
    expect((await system.waitForSaga(after.body.id)).status).toBe('COMPLETED');
  });
});
