/**
 * Durable timers of an in-process orchestrator against the real PostgreSQL and RabbitMQ, with
 * sagas defined in JSON (SAGA_DEFINITIONS_DIR) whose participant never answers: the test reads
 * its queue and plays it.
 *
 * Proves (docs/semantics.md S3, S4): an unanswered command's timeout timer fires at its time
 * (ATTEMPT_TIMED_OUT in GET /sagas/{id}), the retry is sent with the same message id and body
 * and a new correlation id; when attempts run out the step's outcome is UNKNOWN and its
 * compensation is sent (with a null result); answering it compensates the saga and leaves no
 * timer behind. A timer made due by another connection (another replica) is picked up by the
 * scheduler's poll although this process armed it for 60 s later, and fires exactly once.
 */
import type { GetMessage } from 'amqplib';
import { waitFor } from '../support/infra';
import { drain, json, sendConfirmed } from './broker-probe';
import { OrchestratorEnvironment, type HistoryItem, type SagaRead } from './orchestrator-under-test';

const QUEUE = 'saga.silent';
const stepOf = (name: string, timeoutMs: number) => ({
  name,
  action: { command: 'silent.do', payload: { ref: '$.input.ref' } },
  compensation: { command: 'silent.undo', payload: { ref: '$.input.ref', charged: '$.result' } },
  timeoutMs,
  retry: { maxAttempts: 2, backoff: { initialMs: 100, multiplier: 1, maxMs: 100 } },
  compensationTimeoutMs: 60_000,
});
const sagaOf = (name: string, timeoutMs: number) => ({
  name,
  version: 1,
  inputSchema: { type: 'object', required: ['ref'], properties: { ref: { type: 'string' } } },
  steps: [stepOf('charge', timeoutMs)],
});

const brief = (entry: HistoryItem) => ({ type: entry.type, direction: entry.direction, attempt: entry.attempt });

