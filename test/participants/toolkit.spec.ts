/**
 * The participant toolkit on its own (no example service): a toy participant whose handlers
 * misbehave on purpose, against real PostgreSQL and RabbitMQ. Covers what the services cannot
 * easily provoke: throws, retryable outcomes, discarded writes on failure, poison messages and
 * a graceful stop with a message in flight.
 */
import { commandMessageId, SagaHeaders } from '#saga/core';
import { defineAction, defineCompensation, fail, ok, ParticipantConsumer, PARTICIPANT_TOOLKIT_MIGRATIONS, retry, type ProcessResult } from '#saga/participant';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { AmqpHarness, processedRow, type CommandSpec } from './harness';
import { Client } from 'pg';
import { createTestDatabase, createTestVhost, runId, waitFor } from '../support/infra';

class ToyEffects1763700000100 implements MigrationInterface {
  name = 'ToyEffects1763700000100';
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE TABLE toy_effects (saga_id text NOT NULL, kind text NOT NULL)');
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE toy_effects');
  }
}

const calls = new Map<string, number>();
const gates = new Map<string, Promise<void>>();

const toyWrite = defineAction<{ mode: string }, unknown>('toy.write', {
  handle: async (data: { mode: string }, { manager, sagaId }) => {
    const call = (calls.get(sagaId) ?? 0) + 1;
    calls.set(sagaId, call);
    await manager.query(`INSERT INTO toy_effects (saga_id, kind) VALUES ($1, 'write')`, [sagaId]);
    switch (data.mode) {
      case 'fail':
        return fail('NOPE', 'business says no');
      case 'retry':
        return call === 1 ? retry('BUSY', 'try later') : ok({ call });
      case 'throw':
        if (call === 1) throw new Error('boom');
        return ok({ call });
      case 'lose-connection':
        // The database goes away under the handler: its own connection is terminated mid-command.
        if (call === 1) await manager.query('SELECT pg_terminate_backend(pg_backend_pid())');
        return ok({ call });
      case 'garbage':
        return 42 as never;
      case 'unstorable':
        return ok({ big: BigInt(1) });
      case 'slow':
        await gates.get(sagaId);
        return ok({ slow: true });
      default:
        return ok({ call });
    }
  },
});

const toyUndo = defineCompensation('toy.undo', 'toy.write', {
  handle: async (_data: unknown, { manager, sagaId, action }) => {
    await manager.query(`INSERT INTO toy_effects (saga_id, kind) VALUES ($1, 'undo')`, [sagaId]);
    return ok({ undid: action.result });
  },
});

const queue = 'toy.queue';
let cleanup: () => Promise<void>;
let dataSource: DataSource;
let amqp: AmqpHarness;
let db: Client;
let amqpUrl: string;
let consumer: ParticipantConsumer;
const processed: ProcessResult[] = [];

beforeAll(async () => {
  const id = runId();
  const database = await createTestDatabase(id, 'toolkit');
  const vhost = await createTestVhost(id);
  amqpUrl = vhost.url;
  dataSource = new DataSource({ type: 'postgres', url: database.url, migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS, ToyEffects1763700000100] });
  await dataSource.initialize();
  await dataSource.runMigrations();
  consumer = await ParticipantConsumer.start({
    amqpUrl,
    amqpPrefix: 'toy',
    queue,
    connectionName: 'toolkit-test',
    dataSource,
    handlers: [toyWrite, toyUndo],
    onProcessed: (result) => processed.push(result),
  });
  db = new Client({ connectionString: database.url });
  await db.connect();
  amqp = await AmqpHarness.open(amqpUrl, 'toy');
  cleanup = async () => {
    await amqp.close();
    await consumer.stop().catch(() => undefined);
    await dataSource.destroy();
    await db.end();
    await database.drop();
    await vhost.drop();
  };
});

afterAll(async () => {
  await cleanup?.();
});

let counter = 0;
const write = (mode: string, extra: Partial<CommandSpec> = {}): CommandSpec => ({
  sagaId: `toy-${++counter}`,
  step: 'write',
  direction: 'action',
  pattern: 'toy.write',
  data: { mode },
  ...extra,
});

async function effects(sagaId: string): Promise<string[]> {
  const { rows } = await db.query('SELECT kind FROM toy_effects WHERE saga_id = $1 ORDER BY kind', [sagaId]);
  return rows.map((row) => row.kind as string);
}

const actionId = (sagaId: string) => commandMessageId({ sagaId, step: 'write', direction: 'action' });

