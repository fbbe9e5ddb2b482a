/**
 * What happens to one consumed message: handled and acked, retried in place, returned to its
 * queue, or parked (docs/semantics.md S4: a message never loops and is never lost).
 *
 * Guarantees:
 * - A message is acked only after its handler resolved. A handler that throws has its message
 *   returned to the queue after a pause, so other messages keep flowing meanwhile. Once it has
 *   failed on `poisonAfter` deliveries (the broker's count, the count a classic queue's copy
 *   carries, or this process's own, whichever is larger: poison.ts, returns.ts), it is handed
 *   to `onPoison` (normally: dead-letter it with the reason) and acked: it never becomes a loop.
 *   If parking fails, it is returned after the pause and tried again; the queue's return limit
 *   is the backstop, as it is for a message that crashes the process every time.
 * - How a message goes back depends on the queue type: on a quorum queue with basic.reject
 *   (requeue), which the broker counts; on a classic queue as a confirmed copy carrying its
 *   return count, then an ack (returns.ts), and a message that comes back redelivered is copied
 *   that way before it is handled again, or parked once it has been returned too often.
 * - An error the consumer's `isTransient` recognises (a dependency is down, not the message's
 *   fault) is not counted: the handler is retried in place with a growing pause while the message
 *   stays unacked, so prefetch throttles consumption during an outage and nothing is parked for
 *   it. A connection loss or close() ends the retries (the broker redelivers the message).
 * - A body over `maxBodyBytes` never reaches the handler: it is handed to `onPoison` (dead-
 *   lettered with the reason) and acked.
 * - Acks for deliveries of a dead channel are dropped (the broker redelivers those messages,
 *   and handlers are idempotent).
 *
 * A failed message on a quorum queue is returned with basic.reject (requeue), AMQP 0-9-1's
 * "this message failed"; on RabbitMQ 3.x every return counts towards the delivery limit (checked
 * on 3.10.8); newer brokers (4.3) stop counting some explicit returns, and reject is the one
 * meant to count.
 */
import type { Channel, ConsumeMessage, Options } from 'amqplib';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_POISON_AFTER,
  FailureCounter,
  MAX_IN_PLACE_PAUSE_MS,
  OversizedMessageError,
  RepeatedFailureError,
  ReturnLimitError,
  type PoisonError,
} from './poison';
import { copyWithReturns, returnsSoFar } from './returns';
import { DEFAULT_QUEUE_TYPE, DELIVERY_LIMIT, type QueueType } from './topology';

export interface AmqpLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type MessageHandler = (message: ConsumeMessage) => Promise<void>;

export interface ConsumerOptions {
  prefetch: number;
  /** Failed deliveries of one message (broker's count or ours) before it is poison: 1 to
   *  DELIVERY_LIMIT (default DEFAULT_POISON_AFTER = 5). */
  poisonAfter?: number;
  /** Called with a message that is poison (RepeatedFailureError: its handler kept failing;
   *  OversizedMessageError; ReturnLimitError: its consumers kept dying on it); the message is
   *  acked once this resolves. */
  onPoison: (message: ConsumeMessage, error: PoisonError) => Promise<void>;
  /** Pause before a failed message is returned to the queue (default 1000 ms). */
  requeueDelayMs?: number;
  /** A larger body is not handed to the handler: it goes to onPoison at once (default 1 MiB). */
  maxBodyBytes?: number;
  /** Errors that say nothing about the message (its database is unreachable, say): the handler
   *  is retried in place, the message held unacked (so the broker counts no return), with a
   *  pause from requeueDelayMs doubling up to MAX_IN_PLACE_PAUSE_MS; never counted as poison. */
  isTransient?: (error: Error) => boolean;
  /** The type the queue was declared with (topology.ts): how returns are counted. Default quorum. */
  queueType?: QueueType;
}

export interface Registration {
  queue: string;
  handler: MessageHandler;
  options: ConsumerOptions;
}

/** What a delivery needs of the client it came through. */
export interface DeliveryHost {
  readonly logger: AmqpLogger;
  /** Publishes and waits for the broker's confirm (AmqpClient.publish). */
  publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<unknown>;
  /** False once the client is closing or the channel is gone: in-place retries stop. */
  stillConsuming(channel: Channel): boolean;
}

export class ConsumerDelivery {
  private readonly failures = new FailureCounter();

  constructor(private readonly host: DeliveryHost) {}

