/**
 * docs/semantics.md S2/S3/S5 end to end, against the real PostgreSQL and RabbitMQ, with a participant that
 * answers as each saga's input scripts it (test/support/scripted-participant.ts). Every test
 * checks the saga (status, steps, history, exception log) and what the participant received.
 * The sagas are JSON definitions whose steps take their timeout and retry policies from the
 * saga's `defaults`, except where a step overrides them.
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
const step = (name: string, options: { undo?: boolean; pivot?: boolean; retry?: unknown } = {}) => ({
  name,
  action: { command: `${name}.do`, payload: { plan: '$.input.plan' } },
  ...(options.undo === false ? {} : { compensation: { command: `${name}.undo`, payload: { plan: '$.input.plan' } } }),
  ...(options.pivot ? { pivot: true } : {}),
  ...(options.retry ? { retry: options.retry } : {}),
});
const saga = (name: string, steps: unknown[], extra: Record<string, unknown> = {}) => ({
  name,
  version: 1,
  inputSchema: { type: 'object', required: ['plan'], properties: { plan: { type: 'object' } } },
  defaults: { timeoutMs: 400, retry: budget, compensationRetry: budget },
  steps,
  ...extra,
});
/** The exception log as [type, history entry, step, direction, attempt, reason] rows. */
const exceptions = (saga: SagaBody) => saga.exceptions.map((e) => [e.type, e.entry, e.step, e.direction, e.attempt, e.reason]);

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
    await writeFile(
      join(folder, 'scripted.participants.json'),
      JSON.stringify({ participants: { scripted: { queue: QUEUE, commands: ['a.do', 'a.undo', 'b.do', 'b.undo', 'c.do'] } } }),
    );
    await writeFile(join(folder, 'chain.saga.json'), JSON.stringify(saga('chain', [step('a'), step('b'), step('c', { undo: false })])));
    await writeFile(join(folder, 'forward.saga.json'), JSON.stringify(saga('forward', [step('a'), step('b', { undo: false, pivot: true }), step('c', { undo: false })])));
    await writeFile(
      join(folder, 'strict.saga.json'),
      JSON.stringify(saga('strict', [step('a'), step('b', { retry: { ...budget, nonRetryableCodes: ['FATAL'] } }), step('c', { undo: false })])),
    );
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
    expect(result.failure).toMatchObject({ step: 'b', type: 'timeout', code: 'TIMEOUT' });
    expect(exceptions(result)).toEqual([
      ['timeout', 'ATTEMPT_TIMED_OUT', 'b', 'action', 1, 'TIMEOUT'],
      ['timeout', 'ATTEMPT_TIMED_OUT', 'b', 'action', 2, 'TIMEOUT'],
      ['timeout', 'ATTEMPT_TIMED_OUT', 'b', 'action', 3, 'TIMEOUT'],
      ['timeout', 'STEP_OUTCOME_UNKNOWN', 'b', 'action', 3, 'UNKNOWN'],
    ]);

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
    expect(exceptions(after).at(-1)).toEqual(['late', 'LATE_REPLY_IGNORED', 'b', 'action', 3, 'success']);
    expect(after.steps).toEqual(result.steps);
    expect(after.status).toBe('COMPENSATED');
  });

  it('a retryable error that succeeds on attempt 3 completes with three attempts in the history', async () => {
    const result = await run('chain', { 'b.do': ['retry', 'retry', 'ok'] });
    expect(result.status).toBe('COMPLETED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'b.do#2', 'b.do#3', 'c.do#1']);
    expect(result.steps[1]).toMatchObject({ status: 'SUCCEEDED', attempt: 3, result: { by: 'b.do', attempt: 3 } });
    expect(types(result, 'RETRY_SCHEDULED').map((h) => [h.step, h.attempt, h.reason])).toEqual([
      ['b', 2, 'BUSY'],
      ['b', 3, 'BUSY'],
    ]);
    expect(
      types(result, 'COMMAND_SENT')
        .filter((h) => h.step === 'b')
        .map((h) => h.attempt),
    ).toEqual([1, 2, 3]);
    expect(exceptions(result)).toEqual([
      ['retryable', 'REPLY_RECEIVED', 'b', 'action', 1, 'BUSY'],
      ['retryable', 'REPLY_RECEIVED', 'b', 'action', 2, 'BUSY'],
    ]);
    expect(result.exceptions[0].message).toBe('b.do busy');
  });

  it('a non-retryable error code is not retried even though the participant called it retryable; the saga rolls back', async () => {
    const result = await run('strict', { 'b.do': ['fatal', 'ok'] });
    expect(result.status).toBe('COMPENSATED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'a.undo#1']);
    expect(types(result, 'RETRY_SCHEDULED')).toEqual([]);
    expect(types(result, 'STEP_FAILED')).toEqual([
      expect.objectContaining({ step: 'b', attempt: 1, reason: 'FATAL', detail: { message: 'b.do hit a fault retrying cannot fix', nonRetryableCode: true } }),
    ]);
    expect(exceptions(result)).toEqual([
      ['retryable', 'REPLY_RECEIVED', 'b', 'action', 1, 'FATAL'],
      ['business', 'STEP_FAILED', 'b', 'action', 1, 'FATAL'],
    ]);
    // The same code on a step without that rule is retried (and here succeeds).
    const lenient = await run('chain', { 'b.do': ['fatal', 'ok'] });
    expect(lenient.status).toBe('COMPLETED');
    expect(participant.log(lenient.id)).toEqual(['a.do#1', 'b.do#1', 'b.do#2', 'c.do#1']);
  });

  it('a business failure is not retried and not undone; earlier steps are', async () => {
    const result = await run('chain', { 'b.do': ['fail'] });
    expect(result.status).toBe('COMPENSATED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'a.undo#1']);
    expect(types(result, 'STEP_FAILED')).toEqual([expect.objectContaining({ step: 'b', attempt: 1, reason: 'NOPE' })]);
    expect(result.failure).toEqual({ step: 'b', type: 'business', code: 'NOPE', message: 'b.do refused' });
    expect(exceptions(result)).toEqual([
      ['business', 'REPLY_RECEIVED', 'b', 'action', 1, 'NOPE'],
      ['business', 'STEP_FAILED', 'b', 'action', 1, 'NOPE'],
    ]);
  });

  it('an expired command is not applied: retried, then failed, never undone', async () => {
    const result = await run('chain', { 'b.do': ['expired'] });
    expect(result.status).toBe('COMPENSATED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'b.do#2', 'b.do#3', 'a.undo#1']);
    expect(result.steps[1].status).toBe('FAILED');
    expect(exceptions(result)).toEqual([
      ['expired', 'REPLY_RECEIVED', 'b', 'action', 1, 'EXPIRED'],
      ['expired', 'REPLY_RECEIVED', 'b', 'action', 2, 'EXPIRED'],
      ['expired', 'REPLY_RECEIVED', 'b', 'action', 3, 'EXPIRED'],
      ['expired', 'STEP_FAILED', 'b', 'action', 3, 'EXPIRED'],
    ]);
  });

  it('a compensation that always fails ends COMPENSATION_FAILED with the error in the history', async () => {
    const result = await run('chain', { 'b.do': ['fail'], 'a.undo': ['fail'] });
    expect(result.status).toBe('COMPENSATION_FAILED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'a.undo#1', 'a.undo#2', 'a.undo#3']);
    expect(types(result, 'COMPENSATION_FAILED')).toEqual([
      expect.objectContaining({ step: 'a', direction: 'compensation', attempt: 3, reason: 'NOPE', failureType: 'business', detail: { message: 'a.undo refused' } }),
    ]);
    expect(exceptions(result).slice(2)).toEqual([
      ['business', 'REPLY_RECEIVED', 'a', 'compensation', 1, 'NOPE'],
      ['business', 'REPLY_RECEIVED', 'a', 'compensation', 2, 'NOPE'],
      ['business', 'REPLY_RECEIVED', 'a', 'compensation', 3, 'NOPE'],
      ['business', 'COMPENSATION_FAILED', 'a', 'compensation', 3, 'NOPE'],
    ]);
    const metrics = (await system.http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/^saga_stuck 1$/m);
    expect(metrics).toMatch(/^saga_compensation_failed_total\{saga="chain",step="a"\} 1$/m);
    // Every failure entry committed so far is counted by type; the database agrees.
    const rows = await system.query<{ type: string; n: number }>(
      'orchestrator',
      'SELECT failure_type AS type, count(*)::int AS n FROM saga_history WHERE failure_type IS NOT NULL GROUP BY 1',
    );
    expect(rows.length).toBeGreaterThan(3);
    for (const row of rows) expect(metrics).toMatch(new RegExp(`^saga_exceptions_total\\{type="${row.type}"\\} ${row.n}$`, 'm'));
  });

  it('the saga deadline rolls back the step in flight and the ones before it', async () => {
    const result = await run('deadline', { 'b.do': ['silent'] });
    expect(result.status).toBe('COMPENSATED');
    expect(types(result, 'DEADLINE_REACHED')).toEqual([expect.objectContaining({ step: 'b' })]);
    expect(participant.log(result.id).filter((entry) => entry.includes('undo'))).toEqual(['b.undo#1', 'a.undo#1']);
    expect(result.failure).toEqual({ step: 'b', type: 'timeout', code: 'DEADLINE', message: 'saga deadline reached' });
    expect(
      exceptions(result)
        .filter(([type]) => type === 'timeout')
        .map(([, entry]) => entry),
    ).toEqual(expect.arrayContaining(['DEADLINE_REACHED', 'STEP_OUTCOME_UNKNOWN']));
  });

  it('a cancel after the saga COMPLETED is a 409 that changes nothing but the history', async () => {
    const done = await run('chain', {});
    expect(done.status).toBe('COMPLETED');
    const refused = await system.http().post(`/sagas/${done.id}/cancel`).send({ reason: 'too late' }).expect(409);
    expect(refused.body).toMatchObject({ statusCode: 409, message: `saga ${done.id} cannot be cancelled: saga is COMPLETED`, status: 'COMPLETED' });
    const after = (await system.http().get(`/sagas/${done.id}`).expect(200)).body as SagaBody;
    expect(after.status).toBe('COMPLETED');
    expect(after.steps).toEqual(done.steps);
    expect(participant.log(done.id)).toEqual(['a.do#1', 'b.do#1', 'c.do#1']);
    expect(exceptions(after)).toEqual([['operator', 'CANCEL_REJECTED', null, null, null, 'saga is COMPLETED']]);
  });

  it('after the pivot, a failing step is retried forward until it succeeds and nothing is undone', async () => {
    const result = await run('forward', { 'c.do': ['fail', 'fail', 'retry', 'ok'] });
    expect(result.status).toBe('COMPLETED');
    expect(participant.log(result.id)).toEqual(['a.do#1', 'b.do#1', 'c.do#1', 'c.do#2', 'c.do#3', 'c.do#4']);
    expect(result.steps[2]).toMatchObject({ status: 'SUCCEEDED', attempt: 4 });
    expect(types(result, 'COMPENSATION_STARTED')).toEqual([]);
    expect(types(result, 'COMPENSATION_SENT')).toEqual([]);
    expect(participant.log(result.id).filter((entry) => entry.includes('undo'))).toEqual([]);
    expect(exceptions(result).map(([type, entry, step, , attempt]) => [type, entry, step, attempt])).toEqual([
      ['business', 'REPLY_RECEIVED', 'c', 1],
      ['business', 'REPLY_RECEIVED', 'c', 2],
      ['retryable', 'REPLY_RECEIVED', 'c', 3],
    ]);
  });
});
