/**
 * Parking a message that cannot be processed (docs/semantics.md S4: never loop, keep the reason).
 *
 * Guarantees: the original body and properties are kept; headers gain the reason, the queue
 * the message came from and the time (x-dead-letter-reason, x-dead-letter-source,
 * x-dead-lettered-at: epoch ms, so two parkings of one message are two dead letters), and lose the broker's
 * delivery count and a classic queue's return count (returns.ts), so a replayed copy starts from zero; the copy is persistent and confirmed before
 * the caller acks the original. Messages the BROKER dead-letters (a consumer's reject without
 * requeue, the queue's delivery limit) carry RabbitMQ's x-death / x-first-death-reason /
 * x-first-death-queue headers instead: neither side can add ours to those.
 */
import type { ConsumeMessage, Options } from 'amqplib';
import { SagaHeaders } from '#saga/core';
import type { AmqpClient } from './amqp-client';
import { DELIVERY_COUNT_HEADER } from './poison';
import { RETURNS_HEADER } from './returns';

export async function deadLetter(client: AmqpClient, exchange: string, message: ConsumeMessage, sourceQueue: string, reason: string): Promise<void> {
  await deadLetterContent(client, exchange, message.content, message.properties, sourceQueue, reason);
}

/** The same for a message that never reached a queue (e.g. returned as unroutable). */
export async function deadLetterContent(
  client: AmqpClient,
  exchange: string,
  content: Buffer,
  properties: Omit<Options.Publish, 'headers'> & { headers?: Record<string, unknown> },
  sourceQueue: string,
  reason: string,
): Promise<void> {
  const { [DELIVERY_COUNT_HEADER]: _brokerCount, [RETURNS_HEADER]: _returns, ...headers } = properties.headers ?? {};
  await client.publish(exchange, sourceQueue, content, {
    persistent: true,
    contentType: properties.contentType,
    messageId: properties.messageId,
    correlationId: properties.correlationId,
    replyTo: properties.replyTo,
    timestamp: properties.timestamp,
    headers: {
      ...headers,
      [SagaHeaders.deadLetterReason]: reason.slice(0, 1000),
      [SagaHeaders.deadLetterSource]: sourceQueue,
      [SagaHeaders.deadLetteredAt]: Date.now(),
    },
  });
}
