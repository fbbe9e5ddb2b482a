/**
 * AmqpClient publishing and consuming against the real RabbitMQ (docs/semantics.md S4: confirmed persistent
 * publishes, ack only after the work is done, a bad message never loops).
 *
 * Proves: publish resolves once the broker has the message (it is in the durable queue,
 * persistent, at that moment) and rejects when the broker nacks it (a full reject-publish
 * queue); with `mandatory` an unroutable message is reported; a message whose handler is still
 * running stays unacked; close() lets a running handler finish and ack, and past its grace
 * period the unfinished message goes back to the queue (redelivered); a throwing handler's
 * message is requeued and retried; after `poisonAfter` failures (counted in memory here: these
 * are classic queues, without the broker's x-delivery-count) it is handed to onPoison once, as
 * a RepeatedFailureError carrying the last error, and acked, so the queue is empty and it cannot
 * come back; a poisonAfter the broker's delivery limit would pre-empt is refused.
 */
import type { ConsumeMessage } from 'amqplib';
import { AmqpClient, DELIVERY_LIMIT, PoisonLimitError, RepeatedFailureError, type ConsumerOptions } from '#saga/messaging';
import { createTestVhost, runId, waitFor } from '../support/infra';
import { drain, queueInfo, withRawChannel } from './broker-probe';

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const QUEUES = ['ac.plain', 'ac.full', 'ac.slow', 'ac.closing', 'ac.flaky', 'ac.poison'];
const failOnPoison: ConsumerOptions['onPoison'] = async (_message, error) => {
  throw new Error(`unexpected poison: ${error.message}`);
};

