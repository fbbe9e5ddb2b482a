/**
 * Looking at the real RabbitMQ from the outside, for the adapter tests: queue counters and
 * arguments through `rabbitmqctl` (live for classic queues; a quorum queue's counters are
 * refreshed on its periodic tick, so wait for them, e.g. waitForEmpty), forced
 * connection closes and permission changes (to simulate a broker outage for one vhost), and a
 * short-lived plain amqplib channel to put, get and inspect messages.
 *
 * Guarantees: nothing here goes through the code under test; every helper opens and closes its
 * own connection, so a test may close all connections of its vhost at any time.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, type Channel, type GetMessage, type Options } from 'amqplib';
import { waitFor } from '../support/infra';

const run = promisify(execFile);
const RABBITMQCTL = process.env.RABBITMQCTL ?? 'rabbitmqctl';

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run(RABBITMQCTL, ['-q', ...args]);
  return stdout;
}

export interface QueueInfo {
  name: string;
  durable: boolean;
  arguments: Record<string, unknown>;
  ready: number;
  unacked: number;
  consumers: number;
}

export async function queueInfo(vhost: string, queue: string): Promise<QueueInfo | undefined> {
  const out = await rabbitmqctl('list_queues', '-p', vhost, '--formatter', 'json', 'name', 'durable', 'arguments', 'messages_ready', 'messages_unacknowledged', 'consumers');
  const rows = JSON.parse(out) as {
    name: string;
    durable: boolean;
    arguments: [string, string, unknown][];
    messages_ready: number;
    messages_unacknowledged: number;
    consumers: number;
  }[];
  const row = rows.find((candidate) => candidate.name === queue);
  if (!row) return undefined;
  return {
    name: row.name,
    durable: row.durable,
    arguments: Object.fromEntries(row.arguments.map(([key, , value]) => [key, value])),
    ready: row.messages_ready,
    unacked: row.messages_unacknowledged,
    consumers: row.consumers,
  };
}

/** Closes every client connection of the vhost from the broker side (like a broker restart would). */
export async function closeAllConnections(vhost: string): Promise<void> {
  await rabbitmqctl('close_all_connections', '-p', vhost, 'test');
}

/** Takes the guest user's access to the vhost away (new connections are refused) or gives it back. */
export async function denyAccess(vhost: string): Promise<void> {
  await rabbitmqctl('clear_permissions', '-p', vhost, 'guest');
}

export async function allowAccess(vhost: string): Promise<void> {
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
}

export async function withRawChannel<T>(url: string, work: (channel: Channel) => Promise<T>): Promise<T> {
  const connection = await connect(url);
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return await work(channel);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Sends one message straight to a queue and waits for the broker's confirm (a participant's reply, say). */
export async function sendConfirmed(url: string, queue: string, content: Buffer, options: Options.Publish): Promise<void> {
  const connection = await connect(url);
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue(queue, content, options);
    await channel.waitForConfirms();
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Takes every message currently in the queue (acked: they are consumed). */
export async function drain(url: string, queue: string): Promise<GetMessage[]> {
  return withRawChannel(url, async (channel) => {
    const taken: GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) return taken;
      taken.push(message);
    }
  });
}

export function json(message: { content: Buffer }): Record<string, unknown> {
  return JSON.parse(message.content.toString('utf8')) as Record<string, unknown>;
}

/** Waits until the queue has nothing ready (asked of the queue itself, live) and nothing
 *  unacked (rabbitmqctl, which for a quorum queue can lag a few seconds). */
export async function waitForEmpty(url: string, vhost: string, queue: string): Promise<void> {
  await waitFor(async () => {
    const info = await queueInfo(vhost, queue);
    if (info?.ready !== 0 || info.unacked !== 0) return false;
    return (await withRawChannel(url, async (channel) => (await channel.checkQueue(queue)).messageCount)) === 0;
  }, `${queue} to be empty`);
}
