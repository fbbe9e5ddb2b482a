/**
 * SagaTransport against real PostgreSQL and RabbitMQ: a participant written as an ordinary Nest
 * controller (@MessagePattern, @SagaCompensation, a class-validator DTO, @Ctx() SagaContext),
 * started with NestFactory.createMicroservice(module, { strategy }).
 *
 * Guarantees checked: an action and its undo run through the strategy, the undo receiving the
 * action's stored request and result; a duplicate delivery is replayed, not re-run; an invalid
 * DTO is answered INVALID_COMMAND and copied to the dead-letter queue; writes through
 * `saga.manager` commit with the dedupe record and are discarded on fail(); returns and throws
 * mean what handler-adapter.ts says; bad registrations fail the start; close() lets a message in
 * flight commit, reply and ack.
 */
import { commandMessageId, SagaHeaders } from '#saga/core';
import {
  fail,
  HandlerRegistrationError,
  ok,
  PARTICIPANT_TOOLKIT_MIGRATIONS,
  SagaCompensation,
  SagaContext,
  SagaTransport,
  SagaValidationPipe,
  type HandlerOutcome,
} from '#saga/participant';
import { Controller, Module, UsePipes, type INestMicroservice, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IsInt, IsString, MinLength } from 'class-validator';
import { connect } from 'amqplib';
import { Client } from 'pg';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createTestDatabase, createTestVhost, runId } from '../support/infra';
import { AmqpHarness, processedRow, type CommandSpec } from './harness';

class CreateLedger1763700000100 implements MigrationInterface {
  name = 'CreateLedger1763700000100';
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE TABLE ledger (entry_id text PRIMARY KEY, amount integer NOT NULL)');
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE ledger');
  }
}

class EntryDto {
  @IsString() @MinLength(1) entryId: string;
  @IsInt() amount: number;
}

interface EntryResult {
  entryId: string;
  amount: number;
}

/** Message ids the action method actually ran for, and what each undo was handed. */
const runs: string[] = [];
const undone: { request: unknown; result: unknown }[] = [];
/** An entry id whose action waits for this gate before it returns. */
const gates = new Map<string, { entered: () => void; open: Promise<void> }>();

@Controller()
@UsePipes(SagaValidationPipe)
class LedgerController {
  @MessagePattern('ledger.add')
  async add(@Payload() entry: EntryDto, @Ctx() saga: SagaContext): Promise<HandlerOutcome<EntryResult>> {
    runs.push(saga.messageId);
    await saga.manager.query('INSERT INTO ledger (entry_id, amount) VALUES ($1, $2)', [entry.entryId, entry.amount]);
    const gate = gates.get(entry.entryId);
    if (gate) {
      gate.entered();
      await gate.open;
    }
    if (entry.amount > 100) return fail('TOO_MUCH', `${entry.amount} is above 100`);
    return ok({ entryId: entry.entryId, amount: entry.amount });
  }

  @SagaCompensation('ledger.remove', { undoes: 'ledger.add' })
  async remove(@Ctx() saga: SagaContext<EntryDto, EntryResult>): Promise<HandlerOutcome<{ removed: string }>> {
    undone.push({ request: saga.action.request, result: saga.action.result });
    await saga.query('DELETE FROM ledger WHERE entry_id = $1', [saga.action.result.entryId]);
    return ok({ removed: saga.action.result.entryId });
  }

  /** Answers as told: the strict return/throw contract. */
  @MessagePattern('ledger.answer')
  async answer(@Payload() { entryId }: EntryDto): Promise<unknown> {
    if (entryId === 'plain') return { entryId };
    if (entryId === 'declined') throw new RpcException({ code: 'DECLINED', message: 'no' });
    if (entryId === 'busy') throw new RpcException({ code: 'BUSY', message: 'later', retryable: true });
    throw new Error('boom');
  }
}

let id: string;
let database: { url: string; drop: () => Promise<void> };
let vhost: { url: string; drop: () => Promise<void> };
let db: Client;
let amqp: AmqpHarness;
let app: INestMicroservice;
const PREFIX = 'nt';
const QUEUE = 'nt.ledger';

/** A participant app serving `controllers` on `queue`, started the Nest way. */
async function startParticipant(controllers: Type[], queue: string): Promise<INestMicroservice> {
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url: database.url,
        migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS, CreateLedger1763700000100],
        migrationsRun: true,
        retryAttempts: 1,
      }),
    ],
    controllers,
  })
  class LedgerModule {}
  let started: INestMicroservice | undefined;
  const strategy = new SagaTransport({ amqpUrl: vhost.url, amqpPrefix: PREFIX, queue, connectionName: 'nest-transport-test', dataSource: () => started!.get(DataSource) });
  started = await NestFactory.createMicroservice(LedgerModule, { strategy, logger: false, abortOnError: false });
  try {
    await started.listen();
  } catch (error) {
    await started.close();
    throw error;
  }
  return started;
}

