/**
 * Dead letters an operator can see and act on, against the real system: the orchestrator (two
 * replicas sharing the dead-letter queue, one with tokens), the toolkit's toy participant,
 * PostgreSQL and RabbitMQ.
 *
 * Proves:
 * - A poison command of a real saga (data failing the handler's schema) is taken from
 *   saga.dead-letter into the table with its reason, source queue, saga, step, direction and
 *   attempt; the saga's history says DEAD_LETTERED with the dead letter's id; list, read,
 *   counts, /health and /metrics show it; discarding it is audited, noted in the saga's history
 *   (DEAD_LETTER_DISCARDED, actor and reason), and a second action is 409.
 * - A command parked because its participant kept failing (the database refused its commit on
 *   5 deliveries) is replayed after the fault is fixed: the participant applies it (its effect
 *   and processed_commands row) and the saga, which was waiting for that reply, completes; the
 *   history says DEAD_LETTER_REPLAYED; replaying it again is 409.
 * - A message the broker dead-lettered (a reject) is stored with the broker's reason and count,
 *   and its replay reaches its queue without the x-death headers, marked x-replay-of.
 * - A message that is not JSON and has no headers is stored (body as base64).
 * - A replayed command that is parked again is a new dead letter pointing at the first one.
 * - Bulk replay: a dry run counts and lists without changing anything; a real run replays up to
 *   `max`, the participant answers each, and a dead letter whose source queue is gone is
 *   reported as failed and stays parked (also 409 alone, audited).
 * - The list pages with its cursor; 400 without a reason or with a bad id or cursor; 404 for an
 *   unknown id; 403 for viewer and client on every dead-letter route, and the operator's name
 *   is the recorded actor.
 */
import type { INestApplication } from '@nestjs/common';
import { commandEnvelope, commandMessageId, correlationIdFor, SagaHeaders, type OutgoingCommand } from '#saga/core';
import { queueArguments, topologyNames } from '#saga/messaging';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startOrchestrator } from '../../apps/orchestrator/src/bootstrap';
import { AmqpHarness } from '../participants/harness';
import { waitFor } from '../support/infra';
import { TestSystem, type SagaBody } from './system-harness';
import { TOY_MODE_ERROR, TOY_QUEUE, ToyParticipant, writeToyDefinitions } from './toy-participant';

const DLX = 'saga.dlx';
const TOKENS = { viewer: 'dl-viewer-token-0123456789', client: 'dl-client-token-0123456789', operator: 'dl-operator-token-0123456789' } as const;
const AUTH_TOKENS = JSON.stringify([
  { name: 'vera', role: 'viewer', token: TOKENS.viewer },
  { name: 'shop', role: 'client', token: TOKENS.client },
  { name: 'olga', role: 'operator', token: TOKENS.operator },
]);

interface Item {
  id: number;
  state: string;
  sourceQueue: string | null;
  reason: string | null;
  reasonOrigin: string;
  deathCount: number | null;
  kind: string;
  pattern: string | null;
  sagaId: string | null;
  step: string | null;
  direction: string | null;
  attempt: number | null;
  ageSeconds: number;
  links: { self: string; saga: string | null };
}

let system: TestSystem;
let secured: INestApplication;
let toy: ToyParticipant;
let amqp: AmqpHarness;
let connection: ChannelModel;
let channel: Channel;
let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'saga-dead-letters-'));
  await writeToyDefinitions(folder, 1);
  system = await TestSystem.start({ env: { SAGA_DEFINITIONS_DIR: folder } });
  // A second replica, with tokens: the two take the dead-letter queue competitively.
  secured = await startOrchestrator({ env: system.orchestratorEnv({ SAGA_DEFINITIONS_DIR: folder, AUTH_DISABLED: 'false', AUTH_TOKENS }), logger: false });
  toy = await ToyParticipant.start(system.id, system.amqpUrl);
  amqp = await AmqpHarness.open(system.amqpUrl, 'saga');
  connection = await connect(system.amqpUrl);
  channel = await connection.createConfirmChannel();
});

