/**
 * AmqpClient when the broker closes its connection while the client is still setting it up
 * (declaring the topology, opening channels, attaching consumers), on the real RabbitMQ.
 *
 * Found by the chaos run: an orchestrator restarting while a broker node was being stopped
 * exited with an unhandled 'error' event (a socket write failing with EPIPE). amqplib's
 * recovering connection binds its own error listener only once the setup has finished, and a
 * socket error is emitted as the connection's 'error' event: during the setup nobody listened,
 * and the throw ended the process.
 *
 * Proves, for a close by the broker (CONNECTION_FORCED) and for a socket error during the setup:
 * the process survives (an unhandled 'error' would fail this file), the failed setup is logged,
 * the client connects on its next attempt and works (publish and consume).
 */
import { AmqpClient, declareTopology, topologyNames, type AmqpLogger } from '#saga/messaging';
import type { Channel } from 'amqplib';
import { createTestVhost, runId, waitFor } from '../support/infra';
import { closeAllConnections } from './broker-probe';

const names = topologyNames('cut');
const WORK = 'cut.work';

describe('AmqpClient set-up cut by the broker', () => {
  let vhost: { url: string; vhost: string; drop: () => Promise<void> };
  let client: AmqpClient | undefined;
  const logs: string[] = [];
  const logger: AmqpLogger = { log: (m) => logs.push(`log ${m}`), warn: (m) => logs.push(`warn ${m}`), error: (m) => logs.push(`error ${m}`) };

  beforeAll(async () => {
    vhost = await createTestVhost(runId());
  });

  afterAll(async () => {
    await client?.close(500);
    await vhost?.drop();
  });

  /** The socket under a channel's connection (amqplib internals, for the socket-error case). */
  const socketOf = (channel: Channel) => (channel as unknown as { connection: { stream: { destroy(error: Error): void } } }).connection.stream;

  const cuts: [string, (channel: Channel) => Promise<void>][] = [
    ['a close by the broker (close_all_connections)', async () => closeAllConnections(vhost.vhost)],
    [
      'a socket error (a write failing with EPIPE)',
      async (channel) => socketOf(channel).destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' })),
    ],
  ];

  it.each(cuts)(
    'survives %s during the set-up and connects on the next attempt',
    async (_what, cut) => {
      let setups = 0;
      await client?.close(500);
      logs.length = 0;
      client = await AmqpClient.connect({
        url: vhost.url,
        connectionName: 'setup-cut-test',
        logger,
        setupTopology: async (channel) => {
          setups += 1;
          if (setups === 1) {
            await cut(channel);
            await new Promise((resolve) => setTimeout(resolve, 300));
          }
          await declareTopology(channel, names, [WORK]);
        },
      });
      expect(setups).toBeGreaterThanOrEqual(2);
      expect(logs.filter((line) => line.startsWith('warn AMQP')).length).toBeGreaterThan(0);

      const received: string[] = [];
      await client.consume(
        WORK,
        async (message) => {
          received.push(message.content.toString());
        },
        { prefetch: 1, requeueDelayMs: 50, onPoison: async () => undefined },
      );
      const body = `after-${setups}-${Date.now()}`;
      await client.publish('', WORK, Buffer.from(body), { persistent: true, messageId: body });
      await waitFor(async () => received.includes(body), 'the message published after the cut to be consumed');
    },
    30_000,
  );
});
