/**
 * Publishes one saga command to its participant queue: the single way commands reach the broker,
 * used by the publisher (right after the commit) and by the outbox relay (rows left behind).
 *
 * Guarantees: resolves only after the broker's confirm; publishes with `mandatory`, so a command
 * whose queue does not exist is parked in the dead-letter queue with the reason instead of
 * vanishing (the saga's timeout then handles the missing reply); rejects when the broker nacks,
 * the parking fails or the connection is down, and the outbox row stays for the relay.
 */
import type { Logger } from '@nestjs/common';
import { deadLetterContent } from '#saga/messaging';
import type { Options } from 'amqplib';
import type { BrokerService } from './broker.service';
import { logLine } from '../logging/log-line';

export async function publishCommand(broker: BrokerService, logger: Logger, queue: string, body: unknown, properties: Options.Publish): Promise<void> {
  const content = Buffer.from(JSON.stringify(body));
  const result = await broker.client.publish('', queue, content, { ...properties, mandatory: true });
  if (result === 'unroutable') {
    const reason = `unroutable: no queue named "${queue}" exists`;
    logger.error(logLine('command unroutable; dead-lettered', { correlationId: String(properties.correlationId), queue, reason }));
    await deadLetterContent(broker.client, broker.names.deadLetterExchange, content, properties, queue, reason);
  }
}