describe('AmqpClient on RabbitMQ', () => {
  let vhost: { url: string; vhost: string; drop: () => Promise<void> };
  const clients: AmqpClient[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost(runId());
    await withRawChannel(vhost.url, async (channel) => {
      for (const queue of QUEUES) await channel.assertQueue(queue, { durable: true });
      await channel.deleteQueue('ac.full');
      await channel.assertQueue('ac.full', { durable: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
  });

  afterAll(async () => {
    await vhost?.drop();
  });

  async function client(): Promise<AmqpClient> {
    const created = await AmqpClient.connect({ url: vhost.url, connectionName: 'adapter-test' });
    clients.push(created);
    return created;
  }

  const info = async (queue: string) => (await queueInfo(vhost.vhost, queue))!;

  it('publish resolves with the message already in the durable queue, persistent and intact', async () => {
    const amqp = await client();
    expect(amqp.connected).toBe(true);
    await amqp.publish('', 'ac.plain', Buffer.from('{"hello":1}'), { persistent: true, messageId: 'm-1', correlationId: 'c-1', headers: { 'x-a': 'b' } });
    // No waiting: the broker confirmed, so it has the message now.
    expect(await info('ac.plain')).toMatchObject({ durable: true, ready: 1 });
    const [message] = await drain(vhost.url, 'ac.plain');
    expect(message.content.toString()).toBe('{"hello":1}');
    expect(message.properties).toMatchObject({ deliveryMode: 2, messageId: 'm-1', correlationId: 'c-1', headers: { 'x-a': 'b' } });
  });

  it('publish rejects when the broker nacks the message (queue full, reject-publish)', async () => {
    const amqp = await client();
    await amqp.publish('', 'ac.full', Buffer.from('first'), { persistent: true });
    await expect(amqp.publish('', 'ac.full', Buffer.from('second'), { persistent: true })).rejects.toThrow(/nack/i);
    expect(await info('ac.full')).toMatchObject({ ready: 1 });
    // The channel survives a nack: the next publish to another queue still works.
    expect(await amqp.publish('', 'ac.plain', Buffer.from('after'), { persistent: true })).toBe('delivered');
    expect((await drain(vhost.url, 'ac.plain')).map((m) => m.content.toString())).toEqual(['after']);
  });

  it('with mandatory, tells a message no queue took (unroutable) from a delivered one', async () => {
    const amqp = await client();
    expect(await amqp.publish('', 'ac.no-such-queue', Buffer.from('lost?'), { mandatory: true, messageId: 'u-1', correlationId: 'u-1/1' })).toBe('unroutable');
    expect(await amqp.publish('', 'ac.plain', Buffer.from('kept'), { mandatory: true, messageId: 'u-2', correlationId: 'u-2/1' })).toBe('delivered');
    // Without mandatory the broker drops it silently and publish cannot tell.
    expect(await amqp.publish('', 'ac.no-such-queue', Buffer.from('gone'), { messageId: 'u-3' })).toBe('delivered');
    expect((await drain(vhost.url, 'ac.plain')).map((m) => m.content.toString())).toEqual(['kept']);
  });

  it('keeps a message unacked while its handler runs and acks it when the handler resolves', async () => {
    const amqp = await client();
    const release = deferred();
    const started = deferred<ConsumeMessage>();
    let finished = 0;
    await amqp.consume(
      'ac.slow',
      async (message) => {
        started.resolve(message);
        await release.promise;
        finished += 1;
      },
      { prefetch: 1, onPoison: failOnPoison },
    );
    await amqp.publish('', 'ac.slow', Buffer.from('slow'), { persistent: true });

    await started.promise;
    expect(await info('ac.slow')).toMatchObject({ ready: 0, unacked: 1, consumers: 1 });
    release.resolve();
    await waitFor(async () => {
      const now = await info('ac.slow');
      return now.ready === 0 && now.unacked === 0;
    }, 'the message to be acked');
    expect(finished).toBe(1);
  });

  it('close() waits for a handler in progress and acks its message; past graceMs the message goes back to the queue', async () => {
    const amqp = await client();
    const release = deferred();
    const started = deferred();
    await amqp.consume(
      'ac.closing',
      async (message) => {
        started.resolve();
        if (message.content.toString() === 'finishes') await new Promise((resolve) => setTimeout(resolve, 300));
        else await release.promise;
      },
      { prefetch: 1, onPoison: failOnPoison },
    );
    await amqp.publish('', 'ac.closing', Buffer.from('finishes'), { persistent: true });
    await started.promise;
    await amqp.close(10_000);
    expect(await info('ac.closing')).toMatchObject({ ready: 0, unacked: 0, consumers: 0 }); // finished and acked first

    const second = await client();
    const stuck = deferred();
    await second.consume(
      'ac.closing',
      async () => {
        stuck.resolve();
        await release.promise;
      },
      { prefetch: 1, onPoison: failOnPoison },
    );
    await second.publish('', 'ac.closing', Buffer.from('never finishes'), { persistent: true });
    await stuck.promise;
    const closing = Date.now();
    await second.close(200);
    expect(Date.now() - closing).toBeGreaterThanOrEqual(190);
    release.resolve(); // the late ack goes nowhere
    await waitFor(async () => (await info('ac.closing')).ready === 1, 'the unacked message to be requeued');
    const [message] = await drain(vhost.url, 'ac.closing');
    expect(message.content.toString()).toBe('never finishes');
    expect(message.fields.redelivered).toBe(true);
  });

  it('requeues the message of a throwing handler and delivers it again', async () => {
    const amqp = await client();
    const deliveries: { redelivered: boolean; at: number }[] = [];
    await amqp.consume(
      'ac.flaky',
      async (message) => {
        deliveries.push({ redelivered: message.fields.redelivered, at: Date.now() });
        if (deliveries.length === 1) throw new Error('transient failure');
      },
      { prefetch: 1, requeueDelayMs: 100, onPoison: failOnPoison },
    );
    await amqp.publish('', 'ac.flaky', Buffer.from('try again'), { persistent: true, messageId: 'flaky-1' });

    await waitFor(async () => deliveries.length === 2 && (await info('ac.flaky')).unacked === 0, 'the retry to be acked');
    expect(deliveries.map((d) => d.redelivered)).toEqual([false, true]);
    expect(deliveries[1].at - deliveries[0].at).toBeGreaterThanOrEqual(90); // it paused before requeueing
    expect(await info('ac.flaky')).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('after poisonAfter failures hands the message to onPoison once and acks it, so it stops looping', async () => {
    const amqp = await client();
    let attempts = 0;
    const poisoned: { content: string; error: string; code: string; deliveries: number; last: string; attemptsSoFar: number }[] = [];
    await amqp.consume(
      'ac.poison',
      async () => {
        attempts += 1;
        throw new Error(`broken #${attempts}`);
      },
      {
        prefetch: 1,
        poisonAfter: 3,
        requeueDelayMs: 20,
        onPoison: async (message, error) => {
          if (!(error instanceof RepeatedFailureError)) throw new Error(`unexpected ${error.name}`);
          poisoned.push({
            content: message.content.toString(),
            error: error.message,
            code: error.code,
            deliveries: error.deliveries,
            last: error.lastError.message,
            attemptsSoFar: attempts,
          });
        },
      },
    );
    await amqp.publish('', 'ac.poison', Buffer.from('poison pill'), { persistent: true, messageId: 'poison-1' });

    await waitFor(async () => poisoned.length === 1, 'onPoison to be called');
    expect(poisoned).toEqual([
      { content: 'poison pill', error: 'failed on 3 deliveries: broken #3', code: 'MESSAGE_KEEPS_FAILING', deliveries: 3, last: 'broken #3', attemptsSoFar: 3 },
    ]);
    await waitFor(async () => {
      const now = await info('ac.poison');
      return now.ready === 0 && now.unacked === 0;
    }, 'the poison message to be acked');
    // Acked and gone: nothing left that could be delivered again.
    expect(attempts).toBe(3);
    expect(poisoned).toHaveLength(1);
  });

  it('refuses a poisonAfter the queue delivery limit would pre-empt', async () => {
    const amqp = await client();
    for (const poisonAfter of [0, DELIVERY_LIMIT + 1, 2.5]) {
      await expect(amqp.consume('ac.plain', async () => undefined, { prefetch: 1, poisonAfter, onPoison: failOnPoison })).rejects.toThrow(PoisonLimitError);
    }
    await expect(amqp.consume('ac.plain', async () => undefined, { prefetch: 1, poisonAfter: 0, onPoison: failOnPoison })).rejects.toMatchObject({ code: 'POISON_LIMIT_INVALID' });
  });
});