describe('timers of an in-process orchestrator', () => {
  let env: OrchestratorEnvironment;
  const seen: GetMessage[] = [];

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('timers', {
      'silent.participants.json': { participants: { silent: { queue: QUEUE, commands: ['silent.do', 'silent.undo'] } } },
      'quick.saga.json': sagaOf('quick-timeout', 400),
      'slow.saga.json': sagaOf('slow-timeout', 60_000),
    });
    await env.start({ TIMER_POLL_MS: '250', OUTBOX_POLL_MS: '60000' });
  });

  afterAll(async () => {
    await env?.close();
  });

  async function messagesFor(id: string, count: number): Promise<GetMessage[]> {
    return waitFor(async () => {
      seen.push(...(await drain(env.amqpUrl, QUEUE)));
      const mine = seen.filter((message) => message.properties.headers?.['x-saga-id'] === id);
      return mine.length >= count ? mine : undefined;
    }, `${count} commands of saga ${id} on ${QUEUE}`);
  }

  async function sagaWhen(id: string, ready: (saga: SagaRead) => boolean, what: string): Promise<SagaRead> {
    return waitFor(async () => {
      const saga = await env.readSaga(id);
      return ready(saga) ? saga : undefined;
    }, what);
  }

  it('times out, retries with the same message id, then sends the compensation of an UNKNOWN step', async () => {
    const id = await env.startSaga('quick-timeout', { ref: 'r-1' });
    // Both conditions: GET /sagas/{id} can return a torn read (see saga-read-consistency.adapter.spec.ts).
    const rolling = await sagaWhen(id, (saga) => saga.status === 'COMPENSATING' && saga.history.some((entry) => entry.type === 'COMPENSATION_SENT'), 'the compensation to be sent');
    expect(rolling.status).toBe('COMPENSATING');
    expect(rolling.history.map(brief)).toEqual([
      { type: 'SAGA_STARTED', direction: null, attempt: null },
      { type: 'COMMAND_SENT', direction: 'action', attempt: 1 },
      { type: 'ATTEMPT_TIMED_OUT', direction: 'action', attempt: 1 },
      { type: 'RETRY_SCHEDULED', direction: 'action', attempt: 2 },
      { type: 'COMMAND_SENT', direction: 'action', attempt: 2 },
      { type: 'ATTEMPT_TIMED_OUT', direction: 'action', attempt: 2 },
      { type: 'STEP_OUTCOME_UNKNOWN', direction: 'action', attempt: 2 },
      { type: 'COMPENSATION_STARTED', direction: 'compensation', attempt: null },
      { type: 'COMPENSATION_SENT', direction: 'compensation', attempt: 1 },
    ]);
    const at = (type: string, attempt: number) => Date.parse(rolling.history.find((e) => e.type === type && e.attempt === attempt)!.at);
    const waited = at('ATTEMPT_TIMED_OUT', 1) - at('COMMAND_SENT', 1);
    expect(waited).toBeGreaterThanOrEqual(400); // not before the step timeout...
    expect(waited).toBeLessThan(3_000); // ...and woken for it, not left to a slow poll

    const [first, retry, undo] = await messagesFor(id, 3);
    expect(json(first)).toEqual({ pattern: 'silent.do', data: { ref: 'r-1' }, id: `${id}/charge/action` });
    expect(json(retry)).toEqual(json(first));
    expect(first.properties.messageId).toBe(`${id}/charge/action`);
    expect(retry.properties.messageId).toBe(first.properties.messageId);
    expect([first.properties.correlationId, retry.properties.correlationId]).toEqual([`${id}/charge/action/1`, `${id}/charge/action/2`]);
    expect(retry.properties.headers?.['x-saga-expires-at']).toBeGreaterThan(first.properties.headers?.['x-saga-expires-at']);
    expect(json(undo)).toEqual({ pattern: 'silent.undo', data: { ref: 'r-1', charged: null }, id: `${id}/charge/compensation` });
    expect(undo.properties).toMatchObject({ messageId: `${id}/charge/compensation`, correlationId: `${id}/charge/compensation/1`, replyTo: 'saga.replies' });

    // The participant answers the undo (a no-op for a command it never applied).
    await sendConfirmed(env.amqpUrl, 'saga.replies', Buffer.from(JSON.stringify({ response: { undone: false }, isDisposed: true })), {
      correlationId: undo.properties.correlationId,
    });
    const done = await env.readSaga(id, 20_000);
    expect(done.status).toBe('COMPENSATED');
    expect(done.steps).toMatchObject([{ name: 'charge', status: 'COMPENSATED', attempt: 2, compensationAttempt: 1 }]);
    expect(done.history.slice(-2).map((entry) => entry.type)).toEqual(['REPLY_RECEIVED', 'SAGA_COMPENSATED']);
    expect(await env.query('SELECT id FROM saga_timers WHERE saga_id = $1', [id])).toEqual([]);
  });

  it('fires, exactly once, a timer that another connection made due, though this process armed it for 60 s later', async () => {
    const id = await env.startSaga('slow-timeout', { ref: 'r-2' });
    await messagesFor(id, 1);
    const [timer] = await env.query<{ id: string; fire_at: Date }>('SELECT id, fire_at FROM saga_timers WHERE saga_id = $1', [id]);
    expect(timer.id).toBe(`${id}/charge/action/1/timeout`);
    expect(timer.fire_at.getTime()).toBeGreaterThan(Date.now() + 50_000);

    const madeDueAt = Date.now();
    await env.query('UPDATE saga_timers SET fire_at = now() WHERE id = $1', [timer.id]);
    const retried = await sagaWhen(id, (saga) => saga.history.some((e) => e.type === 'COMMAND_SENT' && e.attempt === 2), 'the retry after the timeout');
    expect(Date.parse(retried.history.find((e) => e.type === 'ATTEMPT_TIMED_OUT')!.at) - madeDueAt).toBeLessThan(3_000);
    expect(retried.history.filter((e) => e.type === 'ATTEMPT_TIMED_OUT').map(brief)).toEqual([{ type: 'ATTEMPT_TIMED_OUT', direction: 'action', attempt: 1 }]);
    expect(retried.status).toBe('RUNNING');

    const [, retry] = await messagesFor(id, 2);
    expect(retry.properties).toMatchObject({ messageId: `${id}/charge/action`, correlationId: `${id}/charge/action/2` });
    // The fired timer is gone; the new attempt has its own.
    expect(await env.query('SELECT id FROM saga_timers WHERE saga_id = $1', [id])).toEqual([{ id: `${id}/charge/action/2/timeout` }]);
  });

  it('postpones a timer it cannot handle instead of letting it block the timers behind it', async () => {
    const broken = await env.startSaga('slow-timeout', { ref: 'r-3' });
    const healthy = await env.startSaga('slow-timeout', { ref: 'r-4' });
    await messagesFor(healthy, 1);
    // The broken saga is pinned to a version this orchestrator does not load: handling fails.
    await env.query('UPDATE saga_instances SET definition_version = 99 WHERE id = $1', [broken]);
    await env.query("UPDATE saga_timers SET fire_at = now() - interval '1 second' WHERE saga_id = $1", [broken]);
    await env.query('UPDATE saga_timers SET fire_at = now() WHERE saga_id = $1', [healthy]);
    await sagaWhen(healthy, (saga) => saga.history.some((e) => e.type === 'ATTEMPT_TIMED_OUT'), 'the healthy timer to fire');
    const [postponed] = await env.query<{ fire_at: Date }>('SELECT fire_at FROM saga_timers WHERE saga_id = $1', [broken]);
    expect(postponed.fire_at.getTime()).toBeGreaterThan(Date.now() + 20_000);
  });
});
