/**
 * A participant written only with stock @nestjs/microservices (Transport.RMQ, @MessagePattern,
 * RpcException) and none of this project's code serves the steps of a saga that is defined in
 * JSON files (definition + participant catalog) loaded from SAGA_DEFINITIONS_DIR.
 *
 * Also proves it lives with the orchestrator's quorum queue (docs/protocol.md section 1): with
 * `noAssert: true`, or declaring it with `queueOptions.arguments` = queueArguments(); and a
 * command for a pattern it does not handle is rejected by Nest and parked by the broker
 * (x-death reason `rejected`), not looped.
 */
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, MessagePattern, Payload, RmqContext, RpcException, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queueArguments, topologyNames } from '#saga/messaging';
import { connect } from 'amqplib';
import { waitFor } from '../support/infra';
import { TestSystem } from './system-harness';

const QUEUE = 'loyalty-points';
const revoked: unknown[] = [];
let awards = 0;

function ack(context: RmqContext): void {
  context.getChannelRef().ack(context.getMessage());
}

@Controller()
class LoyaltyController {
  @MessagePattern('loyalty.award')
  award(@Payload() data: { customerId: string; points: number }, @Ctx() context: RmqContext) {
    ack(context);
    awards += 1;
    return { awardId: `award-${data.customerId}`, points: data.points };
  }

  @MessagePattern('loyalty.confirm')
  confirm(@Payload() data: { awardId: string; points: number }, @Ctx() context: RmqContext) {
    ack(context);
    if (data.points > 1000) throw new RpcException({ code: 'TOO_MANY_POINTS', message: `${data.points} points need a manual review` });
    return { confirmed: data.awardId };
  }

  @MessagePattern('loyalty.revoke')
  revoke(@Payload() data: unknown, @Ctx() context: RmqContext) {
    ack(context);
    revoked.push(data);
    return { revoked: true };
  }
}

@Module({ controllers: [LoyaltyController] })
class LoyaltyModule {}

const awardPointsSaga = {
  name: 'award-points',
  version: 3,
  inputSchema: {
    type: 'object',
    required: ['customerId', 'points'],
    properties: { customerId: { type: 'string', minLength: 1 }, points: { type: 'integer', minimum: 1 } },
  },
  steps: [
    {
      name: 'award',
      action: { command: 'loyalty.award', payload: { customerId: '$.input.customerId', points: '$.input.points' } },
      compensation: { command: 'loyalty.revoke', payload: { awardId: '$.result.awardId', points: '$.result.points', reason: 'saga rolled back' } },
      timeoutMs: 3000,
      retry: { maxAttempts: 2, backoff: { initialMs: 100, multiplier: 2, maxMs: 1000 } },
    },
    {
      name: 'confirm',
      action: { command: 'loyalty.confirm', payload: { awardId: '$.steps.award.awardId', points: '$.steps.award.points' } },
      pivot: true,
      timeoutMs: 3000,
      retry: { maxAttempts: 2, backoff: { initialMs: 100, multiplier: 2, maxMs: 1000 } },
    },
  ],
};

