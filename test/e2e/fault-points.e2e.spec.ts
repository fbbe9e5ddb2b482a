/**
 * SIGKILL at each named fault point (libs/fault-points; docs/semantics.md S4, S7): the process is
 * armed to kill itself at the first hit of one point, dies there by SIGKILL, is started again
 * without it, and every saga must end as its input demands with each participant effect applied
 * exactly once and the outbox and timers drained.
 *
 * - orchestrator.after-commit-before-ack: a reply batch committed, its messages not acked. The
 *   broker redelivers them to the restarted orchestrator, which records them as duplicates.
 * - orchestrator.after-publish-before-outbox-delete: a command confirmed, its outbox row not
 *   deleted. The relay of the restarted orchestrator sends it again; the participant drops it.
 * - participant.after-commit-before-reply: the order service committed, replied nothing, acked
 *   nothing. The restarted service gets the command again and answers from its dedupe record.
 *
 * Clients retry with the same Idempotency-Key: a POST cut by the kill is repeated on the
 * restarted orchestrator and yields the one saga of that key.
 */
import { bootstrapInventoryService } from '../../apps/inventory-service/src/bootstrap';
import { bootstrapPaymentService } from '../../apps/payment-service/src/bootstrap';
import { waitFor } from '../support/infra';
import { OrchestratorProcess } from '../support/orchestrator-process';
import { ParticipantProcess } from '../support/participant-process';
import { countTerminal, expectOutcomesAndEffects, postSaga } from './place-order-workload';
import { TestSystem } from './system-harness';

const SAGAS = 20;

/** Posts sagas 0..SAGAS-1, 5 at a time; a POST the kill cut short is left for the retry. */
async function postWhileAlive(baseUrl: string, tag: string): Promise<void> {
  for (let batch = 0; batch < SAGAS; batch += 5) {
    await Promise.all(Array.from({ length: 5 }, (_, k) => postSaga(baseUrl, batch + k, tag).catch(() => undefined)));
  }
}

/** Every saga's id by retrying every POST with its key: the saga a cut POST created, or a new one. */
async function retryAll(baseUrl: string, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let batch = 0; batch < SAGAS; batch += 5) ids.push(...(await Promise.all(Array.from({ length: 5 }, (_, k) => postSaga(baseUrl, batch + k, tag)))));
  return ids;
}

async function diedAt(process: { exit(): ReturnType<OrchestratorProcess['exit']>; log: string }, point: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const alive = new Promise<'alive'>((resolve) => (timer = setTimeout(() => resolve('alive'), 20_000)));
  const exit = await Promise.race([process.exit(), alive]).finally(() => clearTimeout(timer));
  expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
  expect(process.log).toContain(`armed (SAGA_FAULT_POINTS, tests only): ${point}@1`);
  expect(process.log).toContain(`fault point ${point} fired on hit 1: SIGKILL`);
}

const outboxRows = async (system: TestSystem) => (await system.query<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM saga_outbox'))[0].n;

describe('SIGKILL at the named fault points (e2e)', () => {
  const systems: TestSystem[] = [];
  const processes: { kill(): Promise<void> }[] = [];

  afterAll(async () => {
    for (const process of processes) await process.kill();
    for (const system of systems) await system.close();
  });

  const boot = async (): Promise<TestSystem> => {
    const system = await TestSystem.start({ orchestrator: false, participants: false });
    systems.push(system);
    return system;
  };
  const orchestrator = async (system: TestSystem, faults?: string): Promise<OrchestratorProcess> => {
    const started = await OrchestratorProcess.start(system.orchestratorEnv(faults ? { SAGA_FAULT_POINTS: faults } : {}));
    processes.push(started);
    return started;
  };

  it('orchestrator.after-commit-before-ack: the committed replies come again and change nothing', async () => {
    const point = 'orchestrator.after-commit-before-ack';
    const system = await boot();
    await system.startParticipants();
    const first = await orchestrator(system, `${point}@1`);
    await postWhileAlive(first.baseUrl, 'ack');
    await diedAt(first, point);

    const second = await orchestrator(system);
    const ids = await retryAll(second.baseUrl, 'ack');
    await waitFor(async () => (await countTerminal(system)) === SAGAS, 'all sagas to finish after the restart', 30_000);
    await expectOutcomesAndEffects(system, ids);
    // The batch that committed before the kill was delivered again: recorded, ignored.
    const [duplicates] = await system.query<{ n: number }>('orchestrator', "SELECT count(*)::int AS n FROM saga_history WHERE type = 'DUPLICATE_REPLY_IGNORED'");
    expect(duplicates.n).toBeGreaterThan(0);
  }, 60_000);

  it('orchestrator.after-publish-before-outbox-delete: the relay sends the command again, the participant drops it', async () => {
    const point = 'orchestrator.after-publish-before-outbox-delete';
    const system = await boot();
    await system.startParticipants();
    const first = await orchestrator(system, `${point}@1`);
    await postWhileAlive(first.baseUrl, 'outbox');
    await diedAt(first, point);
    expect(await outboxRows(system)).toBeGreaterThan(0); // the confirmed command's row is still there

    const second = await orchestrator(system);
    const ids = await retryAll(second.baseUrl, 'outbox');
    await waitFor(async () => (await countTerminal(system)) === SAGAS, 'all sagas to finish after the restart', 30_000);
    await expectOutcomesAndEffects(system, ids);
  }, 60_000);

  it('participant.after-commit-before-reply: the redelivered command is answered from the dedupe record', async () => {
    const point = 'participant.after-commit-before-reply';
    const system = await boot();
    const env = { AMQP_URL: system.amqpUrl, AMQP_PREFIX: system.prefix, ORDER_DATABASE_URL: system.databases.orders };
    const common = { amqpUrl: system.amqpUrl, amqpPrefix: system.prefix };
    system.participants.push(await bootstrapInventoryService({ ...common, databaseUrl: system.databases.inventory }, { logger: false }));
    system.participants.push(await bootstrapPaymentService({ ...common, databaseUrl: system.databases.payments }, { logger: false }));
    const orders = await ParticipantProcess.start('order-service', { ...env, SAGA_FAULT_POINTS: `${point}@1` });
    processes.push(orders);
    const api = await orchestrator(system);
    const ids = await retryAll(api.baseUrl, 'participant');
    await diedAt(orders, point);
    const [committed] = await system.query<{ n: number }>('orders', 'SELECT count(*)::int AS n FROM processed_commands');
    expect(committed.n).toBeGreaterThan(0); // committed before the kill, never answered

    processes.push(await ParticipantProcess.start('order-service', env));
    await waitFor(async () => (await countTerminal(system)) === SAGAS, 'all sagas to finish after the restart', 30_000);
    await expectOutcomesAndEffects(system, ids);
  }, 60_000);

  it('refuses to start with a bad SAGA_FAULT_POINTS, saying why', async () => {
    const system = await boot();
    await expect(OrchestratorProcess.start(system.orchestratorEnv({ SAGA_FAULT_POINTS: 'orchestrator.after-commit-before-ack@0' }))).rejects.toThrow(
      /orchestrator exited during start[\s\S]*Invalid SAGA_FAULT_POINTS:\n {2}"orchestrator.after-commit-before-ack@0": the hit number must be 1 or more/,
    );
    await expect(OrchestratorProcess.start(system.orchestratorEnv({ NODE_ENV: 'production', SAGA_FAULT_POINTS: 'orchestrator.after-commit-before-ack@1' }))).rejects.toThrow(
      /fault points are for tests only/,
    );
  }, 30_000);
});
