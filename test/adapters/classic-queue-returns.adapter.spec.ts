/**
 * Bounded deliveries on CLASSIC queues (AMQP_QUEUE_TYPE=classic), where the broker keeps no
 * delivery count: our consumers keep it in the queue themselves (libs/messaging returns.ts),
 * on the real RabbitMQ (docs/semantics.md S4: a message never loops).
 *
 * Proves:
 * - A message whose consumer dies with it unacked on every delivery (each time a fresh client,
 *   with no memory of the earlier ones: a restarted process) is handled DELIVERY_LIMIT + 1
 *   times, as on a quorum queue, then parked with the reason and without the return count;
 *   the queue keeps serving.
 * - A handler that keeps failing is parked after exactly DEFAULT_POISON_AFTER deliveries even
 *   when the process handling it changes half way: the count travels in the message's copy.
 * - A message a consumer rejects without requeue is dead-lettered by the broker (x-death reason
 *   `rejected`), as on a quorum queue.
 */
import type { ConsumeMessage } from 'amqplib';
import { SagaHeaders } from '#saga/core';
import {
  AmqpClient,
  DEFAULT_POISON_AFTER,
  DELIVERY_LIMIT,
  RepeatedFailureError,
  RETURNS_HEADER,
  ReturnLimitError,
  deadLetter,
  declareTopology,
  topologyNames,
  type PoisonError,
} from '#saga/messaging';
import { createTestVhost, runId, waitFor } from '../support/infra';
import { drain, queueInfo, waitForEmpty, withRawChannel } from './broker-probe';

const names = topologyNames('cq');
const DYING = 'cq.dying';
const FAILING = 'cq.failing';
const REJECTED = 'cq.rejected';

