/**
 * Poison and unroutable messages never loop (docs/semantics.md S4), on the real RabbitMQ and PostgreSQL, for
 * both consumers of saga traffic: a toolkit participant's command queue (`saga.toy`) and the
 * orchestrator's reply queue (`saga.replies`).
 *
 * Proves, for each kind of poison: the message lands in `saga.dead-letter` once, with its
 * specific reason in x-dead-letter-reason and its queue in x-dead-letter-source, and the queue
 * keeps serving (a normal command is answered / a real saga completes afterwards). Kinds:
 * malformed JSON, an unknown pattern, missing saga headers, data failing the handler's schema
 * (answered INVALID_COMMAND, so the saga rolls back, AND copied to the dead-letter queue),
 * an oversized body, a command whose commit the database refuses every time (parked after
 * DEFAULT_POISON_AFTER deliveries while other commands flow); for replies: malformed JSON, no or
 * a foreign correlation id, bodies of the wrong structure, an oversized body, and a reply whose
 * handling keeps failing (its saga's definition version is gone after a redeploy and its row lost).
 */
import { SagaHeaders, commandEnvelope, commandMessageId, correlationIdFor, type OutgoingCommand } from '#saga/core';
import { DEFAULT_POISON_AFTER } from '#saga/messaging';
import type { GetMessage } from 'amqplib';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrchestrator } from '../../apps/orchestrator/src/bootstrap';
import { AmqpHarness, type CommandSpec } from '../participants/harness';
import { waitFor } from '../support/infra';
import { TestSystem, type SagaBody } from './system-harness';
import { TOY_MODE_ERROR, TOY_QUEUE, ToyParticipant, writeToyDefinitions } from './toy-participant';

const REPLIES = 'saga.replies';
const LIMIT = 1024 * 1024;

let system: TestSystem;
let toy: ToyParticipant;
let amqp: AmqpHarness;
let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'saga-poison-'));
  await writeToyDefinitions(join(folder, 'v1'), 1);
  // This file reads saga.dead-letter itself: the orchestrator must not take it into its table.
  system = await TestSystem.start({ env: { SAGA_DEFINITIONS_DIR: join(folder, 'v1'), DEAD_LETTER_INTAKE: 'false' } });
  toy = await ToyParticipant.start(system.id, system.amqpUrl);
  amqp = await AmqpHarness.open(system.amqpUrl, 'saga');
});

afterAll(async () => {
  await amqp?.close();
  await toy?.stop();
  await system?.close();
  await rm(folder, { recursive: true, force: true });
});

/** The next parked message, which must come from `source` with exactly `reason`. */
async function expectParked(source: string, reason: string, timeoutMs = 20_000): Promise<GetMessage> {
  const parked = await amqp.nextDeadLetter(timeoutMs);
  expect({ reason: parked.properties.headers?.[SagaHeaders.deadLetterReason], source: parked.properties.headers?.[SagaHeaders.deadLetterSource] }).toEqual({ reason, source });
  return parked;
}

async function expectNothingMoreParked(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(await amqp.deadLetterCount()).toBe(0);
}

let sagaCounter = 0;
const toyCommand = (data: unknown, extra: Partial<CommandSpec> = {}): CommandSpec => ({
  sagaId: `toy-${++sagaCounter}`,
  step: 'direct',
  direction: 'action',
  pattern: 'toy.do',
  data,
  ...extra,
});

/** A well-formed command with the given body, as the orchestrator would send it (headers, ids). */
function envelope(spec: CommandSpec): ReturnType<typeof commandEnvelope> {
  const address = { sagaId: spec.sagaId, step: spec.step, direction: spec.direction };
  const command: OutgoingCommand = {
    messageId: commandMessageId(address),
    correlationId: correlationIdFor({ ...address, attempt: 1 }),
    sagaId: spec.sagaId,
    sagaName: 'toy-flow',
    step: spec.step,
    direction: spec.direction,
    attempt: 1,
    command: spec.pattern,
    payload: spec.data,
    expiresAt: Date.now() + 60_000,
  };
  return commandEnvelope(command, TOY_QUEUE, amqp.replyQueue, Date.now());
}