beforeAll(async () => {
  id = runId();
  database = await createTestDatabase(id, 'nesttransport');
  vhost = await createTestVhost(`nesttransport-${id}`);
  app = await startParticipant([LedgerController], QUEUE);
  db = new Client({ connectionString: database.url });
  await db.connect();
  amqp = await AmqpHarness.open(vhost.url, PREFIX);
});

afterAll(async () => {
  await amqp?.close();
  await app?.close();
  await db?.end();
  await database?.drop();
  await vhost?.drop();
});

let counter = 0;
const newSaga = () => `nt-${++counter}-${id}`;
const add = (sagaId: string, data: unknown, extra: Partial<CommandSpec> = {}): CommandSpec => ({
  sagaId,
  step: 'add-entry',
  direction: 'action',
  pattern: 'ledger.add',
  data,
  ...extra,
});
const remove = (sagaId: string): CommandSpec => ({ sagaId, step: 'add-entry', direction: 'compensation', pattern: 'ledger.remove', data: {} });

async function ledger(entryId: string): Promise<number | undefined> {
  const { rows } = await db.query('SELECT amount FROM ledger WHERE entry_id = $1', [entryId]);
  return rows[0]?.amount;
}

it('runs an action and its undo, the undo getting the stored request and result through @Ctx()', async () => {
  const sagaId = newSaga();
  const request = { entryId: sagaId, amount: 7, memo: 'kept in the stored request' };
  const done = await amqp.call(QUEUE, add(sagaId, request));
  expect(done.body).toEqual({ response: { entryId: sagaId, amount: 7 }, isDisposed: true });
  expect(await ledger(sagaId)).toBe(7);

  const undo = await amqp.call(QUEUE, remove(sagaId));
  expect(undo.body).toEqual({ response: { removed: sagaId }, isDisposed: true });
  expect(undone).toContainEqual({ request, result: { entryId: sagaId, amount: 7 } });
  expect(await ledger(sagaId)).toBeUndefined();
});

it('replays a duplicate delivery and a retry from the stored outcome instead of running again', async () => {
  const sagaId = newSaga();
  const spec = add(sagaId, { entryId: sagaId, amount: 3 });
  const first = await amqp.send(QUEUE, spec);
  await amqp.send(QUEUE, spec);
  const retried = await amqp.send(QUEUE, { ...spec, attempt: 2 });
  const replies = [await amqp.reply(first, 1), await amqp.reply(first, 2), await amqp.reply(retried)];
  expect(new Set(replies.map((reply) => reply.raw)).size).toBe(1);
  expect(replies[0].classified).toEqual({ kind: 'success', result: { entryId: sagaId, amount: 3 } });
  expect(runs.filter((messageId) => messageId === commandMessageId({ sagaId, step: 'add-entry', direction: 'action' }))).toHaveLength(1);
});

it('answers an invalid DTO INVALID_COMMAND, copies the command to the dead-letter queue, and never runs the method', async () => {
  const sagaId = newSaga();
  const messageId = commandMessageId({ sagaId, step: 'add-entry', direction: 'action' });
  const reply = await amqp.call(QUEUE, add(sagaId, { entryId: '', amount: 1.5 }));
  expect(reply.classified).toMatchObject({ kind: 'failure', code: 'INVALID_COMMAND' });
  const { message } = reply.classified as { message: string };
  expect(message).toMatch(/^invalid data for "ledger\.add": /);
  expect(message).toContain('entryId must be longer than or equal to 1 characters');
  expect(message).toContain('amount must be an integer number');
  const copy = await amqp.nextDeadLetter();
  expect(copy.properties.messageId).toBe(messageId);
  expect(copy.properties.headers?.[SagaHeaders.deadLetterReason]).toBe(`payload failed validation (replied INVALID_COMMAND): ${message}`);
  expect(copy.properties.headers?.[SagaHeaders.deadLetterSource]).toBe(QUEUE);
  expect(runs).not.toContain(messageId);
  expect((await processedRow(db, messageId))?.outcome).toEqual({ kind: 'failure', code: 'INVALID_COMMAND', message });
});

