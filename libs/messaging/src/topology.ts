/**
 * The broker topology the orchestrator owns, declared at boot and after every reconnect.
 *
 * Guarantees:
 * - The reply queue and every participant queue are durable queues of ONE type for the whole
 *   deployment (AMQP_QUEUE_TYPE, docs/operations.md "Queue type"), with dead-lettering into
 *   `<prefix>.dlx` → `<prefix>.dead-letter`. So a message is parked, never lost and never
 *   looping, when a consumer rejects it without requeue (e.g. Nest's "no matching handler"
 *   nack), or when it has been returned to the queue more than DELIVERY_LIMIT times (a consumer
 *   that crashes, is killed or keeps failing on it).
 * - `quorum` (the default, and what a cluster needs): replicated, with a broker-side delivery
 *   limit and at-least-once dead-lettering. The return count lives in the queue's Raft log and
 *   the broker parks a message at the limit itself (x-death reason `delivery_limit`), whoever
 *   consumes it. Each message is fsynced by the queue before it is delivered.
 * - `classic` (one broker node only): no replication and no broker-side limit; a message is
 *   delivered as soon as it is routed, so a round trip is faster and cheaper. Our consumers keep
 *   the same bound themselves: a returned message is re-enqueued with its return count in a
 *   header before it is handled again (returns.ts), so the count is durable in the queue and
 *   survives crashes. A consumer that is not ours must do the same (docs/protocol.md).
 *   Dead-lettering a rejected message is done by the broker without confirms (at most once:
 *   lost only if the node crashes in that instant); the parking our consumers do is confirmed.
 * - Our own consumers park a failing message themselves, with the reason, well before the limit
 *   (DEFAULT_POISON_AFTER < DELIVERY_LIMIT, see consumer-delivery.ts).
 * - The dead-letter queue is a durable quorum queue (whatever the type of the others) with no
 *   dead-letter exchange and no delivery limit of its own: what lands there stays until an
 *   operator takes it.
 * - queueArguments(names, type) is the ONLY source of the queue arguments: the orchestrator and
 *   the participant toolkit both declare with it, so either may start first; a participant that
 *   declares its own queue must pass exactly these arguments, or skip declaring (protocol doc).
 *   A queue that exists with other arguments (another type) is refused by the broker (406):
 *   declareTopology then fails with QueueArgumentsMismatchError, naming the queue and the fix.
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

/** The queue types a deployment may choose (AMQP_QUEUE_TYPE); the default is the first. */
export const QUEUE_TYPES = ['quorum', 'classic'] as const;
export type QueueType = (typeof QUEUE_TYPES)[number];
export const DEFAULT_QUEUE_TYPE: QueueType = 'quorum';

/** The arguments of the reply queue and of every participant queue, exactly. */
export function queueArguments(names: TopologyNames, type: QueueType = DEFAULT_QUEUE_TYPE): Record<string, string | number> {
  if (type === 'classic') {
    return { 'x-queue-type': 'classic', 'x-dead-letter-exchange': names.deadLetterExchange, 'x-overflow': 'reject-publish' };
  }
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': DELIVERY_LIMIT,
    'x-dead-letter-exchange': names.deadLetterExchange,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/** A queue exists with arguments other than this deployment's (most often: another queue type). */
export class QueueArgumentsMismatchError extends Error {
  readonly code = 'QUEUE_ARGUMENTS_MISMATCH';
  constructor(
    readonly queue: string,
    readonly queueType: QueueType,
    cause: Error,
  ) {
    super(
      `queue ${queue} exists with other arguments than a ${queueType} queue of this deployment (${cause.message}): ` +
        `every service must run with the same AMQP_QUEUE_TYPE; to change the type, stop the services, let the queue drain ` +
        `and delete it (docs/operations.md, "Queue type")`,
      { cause },
    );
    this.name = 'QueueArgumentsMismatchError';
  }
}

/** The dead-letter queue's arguments: replicated and durable, nothing is ever dropped from it. */
export const DEAD_LETTER_QUEUE_ARGUMENTS: Readonly<Record<string, string>> = { 'x-queue-type': 'quorum' };

export async function declareTopology(channel: Channel, names: TopologyNames, participantQueues: string[], type: QueueType = DEFAULT_QUEUE_TYPE): Promise<void> {
  await channel.assertExchange(names.deadLetterExchange, 'fanout', { durable: true });
  await channel.assertQueue(names.deadLetterQueue, { durable: true, arguments: { ...DEAD_LETTER_QUEUE_ARGUMENTS } });
  await channel.bindQueue(names.deadLetterQueue, names.deadLetterExchange, '');
  const args = queueArguments(names, type);
  for (const queue of [names.replyQueue, ...participantQueues]) {
    try {
      await channel.assertQueue(queue, { durable: true, arguments: args });
    } catch (error) {
      if (/PRECONDITION_FAILED/.test((error as Error)?.message ?? '')) throw new QueueArgumentsMismatchError(queue, type, error as Error);
      throw error;
    }
  }
}

export async function verifyTopology(channel: Channel, names: TopologyNames, participantQueues: string[]): Promise<void> {
  for (const queue of [names.deadLetterQueue, names.replyQueue, ...participantQueues]) await channel.checkQueue(queue);
  await channel.checkExchange(names.deadLetterExchange);
}
