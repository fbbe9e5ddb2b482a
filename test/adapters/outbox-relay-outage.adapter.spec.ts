/**
 * The outbox relay of an in-process orchestrator when RabbitMQ is unreachable or refuses a
 * message (docs/semantics.md S4: a command is committed first and published at least once, never lost).
 *
 * Proves: with the orchestrator's broker connection force-closed and kept out (vhost access
 * taken away), sagas still start, the relay keeps running but the rows stay in the outbox,
 * /health reports the broker down with the backlog; once access is back the client reconnects
 * by itself and the rows are published and deleted. When the broker nacks the publish (a
 * reject-publish policy on the queue), the row's delete is rolled back and the row is
 * published once the queue accepts messages again. (The saga used never times out during
 * the test, so no retry adds rows of its own.)
 */
import type { INestApplication } from '@nestjs/common';
import type { GetMessage } from 'amqplib';
import { OutboxRelay } from '../../apps/orchestrator/src/runtime/outbox-relay.service';
import { waitFor } from '../support/infra';
import { allowAccess, closeAllConnections, denyAccess, drain, rabbitmqctl, sendConfirmed } from './broker-probe';
import { OrchestratorEnvironment } from './orchestrator-under-test';

/** One step whose participant never answers and whose timeout (60 s) never fires during the test. */
const QUEUE = 'saga.silent';
const quietSaga = {
  name: 'quiet',
  version: 1,
  inputSchema: { type: 'object' },
  steps: [
    {
      name: 'charge',
      action: { command: 'silent.do' },
      compensation: { command: 'silent.undo' },
      timeoutMs: 60_000,
      retry: { maxAttempts: 1, backoff: { initialMs: 100, multiplier: 1, maxMs: 100 } },
    },
  ],
};

describe('outbox relay while the broker is unavailable', () => {
  let env: OrchestratorEnvironment;
  let app: INestApplication;
  let relayRuns: jest.SpyInstance;
  const seen: GetMessage[] = [];

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('relay_outage', {
      'silent.participants.json': { participants: { silent: { queue: QUEUE, commands: ['silent.do', 'silent.undo'] } } },
      'quiet.saga.json': quietSaga,
    });
    app = await env.start({ OUTBOX_POLL_MS: '300' });
    // Counts the relay's runs (the loop calls this method on every wake-up and poll).
    relayRuns = jest.spyOn(app.get(OutboxRelay) as unknown as { publishBatch: () => Promise<boolean> }, 'publishBatch');
  });

  afterAll(async () => {
    await allowAccess(env.vhost).catch(() => undefined);
    await env?.close();
  });

  async function commandsFor(id: string): Promise<GetMessage[]> {
    seen.push(...(await drain(env.amqpUrl, QUEUE)));
    return seen.filter((message) => message.properties.headers?.['x-saga-id'] === id);
  }

  const health = async () => (await env.http().get('/health')).body as { status: string; broker: boolean; outboxBacklog: number };

  it('keeps commands in the outbox while the broker is unreachable and publishes them once it is back', async () => {
    await denyAccess(env.vhost);
    await closeAllConnections(env.vhost);
    await waitFor(async () => (await health()).broker === false, 'the orchestrator to see the broker down');

    const ids = [await env.startSaga('quiet', { n: 1 }), await env.startSaga('quiet', { n: 2 })];
    const runsBefore = relayRuns.mock.calls.length;
    // Several relay runs (wake-ups and 300 ms polls) happen while the broker is away...
    await waitFor(async () => relayRuns.mock.calls.length >= runsBefore + 3, 'the relay to run three times during the outage');
    // ...and none of them could publish or delete anything.
    expect(await env.outboxSize()).toBe(2);
    expect(await health()).toMatchObject({ status: 'degraded', broker: false, outboxBacklog: 2 });

    await allowAccess(env.vhost);
    await waitFor(async () => (await env.outboxSize()) === 0, 'the backlog to be published', 30_000);
    for (const id of ids) {
      const [command] = await waitFor(async () => {
        const found = await commandsFor(id);
        return found.length > 0 ? found : undefined;
      }, `the command of saga ${id}`);
      expect(command.properties).toMatchObject({ messageId: `${id}/charge/action`, correlationId: `${id}/charge/action/1`, deliveryMode: 2 });
    }
    expect(await health()).toMatchObject({ status: 'ok', broker: true, outboxBacklog: 0 });
  });

  it('keeps the row when the broker nacks the publish, and publishes it once the queue accepts messages', async () => {
    await rabbitmqctl('set_policy', '-p', env.vhost, '--apply-to', 'queues', 'refuse-all', '^saga\\.silent$', '{"max-length":0,"overflow":"reject-publish"}');
    try {
      // In force once the broker nacks a probe message.
      await waitFor(
        async () =>
          sendConfirmed(env.amqpUrl, QUEUE, Buffer.from('probe'), {}).then(
            () => false,
            () => true,
          ),
        'the queue to refuse messages',
      );
      const id = await env.startSaga('quiet', { n: 3 });
      const runsBefore = relayRuns.mock.calls.length;
      // Each run claims the row, the broker nacks, and the claim is rolled back.
      const failures = await waitFor(async () => {
        if (relayRuns.mock.calls.length < runsBefore + 2) return undefined;
        const settled = await Promise.allSettled(relayRuns.mock.results.slice(runsBefore, -1).map((result) => result.value as Promise<boolean>));
        const rejected = settled.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
        return rejected.length > 0 ? rejected : undefined;
      }, 'a relay run to fail on the nack');
      expect(String(failures[0].reason)).toMatch(/nacked/);
      expect(await env.query('SELECT saga_id FROM saga_outbox')).toEqual([{ saga_id: id }]);
      expect(await commandsFor(id)).toEqual([]);

      await rabbitmqctl('clear_policy', '-p', env.vhost, 'refuse-all');
      const [command] = await waitFor(
        async () => {
          const found = await commandsFor(id);
          return found.length > 0 ? found : undefined;
        },
        'the command once the queue accepts it',
        30_000,
      );
      expect(command.properties.correlationId).toBe(`${id}/charge/action/1`);
      await waitFor(async () => (await env.outboxSize()) === 0, 'the row to be deleted');
    } finally {
      await rabbitmqctl('clear_policy', '-p', env.vhost, 'refuse-all').catch(() => undefined);
    }
  });
});
