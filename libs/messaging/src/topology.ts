/**
 * The broker topology the orchestrator owns, declared at boot and after every reconnect.
 *
 * Guarantees:
 * - Every queue is durable and dead-letters into `<prefix>.dlx` → `<prefix>.dead-letter`, so a
 *   message a participant rejects (e.g. Nest's "no matching handler" nack) is parked, not lost.
 * - Participant queues are declared with exactly queueArguments(names); a participant that
 *   declares its own queue must pass the same arguments, or skip declaring (docs/protocol.md).
 * - verifyTopology passively re-checks every queue, so "ready" means the queues really exist.
 */
import type { Channel } from 'amqplib';

export interface TopologyNames {
  /** Where participants send replies (the `replyTo` of every command). */
  replyQueue: string;
  deadLetterExchange: string;
  deadLetterQueue: string;
}

export function topologyNames(prefix: string): TopologyNames {
  return {
    replyQueue: `${prefix}.replies`,
    deadLetterExchange: `${prefix}.dlx`,
    deadLetterQueue: `${prefix}.dead-letter`,
  };
}

export function queueArguments(names: TopologyNames): Record<string, string> {
  return { 'x-queue-type': 'classic', 'x-dead-letter-exchange': names.deadLetterExchange };
}

export async function declareTopology(channel: Channel, names: TopologyNames, participantQueues: string[]): Promise<void> {
  await channel.assertExchange(names.deadLetterExchange, 'fanout', { durable: true });
  await channel.assertQueue(names.deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
  await channel.bindQueue(names.deadLetterQueue, names.deadLetterExchange, '');
  const args = queueArguments(names);
  for (const queue of [names.replyQueue, ...participantQueues]) {
    await channel.assertQueue(queue, { durable: true, arguments: args });
  }
}

export async function verifyTopology(channel: Channel, names: TopologyNames, participantQueues: string[]): Promise<void> {
  for (const queue of [names.deadLetterQueue, names.replyQueue, ...participantQueues]) await channel.checkQueue(queue);
  await channel.checkExchange(names.deadLetterExchange);
}
