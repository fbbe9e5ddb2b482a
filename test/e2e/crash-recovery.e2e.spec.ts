/**
 * SIGKILL in the middle of 200 running sagas (docs/semantics.md S4, S7): the orchestrator process is killed
 * while sagas are mid-flight, started again, and every saga must end COMPLETED or COMPENSATED
 * with no participant effect applied twice. Prints how long the run took and sagas/second.
 * Run with each queue type (AMQP_QUEUE_TYPE): on classic queues the commands and replies the
 * dead process held unacked come back as redeliveries, which the consumers count (returns.ts).
 */
import type { QueueType } from '#saga/messaging';
import { waitFor } from '../support/infra';
import { OrchestratorProcess } from '../support/orchestrator-process';
import { countTerminal, expectOutcomesAndEffects, postSaga } from './place-order-workload';
import { TestSystem } from './system-harness';

const SAGAS = 200;
const KILL_AFTER_TERMINAL = 40;

describe.each<QueueType>(['quorum', 'classic'])('SIGKILL of the orchestrator with 200 sagas in flight, %s queues (e2e)', (queueType) => {
  let system: TestSystem;
  let orchestrator: OrchestratorProcess | undefined;

  afterAll(async () => {
    await orchestrator?.kill();
    await system?.close();
  });

  it('ends every saga COMPLETED or COMPENSATED and applies no effect twice', async () => {
    system = await TestSystem.start({ orchestrator: false, participants: false, queueType });
    const env = system.orchestratorEnv();
    orchestrator = await OrchestratorProcess.start(env);

    // 1. Start all 200 sagas while no participant runs: all are RUNNING, commands queued.
    const ids: string[] = [];
    for (let batch = 0; batch < SAGAS; batch += 25) {
      const posted = await Promise.all(Array.from({ length: Math.min(25, SAGAS - batch) }, (_, k) => postSaga(orchestrator!.baseUrl, batch + k, 'crash')));
      ids.push(...posted);
    }
    const terminal = () => countTerminal(system);
    expect(await terminal()).toBe(0);

    // 2. Participants start consuming; kill the orchestrator once some sagas have finished.
    const startedAt = Date.now();
    await system.startParticipants();
    const atKill = await waitFor(
      async () => {
        const n = await terminal();
        return n >= KILL_AFTER_TERMINAL ? n : undefined;
      },
      `${KILL_AFTER_TERMINAL} sagas to finish`,
      60_000,
      5,
    );
    await orchestrator.kill('SIGKILL');
    const finishedAtKill = await terminal();
    expect(finishedAtKill).toBeLessThan(SAGAS);

    // 3. Start it again; a repeated POST with the same Idempotency-Key returns the same saga.
    orchestrator = await OrchestratorProcess.start(env);
    expect(await postSaga(orchestrator.baseUrl, 0, 'crash')).toBe(ids[0]);
    await waitFor(async () => (await terminal()) === SAGAS, 'all sagas to finish after the restart', 120_000, 50);
    const seconds = (Date.now() - startedAt) / 1000;
    console.log(
      `crash test (${queueType} queues): ${SAGAS} sagas, orchestrator SIGKILLed with ${SAGAS - finishedAtKill} unfinished (${atKill} finished when the kill was triggered); ` +
        `all finished ${seconds.toFixed(2)} s after participants started, including the restart: ${(SAGAS / seconds).toFixed(1)} sagas/s`,
    );

    // 4. Every saga ended as its input demands; no effect applied twice, every effect matches.
    await expectOutcomesAndEffects(system, ids);
  }, 300_000);
});
