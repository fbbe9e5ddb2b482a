/**
 * The broker topology the orchestrator owns, declared at boot and after every reconnect.
 *
 * Guarantees:
 * - The reply queue and every participant queue are durable QUORUM queues with a broker-side
 *   delivery limit (DELIVERY_LIMIT) and at-least-once dead-lettering into `<prefix>.dlx` →
 *   `<prefix>.dead-letter`. So a message is parked, never lost and never looping, when:
 *   a consumer rejects it without requeue (e.g. Nest's "no matching handler" nack), or it has
 *   been returned to the queue more than DELIVERY_LIMIT times (a consumer that crashes, is
 *   killed or keeps requeueing it: x-death reason `delivery_limit`). The count lives in the
 *   queue's Raft log, so it survives consumer restarts (unlike any in-process counter).
 * - Our own consumers park a message themselves, with the reason, well before the broker would
 *   (DEFAULT_POISON_AFTER < DELIVERY_LIMIT, see amqp-client.ts); the broker limit is the backstop
 *   for messages that never let the consumer reach its catch (a crash loop).
 * - The dead-letter queue is a durable quorum queue with no dead-letter exchange and no
 *   delivery limit of its own: what lands there stays until an operator takes it.
 * - queueArguments(names) is the ONLY source of the queue arguments: the orchestrator and the
 *   participant toolkit both declare with it, so either may start first; a participant that
 *   declares its own queue must pass exactly these arguments, or skip declaring (protocol doc).
 * - verifyTopology passively re-checks every queue, so "ready" means the queues really exist.
 *
 * Checked on RabbitMQ 3.10.8: with `x-delivery-limit: N` a message is delivered N + 1 times
 * (nack/reject with requeue, or the consumer's channel closing, each count one return), then
 * dead-lettered with x-death reason `delivery_limit`; a redelivery carries `x-delivery-count`
 * (returns so far), which the broker overwrites (a publisher cannot forge it).
 * At-least-once dead-lettering needs `x-overflow: reject-publish` (with drop-head it silently
 * falls back to at-most-once); with no length limit set, reject-publish never rejects anything.
 */
import type { Channel } from 'amqplib';

export interface TopologyNames {
  /** Where participants send replies (the `replyTo` of every command). */
  replyQueue: string;
  deadLetterExchange: string;
  deadLetterQueue: string;
}

/**
 * Returns to the queue after which the broker dead-letters a message itself (reason
 * `delivery_limit`): it is delivered at most DELIVERY_LIMIT + 1 times. Part of the queue
 * arguments, so changing it means re-creating the queues (RabbitMQ refuses a re-declaration with
 * other arguments); a policy (`delivery-limit`) can lower it on a live broker without that.
 */
export const DELIVERY_LIMIT = 10;

export function topologyNames(prefix: string): TopologyNames {
  return {
    replyQueue: `${prefix}.replies`,
    deadLetterExchange: `${prefix}.dlx`,
    deadLetterQueue: `${prefix}.dead-letter`,
  };
}

/** The arguments of the reply queue and of every participant queue, exactly. */
export function queueArguments(names: TopologyNames): Record<string, string | number> {
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': DELIVERY_LIMIT,
    'x-dead-letter-exchange': names.deadLetterExchange,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/** The dead-letter queue's arguments: replicated and durable, nothing is ever dropped from it. */
export const DEAD_LETTER_QUEUE_ARGUMENTS: Readonly<Record<string, string>> = { 'x-queue-type': 'quorum' };

export async function declareTopology(channel: Channel, names: TopologyNames, participantQueues: string[]): Promise<void> {
  await channel.assertExchange(names.deadLetterExchange, 'fanout', { durable: true });
  await channel.assertQueue(names.deadLetterQueue, { durable: true, arguments: { ...DEAD_LETTER_QUEUE_ARGUMENTS } });
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
