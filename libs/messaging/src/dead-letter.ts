/**
 * Parking a message that cannot be processed (SPEC S4: never loop, keep the reason).
 *
 * Guarantees: the original body and properties are kept; headers gain the reason and the queue
 * the message came from; the copy is persistent and confirmed before the caller acks the original.
 */
import type { ConsumeMessage, Options } from 'amqplib';
import { SagaHeaders } from '#saga/core';
import type { AmqpClient } from './amqp-client';

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
  await client.publish(exchange, sourceQueue, content, {
    persistent: true,
    contentType: properties.contentType,
    messageId: properties.messageId,
    correlationId: properties.correlationId,
    replyTo: properties.replyTo,
    timestamp: properties.timestamp,
    headers: {
      ...(properties.headers ?? {}),
      [SagaHeaders.deadLetterReason]: reason.slice(0, 1000),
      [SagaHeaders.deadLetterSource]: sourceQueue,
    },
  });
}
