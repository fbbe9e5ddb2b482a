/**
 * RabbitMQ restarted (`rabbitmqctl stop_app` / `start_app`) in the middle of 1000 sagas (enough
 * work that `stop_app`, which takes a second or two, lands while most are in flight): the
 * orchestrator and the participants reconnect on their own, re-declare their topology, publish
 * what the outbox still holds and consume what the broker kept; every saga ends as its input
 * demands and no participant effect is applied twice. No process is restarted.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from '../support/infra';
import { countTerminal, expectOutcomesAndEffects, startWorkloadInFlight } from './place-order-workload';
import { TestSystem } from './system-harness';

const run = promisify(execFile);
const RABBITMQCTL = process.env.RABBITMQCTL ?? 'rabbitmqctl';
const SAGAS = 1000;

describe('RabbitMQ restart during 1000 sagas (e2e)', () => {
  let system: TestSystem;

  afterAll(async () => {
    await system?.close();
  });

  it('finishes every saga with no effect applied twice', async () => {
    // All sagas are started while no participant runs, so the restart hits many in flight.
    system = await TestSystem.start({ participants: false });
    const { ids } = await startWorkloadInFlight(system, SAGAS, 'restart');
    const startedAt = Date.now();
    let finishedAtStop = 0;
    try {
      await run(RABBITMQCTL, ['-q', 'stop_app']);
      finishedAtStop = await countTerminal(system);
      expect(finishedAtStop).toBeLessThan(SAGAS);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // the broker stays down a moment
    } finally {
      await run(RABBITMQCTL, ['-q', 'start_app']);
      await run(RABBITMQCTL, ['-q', 'await_startup']);
    }
    await waitFor(async () => (await countTerminal(system)) === SAGAS, 'every saga to finish after the restart', 120_000, 100);
    console.log(
      `broker restart: ${SAGAS - finishedAtStop} of ${SAGAS} sagas unfinished when the broker stopped; all finished ${((Date.now() - startedAt) / 1000).toFixed(1)} s after stop_app`,
    );
    await expectOutcomesAndEffects(system, ids);
  }, 300_000);
});