  async deliver(channel: Channel, registration: Registration, message: ConsumeMessage): Promise<void> {
    const { options } = registration;
    const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (message.content.length > limit) {
      if (await this.park(channel, registration, message, new OversizedMessageError(message.content.length, limit))) return;
      return this.requeueLater(channel, registration, message);
    }
    if (classic(registration) && message.fields.redelivered) return this.countReturn(channel, registration, message);
    const key = FailureCounter.key(registration.queue, message);
    for (let pause = options.requeueDelayMs ?? 1000; ; pause = Math.min(pause * 2, MAX_IN_PLACE_PAUSE_MS)) {
      try {
        await registration.handler(message);
        this.failures.forget(key);
        settle(this.host, () => channel.ack(message));
        return;
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        if (!options.isTransient?.(failure)) return this.failed(channel, registration, message, key, failure);
        // Not this message's fault (a dependency is down): keep it, unacked and uncounted.
        this.host.logger.warn(`Handler for ${registration.queue} hit a transient error, retrying in ${pause} ms: ${failure.message}`);
        await new Promise((resolve) => setTimeout(resolve, pause).unref()); // never holds a stopping process
        if (!this.host.stillConsuming(channel)) return; // the broker gives it to someone else
      }
    }
  }

  /** A classic queue's redelivery: re-enqueued with its count before anything else runs, or parked past the limit. */
  private async countReturn(channel: Channel, registration: Registration, message: ConsumeMessage): Promise<void> {
    const returns = returnsSoFar(message);
    if (returns > DELIVERY_LIMIT) {
      this.host.logger.error(`Message on ${registration.queue} was returned ${returns} times without an ack, dead-lettering`);
      if (await this.park(channel, registration, message, new ReturnLimitError(returns))) return;
      return this.requeueLater(channel, registration, message);
    }
    if (await this.copyBack(channel, registration, message, returns)) return;
    return this.requeueLater(channel, registration, message);
  }

  private async failed(channel: Channel, registration: Registration, message: ConsumeMessage, key: string, failure: Error): Promise<void> {
    const counted = this.failures.failed(key, message);
    const deliveries = classic(registration) ? Math.max(counted, returnsSoFar(message) + 1) : counted;
    if (deliveries >= (registration.options.poisonAfter ?? DEFAULT_POISON_AFTER)) {
      this.host.logger.error(`Message on ${registration.queue} failed on ${deliveries} deliveries, dead-lettering: ${failure.message}`);
      if (await this.park(channel, registration, message, new RepeatedFailureError(deliveries, failure))) {
        this.failures.forget(key);
        return;
      }
    } else {
      this.host.logger.warn(`Handler for ${registration.queue} failed (delivery ${deliveries}), requeueing: ${failure.message}`);
    }
    await this.requeueLater(channel, registration, message);
  }

  /** Hands the message to onPoison and acks it; false (message still unacked) if that failed. */
  private async park(channel: Channel, registration: Registration, message: ConsumeMessage, error: PoisonError): Promise<boolean> {
    try {
      await registration.options.onPoison(message, error);
    } catch (parkError) {
      this.host.logger.error(`Dead-lettering a message from ${registration.queue} failed: ${(parkError as Error).message}`);
      return false;
    }
    settle(this.host, () => channel.ack(message));
    return true;
  }

  /** Returns the message to the queue after a pause (the pause keeps a failing message from
   *  spinning; every return counts towards the queue's limit). */
  private async requeueLater(channel: Channel, registration: Registration, message: ConsumeMessage): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, registration.options.requeueDelayMs ?? 1000));
    if (classic(registration) && (await this.copyBack(channel, registration, message, returnsSoFar(message) + 1))) return;
    settle(this.host, () => channel.reject(message, true));
  }

  /** A confirmed copy with `returns` in its header, then the original acked; false (nothing
   *  changed, the original unacked) if the copy could not be published. */
  private async copyBack(channel: Channel, registration: Registration, message: ConsumeMessage, returns: number): Promise<boolean> {
    try {
      await this.host.publish('', registration.queue, message.content, copyWithReturns(message, returns));
    } catch (error) {
      this.host.logger.warn(`Returning a message to ${registration.queue} with its count failed: ${(error as Error).message}`);
      return false;
    }
    settle(this.host, () => channel.ack(message));
    return true;
  }
}

function classic(registration: Registration): boolean {
  return (registration.options.queueType ?? DEFAULT_QUEUE_TYPE) === 'classic';
}

/** Acking on a channel that died is harmless: the broker already requeued the message. */
function settle(host: DeliveryHost, action: () => void): void {
  try {
    action();
  } catch (error) {
    host.logger.warn(`AMQP ack/nack dropped (channel gone): ${(error as Error).message}`);
  }
}
