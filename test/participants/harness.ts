/**
 * Test-side AMQP for participant adapter tests: publishes raw commands exactly as the orchestrator
 * would (commandEnvelope), collects replies from a private reply queue, and reads the
 * dead-letter queue. Also a PostgreSQL client to look at the service's own tables.
 *
 * Guarantees: uses plain amqplib (not the code under test); every reply is kept with its
 * properties, so tests can check the reply carries only the correlation id.
 */
import { classifyReply, commandEnvelope, commandMessageId, correlationIdFor, type ClassifiedReply, type CommandEnvelope, type Direction, type OutgoingCommand } from '#saga/core';
import { topologyNames } from '#saga/messaging';
import { connect, type Channel, type ChannelModel, type ConsumeMessage, type GetMessage, type MessageProperties } from 'amqplib';
import { Client } from 'pg';
import { createTestDatabase, createTestVhost, runId, waitFor } from '../support/infra';

export interface CommandSpec {
  sagaId: string;
  step: string;
  direction: Direction;
  pattern: string;
  data: unknown;
  attempt?: number;
  /** Epoch ms; default: one minute from now. */
  expiresAt?: number;
}

export interface ReceivedReply {
  /** The reply bytes as received (to check that replays are identical). */
  raw: string;
  body: Record<string, unknown>;
  classified: ClassifiedReply;
  properties: MessageProperties;
}

/** The envelope the orchestrator would publish for this command. */
export function envelopeFor(spec: CommandSpec, queue: string, replyQueue: string): CommandEnvelope {
  const attempt = spec.attempt ?? 1;
  const address = { sagaId: spec.sagaId, step: spec.step, direction: spec.direction };
  const command: OutgoingCommand = {
    messageId: commandMessageId(address),
    correlationId: correlationIdFor({ ...address, attempt }),
    sagaId: spec.sagaId,
    sagaName: 'place-order',
    step: spec.step,
    direction: spec.direction,
    attempt,
    command: spec.pattern,
    payload: spec.data,
    expiresAt: spec.expiresAt ?? Date.now() + 60_000,
  };
  return commandEnvelope(command, queue, replyQueue, Date.now());
}

export class AmqpHarness {
  private readonly replies = new Map<string, ReceivedReply[]>();

  private constructor(
    private readonly model: ChannelModel,
    private readonly channel: Channel,
    readonly replyQueue: string,
    readonly prefix: string,
  ) {}

  static async open(url: string, prefix: string): Promise<AmqpHarness> {
    const model = await connect(url);
    const channel = await model.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    const harness = new AmqpHarness(model, channel, queue, prefix);
    await channel.consume(queue, (message: ConsumeMessage | null) => message && harness.collect(message), { noAck: true });
    return harness;
  }

  private collect(message: ConsumeMessage): void {
    const raw = message.content.toString('utf8');
    const body = JSON.parse(raw) as Record<string, unknown>;
    const key = String(message.properties.correlationId);
    const list = this.replies.get(key) ?? [];
    list.push({ raw, body, classified: classifyReply(body), properties: message.properties });
    this.replies.set(key, list);
  }

  /** Publishes one command; returns its correlation id. */
  async send(queue: string, spec: CommandSpec): Promise<string> {
    const envelope = envelopeFor(spec, queue, this.replyQueue);
    this.channel.sendToQueue(queue, Buffer.from(JSON.stringify(envelope.body)), envelope.properties);
    return envelope.properties.correlationId;
  }

  sendRaw(queue: string, content: Buffer, properties: Record<string, unknown>): void {
    this.channel.sendToQueue(queue, content, { persistent: true, ...properties });
  }

  /** Waits for the `count`-th reply with this correlation id and returns it. */
  async reply(correlationId: string, count = 1, timeoutMs = 15_000): Promise<ReceivedReply> {
    const list = await waitFor(
      async () => {
        const found = this.replies.get(correlationId);
        return found && found.length >= count ? found : undefined;
      },
      `reply #${count} for ${correlationId}`,
      timeoutMs,
    );
    return list[count - 1];
  }

  async call(queue: string, spec: CommandSpec): Promise<ReceivedReply> {
    return this.reply(await this.send(queue, spec));
  }

  repliesFor(correlationId: string): ReceivedReply[] {
    return this.replies.get(correlationId) ?? [];
  }

  /** Takes the next message from the dead-letter queue, waiting for it. */
  async nextDeadLetter(timeoutMs = 15_000): Promise<GetMessage> {
    const { deadLetterQueue } = topologyNames(this.prefix);
    return waitFor(async () => (await this.channel.get(deadLetterQueue, { noAck: true })) || undefined, 'a dead-lettered message', timeoutMs);
  }

  async deadLetterCount(): Promise<number> {
    return (await this.channel.checkQueue(topologyNames(this.prefix).deadLetterQueue)).messageCount;
  }

  async close(): Promise<void> {
    await this.model.close().catch(() => undefined);
  }
}

export interface TestInfra {
  id: string;
  databaseUrl: string;
  amqpUrl: string;
  prefix: string;
  db: Client;
  amqp: AmqpHarness;
  cleanup: () => Promise<void>;
}

/** A fresh database and vhost for one test file, plus a pg client and the AMQP harness. */
export async function openTestInfra(
  label: string,
  boot: (infra: { databaseUrl: string; amqpUrl: string; prefix: string }) => Promise<{ close(): Promise<void> }>,
): Promise<TestInfra> {
  const id = runId();
  const database = await createTestDatabase(id, label);
  const vhost = await createTestVhost(id);
  const prefix = 'saga';
  let app: { close(): Promise<void> };
  try {
    app = await boot({ databaseUrl: database.url, amqpUrl: vhost.url, prefix });
  } catch (error) {
    await database.drop().catch(() => undefined);
    await vhost.drop().catch(() => undefined);
    throw error;
  }
  const db = new Client({ connectionString: database.url });
  await db.connect();
  const amqp = await AmqpHarness.open(vhost.url, prefix);
  return {
    id,
    databaseUrl: database.url,
    amqpUrl: vhost.url,
    prefix,
    db,
    amqp,
    cleanup: async () => {
      await amqp.close();
      await app.close();
      await db.end();
      await database.drop();
      await vhost.drop();
    },
  };
}

export async function processedRow(db: Client, messageId: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.query('SELECT * FROM processed_commands WHERE message_id = $1', [messageId]);
  return rows[0];
}

/** A reply carries the correlation id and nothing that identifies the command otherwise. */
export function expectBareReplyProperties(reply: ReceivedReply, correlationId: string): void {
  expect(reply.properties.correlationId).toBe(correlationId);
  expect(reply.properties.contentType).toBe('application/json');
  expect(reply.properties.messageId).toBeUndefined();
  expect(reply.properties.headers ?? {}).toEqual({});
}
