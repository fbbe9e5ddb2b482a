/**
 * SPEC S2/S3 end to end, against the real PostgreSQL and RabbitMQ, with a participant that
 * answers as each saga's input scripts it (test/support/scripted-participant.ts). Every test
 * checks both the saga (status, steps, history) and what the participant actually received.
 */
import { connect, type ChannelModel } from 'amqplib';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../support/infra';
import { ScriptedParticipant, type PlannedReply } from '../support/scripted-participant';
import { TestSystem, type SagaBody } from './system-harness';

const QUEUE = 'saga.scripted';
const budget = { maxAttempts: 3, backoff: { initialMs: 50, multiplier: 1, maxMs: 50 } };
const step = (name: string, options: { undo?: boolean; pivot?: boolean } = {}) => ({
  name,
  action: { command: `${name}.do`, payload: { plan: '$.input.plan' } },
  ...(options.undo === false ? {} : { compensation: { command: `${name}.undo`, payload: { plan: '$.input.plan' } } }),
  ...(options.pivot ? { pivot: true } : {}),
  timeoutMs: 400,
  retry: budget,
  compensationRetry: budget,
});
const saga = (name: string, steps: unknown[], extra: Record<string, unknown> = {}) => ({
  name,
  version: 1,
  inputSchema: { type: 'object', required: ['plan'], properties: { plan: { type: 'object' } } },
  steps,
  ...extra,
});

type Plan = Record<string, PlannedReply[]>;

describe('failure scenarios (e2e)', () => {
  let system: TestSystem;
  let participant: ScriptedParticipant;
  let folder: string;

  const run = async (name: string, plan: Plan): Promise<SagaBody> => {
    const started = await system.startSaga(name, { plan }).expect(202);
    return system.waitForSaga(started.body.id, 20_000);
  };
  const types = (saga: SagaBody, type: string) => saga.history.filter((h) => h.type === type);

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'saga-scenarios-'));
    await writeFile(join(folder, 'scripted.participants.json'), JSON.stringify({ participants: { scripted: { queue: QUEUE, commands: ['a.do', 'a.undo', 'b.do', 'b.undo', 'c.do'] } } }));
    await writeFile(join(folder, 'chain.saga.json'), JSON.stringify(saga('chain', [step('a'), step('b'), step('c', { undo: false })])));
    await writeFile(join(folder, 'forward.saga.json'), JSON.stringify(saga('forward', [step('a'), step('b', { undo: false, pivot: true }), step('c', { undo: false })])));
    await writeFile(join(folder, 'deadline.saga.json'), JSON.stringify(saga('deadline', [step('a'), step('b'), step('c', { undo: false })], { deadlineMs: 700 })));
    system = await TestSystem.start({ participants: false, env: { SAGA_DEFINITIONS_DIR: folder, TIMER_POLL_MS: '50' } });
    participant = await ScriptedParticipant.start(system.amqpUrl, QUEUE);
  });

  afterAll(async () => {
    await participant?.close();
    await system?.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('a participant that never replies: the step is retried, then it and the earlier step are undone in reverse order', async () => {
    const result = await run('chain', { 'b.do': ['silent'] });
    expect(result.status).toBe('COMPENSATED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'b.do#2', 'b.do#3', 'b.undo#1', 'a.undo#1']);
    expect(types(result, 'ATTEMPT_TIMED_OUT').map((h) => h.attempt)).toEqual([1, 2, 3]);
    expect(types(result, 'STEP_OUTCOME_UNKNOWN')).toEqual([expect.objectContaining({ step: 'b', attempt: 3 })]);
    expect(result.steps.map((s) => s.status)).toEqual(['COMPENSATED', 'COMPENSATED', 'PENDING']);

    // A success for the timed-out action arriving now is recorded, ignored, and stays undone.
    const connection: ChannelModel = await connect(system.amqpUrl);
    const channel = await connection.createChannel();
    channel.sendToQueue('saga.replies', Buffer.from(JSON.stringify({ response: { late: true }, isDisposed: true })), { correlationId: `${result.id}/b/action/3` });
    const after = await waitFor(async () => {
      const body = (await system.http().get(`/sagas/${result.id}`).expect(200)).body as SagaBody;
      return body.history.some((h) => h.type === 'LATE_REPLY_IGNORED') && body;
    }, 'the late success to be recorded');
    await connection.close();
    expect(types(after, 'LATE_REPLY_IGNORED')).toEqual([expect.objectContaining({ step: 'b', direction: 'action', attempt: 3, reason: 'success' })]);
    expect(after.steps).toEqual(result.steps);
  });

  it('a retryable error that succeeds on attempt 3 completes with three attempts in the history', async () => {
    const result = await run('chain', { 'b.do': ['retry', 'retry', 'ok'] });
    expect(result.status).toBe('COMPLETED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'b.do#2', 'b.do#3', 'c.do#1']);
    expect(result.steps[1]).toMatchObject({ status: 'SUCCEEDED', attempt: 3, result: { by: 'b.do', attempt: 3 } });
    expect(types(result, 'RETRY_SCHEDULED').map((h) => [h.step, h.attempt, h.reason])).toEqual([['b', 2, 'BUSY'], ['b', 3, 'BUSY']]);
  });

  it('a business failure is not retried and not undone; earlier steps are', async () => {
    const result = await run('chain', { 'b.do': ['fail'] });
    expect(result.status).toBe('COMPENSATED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'a.undo#1']);
    expect(types(result, 'STEP_FAILED')).toEqual([expect.objectContaining({ step: 'b', attempt: 1, reason: 'NOPE' })]);
  });

  it('an expired command is not applied: retried, then failed, never undone', async () => {
    const result = await run('chain', { 'b.do': ['expired'] });
    expect(result.status).toBe('COMPENSATED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'b.do#2', 'b.do#3', 'a.undo#1']);
    expect(result.steps[1].status).toBe('FAILED');
  });

  it('a compensation that always fails ends COMPENSATION_FAILED with the error in the history', async () => {
    const result = await run('chain', { 'b.do': ['fail'], 'a.undo': ['fail'] });
    expect(result.status).toBe('COMPENSATION_FAILED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'a.undo#1', 'a.undo#2', 'a.undo#3']);
    expect(types(result, 'COMPENSATION_FAILED')).toEqual([expect.objectContaining({ step: 'a', direction: 'compensation', attempt: 3, reason: 'NOPE' })]);
    const metrics = (await system.http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/^saga_stuck 1$/m);
    expect(metrics).toMatch(/^saga_compensation_failed_total\{saga="chain",step="a"\} 1$/m);
  });

  it('the saga deadline rolls back the step in flight and the ones before it', async () => {
    const result = await run('deadline', { 'b.do': ['silent'] });
    expect(result.status).toBe('COMPENSATED');
    expect(types(result, 'DEADLINE_REACHED')).toEqual([expect.objectContaining({ step: 'b' })]);
    expect(participant.log(result.id).filter((entry) => entry.includes('undo'))).toEqual(['b.undo#1', 'a.undo#1']);
    expect((result as SagaBody & { failure: { code: string } }).failure.code).toBe('CANCELLED');
  });

  it('after the pivot, a failing step is retried forward until it succeeds and nothing is undone', async () => {
    const result = await run('forward', { 'c.do': ['fail', 'fail', 'retry', 'ok'] });
    expect(result.status).toBe('COMPLETED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'c.do#1', 'c.do#2', 'c.do#3', 'c.do#4']);
    expect(result.steps[2]).toMatchObject({ status: 'SUCCEEDED', attempt: 4 });
    expect(types(result, 'COMPENSATION_STARTED')).toEqual([]);
  });
});
