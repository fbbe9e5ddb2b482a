/**
 * Counting returns on classic queues, where the broker keeps no delivery count
 * (docs/semantics.md S4: a message never loops; topology.ts: queue types).
 *
 * Guarantees:
 * - A message that comes back to a classic queue `redelivered` (its consumer crashed, was killed,
 *   or closed its channel with it unacked) is not handled as it is: our consumer first publishes
 *   a copy to the same queue with the count of returns so far in RETURNS_HEADER (persistent,
 *   confirmed) and only then acks the original. The count is in the queue, durable, before any
 *   code that might crash again runs, so it survives crashes, restarts and other replicas.
 * - A failed handling is returned the same way (a copy with the count + 1), not with
 *   basic.reject, so handler failures and crashes add up in one count.
 * - A message returned more than DELIVERY_LIMIT times is parked (ReturnLimitError) instead of
 *   being copied again: one that crashes its consumer on every delivery is handled at most
 *   DELIVERY_LIMIT + 1 times, as on a quorum queue where the broker keeps the limit.
 * - A crash between the copy's confirm and the original's ack leaves two copies; the second is a
 *   repeat, which participants and the orchestrator drop by message id (S3).
 * - The header is read only on classic queues (a quorum queue's consumers count with the
 *   broker's x-delivery-count), and dead-letter copies drop it, so a replay starts from zero.
 *   A publisher can set it, which can only get its own message parked sooner.
 */
import type { ConsumeMessage, Options } from 'amqplib';

/** Returns of a message to its classic queue before this copy was published. */
export const RETURNS_HEADER = 'x-saga-returns';

/** Returns of this message so far: the count its copy carries, plus one if this delivery itself follows a return. */
export function returnsSoFar(message: Pick<ConsumeMessage, 'properties' | 'fields'>): number {
  const raw = message.properties.headers?.[RETURNS_HEADER] as unknown;
  const counted = typeof raw === 'number' ? raw : typeof raw === 'bigint' ? Number(raw) : typeof raw === 'string' ? Number(raw) : 0;
  return (Number.isInteger(counted) && counted > 0 ? counted : 0) + (message.fields.redelivered ? 1 : 0);
}

/** The publish options of a copy of `message` that carries `returns` in RETURNS_HEADER. */
export function copyWithReturns(message: Pick<ConsumeMessage, 'properties'>, returns: number): Options.Publish {
  const { properties } = message;
  return {
    persistent: true,
    contentType: properties.contentType as string | undefined,
    contentEncoding: properties.contentEncoding as string | undefined,
    correlationId: properties.correlationId as string | undefined,
    replyTo: properties.replyTo as string | undefined,
    messageId: properties.messageId as string | undefined,
    timestamp: properties.timestamp as number | undefined,
    type: properties.type as string | undefined,
    appId: properties.appId as string | undefined,
    priority: properties.priority as number | undefined,
    expiration: properties.expiration as string | undefined,
    headers: { ...(properties.headers ?? {}), [RETURNS_HEADER]: returns },
  };
}
