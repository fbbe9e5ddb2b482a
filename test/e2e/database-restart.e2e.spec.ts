/**
 * PostgreSQL restarted (`pg_ctlcluster … stop -m fast` then `start`) in the middle of 100
 * sagas, with the orchestrator and the participants running in-process the whole time: their
 * pools reconnect on their own, messages whose handling hit the outage are handled again (never
 * dead-lettered for it), starts are refused with 503 while the database is down (never a 202
 * that is later lost), and every saga ends as its input demands with no effect applied twice.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import { waitFor } from '../support/infra';
import { countTerminal, expectOutcomesAndEffects, inputOf, startWorkloadInFlight } from './place-order-workload';
import { TestSystem } from './system-harness';

const run = promisify(execFile);
const SAGAS = 100;

async function cluster(action: 'stop' | 'start'): Promise<void> {
  const version = process.env.PG_CLUSTER_VERSION ?? (await readdir('/etc/postgresql'))[0];
  const args = ['--skip-systemctl-redirect', version, 'main', action, ...(action === 'stop' ? ['-m', 'fast'] : [])];
  await run('pg_ctlcluster', args);
}

describe('PostgreSQL restart during 100 sagas (e2e)', () => {
  let system: TestSystem;

  afterAll(async () => {
    await system?.close();
  });

  it('finishes every saga exactly once, refusing starts with 503 while the database is down', async () => {
    system = await TestSystem.start({ participants: false });
    const { baseUrl, ids } = await startWorkloadInFlight(system, SAGAS, 'pg-restart');

    const stoppedAt = Date.now();
    let finishedAtStop = 0;
    try {
      finishedAtStop = await countTerminal(system);
      await cluster('stop');
      const refused = await fetch(`${baseUrl}/sagas/place-order`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'during-restart' },
        body: JSON.stringify(inputOf(0, 'during-restart')),
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // the database stays down a while
    } finally {
      await cluster('start');
    }
    expect(finishedAtStop).toBeLessThan(SAGAS);

    await waitFor(async () => (await countTerminal(system).catch(() => 0)) === SAGAS, 'every saga to finish after the restart', 120_000, 100);
    console.log(
      `database restart: ${SAGAS - finishedAtStop} of ${SAGAS} sagas unfinished when PostgreSQL stopped; all finished ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after the stop`,
    );
    await expectOutcomesAndEffects(system, ids);

    // The refused start stored nothing; the same request now starts a new saga.
    const [stored] = await system.query<{ n: number }>('orchestrator', "SELECT count(*)::int AS n FROM saga_instances WHERE idempotency_key = 'during-restart'");
    expect(stored.n).toBe(0);

    // Nothing was dead-lettered because of the outage: an unavailable database is not poison
    // (the orchestrator takes dead letters into its table, so both are empty).
    expect(await system.query('orchestrator', 'SELECT id FROM dead_letters')).toEqual([]);
    const connection = await connect(system.amqpUrl);
    try {
      const channel = await connection.createChannel();
      expect((await channel.checkQueue(`${system.prefix}.dead-letter`)).messageCount).toBe(0);
    } finally {
      await connection.close();
    }
  }, 300_000);
});
