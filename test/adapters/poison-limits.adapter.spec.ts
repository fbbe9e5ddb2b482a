/**
 * Bounded deliveries that survive crashes (docs/semantics.md S4: a message never loops), on the real RabbitMQ
 * with the queue arguments of topology.ts.
 *
 * Proves:
 * - A message that kills its consumer's process on every delivery (never acked, never nacked)
 *   is delivered DELIVERY_LIMIT + 1 times, then the BROKER moves it to the dead-letter queue with
 *   x-death reason `delivery_limit` and its source queue; the queue keeps serving other messages.
 * - The app-level poison decision counts the broker's x-delivery-count: a message already
 *   returned DEFAULT_POISON_AFTER - 1 times (by consumers that died) is parked by a fresh client,
 *   with no memory of it, on its first failure; a fresh message is parked after exactly
 *   DEFAULT_POISON_AFTER failed deliveries (the broker's count and ours are not added up).
 * - A failure the consumer calls transient (its database is down) is retried in place: the
 *   message is never returned (the broker counts nothing), never parked, and acked once the
 *   handler succeeds, however many times it failed before.
 */
import { spawn } from 'node:child_process';
import type { ConsumeMessage } from 'amqplib';
import { SagaHeaders } from '#saga/core';
import { AmqpClient, DEFAULT_POISON_AFTER, DELIVERY_LIMIT, RepeatedFailureError, deadLetter, declareTopology, topologyNames, type PoisonError } from '#saga/messaging';
import { createTestVhost, runId, waitFor } from '../support/infra';
import { drain, waitForEmpty, withRawChannel } from './broker-probe';

const names = topologyNames('pl');
const CRASH = 'pl.crash';
const HALF_DEAD = 'pl.half-dead';
const FRESH = 'pl.fresh';
const TRANSIENT = 'pl.transient';

/** A separate Node process that takes one message from the queue, prints its delivery count and
 *  exits at once without acking: what an out-of-memory kill or a native crash looks like to the broker. */
const CRASHING_CONSUMER = `
const amqp = require(process.env.AMQPLIB);
amqp.connect(process.env.AMQP_URL).then(async (connection) => {
  const channel = await connection.createChannel();
  await channel.prefetch(1);
  await channel.consume(process.env.QUEUE, (message) => {
    process.stdout.write(JSON.stringify({ body: message.content.toString(), count: message.properties.headers['x-delivery-count'] ?? null }));
    process.exit(1);
  });
  setTimeout(() => process.exit(3), 5000);
});`;