/** The toy queue still serves: a valid command is applied and answered. */
async function expectToyServing(): Promise<void> {
  const reply = await amqp.call(TOY_QUEUE, toyCommand({ mode: 'ok', tag: 'alive' }));
  expect(reply.body).toEqual({ response: { tag: 'alive', step: 'direct' }, isDisposed: true });
}

async function runPlaceOrder(): Promise<SagaBody> {
  const started = await system.startSaga('place-order', { customerId: 'c-poison', items: [{ sku: 'sku-1', quantity: 1 }], amount: 10 }).expect(202);
  return system.waitForSaga(started.body.id);
}

describe('poison commands on a toolkit participant queue (e2e)', () => {
  it('parks a body that is not JSON, and keeps serving', async () => {
    amqp.sendRaw(TOY_QUEUE, Buffer.from('{"pattern":"toy.do",'), { messageId: 'not-json-1', replyTo: amqp.replyQueue, correlationId: 'not-json-1/1' });
    const parked = await expectParked(TOY_QUEUE, 'malformed command: body is not valid JSON');
    expect(parked.properties.messageId).toBe('not-json-1');
    expect(amqp.repliesFor('not-json-1/1')).toEqual([]);
    await expectToyServing();
  });

  it('parks a command for a pattern nobody handles, and keeps serving', async () => {
    const { body, properties } = envelope(toyCommand({ mode: 'ok', tag: 'x' }, { pattern: 'toy.teleport' }));
    amqp.sendRaw(TOY_QUEUE, Buffer.from(JSON.stringify(body)), properties);
    const parked = await expectParked(TOY_QUEUE, 'no handler for pattern "toy.teleport"');
    expect(parked.properties.correlationId).toBe(properties.correlationId);
    expect(amqp.repliesFor(properties.correlationId)).toEqual([]);
    await expectToyServing();
  });

  it('parks a command without its saga headers, and keeps serving', async () => {
    const { body, properties } = envelope(toyCommand({ mode: 'ok', tag: 'x' }));
    const { [SagaHeaders.sagaId]: _id, [SagaHeaders.step]: _step, ...headers } = properties.headers;
    amqp.sendRaw(TOY_QUEUE, Buffer.from(JSON.stringify(body)), { ...properties, headers });
    const parked = await expectParked(TOY_QUEUE, 'malformed command: missing x-saga-id or x-saga-step header');
    expect(parked.properties.messageId).toBe(properties.messageId);
    expect(amqp.repliesFor(properties.correlationId)).toEqual([]);
    await expectToyServing();
  });

  it('answers data failing validation with INVALID_COMMAND, so the saga rolls back, and copies the command to the dead-letter queue', async () => {
    const started = await system.startSaga('toy-flow', { mode: 'launch', tag: 'invalid-1' }).expect(202);
    const saga = await system.waitForSaga(started.body.id);
    expect(saga.status).toBe('COMPENSATED');
    expect(saga.history.find((h) => h.type === 'STEP_FAILED')).toMatchObject({ step: 'finish', direction: 'action', reason: 'INVALID_COMMAND' });
    expect(saga.steps.map((s) => [s.name, s.status])).toEqual([
      ['prepare', 'COMPENSATED'],
      ['finish', 'FAILED'],
    ]);
    expect(await toy.effects('invalid-1')).toEqual([]); // prepare was undone; finish never applied

    const validation = `invalid data for "toy.do": ${TOY_MODE_ERROR}`;
    const reason = `payload failed validation (replied INVALID_COMMAND): ${validation}`;
    const copy = await expectParked(TOY_QUEUE, reason);
    expect(copy.properties.messageId).toBe(`${saga.id}/finish/action`);
    expect(copy.properties.correlationId).toBe(`${saga.id}/finish/action/1`);
    expect(JSON.parse(copy.content.toString())).toMatchObject({ pattern: 'toy.do', data: { mode: 'launch', tag: 'invalid-1' } });
    expect(await toy.processed(`${saga.id}/finish/action`)).toEqual({ outcome: { kind: 'failure', code: 'INVALID_COMMAND', message: validation } });

    // A redelivery is answered from the stored outcome, identically, and copied again (at least once).
    const spec = toyCommand({ mode: 'launch', tag: 'invalid-2' });
    const first = await amqp.call(TOY_QUEUE, spec);
    expect(first.body).toEqual({ err: { code: 'INVALID_COMMAND', message: validation }, isDisposed: true });
    await expectParked(TOY_QUEUE, reason);
    const correlationId = await amqp.send(TOY_QUEUE, spec);
    expect((await amqp.reply(correlationId, 2)).raw).toBe(first.raw);
    await expectParked(TOY_QUEUE, reason);
    await expectNothingMoreParked();
    await expectToyServing();
  });

  it('parks an oversized command unread, and keeps serving', async () => {
    const { body, properties } = envelope(toyCommand({ mode: 'ok', tag: 'x'.repeat(LIMIT) }));
    const content = Buffer.from(JSON.stringify(body));
    amqp.sendRaw(TOY_QUEUE, content, properties);
    const parked = await expectParked(TOY_QUEUE, `body of ${content.length} bytes is over the ${LIMIT}-byte limit`);
    expect(parked.content.equals(content)).toBe(true);
    expect(amqp.repliesFor(properties.correlationId)).toEqual([]);
    await expectToyServing();
  });

  it('parks a command whose commit the database refuses every time, after DEFAULT_POISON_AFTER deliveries, while other commands flow', async () => {
    const spec = toyCommand({ mode: 'dangling', tag: 'dangling-1' });
    const stuck = await amqp.send(TOY_QUEUE, spec);
    // While it is retried (a pause between deliveries), normal commands are answered at once.
    const startedAt = Date.now();
    await expectToyServing();
    await expectToyServing();
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(await amqp.deadLetterCount()).toBe(0);

    const parked = await expectParked(
      TOY_QUEUE,
      `processing failed on ${DEFAULT_POISON_AFTER} deliveries: store the outcome and commit failed: ` +
        'insert or update on table "toy_effects" violates foreign key constraint "toy_effects_ref_fkey"',
      30_000,
    );
    expect(parked.properties.correlationId).toBe(stuck);
    expect(amqp.repliesFor(stuck)).toEqual([]);
    expect(await toy.effects('dangling-1')).toEqual([]);
    expect(await toy.processed(commandMessageId({ sagaId: spec.sagaId, step: 'direct', direction: 'action' }))).toBeUndefined();
    await expectNothingMoreParked();
    await expectToyServing();
  });
});

