/**
 * The orchestrator's broker topology and dead-lettering, on the real RabbitMQ (SPEC S4: a
 * malformed or unroutable message never loops, it is parked with the reason).
 *
 * Proves: declareTopology creates durable queues carrying the dead-letter exchange argument
 * (and can run again unchanged); a participant declaring the queue with other arguments is
 * refused (406), which is why both sides must agree; a message a consumer nacks without
 * requeue lands in the dead-letter queue; deadLetter() parks a consumed message with its body,
 * properties and headers kept, plus x-dead-letter-reason / x-dead-letter-source, persistent;
 * verifyTopology passes on the declared topology and fails for a missing queue or exchange.
 */
import { SagaHeaders } from '#saga/core';
import { AmqpClient, deadLetter, declareTopology, queueArguments, topologyNames, verifyTopology } from '#saga/messaging';
import type { ConsumeMessage } from 'amqplib';
import { createTestVhost, runId, waitFor } from '../support/infra';
import { drain, queueInfo, withRawChannel } from './broker-probe';

const names = topologyNames('tp');
const PARTICIPANTS = ['tp.order', 'tp.payment'];

describe('broker topology and dead-lettering on RabbitMQ', () => {
  let vhost: { url: string; vhost: string; drop: () => Promise<void> };
  let client: AmqpClient;

  beforeAll(async () => {
    vhost = await createTestVhost(runId());
    client = await AmqpClient.connect({ url: vhost.url, connectionName: 'topology-test', setupTopology: (channel) => declareTopology(channel, names, PARTICIPANTS) });
  });

  afterAll(async () => {
    await client?.close(500);
    await vhost?.drop();
  });

  it('declares durable queues that dead-letter into <prefix>.dlx, and declaring again changes nothing', async () => {
    for (const queue of [names.replyQueue, ...PARTICIPANTS]) {
      expect(await queueInfo(vhost.vhost, queue)).toMatchObject({
        durable: true,
        arguments: { 'x-queue-type': 'classic', 'x-dead-letter-exchange': 'tp.dlx' },
      });
    }
    expect(await queueInfo(vhost.vhost, names.deadLetterQueue)).toMatchObject({ durable: true, arguments: { 'x-queue-type': 'classic' } });
    expect(queueArguments(names)).toEqual({ 'x-queue-type': 'classic', 'x-dead-letter-exchange': 'tp.dlx' });
    await client.withChannel((channel) => declareTopology(channel, names, PARTICIPANTS));
    await client.withChannel((channel) => verifyTopology(channel, names, PARTICIPANTS));
  });

  it('refuses a participant that declares the queue with other arguments (406), accepts one with the same', async () => {
    await expect(withRawChannel(vhost.url, (channel) => channel.assertQueue('tp.order', { durable: true }))).rejects.toThrow(/PRECONDITION_FAILED/);
    await withRawChannel(vhost.url, (channel) => channel.assertQueue('tp.order', { durable: true, arguments: queueArguments(names) }));
  });

  it('a message a consumer nacks without requeue lands in the dead-letter queue', async () => {
    await client.publish('', 'tp.order', Buffer.from('{"pattern":"nobody.handles"}'), { persistent: true, messageId: 'rejected-1' });
    await withRawChannel(vhost.url, async (channel) => {
      const message = await waitFor(async () => channel.get('tp.order', { noAck: false }), 'the message on tp.order');
      channel.nack(message, false, false);
      await channel.checkQueue('tp.order'); // a round trip: the nack has been processed
    });
    const [parked] = await waitFor(async () => {
      const taken = await drain(vhost.url, names.deadLetterQueue);
      return taken.length > 0 ? taken : undefined;
    }, 'the rejected message in the dead-letter queue');
    expect(parked.content.toString()).toBe('{"pattern":"nobody.handles"}');
    expect(parked.properties.messageId).toBe('rejected-1');
    expect(parked.properties.headers?.['x-death']).toEqual([expect.objectContaining({ queue: 'tp.order', reason: 'rejected' })]);
    expect(await queueInfo(vhost.vhost, 'tp.order')).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('deadLetter() parks a consumed message with its body and properties, plus the reason and source queue', async () => {
    const headers = { 'x-saga-id': 's-1', 'x-saga-attempt': 2 };
    const content = Buffer.from('{"response":not json');
    await client.publish('', names.replyQueue, content, {
      persistent: false, messageId: 'm-9', correlationId: 's-1/charge/action/2', replyTo: 'somewhere', contentType: 'application/json', timestamp: 1_700_000_000, headers,
    });
    const parkedOriginal = new Promise<ConsumeMessage>((resolve) => {
      void client.consume(names.replyQueue, async (message) => {
        await deadLetter(client, names.deadLetterExchange, message, names.replyQueue, 'reply body is not valid JSON');
        resolve(message);
      }, { prefetch: 1, onPoison: async () => undefined });
    });
    await parkedOriginal;
    await waitFor(async () => (await queueInfo(vhost.vhost, names.replyQueue))?.unacked === 0, 'the original to be acked');

    const [parked] = await drain(vhost.url, names.deadLetterQueue);
    expect(parked.content.equals(content)).toBe(true);
    expect(parked.properties).toMatchObject({
      deliveryMode: 2,
      messageId: 'm-9',
      correlationId: 's-1/charge/action/2',
      replyTo: 'somewhere',
      contentType: 'application/json',
      timestamp: 1_700_000_000,
      headers: {
        ...headers,
        [SagaHeaders.deadLetterReason]: 'reply body is not valid JSON',
        [SagaHeaders.deadLetterSource]: names.replyQueue,
      },
    });
    expect(await queueInfo(vhost.vhost, names.replyQueue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('verifyTopology fails for a missing queue and for a missing dead-letter exchange', async () => {
    await expect(client.withChannel((channel) => verifyTopology(channel, names, [...PARTICIPANTS, 'tp.missing']))).rejects.toThrow(/NOT_FOUND.*tp\.missing/);
    const other = topologyNames('nothing-here');
    await expect(client.withChannel((channel) => verifyTopology(channel, { ...names, deadLetterExchange: other.deadLetterExchange }, PARTICIPANTS))).rejects.toThrow(/NOT_FOUND.*nothing-here\.dlx/);
    // The client is unharmed by the failed passive declares.
    expect(client.connected).toBe(true);
    await client.withChannel((channel) => verifyTopology(channel, names, PARTICIPANTS));
  });
});
