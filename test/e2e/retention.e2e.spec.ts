/**
 * Retention in the running system (docs/operations.md "Retention"), with windows of seconds: the
 * orchestrator with RETENTION_FINISHED_SAGAS=4000 and the real example participants with
 * processedCommandsRetentionMs=4000, each pruning every 500 ms.
 *
 * Proves: a finished saga is readable until its window passes, then gone whole (404, no steps,
 * history or inbox rows) and counted in saga_pruned_total; each participant forgets its commands
 * for that saga after its own window; what an operator loses is what the docs say: the saga's
 * idempotency key starts a new saga once the old one is pruned; with RETENTION_VACUUM at its
 * default (auto) the orchestrator vacuums its saga tables and each participant its
 * processed_commands exactly when the server's autovacuum is off.
 */
import { bootstrapInventoryService } from '../../apps/inventory-service/src/bootstrap';
import { bootstrapOrderService } from '../../apps/order-service/src/bootstrap';
import { startOrchestrator } from '../../apps/orchestrator/src/bootstrap';
import { bootstrapPaymentService } from '../../apps/payment-service/src/bootstrap';
import { waitFor } from '../support/infra';
import { TestSystem } from './system-harness';

const WINDOW_MS = 4000;
const input = { customerId: 'c-retention', items: [{ sku: 'sku-1', quantity: 1 }], amount: 10 };

describe('retention (e2e, windows of seconds)', () => {
  let system: TestSystem;

  beforeAll(async () => {
    system = await TestSystem.start({ participants: false, orchestrator: false });
    const common = { amqpUrl: system.amqpUrl, amqpPrefix: system.prefix, processedCommandsRetentionMs: WINDOW_MS, retentionIntervalMs: 500 };
    const quiet = { logger: false as const };
    system.participants.push(await bootstrapOrderService({ ...common, databaseUrl: system.databases.orders }, quiet));
    system.participants.push(await bootstrapInventoryService({ ...common, databaseUrl: system.databases.inventory }, quiet));
    system.participants.push(await bootstrapPaymentService({ ...common, databaseUrl: system.databases.payments }, quiet));
    system.orchestrator = await startOrchestrator({
      env: system.orchestratorEnv({ RETENTION_FINISHED_SAGAS: String(WINDOW_MS), RETENTION_INTERVAL_MS: '500' }),
      logger: false,
    });
  });

  afterAll(async () => {
    await system?.close();
  });

  it('prunes a finished saga whole after its window, and the participants forget its commands after theirs', async () => {
    const started = await system.startSaga('place-order', input, 'retention-key').expect(202);
    const id = started.body.id as string;
    const saga = await system.waitForSaga(id);
    expect(saga.status).toBe('COMPLETED');
    const count = async (table: string) => (await system.query<{ n: number }>('orchestrator', `SELECT count(*)::int AS n FROM ${table} WHERE saga_id = $1`, [id]))[0].n;
    expect(await count('saga_history')).toBeGreaterThan(0);
    expect(await count('saga_inbox')).toBeGreaterThan(0);
    // Inside the window the same key is the same saga.
    expect((await system.startSaga('place-order', input, 'retention-key')).body.id).toBe(id);

    await waitFor(async () => (await system.http().get(`/sagas/${id}`)).status === 404, 'the saga pruned', 20_000, 200);
    for (const table of ['saga_steps', 'saga_history', 'saga_inbox', 'saga_timers', 'saga_outbox']) expect(await count(table)).toBe(0);
    const metrics = (await system.http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/saga_pruned_total\{table="saga_instances"\} [1-9]/);
    expect(metrics).toMatch(/saga_pruned_total\{table="saga_history"\} [1-9]/);

    for (const database of ['orders', 'inventory', 'payments'] as const) {
      await waitFor(
        async () => (await system.query(database, 'SELECT 1 FROM processed_commands WHERE saga_id = $1', [id])).length === 0,
        `${database} forgets the saga's commands`,
        20_000,
        200,
      );
    }

    // What the operator was told: once pruned, the key is free and starts a new saga.
    const again = await system.startSaga('place-order', input, 'retention-key').expect(202);
    expect(again.body.id).not.toBe(id);
    expect((await system.waitForSaga(again.body.id as string)).status).toBe('COMPLETED');
  });

  it('vacuums the saga tables and each processed_commands exactly when the server autovacuum is off (RETENTION_VACUUM default)', async () => {
    const [{ off }] = await system.query<{ off: boolean }>('orchestrator', `SELECT current_setting('autovacuum') = 'off' OR current_setting('track_counts') = 'off' AS off`);
    const vacuums = async (database: 'orchestrator' | 'orders' | 'inventory' | 'payments', table: string) =>
      Number((await system.query<{ n: string }>(database, 'SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = $1', [table]))[0].n);
    const tables = [
      ['orchestrator', 'saga_instances'],
      ['orchestrator', 'saga_history'],
      ['orders', 'processed_commands'],
      ['inventory', 'processed_commands'],
      ['payments', 'processed_commands'],
    ] as const;
    if (off) {
      for (const [database, table] of tables) await waitFor(async () => (await vacuums(database, table)) > 0, `${database}.${table} vacuumed`, 10_000, 200);
    } else {
      // Several retention runs (every 500 ms) go by; none vacuums (no one else runs a VACUUM here).
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      for (const [database, table] of tables) expect(await vacuums(database, table)).toBe(0);
    }
  });
});