describe('poison replies on the orchestrator reply queue (e2e)', () => {
  let saga: SagaBody;
  const publishReply = (content: string | Buffer, correlationId?: string) =>
    amqp.sendRaw(REPLIES, typeof content === 'string' ? Buffer.from(content) : content, correlationId === undefined ? {} : { correlationId });
  const historyOf = async (id: string) => (await system.http().get(`/sagas/${id}`).expect(200)).body as SagaBody;

  beforeAll(async () => {
    saga = await runPlaceOrder();
    expect(saga.status).toBe('COMPLETED');
  });

  it('parks a reply that is not JSON, notes it in the saga history, and keeps serving', async () => {
    publishReply('{"response": ', `${saga.id}/create-order/action/1`);
    const parked = await expectParked(REPLIES, 'reply body is not valid JSON');
    expect(parked.properties.correlationId).toBe(`${saga.id}/create-order/action/1`);
    const noted = await waitFor(async () => {
      const current = await historyOf(saga.id);
      return current.history.some((h) => h.type === 'MALFORMED_REPLY_PARKED') && current;
    }, 'the parked reply in the saga history');
    expect(noted.history.filter((h) => h.type === 'MALFORMED_REPLY_PARKED')).toEqual([
      expect.objectContaining({ step: 'create-order', direction: 'action', attempt: 1, reason: 'malformed', detail: { message: 'reply body is not valid JSON' } }),
    ]);
    expect(noted.status).toBe('COMPLETED');
    expect((await runPlaceOrder()).status).toBe('COMPLETED');
  });

  it("parks replies without a correlation id, or with one that is not a saga command's, and keeps serving", async () => {
    publishReply(JSON.stringify({ response: 1 }));
    expect((await expectParked(REPLIES, "correlationId null is not a saga command's")).properties.correlationId).toBeUndefined();
    publishReply(JSON.stringify({ response: 1 }), 'no-such-correlation');
    await expectParked(REPLIES, 'correlationId "no-such-correlation" is not a saga command\'s');
    publishReply(JSON.stringify({ response: 1 }), 'not-a-uuid/create-order/action/1');
    await expectParked(REPLIES, 'correlationId "not-a-uuid/create-order/action/1" is not a saga command\'s');
    expect((await runPlaceOrder()).status).toBe('COMPLETED');
  });

  it.each([
    ['a JSON array', '[1, 2]', 'reply body is not a JSON object'],
    ['neither response nor err', '{"result": {"ok": true}}', 'reply has neither "response" nor "err"'],
    ['an err that is a number', '{"err": 42}', '"err" must be an object or a string'],
  ])('parks a reply whose body is %s, and keeps serving', async (_kind, body, reason) => {
    publishReply(body, `${saga.id}/charge-payment/action/1`);
    const parked = await expectParked(REPLIES, reason);
    expect(parked.content.toString()).toBe(body);
    expect((await historyOf(saga.id)).status).toBe('COMPLETED');
    expect((await runPlaceOrder()).status).toBe('COMPLETED');
  });

  it('parks an oversized reply unread, and keeps serving', async () => {
    const body = Buffer.from(JSON.stringify({ response: { blob: 'x'.repeat(LIMIT) }, isDisposed: true }));
    publishReply(body, `${saga.id}/approve-order/action/1`);
    const parked = await expectParked(REPLIES, `body of ${body.length} bytes is over the ${LIMIT}-byte limit`);
    expect(parked.content.equals(body)).toBe(true);
    expect((await runPlaceOrder()).status).toBe('COMPLETED');
  });

  it('parks a reply whose handling keeps failing (its saga definition version is gone after a redeploy), and keeps serving', async () => {
    toy.hold();
    const started = await system.startSaga('toy-flow', { mode: 'hold', tag: 'redeployed' }).expect(202);
    await waitFor(async () => toy.holding === 1, 'the finish step to be held at the participant');
    // Redeploy the orchestrator with toy-flow@2 only, and @1 gone from saga_definitions too (a
    // database restored from before it, say; a file removed alone would not unload a stored
    // version): the running saga is pinned to @1.
    await system.orchestrator.close();
    await system.query('orchestrator', `DELETE FROM saga_definitions WHERE name = 'toy-flow' AND version = 1`);
    await writeToyDefinitions(join(folder, 'v2'), 2);
    system.orchestrator = await startOrchestrator({ env: system.orchestratorEnv({ SAGA_DEFINITIONS_DIR: join(folder, 'v2'), DEAD_LETTER_INTAKE: 'false' }), logger: false });
    toy.release(); // the participant answers now, to the new orchestrator

    const parked = await expectParked(REPLIES, `reply handling failed on ${DEFAULT_POISON_AFTER} deliveries: no saga definition toy-flow@1`, 30_000);
    expect(parked.properties.correlationId).toBe(`${started.body.id}/finish/action/1`);
    expect(JSON.parse(parked.content.toString())).toEqual({ response: { tag: 'redeployed', step: 'finish' }, isDisposed: true });
    await expectNothingMoreParked();

    expect((await runPlaceOrder()).status).toBe('COMPLETED');
    const current = await system.startSaga('toy-flow', { mode: 'ok', tag: 'after-redeploy' }).expect(202);
    const after = await system.waitForSaga(current.body.id);
    expect([after.version, after.status]).toEqual([2, 'COMPLETED']);
  });
});
