/**
 * AmqpClient surviving a broker-side connection loss, on the real RabbitMQ: the connection is
 * force-closed with `rabbitmqctl close_all_connections` (what a broker restart or a network cut
 * looks like to the client), and in one test kept down by taking the user's vhost access away.
 *
 * Proves: the client reconnects on its own, re-runs its topology setup (a queue deleted
 * behind its back is declared again), re-attaches its consumer (exactly one consumer on the
 * queue, as rabbitmqctl shows once its quorum-queue counters refresh) and publishes again; while it is down publish rejects at once (the outbox relay
 * relies on this) instead of hanging; a message whose handler was running when the connection
 * died is redelivered to the new consumer and acked there, and the stale ack is dropped.
 */
import { AmqpClient, declareTopology, topologyNames, type AmqpLogger } from '#saga/messaging';
import type { ConsumeMessage } from 'amqplib';
import { createTestVhost, runId, waitFor } from '../support/infra';
import { allowAccess, closeAllConnections, denyAccess, queueInfo, withRawChannel } from './broker-probe';

const names = topologyNames('rc');
const WORK = 'rc.work';

describe('AmqpClient reconnects after the broker closes its connection', () => {
  let vhost: { url: string; vhost: string; drop: () => Promise<void> };
  let client: AmqpClient;
  let setups = 0;
  const logs: string[] = [];
  const received: { body: string; redelivered: boolean }[] = [];
  let holdNext: Promise<void> | undefined;

  const logger: AmqpLogger = { log: (m) => logs.push(`log ${m}`), warn: (m) => logs.push(`warn ${m}`), error: (m) => logs.push(`error ${m}`) };
  const connects = (): number => logs.filter((line) => line.startsWith('log AMQP connected')).length;

  beforeAll(async () => {
    vhost = await createTestVhost(runId());
    client = await AmqpClient.connect({
      url: vhost.url,
      connectionName: 'reconnect-test',
      logger,
      setupTopology: async (channel) => {
        setups += 1;
        await declareTopology(channel, names, [WORK]);
      },
    });
    await client.consume(
      WORK,
      async (message: ConsumeMessage) => {
        received.push({ body: message.content.toString(), redelivered: message.fields.redelivered });
        const hold = holdNext;
        holdNext = undefined;
        if (hold) await hold;
      },
      { prefetch: 10, requeueDelayMs: 50, onPoison: async () => undefined },
    );
  });

  afterAll(async () => {
    await allowAccess(vhost.vhost).catch(() => undefined);
    await client?.close(500);
    await vhost?.drop();
  });

  const bodies = (): string[] => received.map((entry) => entry.body);

  /** rabbitmqctl's counters of a quorum queue are refreshed periodically: wait for them to show `expected`. */
  async function expectQueue(queue: string, expected: { consumers?: number; unacked?: number }): Promise<void> {
    await waitFor(
      async () => {
        const info = await queueInfo(vhost.vhost, queue);
        return info !== undefined && Object.entries(expected).every(([key, value]) => info[key as keyof typeof expected] === value);
      },
      `${queue} to show ${JSON.stringify(expected)}`,
    );
  }

  async function publish(body: string): Promise<void> {
    await client.publish('', WORK, Buffer.from(body), { persistent: true, messageId: body });
  }

  it('reconnects by itself, re-declares its topology, re-attaches its consumer and publishes again', async () => {
    await publish('before');
    await waitFor(async () => bodies().includes('before'), 'the first message to be consumed');
    expect(setups).toBe(1);
    // Only the topology setup can bring this queue back.
    await withRawChannel(vhost.url, (channel) => channel.deleteQueue(names.deadLetterQueue));
    expect(await queueInfo(vhost.vhost, names.deadLetterQueue)).toBeUndefined();

    await closeAllConnections(vhost.vhost);
    await waitFor(async () => connects() === 2, 'the client to reconnect', 30_000);

    expect(logs.some((line) => line.startsWith('warn AMQP connection lost'))).toBe(true);
    expect(setups).toBe(2);
    expect(client.connected).toBe(true);
    expect(await queueInfo(vhost.vhost, names.deadLetterQueue)).toMatchObject({ durable: true });
    await expectQueue(WORK, { consumers: 1 });
    await publish('after');
    await waitFor(async () => bodies().includes('after'), 'a message published after the reconnect to be consumed');
  });

  it('while the broker refuses it, publish rejects at once; it reconnects when access is back', async () => {
    const before = connects();
    await denyAccess(vhost.vhost);
    await closeAllConnections(vhost.vhost);
    await waitFor(async () => !client.connected, 'the client to notice the lost connection');

    await expect(publish('during outage')).rejects.toThrow('AMQP not connected');
    expect(client.connected).toBe(false);

    await allowAccess(vhost.vhost);
    await waitFor(async () => connects() === before + 1, 'the client to reconnect once access is back', 30_000);
    await expectQueue(WORK, { consumers: 1 });
    await publish('after outage');
    await waitFor(async () => bodies().includes('after outage'), 'the post-outage message to be consumed');
    expect(bodies()).not.toContain('during outage');
  });

  it('a message in a handler when the connection dies is redelivered to the new consumer and acked once done', async () => {
    let release!: () => void;
    holdNext = new Promise<void>((resolve) => (release = resolve));
    const before = connects();
    await publish('in flight');
    await waitFor(async () => bodies().includes('in flight'), 'the handler to start');
    await expectQueue(WORK, { unacked: 1 });

    await closeAllConnections(vhost.vhost);
    await waitFor(async () => connects() === before + 1, 'the client to reconnect', 30_000);
    await waitFor(async () => received.filter((entry) => entry.body === 'in flight').length === 2, 'the redelivery');
    expect(received.filter((entry) => entry.body === 'in flight').map((entry) => entry.redelivered)).toEqual([false, true]);

    release(); // the first handler finishes now; its ack belongs to a dead channel and is dropped
    await waitFor(async () => {
      const now = await queueInfo(vhost.vhost, WORK);
      return now?.ready === 0 && now.unacked === 0;
    }, 'the queue to be empty');
    expect(logs.some((line) => line.includes('ack/nack dropped'))).toBe(true);
    expect(client.connected).toBe(true);
  });
});
