/**
 * When a consumed message counts as poison (docs/semantics.md S4: a message never loops).
 *
 * Guarantees:
 * - A message whose handler failed is poison once it has failed on `poisonAfter` deliveries,
 *   counting BOTH the broker's `x-delivery-count` header (quorum queues: returns so far, kept in
 *   the queue's Raft log, so it survives consumer crashes, restarts and other replicas) and this
 *   process's own count; on classic queues, which have no broker count, the count the
 *   message's copy carries stands in for the broker's (returns.ts, consumer-delivery.ts). The
 *   larger one wins: each is a lower bound of the deliveries that did not end in an ack.
 * - `poisonAfter` is between 1 and DELIVERY_LIMIT, so with our queue arguments we park a failing
 *   message ourselves, with the handler's error as the reason, before the broker's delivery limit
 *   could; the broker's limit only fires for messages that never reach our catch (the process
 *   crashes, or is killed, on every delivery: x-death reason `delivery_limit`).
 * - Failures the consumer calls transient (its database is unreachable: not the message's fault)
 *   are retried in place and never counted (consumer-delivery.ts), so an outage parks nothing.
 * - A header present on a FIRST delivery is ignored (a publisher's or a replayed copy's, not the
 *   broker's), and dead-letter copies drop it (dead-letter.ts), so a replay starts from zero.
 * - The in-process count is bounded (oldest entries are forgotten first); forgetting only makes
 *   us rely on the broker's count, never loops forever.
 * - Errors handed to onPoison are named, with a stable `code`.
 *
 * Why not only the in-process count: a message that crashes the process (out of memory, a
 * native fault, a kill during a deploy) resets it on every restart and would loop forever.
 * Why not only the broker: its limit parks without our reason (only `delivery_limit`), and
 * classic queues have no broker limit at all (our consumers keep one there: returns.ts).
 */
import type { ConsumeMessage } from 'amqplib';
import { DELIVERY_LIMIT } from './topology';

/** Deliveries (the failing one included) after which a failing message is parked. */
export const DEFAULT_POISON_AFTER = 5;
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Longest pause between in-place retries of a transient failure (ConsumerOptions.isTransient). */
export const MAX_IN_PLACE_PAUSE_MS = 30_000;
/** The broker's count of earlier returns of a message (quorum queues). */
export const DELIVERY_COUNT_HEADER = 'x-delivery-count';

/** Handed to onPoison for a message whose body is over the consumer's limit. */
export class OversizedMessageError extends Error {
  readonly code = 'MESSAGE_TOO_LARGE';
  constructor(size: number, limit: number) {
    super(`body of ${size} bytes is over the ${limit}-byte limit`);
    this.name = 'OversizedMessageError';
  }
}

/** Handed to onPoison for a message whose handler failed on `deliveries` deliveries; `cause` is the last error. */
export class RepeatedFailureError extends Error {
  readonly code = 'MESSAGE_KEEPS_FAILING';
  constructor(
    readonly deliveries: number,
    readonly lastError: Error,
  ) {
    super(`failed on ${deliveries} deliveries: ${lastError.message}`, { cause: lastError });
    this.name = 'RepeatedFailureError';
  }
}

/** A consumer was registered with a poisonAfter the queue's delivery limit would pre-empt. */
export class PoisonLimitError extends Error {
  readonly code = 'POISON_LIMIT_INVALID';
  constructor(poisonAfter: number) {
    super(`poisonAfter must be an integer from 1 to ${DELIVERY_LIMIT} (the broker's delivery limit), got ${poisonAfter}`);
    this.name = 'PoisonLimitError';
  }
}

/** Handed to onPoison for a message returned to its queue more than DELIVERY_LIMIT times without an ack. */
export class ReturnLimitError extends Error {
  readonly code = 'MESSAGE_KEEPS_RETURNING';
  constructor(readonly returns: number) {
    super(`returned to its queue ${returns} times without being acked (more than ${DELIVERY_LIMIT}): its consumer crashed or stopped while handling it every time`);
    this.name = 'ReturnLimitError';
  }
}

export type PoisonError = OversizedMessageError | RepeatedFailureError | ReturnLimitError;

export function checkPoisonAfter(poisonAfter: number): number {
  if (!Number.isInteger(poisonAfter) || poisonAfter < 1 || poisonAfter > DELIVERY_LIMIT) throw new PoisonLimitError(poisonAfter);
  return poisonAfter;
}

/**
 * Deliveries of this message so far, this one included, by the broker's count (undefined: no
 * count). Only a redelivery's header is the broker's: on a first delivery RabbitMQ passes a
 * publisher's `x-delivery-count` through untouched (seen on 3.10.8), so it is not trusted then.
 */
export function brokerDeliveries(message: Pick<ConsumeMessage, 'properties' | 'fields'>): number | undefined {
  if (!message.fields.redelivered) return 1;
  const raw = message.properties.headers?.[DELIVERY_COUNT_HEADER] as unknown;
  const returns = typeof raw === 'number' ? raw : typeof raw === 'bigint' ? Number(raw) : typeof raw === 'string' ? Number(raw) : Number.NaN;
  return Number.isInteger(returns) && returns >= 0 ? returns + 1 : undefined;
}

/** Failed deliveries per message seen by this process, combined with the broker's count. */
export class FailureCounter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly maxEntries = 10_000) {}

  /** Identifies a message across its redeliveries (the broker gives no stable id of its own). */
  static key(queue: string, message: Pick<ConsumeMessage, 'properties' | 'content'>): string {
    return `${queue}:${String(message.properties.messageId ?? '')}:${String(message.properties.correlationId ?? '')}:${message.content.length}`;
  }

  /** Records one failed delivery; returns the deliveries of this message known to have failed. */
  failed(key: string, message: Pick<ConsumeMessage, 'properties' | 'fields'>): number {
    const ours = (this.counts.get(key) ?? 0) + 1;
    this.counts.delete(key); // re-inserted last: the map's order is least recently failed first
    this.counts.set(key, ours);
    while (this.counts.size > this.maxEntries) this.counts.delete(this.counts.keys().next().value as string);
    return Math.max(ours, brokerDeliveries(message) ?? 0);
  }

  forget(key: string): void {
    this.counts.delete(key);
  }

  get size(): number {
    return this.counts.size;
  }
}
