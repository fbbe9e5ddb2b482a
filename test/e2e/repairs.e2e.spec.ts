/**
 * Operator repairs end to end (docs/semantics.md S8), against the real PostgreSQL and RabbitMQ,
 * with a scripted participant (test/support/scripted-participant.ts) and real tokens: each
 * repair is recorded with the token's name and the reason, a repeat with the same
 * Idempotency-Key changes nothing (same answer, no new history, no new command), refusals are
 * 409 with the engine's reason, unknown sagas 404, a missing reason 400, a viewer 403.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../support/infra';
import { ScriptedParticipant, type PlannedReply } from '../support/scripted-participant';
import { scriptedSaga, scriptedStep, SLOW_RETRY, writeScriptedDefinitions } from '../support/scripted-sagas';
import { TestSystem, type SagaBody } from './system-harness';

const QUEUE = 'saga.scripted';
const OPERATOR = 'operator-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
const AUTH_TOKENS = JSON.stringify([
  { name: 'olga', role: 'operator', token: OPERATOR },
  { name: 'vera', role: 'viewer', token: VIEWER },
]);
type Plan = Record<string, PlannedReply[]>;
interface FullSaga extends SagaBody {
  steps: (SagaBody['steps'][number] & { manual: boolean; waitingForRetry: boolean })[];
  timers: { id: string; event: { type: string; step?: string } }[];
}

describe('operator repairs (e2e)', () => {
  let system: TestSystem;
  let participant: ScriptedParticipant;
  let folder: string;

  const as = (token: string) => ({ Authorization: `Bearer ${token}` });
  const get = async (id: string): Promise<FullSaga> => (await system.http().get(`/sagas/${id}`).set(as(OPERATOR)).expect(200)).body as FullSaga;
  const until = (id: string, what: string, probe: (saga: FullSaga) => boolean) => waitFor(async () => ((saga) => probe(saga) && saga)(await get(id)), what);
  const start = async (name: string, plan: Plan): Promise<string> => (await system.startSaga(name, { plan }).set(as(OPERATOR)).expect(202)).body.id as string;
  const stuck = async (plan: Plan): Promise<string> => {
    const id = await start('chain', plan);
    await until(id, 'COMPENSATION_FAILED', (s) => s.status === 'COMPENSATION_FAILED');
    return id;
  };
  const repair = (id: string, action: string, body: object, key?: string, token = OPERATOR) => {
    const call = system.http().post(`/sagas/${id}/${action}`).set(as(token)).send(body);
    return key ? call.set('Idempotency-Key', key) : call;
  };
  const operatorEntries = (saga: SagaBody) => saga.history.filter((h) => h.type === 'OPERATOR_ACTION' || h.type === 'OPERATOR_ACTION_REJECTED');

  /** A second identical request, once the saga has settled: the first answer (its status is the
   *  saga's current one), replayed, and nothing new in the history or on the wire. */
  const expectReplayed = async (id: string, action: string, body: object, key: string, first: { body: Record<string, unknown> }) => {
    const before = await get(id);
    const sent = participant.log(id);
    const again = await repair(id, action, body, key).expect(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect({ ...again.body, status: before.status }).toEqual({ ...first.body, status: before.status });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await get(id)).history).toEqual(before.history);
    expect(participant.log(id)).toEqual(sent);
  };

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'saga-repairs-'));
    await writeScriptedDefinitions(
      folder,
      QUEUE,
      ['a.do', 'a.undo', 'b.do', 'b.undo', 'c.do'],
      [
        scriptedSaga('chain', [scriptedStep('a'), scriptedStep('b'), scriptedStep('c', { undo: false })]),
        scriptedSaga('slow', [scriptedStep('a', { retry: SLOW_RETRY }), scriptedStep('b', { undo: false, pivot: true }), scriptedStep('c', { undo: false, retry: SLOW_RETRY })]),
      ],
    );
    system = await TestSystem.start({ participants: false, env: { SAGA_DEFINITIONS_DIR: folder, TIMER_POLL_MS: '50', AUTH_DISABLED: 'false', AUTH_TOKENS } });
    participant = await ScriptedParticipant.start(system.amqpUrl, QUEUE);
  });

  afterAll(async () => {
    await participant?.close();
    await system?.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('retry-compensation: the failed undo is sent again with a fresh budget and the rollback finishes', async () => {
    const id = await stuck({ 'c.do': ['fail'], 'b.undo': ['fail', 'fail', 'fail', 'ok'] });
    expect(participant.log(id)).toEqual(['a.do#1', 'b.do#1', 'c.do#1', 'b.undo#1', 'b.undo#2', 'b.undo#3']);
    const body = { reason: 'gateway fixed' };
    const first = await repair(id, 'retry-compensation', body, 'rc-1').expect(202);
    expect(first.body).toMatchObject({ id, action: 'RETRY_COMPENSATION', by: 'olga', reason: 'gateway fixed', step: 'b' });
    expect(first.body.done).toMatch(/sent again \(attempt 4\)/);
    const done = await until(id, 'COMPENSATED', (s) => s.status === 'COMPENSATED');
    expect(participant.log(id)).toEqual(['a.do#1', 'b.do#1', 'c.do#1', 'b.undo#1', 'b.undo#2', 'b.undo#3', 'b.undo#4', 'a.undo#1']);
    expect(operatorEntries(done)).toEqual([
      expect.objectContaining({
        type: 'OPERATOR_ACTION',
        failureType: 'operator',
        step: 'b',
        attempt: 4,
        reason: 'RETRY_COMPENSATION',
        detail: expect.objectContaining({ by: 'olga', reason: 'gateway fixed' }),
      }),
    ]);
    await expectReplayed(id, 'retry-compensation', body, 'rc-1', first);
    expect(participant.log(id)).toHaveLength(8);

    // Now COMPENSATED: a new request is refused, recorded, and a repeat of it is the same refusal.
    const refused = await repair(id, 'retry-compensation', { reason: 'again' }, 'rc-2').expect(409);
    expect(refused.body).toMatchObject({ reason: "saga is COMPENSATED: only a COMPENSATION_FAILED saga's undo can be retried", status: 'COMPENSATED' });
    const replayedRefusal = await repair(id, 'retry-compensation', { reason: 'again' }, 'rc-2').expect(409);
    expect(replayedRefusal.headers['idempotent-replayed']).toBe('true');
    expect({ ...replayedRefusal.body, requestId: null }).toEqual({ ...refused.body, requestId: null });
    const after = await get(id);
    expect(operatorEntries(after).map((e) => [e.type, e.reason, e.detail?.by])).toEqual([
      ['OPERATOR_ACTION', 'RETRY_COMPENSATION', 'olga'],
      ['OPERATOR_ACTION_REJECTED', refused.body.reason, 'olga'],
    ]);
    // The same key for another action on this saga is a conflict, and changes nothing.
    const reused = await repair(id, 'resolve', { reason: 'x' }, 'rc-1').expect(409);
    expect(reused.body.message).toMatch(/Idempotency-Key was already used for RETRY_COMPENSATION/);
    expect((await get(id)).status).toBe('COMPENSATED');
  });

  it('skip-compensation: the failed undo is marked done by hand and the rest is undone in reverse order', async () => {
    const id = await stuck({ 'c.do': ['fail'], 'b.undo': ['fail'] });
    const body = { step: 'b', reason: 'refunded by hand in the gateway console' };
    const first = await repair(id, 'skip-compensation', body, 'skip-1').expect(202);
    expect(first.body).toMatchObject({ action: 'SKIP_COMPENSATION', step: 'b', by: 'olga' });
    const done = await until(id, 'COMPENSATED', (s) => s.status === 'COMPENSATED');
    expect(participant.log(id)).toEqual(['a.do#1', 'b.do#1', 'c.do#1', 'b.undo#1', 'b.undo#2', 'b.undo#3', 'a.undo#1']);
    expect(done.steps.map((s) => [s.name, s.status, s.manual])).toEqual([
      ['a', 'COMPENSATED', false],
      ['b', 'COMPENSATED', true],
      ['c', 'FAILED', false],
    ]);
    expect(operatorEntries(done)).toEqual([
      expect.objectContaining({ type: 'OPERATOR_ACTION', reason: 'SKIP_COMPENSATION', step: 'b', detail: expect.objectContaining({ by: 'olga', reason: body.reason }) }),
    ]);
    await expectReplayed(id, 'skip-compensation', body, 'skip-1', first);
    expect(participant.log(id)).toHaveLength(7);
  });

  it('resolve: a stuck saga ends RESOLVED_MANUALLY, marked manual, with who and why', async () => {
    const id = await stuck({ 'c.do': ['fail'], 'b.undo': ['fail'] });
    const body = { reason: 'customer refunded by support', outcome: 'COMPENSATED' };
    const first = await repair(id, 'resolve', body, 'res-1').expect(202);
    expect(first.body).toMatchObject({ status: 'RESOLVED_MANUALLY', action: 'RESOLVE', by: 'olga' });
    const resolved = await get(id);
    expect(resolved.status).toBe('RESOLVED_MANUALLY');
    expect(resolved.history.slice(-2).map((h) => [h.type, h.reason])).toEqual([
      ['OPERATOR_ACTION', 'RESOLVE'],
      ['SAGA_RESOLVED_MANUALLY', 'COMPENSATED'],
    ]);
    expect(resolved.exceptions.at(-1)).toMatchObject({ type: 'operator', entry: 'OPERATOR_ACTION', reason: 'RESOLVE' });
    await expectReplayed(id, 'resolve', body, 'res-1', first);
    // Terminal: another repair is refused with the engine's reason.
    const refused = await repair(id, 'skip-compensation', { step: 'b', reason: 'late' }).expect(409);
    expect(refused.body.reason).toMatch(/step "b" is COMPENSATION_FAILED in a RESOLVED_MANUALLY saga/);
    const list = await system.http().get('/sagas?status=RESOLVED_MANUALLY').set(as(OPERATOR)).expect(200);
    expect(list.body.items.map((s: { id: string }) => s.id)).toContain(id);
  });

  it('fire-timer: a retry waiting out a long backoff is sent now; retry-step is refused before the pivot and sends the step now after it', async () => {
    const id = await start('slow', { 'a.do': ['retry', 'ok'], 'c.do': ['retry', 'ok'] });
    const waiting = await until(id, 'a to wait for its retry', (s) => s.timers.some((t) => t.event.type === 'RETRY_DUE' && t.event.step === 'a'));
    const timer = waiting.timers.find((t) => t.event.type === 'RETRY_DUE')!;

    const early = await repair(id, 'retry-step', { step: 'a', reason: 'no time to wait' }).expect(409);
    expect(early.body.reason).toMatch(/pivot step has not succeeded/);

    const body = { reason: 'participant is back', timerId: timer.id };
    const fired = await repair(id, 'fire-timer', body, 'fire-1').expect(202);
    expect(fired.body).toMatchObject({ action: 'FIRE_TIMER_NOW', step: 'a', by: 'olga' });
    const afterPivot = await until(id, 'c to wait for its retry', (s) => s.timers.some((t) => t.event.type === 'RETRY_DUE' && t.event.step === 'c'));
    expect(participant.log(id)).toEqual(['a.do#1', 'a.do#2', 'b.do#1', 'c.do#1']);
    // The timer is gone: a repeat is the first answer, a new request a refusal.
    const again = await repair(id, 'fire-timer', body, 'fire-1').expect(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toMatchObject({ action: 'FIRE_TIMER_NOW', step: 'a', done: fired.body.done, at: fired.body.at });
    const gone = await repair(id, 'fire-timer', { reason: 'again', timerId: timer.id }).expect(409);
    expect(gone.body.reason).toMatch(/no pending retry or timeout timer/);

    const retried = await repair(id, 'retry-step', { step: 'c', reason: 'downstream fixed' }, 'step-1').expect(202);
    expect(retried.body).toMatchObject({ action: 'RETRY_STEP', step: 'c', by: 'olga' });
    const done = await until(id, 'COMPLETED', (s) => s.status === 'COMPLETED');
    expect(participant.log(id)).toEqual(['a.do#1', 'a.do#2', 'b.do#1', 'c.do#1', 'c.do#2']);
    expect(operatorEntries(done).map((e) => [e.type, e.step, e.reason, e.detail?.by, e.detail?.reason])).toEqual([
      ['OPERATOR_ACTION_REJECTED', 'a', early.body.reason, 'olga', 'no time to wait'],
      ['OPERATOR_ACTION', 'a', 'FIRE_TIMER_NOW', 'olga', 'participant is back'],
      ['OPERATOR_ACTION', 'c', 'RETRY_STEP', 'olga', 'downstream fixed'],
    ]);
    expect(afterPivot.status).toBe('RUNNING');
    const replay = await repair(id, 'retry-step', { step: 'c', reason: 'downstream fixed' }, 'step-1').expect(200);
    expect(replay.body).toMatchObject({ action: 'RETRY_STEP', done: retried.body.done });
    expect(participant.log(id)).toHaveLength(5);
  });

  it('404 for an unknown saga, 400 without a reason, 403 for a viewer; none of them records anything', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const action of ['retry-compensation', 'resolve', 'fire-timer']) await repair(unknown, action, { reason: 'r' }).expect(404);
    for (const action of ['skip-compensation', 'retry-step']) await repair(unknown, action, { step: 'a', reason: 'r' }).expect(404);

    const id = await stuck({ 'c.do': ['fail'], 'b.undo': ['fail'] });
    const before = await get(id);
    const missing = await repair(id, 'resolve', {}).expect(400);
    expect(missing.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'reason' })]));
    await repair(id, 'resolve', { reason: '' }).expect(400);
    await repair(id, 'resolve', { reason: 'x'.repeat(501) }).expect(400);
    await repair(id, 'skip-compensation', { reason: 'no step' }).expect(400);
    await repair(id, 'resolve', { reason: 'ok', outcome: 'MAYBE' }).expect(400);
    await repair(id, 'resolve', { reason: 'ok' }, 'bad key with spaces').expect(400);
    await repair(id, 'resolve', { reason: 'a viewer tries' }, undefined, VIEWER).expect(403);
    await system.http().post(`/sagas/${id}/resolve`).send({ reason: 'no token' }).expect(401);
    const after = await get(id);
    expect(after.status).toBe('COMPENSATION_FAILED');
    expect(after.history).toEqual(before.history);

    const openapi = (await system.http().get('/docs-json').set(as(OPERATOR)).expect(200)).body;
    for (const action of ['retry-compensation', 'skip-compensation', 'resolve', 'fire-timer', 'retry-step']) {
      const operation = openapi.paths[`/sagas/{id}/${action}`].post;
      expect(Object.keys(operation.responses).sort()).toEqual(['200', '202', '400', '401', '403', '404', '409', '429', '503']);
      expect(operation.responses[403].description).toBe("The token's role may not call this. Allowed roles: operator, admin");
      expect(operation.description).toMatch(/Refused \(409\)/);
    }
  });
});
