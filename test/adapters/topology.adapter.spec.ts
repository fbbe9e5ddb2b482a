/**
 * The orchestrator's broker topology and dead-lettering, on the real RabbitMQ (docs/semantics.md S4: a
 * malformed or unroutable message never loops, it is parked with the reason).
 *
 * Proves: declareTopology creates durable quorum queues with the delivery limit and
 * at-least-once dead-lettering into the dead-letter exchange (and can run again unchanged), and
 * a durable quorum dead-letter queue with no dead-letter exchange of its own; our consumers park
 * before the broker would (DEFAULT_POISON_AFTER < DELIVERY_LIMIT); a participant declaring the
 * queue with other arguments (a classic queue, the old arguments) is refused (406), which is why
 * both sides must agree; a message a consumer nacks without requeue lands in the dead-letter
 * queue (x-death reason `rejected`); deadLetter() parks a consumed message with its body,
 * properties and headers kept (but not the broker's x-delivery-count), plus
 * x-dead-letter-reason / x-dead-letter-source, persistent; verifyTopology passes on the
 * declared topology and fails for a missing queue or exchange.
 */
import { SagaHeaders } from '#saga/core';
import {
  AmqpClient,
  DEFAULT_POISON_AFTER,
  DELIVERY_LIMIT,
  QueueArgumentsMismatchError,
  deadLetter,
  declareTopology,
  queueArguments,
  topologyNames,
  verifyTopology,
} from '#saga/messaging';
import type { ConsumeMessage } from 'amqplib';
import { createTestVhost, runId, waitFor } from '../support/infra';
import { drain, queueInfo, waitForEmpty, withRawChannel } from './broker-probe';

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

  it('declares durable quorum queues with a delivery limit that dead-letter at least once into <prefix>.dlx, and declaring again changes nothing', async () => {
    const expected = {
      'x-queue-type': 'quorum',
      'x-delivery-limit': 10,
      'x-dead-letter-exchange': 'tp.dlx',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    };
    expect(queueArguments(names)).toEqual(expected);
    expect(DELIVERY_LIMIT).toBe(10);
    expect(DEFAULT_POISON_AFTER).toBeLessThan(DELIVERY_LIMIT);
    for (const queue of [names.replyQueue, ...PARTICIPANTS]) {
      const info = await queueInfo(vhost.vhost, queue);
      expect(info).toMatchObject({ durable: true });
      expect(info!.arguments).toEqual(expected);
    }
    const deadLetters = await queueInfo(vhost.vhost, names.deadLetterQueue);
    expect(deadLetters).toMatchObject({ durable: true });
    expect(deadLetters!.arguments).toEqual({ 'x-queue-type': 'quorum' });
    await client.withChannel((channel) => declareTopology(channel, names, PARTICIPANTS));
    await client.withChannel((channel) => verifyTopology(channel, names, PARTICIPANTS));
  });

  it('refuses a participant that declares the queue with other arguments (406), accepts one with the same', async () => {
    await expect(withRawChannel(vhost.url, (channel) => channel.assertQueue('tp.order', { durable: true }))).rejects.toThrow(/PRECONDITION_FAILED/);
    const oldArguments = { 'x-queue-type': 'classic', 'x-dead-letter-exchange': 'tp.dlx' };
    await expect(withRawChannel(vhost.url, (channel) => channel.assertQueue('tp.order', { durable: true, arguments: oldArguments }))).rejects.toThrow(/PRECONDITION_FAILED/);
    const { 'x-delivery-limit': _limit, ...noLimit } = queueArguments(names);
    await expect(withRawChannel(vhost.url, (channel) => channel.assertQueue('tp.order', { durable: true, arguments: noLimit }))).rejects.toThrow(/PRECONDITION_FAILED/);
    await withRawChannel(vhost.url, (channel) => channel.assertQueue('tp.order', { durable: true, arguments: queueArguments(names) }));
  });

  it('fails with QueueArgumentsMismatchError, naming the queue and the fix, when the deployment says classic and the queues are quorum', async () => {
    const failure = await withRawChannel(vhost.url, (channel) => declareTopology(channel, names, PARTICIPANTS, 'classic')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(QueueArgumentsMismatchError);
    expect(failure).toMatchObject({ code: 'QUEUE_ARGUMENTS_MISMATCH', queue: names.replyQueue, queueType: 'classic' });
    expect((failure as Error).message).toMatch(/same AMQP_QUEUE_TYPE/);
    expect((await queueInfo(vhost.vhost, names.replyQueue))!.arguments['x-queue-type']).toBe('quorum'); // nothing changed
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
    expect(parked.properties.headers).toMatchObject({ 'x-first-death-reason': 'rejected', 'x-first-death-queue': 'tp.order' });
    await waitForEmpty(vhost.url, vhost.vhost, 'tp.order');
  });

  it('deadLetter() parks a consumed message with its body and properties, plus the reason and source queue, minus the delivery count', async () => {
    const headers = { 'x-saga-id': 's-1', 'x-saga-attempt': 2 };
    const content = Buffer.from('{"response":not json');
    await client.publish('', names.replyQueue, content, {
      persistent: false,
      messageId: 'm-9',
      correlationId: 's-1/charge/action/2',
      replyTo: 'somewhere',
      contentType: 'application/json',
      timestamp: 1_700_000_000,
      headers,
    });
    const parkedOriginal = new Promise<ConsumeMessage>((resolve) => {
      void client.consume(
        names.replyQueue,
        async (message) => {
          if (!message.fields.redelivered) throw new Error('first delivery fails'); // the second one carries x-delivery-count
          await deadLetter(client, names.deadLetterExchange, message, names.replyQueue, 'reply body is not valid JSON');
          resolve(message);
        },
        { prefetch: 1, requeueDelayMs: 10, onPoison: async () => undefined },
      );
    });
    const original = await parkedOriginal;
    expect(original.properties.headers?.['x-delivery-count']).toBe(1);
    await waitForEmpty(vhost.url, vhost.vhost, names.replyQueue); // the original was acked

    // basic.consume shows a first delivery's headers as published (basic.get would show the
    // dead-letter queue's own x-delivery-count: 0).
    const parked = await withRawChannel(vhost.url, async (channel) => {
      const taken = new Promise<ConsumeMessage>((resolve) => void channel.consume(names.deadLetterQueue, (message) => message && resolve(message), { noAck: true }));
      return taken;
    });
    expect(parked.content.equals(content)).toBe(true);
    expect(parked.properties).toMatchObject({
      deliveryMode: 2,
      messageId: 'm-9',
      correlationId: 's-1/charge/action/2',
      replyTo: 'somewhere',
      contentType: 'application/json',
      timestamp: 1_700_000_000,
    });
    expect(parked.properties.headers).toEqual({
      ...headers,
      [SagaHeaders.deadLetterReason]: 'reply body is not valid JSON',
      [SagaHeaders.deadLetterSource]: names.replyQueue,
      [SagaHeaders.deadLetteredAt]: expect.any(Number),
    });
    await waitForEmpty(vhost.url, vhost.vhost, names.deadLetterQueue);
  });

  it('verifyTopology fails for a missing queue and for a missing dead-letter exchange', async () => {
    await expect(client.withChannel((channel) => verifyTopology(channel, names, [...PARTICIPANTS, 'tp.missing']))).rejects.toThrow(/NOT_FOUND.*tp\.missing/);
    const other = topologyNames('nothing-here');
    await expect(client.withChannel((channel) => verifyTopology(channel, { ...names, deadLetterExchange: other.deadLetterExchange }, PARTICIPANTS))).rejects.toThrow(
      /NOT_FOUND.*nothing-here\.dlx/,
    );
    // The client is unharmed by the failed passive declares.
    expect(client.connected).toBe(true);
    await client.withChannel((channel) => verifyTopology(channel, names, PARTICIPANTS));
  });
});