describe('return counts on classic queues, on RabbitMQ', () => {
  let vhost: { url: string; vhost: string; drop: () => Promise<void> };
  const clients: AmqpClient[] = [];
  /** Ends the handlers left hanging by the "dying" consumers. */
  const hanging: (() => void)[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost(runId());
    await withRawChannel(vhost.url, (channel) => declareTopology(channel, names, [DYING, FAILING, REJECTED], 'classic'));
  });

  afterEach(async () => {
    for (const release of hanging.splice(0)) release();
    for (const client of clients.splice(0)) await client.close(0);
  });

  afterAll(async () => {
    await vhost?.drop();
  });

  async function client(): Promise<AmqpClient> {
    const created = await AmqpClient.connect({ url: vhost.url, connectionName: 'classic-returns-test' });
    clients.push(created);
    return created;
  }

  const ready = (queue: string) => withRawChannel(vhost.url, async (channel) => (await channel.checkQueue(queue)).messageCount);

  it('declares the queues as classic ones with the dead-letter exchange', async () => {
    expect((await queueInfo(vhost.vhost, DYING))!.arguments).toEqual({ 'x-queue-type': 'classic', 'x-dead-letter-exchange': 'cq.dlx', 'x-overflow': 'reject-publish' });
    expect((await queueInfo(vhost.vhost, names.deadLetterQueue))!.arguments).toEqual({ 'x-queue-type': 'quorum' });
  });

  it('handles a message that kills its consumer every time DELIVERY_LIMIT + 1 times, then parks it with the reason', async () => {
    const publisher = await client();
    await publisher.publish('', DYING, Buffer.from('killer'), { persistent: true, messageId: 'killer-1', correlationId: 'c-1' });

    const handled: { returns: unknown; redelivered: boolean }[] = [];
    const parked: PoisonError[] = [];
    for (let life = 0; life < DELIVERY_LIMIT + 3 && parked.length === 0; life++) {
      // A new process each time: a fresh client that dies (closes with the message unacked) once the handler has it.
      const process = await client();
      const seen = handled.length;
      await process.consume(
        DYING,
        (message) => {
          handled.push({ returns: message.properties.headers?.[RETURNS_HEADER], redelivered: message.fields.redelivered });
          return new Promise<void>((resolve) => hanging.push(resolve));
        },
        {
          prefetch: 1,
          queueType: 'classic',
          onPoison: async (message, error) => {
            await deadLetter(process, names.deadLetterExchange, message, DYING, error.message);
            parked.push(error);
          },
        },
      );
      await waitFor(async () => handled.length > seen || parked.length > 0, 'the handler to get the message, or the message to be parked');
      clients.splice(clients.indexOf(process), 1);
      await process.close(0);
    }

    // Handled DELIVERY_LIMIT + 1 times, each time as a first delivery of a copy that carries the returns so far.
    expect(handled).toEqual(Array.from({ length: DELIVERY_LIMIT + 1 }, (_, n) => ({ returns: n === 0 ? undefined : n, redelivered: false })));
    expect(parked).toHaveLength(1);
    expect(parked[0]).toBeInstanceOf(ReturnLimitError);
    expect(parked[0]).toMatchObject({ code: 'MESSAGE_KEEPS_RETURNING', returns: DELIVERY_LIMIT + 1 });

    const [dead] = await drain(vhost.url, names.deadLetterQueue);
    expect(dead.content.toString()).toBe('killer');
    expect(dead.properties).toMatchObject({ messageId: 'killer-1', correlationId: 'c-1' });
    expect(dead.properties.headers?.[SagaHeaders.deadLetterReason]).toMatch(new RegExp(`^returned to its queue ${DELIVERY_LIMIT + 1} times without being acked`));
    expect(dead.properties.headers?.[SagaHeaders.deadLetterSource]).toBe(DYING);
    expect(dead.properties.headers).not.toHaveProperty(RETURNS_HEADER); // a replay starts from zero
    await waitForEmpty(vhost.url, vhost.vhost, DYING);

    // Still serving.
    const next = await client();
    const served: string[] = [];
    await next.consume(DYING, async (message) => void served.push(message.content.toString()), { prefetch: 1, queueType: 'classic', onPoison: async () => undefined });
    await next.publish('', DYING, Buffer.from('normal'), { persistent: true, messageId: 'normal-1' });
    await waitFor(async () => served.length === 1, 'the next message to be handled');
    expect(served).toEqual(['normal']);
    await waitForEmpty(vhost.url, vhost.vhost, DYING);
  });

  it('parks a failing message after exactly poisonAfter deliveries, although the process handling it changed half way', async () => {
    const first = await client();
    const calls: { by: string; returns: unknown }[] = [];
    const poisoned: PoisonError[] = [];
    const failing = (by: string) => async (message: ConsumeMessage) => {
      calls.push({ by, returns: message.properties.headers?.[RETURNS_HEADER] });
      throw new Error(`broken #${calls.length}`);
    };
    await first.consume(FAILING, failing('first'), { prefetch: 1, requeueDelayMs: 300, queueType: 'classic', onPoison: async (_message, error) => void poisoned.push(error) });
    await first.publish('', FAILING, Buffer.from('always fails'), { persistent: true, messageId: 'fails-1' });
    await waitFor(async () => calls.length === 2, 'two failed deliveries in the first process');
    clients.splice(clients.indexOf(first), 1);
    await first.close(0); // during the pause before the second return: the message goes back unacked

    const second = await client(); // knows nothing of the first two failures
    await second.consume(FAILING, failing('second'), { prefetch: 1, requeueDelayMs: 20, queueType: 'classic', onPoison: async (_message, error) => void poisoned.push(error) });
    await waitFor(async () => poisoned.length === 1, 'the message to be parked');
    await waitForEmpty(vhost.url, vhost.vhost, FAILING);

    expect(calls).toEqual([
      { by: 'first', returns: undefined },
      { by: 'first', returns: 1 },
      ...Array.from({ length: DEFAULT_POISON_AFTER - 2 }, (_, n) => ({ by: 'second', returns: n + 2 })),
    ]);
    expect(poisoned[0]).toBeInstanceOf(RepeatedFailureError);
    expect(poisoned[0]).toMatchObject({ code: 'MESSAGE_KEEPS_FAILING', deliveries: DEFAULT_POISON_AFTER });
    expect(await ready(FAILING)).toBe(0);
  });

  it('dead-letters a message a consumer rejects without requeue', async () => {
    const publisher = await client();
    await publisher.publish('', REJECTED, Buffer.from('{"pattern":"nobody.handles"}'), { persistent: true, messageId: 'rejected-1' });
    await withRawChannel(vhost.url, async (channel) => {
      const message = await waitFor(async () => channel.get(REJECTED, { noAck: false }), 'the message on the queue');
      channel.nack(message, false, false);
      await channel.checkQueue(REJECTED);
    });
    const [parked] = await waitFor(async () => {
      const taken = await drain(vhost.url, names.deadLetterQueue);
      return taken.length > 0 && taken;
    }, 'the rejected message in the dead-letter queue');
    expect(parked.properties.messageId).toBe('rejected-1');
    expect(parked.properties.headers?.['x-death']).toEqual([expect.objectContaining({ queue: REJECTED, reason: 'rejected' })]);
  });
});