describe('a stock @nestjs/microservices participant serving a JSON-defined saga (e2e)', () => {
  let system: TestSystem;
  let participant: INestMicroservice;
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'saga-defs-'));
    await writeFile(
      join(folder, 'loyalty.participants.json'),
      JSON.stringify({ participants: { loyalty: { queue: QUEUE, commands: ['loyalty.award', 'loyalty.revoke', 'loyalty.confirm'] } } }),
    );
    await writeFile(join(folder, 'award-points.saga.json'), JSON.stringify(awardPointsSaga, null, 2));
    // This file reads saga.dead-letter itself: the orchestrator must not take it into its table.
    system = await TestSystem.start({ participants: false, env: { SAGA_DEFINITIONS_DIR: folder, DEAD_LETTER_INTAKE: 'false' } });
    participant = await NestFactory.createMicroservice<MicroserviceOptions>(LoyaltyModule, {
      transport: Transport.RMQ,
      options: { urls: [system.amqpUrl], queue: QUEUE, noAck: false, noAssert: true, prefetchCount: 5 },
      logger: false,
    });
    await participant.listen();
  });

  afterAll(async () => {
    await participant?.close();
    await system?.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('loads the JSON definition and shows where its commands go', async () => {
    const response = await system.http().get('/definitions/award-points').expect(200);
    expect(response.body.definition.version).toBe(3);
    expect(response.body.routes).toEqual([
      { step: 'award', action: { command: 'loyalty.award', queue: QUEUE }, compensation: { command: 'loyalty.revoke', queue: QUEUE } },
      { step: 'confirm', action: { command: 'loyalty.confirm', queue: QUEUE }, compensation: null },
    ]);
  });

  it('completes with the stock handlers results', async () => {
    const started = await system.startSaga('award-points', { customerId: 'c-7', points: 40 }).expect(202);
    const saga = await system.waitForSaga(started.body.id);
    expect(saga.status).toBe('COMPLETED');
    expect(saga.version).toBe(3);
    expect(saga.steps.map((s) => s.result)).toEqual([{ awardId: 'award-c-7', points: 40 }, { confirmed: 'award-c-7' }]);
  });

  it('reads an RpcException as a business failure and sends the undo with what the action returned', async () => {
    const before = awards;
    const started = await system.startSaga('award-points', { customerId: 'c-8', points: 5000 }).expect(202);
    const saga = await system.waitForSaga(started.body.id);
    expect(saga.status).toBe('COMPENSATED');
    expect(saga.history.find((h) => h.type === 'STEP_FAILED')).toMatchObject({ step: 'confirm', reason: 'TOO_MANY_POINTS', attempt: 1 });
    expect(revoked).toEqual([{ awardId: 'award-c-8', points: 5000, reason: 'saga rolled back' }]);
    expect(awards - before).toBe(1);
  });

  it('starts as well declaring the queue itself with queueOptions.arguments = queueArguments()', async () => {
    const declaring = await NestFactory.createMicroservice<MicroserviceOptions>(LoyaltyModule, {
      transport: Transport.RMQ,
      options: { urls: [system.amqpUrl], queue: QUEUE, noAck: false, prefetchCount: 5, queueOptions: { durable: true, arguments: queueArguments(topologyNames('saga')) } },
      logger: false,
    });
    await declaring.listen();
    // Consuming next to the first server (closing before Nest's un-awaited consume is done
    // would reject it unhandled).
    const consumers = async () => {
      const connection = await connect(system.amqpUrl);
      try {
        return (await (await connection.createChannel()).checkQueue(QUEUE)).consumerCount;
      } finally {
        await connection.close();
      }
    };
    await waitFor(async () => (await consumers()) === 2, 'the declaring server to consume');
    await declaring.close();
    const started = await system.startSaga('award-points', { customerId: 'c-9', points: 1 }).expect(202);
    expect((await system.waitForSaga(started.body.id)).status).toBe('COMPLETED');
  });

  it('a command for a pattern it has no handler for is rejected by Nest and parked by the broker', async () => {
    const connection = await connect(system.amqpUrl);
    try {
      const channel = await connection.createConfirmChannel();
      const { queue: replyTo } = await channel.assertQueue('', { exclusive: true });
      channel.sendToQueue(QUEUE, Buffer.from(JSON.stringify({ pattern: 'loyalty.teleport', data: {}, id: 'teleport-1' })), {
        messageId: 'teleport-1',
        correlationId: 'teleport-1/1',
        replyTo,
        persistent: true,
      });
      await channel.waitForConfirms();
      const parked = await waitFor(async () => channel.get('saga.dead-letter', { noAck: true }), 'the rejected command in the dead-letter queue');
      expect(parked.properties.messageId).toBe('teleport-1');
      expect(parked.properties.headers).toMatchObject({ 'x-first-death-reason': 'rejected', 'x-first-death-queue': QUEUE });
      expect(parked.properties.headers?.['x-death']).toEqual([expect.objectContaining({ reason: 'rejected', queue: QUEUE, count: 1 })]);
      expect((await channel.checkQueue(QUEUE)).messageCount).toBe(0);
    } finally {
      await connection.close();
    }
  });
});