afterAll(async () => {
  await connection?.close().catch(() => undefined);
  await amqp?.close();
  await toy?.stop();
  await secured?.close().catch(() => undefined);
  await system?.close();
  await rm(folder, { recursive: true, force: true });
});

const http = () => system.http();

async function listed(query: string, count = 1): Promise<Item[]> {
  return waitFor(
    async () => {
      const items = (await http().get(`/dead-letters?${query}`).expect(200)).body.items as Item[];
      return items.length >= count && items;
    },
    `${count} dead letter(s) for ${query}`,
    30_000,
    100,
  );
}

async function sagaWith(id: string, type: string): Promise<SagaBody> {
  return waitFor(async () => {
    const saga = (await http().get(`/sagas/${id}`).expect(200)).body as SagaBody;
    return saga.history.some((entry) => entry.type === type) && saga;
  }, `${type} in the history of saga ${id}`);
}

/** A toy command as the orchestrator would send it, for saga `sagaId`. */
function toyEnvelope(sagaId: string, data: unknown): ReturnType<typeof commandEnvelope> {
  const address = { sagaId, step: 'direct', direction: 'action' as const };
  const command: OutgoingCommand = {
    messageId: commandMessageId(address),
    correlationId: correlationIdFor({ ...address, attempt: 1 }),
    sagaId,
    sagaName: 'toy-flow',
    step: 'direct',
    direction: 'action',
    attempt: 1,
    command: 'toy.do',
    payload: data,
    expiresAt: Date.now() + 120_000,
  };
  return commandEnvelope(command, TOY_QUEUE, amqp.replyQueue, Date.now());
}

/** Parks a message by hand, as a participant would: straight into the dead-letter exchange. */
async function parkByHand(source: string, reason: string, content: Buffer, properties: { headers?: Record<string, unknown> } & Record<string, unknown>): Promise<void> {
  channel.publish(DLX, source, content, {
    ...properties,
    persistent: true,
    headers: { ...properties.headers, [SagaHeaders.deadLetterReason]: reason, [SagaHeaders.deadLetterSource]: source, [SagaHeaders.deadLetteredAt]: Date.now() },
  });
  await (channel as unknown as { waitForConfirms(): Promise<void> }).waitForConfirms();
}

