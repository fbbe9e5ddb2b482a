/**
 * ParticipantModule in a plain Nest application: the synchronous forRoot() form, the default
 * TypeORM DataSource picked up without being passed, consumption starting at bootstrap and
 * stopping on close, and bad handler registrations failing the start.
 */
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { defineAction, defineCompensation, HandlerRegistrationError, ok, ParticipantModule, ParticipantRuntime, PARTICIPANT_TOOLKIT_MIGRATIONS } from '#saga/participant';
import type { DataSource } from 'typeorm';
import { AmqpHarness } from './harness';
import { createTestDatabase, createTestVhost, runId } from '../support/infra';

const echo = defineAction('echo.say', { handle: async (data: unknown) => ok({ echoed: data }) });

let database: { url: string; drop: () => Promise<void> };
let vhost: { url: string; drop: () => Promise<void> };

beforeAll(async () => {
  const id = runId();
  database = await createTestDatabase(id, 'module');
  vhost = await createTestVhost(id);
});

afterAll(async () => {
  await database?.drop();
  await vhost?.drop();
});

function appModule(handlers: Parameters<typeof ParticipantModule.forRoot>[0]['handlers']) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url: database.url, migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS], migrationsRun: true, retryAttempts: 1 }),
      ParticipantModule.forRoot({ amqpUrl: vhost.url, amqpPrefix: 'mod', queue: 'mod.echo', connectionName: 'module-test', handlers }),
    ],
  })
  class EchoAppModule {}
  return EchoAppModule;
}

it('consumes with the default DataSource from bootstrap until close', async () => {
  const app = await NestFactory.createApplicationContext(appModule([echo]), { logger: false, abortOnError: false });
  const amqp = await AmqpHarness.open(vhost.url, 'mod');
  try {
    expect(app.get(ParticipantRuntime).running).toBe(true);
    const reply = await amqp.call('mod.echo', { sagaId: 's-1', step: 'say', direction: 'action', pattern: 'echo.say', data: { hello: 'world' } });
    expect(reply.body).toEqual({ response: { echoed: { hello: 'world' } }, isDisposed: true });
    await app.close();
    expect(app.get(ParticipantRuntime).running).toBe(false);
  } finally {
    await amqp.close();
  }
});

it('refuses an invalid handler registration before anything starts', async () => {
  const orphan = defineCompensation('echo.unsay', 'echo.missing', { handle: async () => ok(null) });
  expect(() => appModule([echo, orphan])).toThrow(HandlerRegistrationError);

  @Module({
    imports: [
      ParticipantModule.forRootAsync({
        useFactory: () => ({ amqpUrl: vhost.url, amqpPrefix: 'mod', queue: 'mod.bad', connectionName: 'bad', handlers: [echo, echo], dataSource: {} as DataSource }),
      }),
    ],
  })
  class BadAsyncModule {}
  await expect(NestFactory.createApplicationContext(BadAsyncModule, { logger: false, abortOnError: false })).rejects.toBeInstanceOf(HandlerRegistrationError);
});
