/**
 * The intake's handling of what it cannot store, with a fake database and broker.
 *
 * Proves: a refused full row is stored as its body alone, with a note; a database that is
 * unreachable is not refused (the error goes back to the AMQP client, which retries in place); a
 * message that cannot be stored even so fails its delivery, and once it is poison it is counted
 * as unstorable and left in the queue (onPoison rejects, so the client never acks it); a saga
 * named by a UUID is noted once, and not again on a redelivery of a noted row.
 */
import { SagaHeaders } from '#saga/core';
import type { ConsumerOptions, MessageHandler } from '#saga/messaging';
import type { ConsumeMessage } from 'amqplib';
import type { DataSource } from 'typeorm';
import type { OrchestratorConfig } from '../config/orchestrator-config';
import type { BrokerService } from '../runtime/broker.service';
import type { SagaMetrics } from '../runtime/saga-metrics';
import type { SagaRuntime } from '../runtime/saga-runtime.service';
import { DeadLetterIntake, DeadLetterUnstorableError } from './dead-letter-intake.service';

const SAGA = '5d2f0b1e-7c3a-4e9b-8a6d-2f1e0c9b8a7d';

function message(): ConsumeMessage {
  return {
    content: Buffer.from('{"pattern":"x.do"}'),
    fields: { routingKey: 'saga.x', redelivered: false, deliveryTag: 1, exchange: 'saga.dlx', consumerTag: 'c' },
    properties: {
      headers: { [SagaHeaders.sagaId]: SAGA, [SagaHeaders.step]: 's', [SagaHeaders.direction]: 'action', [SagaHeaders.attempt]: 1, [SagaHeaders.deadLetterReason]: 'r' },
    },
  } as unknown as ConsumeMessage;
}

async function intakeWith(query: (sql: string, values: unknown[]) => Promise<unknown>) {
  let registered: { handler: MessageHandler; options: ConsumerOptions } | undefined;
  const taken: string[] = [];
  const noted: unknown[][] = [];
  const broker = {
    names: { deadLetterQueue: 'saga.dead-letter', replyQueue: 'saga.replies' },
    client: { consume: async (_queue: string, handler: MessageHandler, options: ConsumerOptions) => void (registered = { handler, options }) },
  } as unknown as BrokerService;
  const runtime = { noteDeadLetter: async (...args: unknown[]) => (noted.push(args), true) } as unknown as SagaRuntime;
  const metrics = { deadLetterTaken: (result: string) => taken.push(result) } as unknown as SagaMetrics;
  const dataSource = { manager: { query } } as unknown as DataSource;
  const intake = new DeadLetterIntake({ deadLetterIntake: true, deadLetterPrefetch: 4 } as OrchestratorConfig, dataSource, broker, runtime, metrics);
  await intake.onApplicationBootstrap();
  return { registered: registered!, taken, noted };
}

describe('DeadLetterIntake', () => {
  it('stores the body alone when the full row is refused, and notes the saga once', async () => {
    const inserts: unknown[][] = [];
    const { registered, taken, noted } = await intakeWith(async (sql, values) => {
      if (!sql.includes('INSERT')) return [];
      inserts.push(values);
      if (inserts.length === 1) throw Object.assign(new Error('invalid input syntax'), { code: '22P02' });
      return [{ id: '7', inserted: true, sagaNoted: false }];
    });
    expect(registered.options.maxBodyBytes).toBe(Number.POSITIVE_INFINITY);
    await registered.handler(message());
    expect(inserts).toHaveLength(2);
    expect(inserts[1][14]).toBe('{}'); // properties left out
    expect(inserts[1][15]).toBeNull(); // headers left out
    expect(inserts[1][16]).toEqual(Buffer.from('{"pattern":"x.do"}')); // the body, whole
    expect(inserts[1][18]).toMatch(/^only the body was stored: the full row was refused \(SQLSTATE 22P02\)/);
    expect(taken).toEqual(['stored']);
    expect(noted).toEqual([[SAGA, 'DEAD_LETTERED', { step: 's', direction: 'action', attempt: 1 }, expect.objectContaining({ deadLetterId: 7 })]]);
  });

  it('does not note a saga twice when a noted row is delivered again', async () => {
    const { registered, taken, noted } = await intakeWith(async (sql) => (sql.includes('INSERT') ? [{ id: '7', inserted: false, sagaNoted: true }] : []));
    await registered.handler(message());
    expect(taken).toEqual(['seen']);
    expect(noted).toEqual([]);
  });

  it('hands an unreachable database back to be retried in place, not stored as a body alone', async () => {
    let inserts = 0;
    const { registered } = await intakeWith(async () => {
      inserts += 1;
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    });
    await expect(registered.handler(message())).rejects.toThrow(/ECONNREFUSED/);
    expect(inserts).toBe(1);
    expect(registered.options.isTransient?.(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
  });

  it('leaves a message it cannot store at all in the queue, counted', async () => {
    const { registered, taken } = await intakeWith(async () => {
      throw Object.assign(new Error('disk full'), { code: '53100' });
    });
    await expect(registered.handler(message())).rejects.toThrow(/disk full/);
    const poison = Object.assign(new Error('failed on 5 deliveries: disk full'), { deliveries: 5 });
    await expect(registered.options.onPoison(message(), poison as never)).rejects.toBeInstanceOf(DeadLetterUnstorableError);
    expect(taken).toEqual(['unstorable']);
  });
});