describe('dead letters (e2e)', () => {
  it('stores a poison command of a saga with its reason, source and step, shows it, and discards it with an audit', async () => {
    const started = await http().post('/sagas/toy-flow').send({ mode: 'launch', tag: 'dl-invalid' }).expect(202);
    const saga = await system.waitForSaga(started.body.id);
    expect(saga.status).toBe('COMPENSATED');

    const [item] = await listed(`sagaId=${saga.id}`);
    expect(item).toMatchObject({
      state: 'parked',
      sourceQueue: TOY_QUEUE,
      reason: `payload failed validation (replied INVALID_COMMAND): invalid data for "toy.do": ${TOY_MODE_ERROR}`,
      reasonOrigin: 'ours',
      kind: 'command',
      pattern: 'toy.do',
      sagaId: saga.id,
      step: 'finish',
      direction: 'action',
      attempt: 1,
      links: { self: `/dead-letters/${item.id}`, saga: `/sagas/${saga.id}` },
    });
    expect(item.ageSeconds).toBeGreaterThanOrEqual(0);

    const read = (await http().get(`/dead-letters/${item.id}`).expect(200)).body;
    expect(read).toMatchObject({
      bodyEncoding: 'json',
      body: { pattern: 'toy.do', data: { mode: 'launch', tag: 'dl-invalid' } },
      messageId: `${saga.id}/finish/action`,
      correlationId: `${saga.id}/finish/action/1`,
      headers: { [SagaHeaders.sagaId]: saga.id, [SagaHeaders.step]: 'finish' },
      actions: [],
    });
    const noted = await sagaWith(saga.id, 'DEAD_LETTERED');
    expect(noted.history.filter((entry) => entry.type === 'DEAD_LETTERED')).toEqual([
      expect.objectContaining({
        failureType: null,
        step: 'finish',
        direction: 'action',
        attempt: 1,
        detail: expect.objectContaining({ deadLetterId: item.id, sourceQueue: TOY_QUEUE }),
      }),
    ]);

    const counts = (await http().get('/dead-letters/counts').expect(200)).body;
    expect(counts.byState.parked).toBeGreaterThanOrEqual(1);
    expect(counts.bySourceQueue).toContainEqual(expect.objectContaining({ state: 'parked', sourceQueue: TOY_QUEUE }));
    expect((await http().get('/health').expect(200)).body.deadLettersParked).toBeGreaterThanOrEqual(1);
    expect((await http().get('/metrics').expect(200)).text).toMatch(/^saga_dead_letters_parked [1-9]/m);

    const discarded = await http().post(`/dead-letters/${item.id}/discard`).send({ reason: 'the saga rolled back; nothing to redo' }).expect(200);
    expect(discarded.body).toEqual({ id: item.id, state: 'discarded', sagaNoted: true, links: { self: `/dead-letters/${item.id}`, saga: `/sagas/${saga.id}` } });
    const again = await http().post(`/dead-letters/${item.id}/discard`).send({ reason: 'twice' }).expect(409);
    expect(again.body).toMatchObject({ message: `dead letter ${item.id} is already discarded`, state: 'discarded' });
    await http().post(`/dead-letters/${item.id}/replay`).send({ reason: 'after a discard' }).expect(409);

    const after = (await http().get(`/dead-letters/${item.id}`).expect(200)).body;
    expect(after).toMatchObject({ state: 'discarded', resolvedBy: 'auth-disabled', resolvedReason: 'the saga rolled back; nothing to redo' });
    expect(after.actions.map((a: { action: string; outcome: string }) => [a.action, a.outcome])).toEqual([
      ['discard', 'discarded'],
      ['discard', 'already-resolved'],
      ['replay', 'already-resolved'],
    ]);
    const history = (await http().get(`/sagas/${saga.id}`).expect(200)).body as SagaBody;
    expect(history.history.filter((entry) => entry.type === 'DEAD_LETTER_DISCARDED')).toEqual([
      expect.objectContaining({
        failureType: 'operator',
        step: 'finish',
        reason: 'discard',
        detail: expect.objectContaining({ deadLetterId: item.id, by: 'auth-disabled', reason: 'the saga rolled back; nothing to redo' }),
      }),
    ]);
  });

  it('replays a command its participant kept failing on, once fixed: the participant applies it and the saga completes', async () => {
    const started = await http().post('/sagas/toy-flow').send({ mode: 'dangling', tag: 'dl-dangling' }).expect(202);
    const sagaId = started.body.id as string;
    const [item] = await listed(`sagaId=${sagaId}`);
    expect(item).toMatchObject({ sourceQueue: TOY_QUEUE, step: 'finish', direction: 'action', attempt: 1, reasonOrigin: 'ours' });
    expect(item.reason).toMatch(/^processing failed on 5 deliveries: .*toy_effects_ref_fkey/);
    expect((await http().get(`/sagas/${sagaId}`).expect(200)).body.status).toBe('RUNNING'); // waiting for the reply
    expect(await toy.processed(`${sagaId}/finish/action`)).toBeUndefined();

    await toy.addRef('no-such-ref'); // the fault is fixed
    const replayed = await http().post(`/dead-letters/${item.id}/replay`).send({ reason: 'missing ref added' }).expect(200);
    expect(replayed.body).toMatchObject({ id: item.id, state: 'replayed', sagaNoted: true });

    const saga = await system.waitForSaga(sagaId);
    expect(saga.status).toBe('COMPLETED');
    expect(await toy.effects('dl-dangling')).toEqual([
      { step: 'finish', ref: 'no-such-ref' },
      { step: 'prepare', ref: null },
    ]);
    expect(await toy.processed(`${sagaId}/finish/action`)).toEqual({ outcome: { kind: 'success', result: { tag: 'dl-dangling', step: 'finish' } } });
    const types = saga.history.map((entry) => entry.type);
    expect(types.indexOf('DEAD_LETTERED')).toBeLessThan(types.indexOf('DEAD_LETTER_REPLAYED'));
    expect(types.indexOf('DEAD_LETTER_REPLAYED')).toBeLessThan(types.indexOf('SAGA_COMPLETED'));
    expect(saga.history.find((entry) => entry.type === 'DEAD_LETTER_REPLAYED')).toMatchObject({
      failureType: 'operator',
      detail: expect.objectContaining({ deadLetterId: item.id, by: 'auth-disabled', reason: 'missing ref added' }),
    });

    const twice = await http().post(`/dead-letters/${item.id}/replay`).send({ reason: 'again' }).expect(409);
    expect(twice.body.message).toBe(`dead letter ${item.id} is already replayed`);
    const audit = await system.query<{ action: string; actor: string; outcome: string }>(
      'orchestrator',
      'SELECT action, actor, outcome FROM dead_letter_actions WHERE dead_letter_id = $1 ORDER BY id',
      [item.id],
    );
    expect(audit).toEqual([
      { action: 'replay', actor: 'auth-disabled', outcome: 'replayed' },
      { action: 'replay', actor: 'auth-disabled', outcome: 'already-resolved' },
    ]);
  });

  it("stores what the broker dead-lettered with the broker's reason, and replays it to its queue without the x-death headers", async () => {
    const queue = 'saga.e2e-rejecting';
    await channel.assertQueue(queue, { durable: true, arguments: queueArguments(topologyNames('saga')) });
    channel.sendToQueue(queue, Buffer.from('{"hello":"broker"}'), { persistent: true, messageId: 'broker-1', contentType: 'application/json' });
    await (channel as unknown as { waitForConfirms(): Promise<void> }).waitForConfirms();
    const taken = await waitFor(async () => (await channel.get(queue)) || undefined, 'the message on the rejecting queue');
    channel.nack(taken, false, false); // the broker dead-letters it: x-death, reason rejected

    const [item] = await listed(`sourceQueue=${queue}`);
    expect(item).toMatchObject({ reason: 'rejected', reasonOrigin: 'broker', deathCount: 1, kind: 'unknown', sagaId: null });
    await http().post(`/dead-letters/${item.id}/replay`).send({ reason: 'consumer fixed' }).expect(200);
    const back = await waitFor(async () => (await channel.get(queue, { noAck: true })) || undefined, 'the replayed message on its queue');
    expect(back.content.toString()).toBe('{"hello":"broker"}');
    expect(back.properties.messageId).toBe('broker-1');
    // basic.get shows the queue's own x-delivery-count (0); nothing else but the replay marks.
    expect(back.properties.headers).toEqual({ 'x-delivery-count': 0, [SagaHeaders.replayOf]: item.id, [SagaHeaders.replayedBy]: 'auth-disabled' });
    await channel.deleteQueue(queue);
  });

  it('stores a message that is not JSON and has no headers, and parks a replayed command again as a new dead letter', async () => {
    channel.publish(DLX, 'saga.nowhere', Buffer.from([0xde, 0xad, 0x00, 0xbe]), { persistent: true });
    const [garbage] = await listed('sourceQueue=saga.nowhere');
    expect(garbage).toMatchObject({ reason: null, reasonOrigin: 'unknown', kind: 'unknown', sagaId: null });
    const read = (await http().get(`/dead-letters/${garbage.id}`).expect(200)).body;
    expect(read).toMatchObject({ bodyEncoding: 'base64', body: Buffer.from([0xde, 0xad, 0x00, 0xbe]).toString('base64'), headers: {} });

    const { body, properties } = toyEnvelope('dl-again-1', { mode: 'launch', tag: 'dl-again' });
    await parkByHand(TOY_QUEUE, 'parked by hand', Buffer.from(JSON.stringify(body)), properties);
    const [first] = await listed('sagaId=dl-again-1');
    expect(first.reason).toBe('parked by hand');
    await http().post(`/dead-letters/${first.id}/replay`).send({ reason: 'try once more' }).expect(200);
    // Still invalid: the participant answers INVALID_COMMAND and parks it again, a new dead letter.
    const [second] = await listed('sagaId=dl-again-1', 2);
    expect(second.id).toBeGreaterThan(first.id);
    expect(second.reason).toMatch(/^payload failed validation \(replied INVALID_COMMAND\)/);
    expect((await http().get(`/dead-letters/${second.id}`).expect(200)).body).toMatchObject({ replayOf: first.id, headers: { [SagaHeaders.replayedBy]: 'auth-disabled' } });
    expect((await amqp.reply(properties.correlationId)).body).toMatchObject({ err: { code: 'INVALID_COMMAND' } });
  });

  it('replays a filtered set: a dry run changes nothing, a real run replays up to max and reports what it could not', async () => {
    const tags = ['dl-bulk-1', 'dl-bulk-2', 'dl-bulk-3'];
    const correlationIds: string[] = [];
    for (const tag of tags) {
      const { body, properties } = toyEnvelope(`${tag}-saga`, { mode: 'ok', tag });
      correlationIds.push(properties.correlationId);
      await parkByHand(TOY_QUEUE, 'bulk test: participant was down', Buffer.from(JSON.stringify(body)), properties);
    }
    const gone = toyEnvelope('dl-bulk-gone-saga', { mode: 'ok', tag: 'dl-bulk-gone' });
    await parkByHand('saga.gone', 'bulk test: participant was down', Buffer.from(JSON.stringify(gone.body)), gone.properties);
    const items = await listed('reason=BULK%20TEST', 4);
    const ids = items.map((item) => item.id).sort((a, b) => a - b);

    // The list pages newest first.
    const page1 = (await http().get('/dead-letters?reason=bulk%20test&limit=3').expect(200)).body;
    expect(page1.items.map((item: Item) => item.id)).toEqual([...ids].reverse().slice(0, 3));
    const page2 = (await http().get(`/dead-letters?reason=bulk%20test&limit=3&cursor=${page1.next}`).expect(200)).body;
    expect(page2).toEqual({ items: [expect.objectContaining({ id: ids[0] })], next: null });
    expect((await http().get('/dead-letters?reason=bulk%20test&olderThan=3600').expect(200)).body.items).toEqual([]);

    const dry = await http()
      .post('/dead-letters/replay')
      .send({ filter: { reason: 'bulk test' }, dryRun: true, max: 2, reason: 'participant is back' })
      .expect(200);
    expect(dry.body).toEqual({ dryRun: true, matched: 4, ids: ids.slice(0, 2), replayed: 0, failed: [] });
    expect((await listed('reason=bulk%20test&state=parked', 4)).length).toBe(4);
    expect(amqp.repliesFor(correlationIds[0])).toEqual([]);

    const real = await http()
      .post('/dead-letters/replay')
      .send({ filter: { reason: 'bulk test', state: 'parked' }, max: 10, reason: 'participant is back' })
      .expect(200);
    const goneId = items.find((item) => item.sourceQueue === 'saga.gone')!.id;
    expect(real.body).toEqual({
      dryRun: false,
      matched: 4,
      ids: ids.filter((id) => id !== goneId),
      replayed: 3,
      failed: [{ id: goneId, outcome: 'source-queue-missing', message: expect.stringContaining('"saga.gone"') }],
    });
    for (const [index, tag] of tags.entries()) {
      expect((await amqp.reply(correlationIds[index])).body).toEqual({ response: { tag, step: 'direct' }, isDisposed: true });
      expect(await toy.effects(tag)).toEqual([{ step: 'direct', ref: null }]);
    }

    const alone = await http().post(`/dead-letters/${goneId}/replay`).send({ reason: 'once more' }).expect(409);
    expect(alone.body.message).toMatch(/source queue "saga.gone" of dead letter \d+ does not exist/);
    expect((await http().get(`/dead-letters/${goneId}`).expect(200)).body).toMatchObject({
      state: 'parked',
      actions: [expect.objectContaining({ outcome: 'source-queue-missing' }), expect.objectContaining({ outcome: 'source-queue-missing' })],
    });
  });

  it('answers 400 without a reason or with a bad id or cursor, and 404 for an unknown id', async () => {
    const noReason = await http().post('/dead-letters/1/replay').send({}).expect(400);
    expect(noReason.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'reason' })]));
    await http().post('/dead-letters/1/discard').send({ reason: '' }).expect(400);
    await http().post('/dead-letters/replay').send({ dryRun: true }).expect(400);
    await http().post('/dead-letters/replay').send({ reason: 'x', max: 1001 }).expect(400);
    await http()
      .post('/dead-letters/replay')
      .send({ reason: 'x', filter: { state: 'replayed' } })
      .expect(400);
    expect((await http().get('/dead-letters/abc').expect(400)).body.errors).toEqual([expect.objectContaining({ field: 'id' })]);
    await http().get('/dead-letters?cursor=bm9wZQ').expect(400);
    await http().get('/dead-letters?state=lost').expect(400);
    expect((await http().get('/dead-letters/999999').expect(404)).body.message).toBe('no dead letter 999999');
    await http().post('/dead-letters/999999/replay').send({ reason: 'x' }).expect(404);
    await http().post('/dead-letters/999999/discard').send({ reason: 'x' }).expect(404);
  });

  it('is for operators only, and records the operator by name', async () => {
    const as = (role: keyof typeof TOKENS) => ({ Authorization: `Bearer ${TOKENS[role]}` });
    const on = () => request(secured.getHttpServer());
    const { body, properties } = toyEnvelope('dl-roles-saga', { mode: 'launch', tag: 'dl-roles' });
    await parkByHand(TOY_QUEUE, 'roles test', Buffer.from(JSON.stringify(body)), properties);
    const [item] = await listed('sagaId=dl-roles-saga');
    const calls = [
      () => on().get('/dead-letters'),
      () => on().get('/dead-letters/counts'),
      () => on().get(`/dead-letters/${item.id}`),
      () => on().post(`/dead-letters/${item.id}/replay`).send({ reason: 'x' }),
      () => on().post(`/dead-letters/${item.id}/discard`).send({ reason: 'x' }),
      () => on().post('/dead-letters/replay').send({ reason: 'x', dryRun: true }),
    ];
    for (const call of calls) {
      await call().expect(401);
      for (const role of ['viewer', 'client'] as const) {
        const refused = await call().set(as(role)).expect(403);
        expect(refused.body.message).toBe(`role "${role}" may not do this; allowed: operator, admin`);
      }
    }
    await on().get('/dead-letters').set(as('operator')).expect(200);
    await on().post(`/dead-letters/${item.id}/discard`).set(as('operator')).send({ reason: 'noise from a test' }).expect(200);
    expect((await http().get(`/dead-letters/${item.id}`).expect(200)).body).toMatchObject({
      state: 'discarded',
      resolvedBy: 'olga',
      actions: [expect.objectContaining({ action: 'discard', actor: 'olga', outcome: 'discarded' })],
    });
  });
});