it('stores a failure but keeps none of the handler writes', async () => {
  const spec = write('fail');
  const reply = await amqp.call(queue, spec);
  expect(reply.body).toEqual({ err: { code: 'NOPE', message: 'business says no' }, isDisposed: true });
  expect(await effects(spec.sagaId)).toEqual([]);
  expect((await processedRow(db, actionId(spec.sagaId)))?.outcome).toEqual({ kind: 'failure', code: 'NOPE', message: 'business says no' });
});

it.each(['retry', 'throw'])('answers %s as retryable, stores nothing, and applies the retry once', async (mode) => {
  const spec = write(mode);
  const first = await amqp.call(queue, spec);
  expect(first.classified.kind).toBe('retryable');
  expect(first.body).toMatchObject({ err: { retryable: true, code: mode === 'throw' ? 'HANDLER_ERROR' : 'BUSY' } });
  expect(await effects(spec.sagaId)).toEqual([]);
  expect(await processedRow(db, actionId(spec.sagaId))).toBeUndefined();
  const second = await amqp.call(queue, { ...spec, attempt: 2 });
  expect(second.body).toEqual({ response: { call: 2 }, isDisposed: true });
  expect(await effects(spec.sagaId)).toEqual(['write']);
});

it('answers a handler that returns no outcome as retryable', async () => {
  const spec = write('garbage');
  expect((await amqp.call(queue, spec)).classified).toMatchObject({ kind: 'retryable', code: 'HANDLER_ERROR' });
  expect(await effects(spec.sagaId)).toEqual([]);
});

it('requeues a command whose handler lost the database, never answering it retryable', async () => {
  const spec = write('lose-connection');
  const correlationId = await amqp.send(queue, spec);
  const answer = await amqp.reply(correlationId);
  // The first delivery hit the outage and was handled again: one reply, from the second call.
  expect(calls.get(spec.sagaId)).toBe(2);
  expect(answer.body).toEqual({ response: { call: 2 }, isDisposed: true });
  expect(amqp.repliesFor(correlationId)).toHaveLength(1);
  expect(await effects(spec.sagaId)).toEqual(['write']);
});

it('passes the stored action request and result to the undo', async () => {
  const spec = write('ok');
  await amqp.call(queue, spec);
  const undo = await amqp.call(queue, { ...spec, direction: 'compensation', pattern: 'toy.undo', data: null });
  expect(undo.body).toEqual({ response: { undid: { call: 1 } }, isDisposed: true });
  expect(await effects(spec.sagaId)).toEqual(['undo', 'write']);
});

it('dead-letters a message that keeps failing outside the handler, then carries on', async () => {
  const spec = write('unstorable');
  const correlationId = await amqp.send(queue, spec);
  const parked = await amqp.nextDeadLetter(30_000);
  expect(parked.properties.headers?.[SagaHeaders.deadLetterReason]).toBe(
    'processing failed on 5 deliveries: store the outcome and commit failed: Do not know how to serialize a BigInt',
  );
  expect(parked.properties.headers?.[SagaHeaders.deadLetterSource]).toBe(queue);
  expect(amqp.repliesFor(correlationId)).toEqual([]);
  expect(await effects(spec.sagaId)).toEqual([]);
  expect((await amqp.call(queue, write('ok'))).classified.kind).toBe('success');
});

it('dead-letters an oversized command without running it, then carries on', async () => {
  const spec = write('ok', { data: { mode: 'ok', blob: 'x'.repeat(1024 * 1024) } });
  const correlationId = await amqp.send(queue, spec);
  const parked = await amqp.nextDeadLetter();
  expect(String(parked.properties.headers?.[SagaHeaders.deadLetterReason])).toMatch(/^body of \d+ bytes is over the 1048576-byte limit$/);
  expect(amqp.repliesFor(correlationId)).toEqual([]);
  expect(await effects(spec.sagaId)).toEqual([]);
  expect((await amqp.call(queue, write('ok'))).classified.kind).toBe('success');
});

it('finishes the message in flight when stopped, then stops consuming', async () => {
  const spec = write('slow');
  let open!: () => void;
  gates.set(spec.sagaId, new Promise<void>((resolve) => (open = resolve)));
  const correlationId = await amqp.send(queue, spec);
  await waitFor(async () => calls.get(spec.sagaId) === 1, 'the slow handler to start');
  const stopping = consumer.stop();
  setTimeout(open, 300);
  await stopping;
  const reply = await amqp.reply(correlationId);
  expect(reply.body).toEqual({ response: { slow: true }, isDisposed: true });
  expect(await effects(spec.sagaId)).toEqual(['write']);
  const later = await amqp.send(queue, write('ok'));
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(amqp.repliesFor(later)).toEqual([]);
  expect(processed.some((result) => result.kind === 'reply' && result.correlationId === correlationId && result.disposition === 'applied')).toBe(true);
});