function runCrashingConsumer(url: string, queue: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CRASHING_CONSUMER], {
      env: { ...process.env, AMQPLIB: require.resolve('amqplib'), AMQP_URL: url, QUEUE: queue },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('delivery limits that survive crashes, on RabbitMQ', () => {
  let vhost: { url: string; vhost: string; drop: () => Promise<void> };
  const clients: AmqpClient[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost(runId());
    await withRawChannel(vhost.url, (channel) => declareTopology(channel, names, [CRASH, HALF_DEAD, FRESH, TRANSIENT]));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close(500);
  });

  afterAll(async () => {
    await vhost?.drop();
  });

  async function client(): Promise<AmqpClient> {
    const created = await AmqpClient.connect({ url: vhost.url, connectionName: 'poison-limits-test' });
    clients.push(created);
    return created;
  }

  /** Ready messages, from the queue's leader (rabbitmqctl's counters of a quorum queue lag). */
  const ready = (queue: string) => withRawChannel(vhost.url, async (channel) => (await channel.checkQueue(queue)).messageCount);

  const expectEmpty = (queue: string) => waitForEmpty(vhost.url, vhost.vhost, queue);

  it('a message that crashes its consumer every time is dead-lettered by the broker at the delivery limit, and the queue keeps serving', async () => {
    const amqp = await client();
    await amqp.publish('', CRASH, Buffer.from('crasher'), { persistent: true, messageId: 'crash-1' });

    const seen: { body: string; count: number | null }[] = [];
    for (let run = 0; run < DELIVERY_LIMIT + 3; run++) {
      // Wait until the dead consumer's delivery is back in the queue, or dead-lettered.
      const where = await waitFor(async () => {
        const [queued, parked] = await Promise.all([ready(CRASH), ready(names.deadLetterQueue)]);
        return queued + parked === 1 && (parked === 1 ? 'parked' : 'queued');
      }, 'the crashed delivery to be returned');
      if (where === 'parked') break;
      const { code, output } = await runCrashingConsumer(vhost.url, CRASH);
      expect(code).toBe(1);
      seen.push(JSON.parse(output) as { body: string; count: number | null });
    }
    // Delivered DELIVERY_LIMIT + 1 times; each redelivery carried the broker's count of returns.
    expect(seen).toEqual(Array.from({ length: DELIVERY_LIMIT + 1 }, (_, n) => ({ body: 'crasher', count: n === 0 ? null : n })));

    const [parked] = await waitFor(async () => {
      const taken = await drain(vhost.url, names.deadLetterQueue);
      return taken.length > 0 && taken;
    }, 'the crasher in the dead-letter queue');
    expect(parked.content.toString()).toBe('crasher');
    expect(parked.properties.messageId).toBe('crash-1');
    expect(parked.properties.headers).toMatchObject({ 'x-first-death-reason': 'delivery_limit', 'x-first-death-queue': CRASH });
    expect(parked.properties.headers?.['x-death']).toEqual([expect.objectContaining({ reason: 'delivery_limit', queue: CRASH, count: 1 })]);
    await expectEmpty(CRASH);

    // Still serving: the next message is handled and acked by a consumer of ours.
    const handled: string[] = [];
    await amqp.consume(CRASH, async (message) => void handled.push(message.content.toString()), { prefetch: 1, onPoison: async () => undefined });
    await amqp.publish('', CRASH, Buffer.from('normal'), { persistent: true, messageId: 'normal-1' });
    await waitFor(async () => handled.length === 1, 'the normal message to be handled');
    await expectEmpty(CRASH);
    expect(handled).toEqual(['normal']);
  });

  it('parks on its first failure, in a fresh process, a message the broker has already returned poisonAfter - 1 times', async () => {
    const publisher = await client();
    await publisher.publish('', HALF_DEAD, Buffer.from('half dead'), { persistent: true, messageId: 'half-dead-1' });
    // Consumers that die with the message unacked (their channel closes), DEFAULT_POISON_AFTER - 1 times.
    for (let death = 0; death < DEFAULT_POISON_AFTER - 1; death++) {
      await withRawChannel(vhost.url, async (channel) => {
        const message = await waitFor(async () => channel.get(HALF_DEAD, { noAck: false }), 'the message to be back');
        expect(message.content.toString()).toBe('half dead');
      });
    }

    const fresh = await client(); // knows nothing of those deliveries
    const calls: (number | undefined)[] = [];
    const poisoned: { error: PoisonError; message: ConsumeMessage }[] = [];
    await fresh.consume(
      HALF_DEAD,
      async (message) => {
        calls.push(message.properties.headers?.['x-delivery-count'] as number | undefined);
        throw new Error('the database refused the commit');
      },
      {
        prefetch: 1,
        requeueDelayMs: 20,
        onPoison: async (message, error) => {
          poisoned.push({ error, message });
          await deadLetter(fresh, names.deadLetterExchange, message, HALF_DEAD, `processing ${error.message}`);
        },
      },
    );
    await waitFor(async () => poisoned.length === 1, 'the message to be parked');
    await expectEmpty(HALF_DEAD);
    expect(calls).toEqual([DEFAULT_POISON_AFTER - 1]);
    const { error } = poisoned[0];
    expect(error).toBeInstanceOf(RepeatedFailureError);
    expect(error).toMatchObject({ code: 'MESSAGE_KEEPS_FAILING', deliveries: DEFAULT_POISON_AFTER });

    const [parked] = await drain(vhost.url, names.deadLetterQueue);
    expect(parked.content.toString()).toBe('half dead');
    expect(parked.properties.headers?.[SagaHeaders.deadLetterReason]).toBe(`processing failed on ${DEFAULT_POISON_AFTER} deliveries: the database refused the commit`);
    expect(parked.properties.headers?.[SagaHeaders.deadLetterSource]).toBe(HALF_DEAD);
    expect(parked.properties.headers?.['x-death']).toBeUndefined(); // parked by us, not by the broker
  });

  it('parks a fresh failing message after exactly poisonAfter deliveries (broker count and ours are not added up)', async () => {
    const amqp = await client();
    const counts: (number | undefined)[] = [];
    const poisoned: PoisonError[] = [];
    await amqp.consume(
      FRESH,
      async (message) => {
        counts.push(message.properties.headers?.['x-delivery-count'] as number | undefined);
        throw new Error(`broken #${counts.length}`);
      },
      { prefetch: 1, requeueDelayMs: 20, onPoison: async (_message, error) => void poisoned.push(error) },
    );
    await amqp.publish('', FRESH, Buffer.from('always fails'), { persistent: true, messageId: 'fails-1' });

    await waitFor(async () => poisoned.length === 1, 'the message to be parked');
    await expectEmpty(FRESH);
    expect(counts).toEqual([undefined, ...Array.from({ length: DEFAULT_POISON_AFTER - 1 }, (_, n) => n + 1)]);
    expect(poisoned.map((error) => error.message)).toEqual([`failed on ${DEFAULT_POISON_AFTER} deliveries: broken #${DEFAULT_POISON_AFTER}`]);
  });

  it('retries a transient failure in place, never returning, counting or parking the message', async () => {
    class DatabaseDown extends Error {}
    const amqp = await client();
    const seen: { count: unknown; redelivered: boolean }[] = [];
    const poisoned: PoisonError[] = [];
    const failures = DEFAULT_POISON_AFTER + 2;
    await amqp.consume(
      TRANSIENT,
      async (message) => {
        seen.push({ count: message.properties.headers?.['x-delivery-count'], redelivered: message.fields.redelivered });
        if (seen.length <= failures) throw new DatabaseDown('database unreachable');
      },
      { prefetch: 1, requeueDelayMs: 10, isTransient: (error) => error instanceof DatabaseDown, onPoison: async (_message, error) => void poisoned.push(error) },
    );
    await amqp.publish('', TRANSIENT, Buffer.from('waits for the database'), { persistent: true, messageId: 'transient-1' });

    await waitFor(async () => seen.length === failures + 1, 'the handler to succeed at last', 10_000);
    await expectEmpty(TRANSIENT);
    // One delivery all along, handled failures + 1 times: the broker never saw it come back.
    expect(seen).toEqual(Array.from({ length: failures + 1 }, () => ({ count: undefined, redelivered: false })));
    expect(poisoned).toEqual([]);
    expect(await ready(names.deadLetterQueue)).toBe(0);
  });
});