it("commits the method's writes through saga.manager with the dedupe record, and discards them on fail()", async () => {
  const kept = newSaga();
  expect((await amqp.call(QUEUE, add(kept, { entryId: kept, amount: 100 }))).classified.kind).toBe('success');
  expect(await ledger(kept)).toBe(100);
  expect((await processedRow(db, commandMessageId({ sagaId: kept, step: 'add-entry', direction: 'action' })))?.outcome).toEqual({
    kind: 'success',
    result: { entryId: kept, amount: 100 },
  });

  const refused = newSaga();
  const failed = await amqp.call(QUEUE, add(refused, { entryId: refused, amount: 101 }));
  expect(failed.classified).toEqual({ kind: 'failure', code: 'TOO_MUCH', message: '101 is above 100' });
  expect(runs).toContain(commandMessageId({ sagaId: refused, step: 'add-entry', direction: 'action' })); // it did insert, then failed
  expect(await ledger(refused)).toBeUndefined();
  expect((await processedRow(db, commandMessageId({ sagaId: refused, step: 'add-entry', direction: 'action' })))?.outcome).toMatchObject({ kind: 'failure', code: 'TOO_MUCH' });
});

it('reads returns and throws strictly: a plain value or a plain throw is retryable and stores nothing', async () => {
  const answer = async (entryId: string) => {
    const sagaId = newSaga();
    const reply = await amqp.call(QUEUE, { sagaId, step: 'answer', direction: 'action', pattern: 'ledger.answer', data: { entryId, amount: 1 } });
    const stored = await processedRow(db, commandMessageId({ sagaId, step: 'answer', direction: 'action' }));
    return { reply: reply.classified, stored: stored?.outcome };
  };
  expect(await answer('plain')).toEqual({ reply: { kind: 'retryable', code: 'HANDLER_ERROR', message: expect.stringContaining('returned a plain value') }, stored: undefined });
  expect(await answer('declined')).toEqual({ reply: { kind: 'failure', code: 'DECLINED', message: 'no' }, stored: { kind: 'failure', code: 'DECLINED', message: 'no' } });
  expect(await answer('busy')).toEqual({ reply: { kind: 'retryable', code: 'BUSY', message: 'later' }, stored: undefined });
  expect(await answer('crash')).toEqual({ reply: { kind: 'retryable', code: 'HANDLER_ERROR', message: expect.stringContaining('threw') }, stored: undefined });
});

it('fails the start when an undo names no registered action, or two methods claim one pattern', async () => {
  @Controller()
  class OrphanController {
    @MessagePattern('orphan.do')
    async act(): Promise<HandlerOutcome> {
      return ok(null);
    }
    @SagaCompensation('orphan.undo', { undoes: 'orphan.missing' })
    async undo(): Promise<HandlerOutcome> {
      return ok(null);
    }
  }
  const orphan = startParticipant([OrphanController], 'nt.orphan');
  await expect(orphan).rejects.toBeInstanceOf(HandlerRegistrationError);
  await expect(orphan).rejects.toThrow('compensation "orphan.undo" undoes "orphan.missing", which is not a registered action');

  @Controller()
  class TwiceController {
    @MessagePattern('twice.do')
    async first(): Promise<HandlerOutcome> {
      return ok(1);
    }
    @MessagePattern('twice.do')
    async second(): Promise<HandlerOutcome> {
      return ok(2);
    }
  }
  await expect(startParticipant([TwiceController], 'nt.twice')).rejects.toThrow('two handlers for pattern "twice.do"');
});

it('lets a message in flight commit, reply and ack when the application closes', async () => {
  const queue = 'nt.closing';
  const closing = await startParticipant([LedgerController], queue);
  const sagaId = newSaga();
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  let open!: () => void;
  gates.set(sagaId, { entered, open: new Promise<void>((resolve) => (open = resolve)) });

  const correlationId = await amqp.send(queue, add(sagaId, { entryId: sagaId, amount: 5 }));
  await inside; // the method is running, its transaction open
  let closed = false;
  const close = closing.close().then(() => (closed = true));
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(closed).toBe(false); // close() waits for the message in flight
  open();
  await close;

  const reply = await amqp.reply(correlationId);
  expect(reply.classified).toEqual({ kind: 'success', result: { entryId: sagaId, amount: 5 } });
  expect(await ledger(sagaId)).toBe(5);
  expect(await processedRow(db, commandMessageId({ sagaId, step: 'add-entry', direction: 'action' }))).toBeDefined();
  // Acked before the connection closed: nothing went back to the queue.
  const probe = await connect(vhost.url);
  try {
    const channel = await probe.createChannel();
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
  } finally {
    await probe.close();
  }
});
