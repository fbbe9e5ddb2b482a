/**
 * Bulk actions over a filter, end to end (docs/semantics.md S8): a dry run counts and changes
 * nothing; a real call acts on at most `max` sagas, each through its single-saga path with its
 * own history entry (who, why); sagas outside the filter are untouched; a repeated call with the
 * same Idempotency-Key does nothing twice; refusals are listed, never fatal. Also the list
 * filter definitionMissing=true, and the 400s and 403 of the bulk routes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../support/infra';
import { ScriptedParticipant, type PlannedReply } from '../support/scripted-participant';
import { scriptedSaga, scriptedStep, SLOW_RETRY, writeScriptedDefinitions } from '../support/scripted-sagas';
import { TestSystem, type SagaBody } from './system-harness';

const QUEUE = 'saga.bulk-scripted';
const OPERATOR = 'operator-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
const AUTH_TOKENS = JSON.stringify([
  { name: 'olga', role: 'operator', token: OPERATOR },
  { name: 'vera', role: 'viewer', token: VIEWER },
]);
/** c fails, b's undo fails three times (its whole budget), then would succeed. */
const STUCK = { 'c.do': ['fail'], 'b.undo': ['fail', 'fail', 'fail', 'ok'] } satisfies Record<string, PlannedReply[]>;

describe('bulk actions (e2e)', () => {
  let system: TestSystem;
  let participant: ScriptedParticipant;
  let folder: string;

  const as = (token: string) => ({ Authorization: `Bearer ${token}` });
  const get = async (id: string): Promise<SagaBody> => (await system.http().get(`/sagas/${id}`).set(as(OPERATOR)).expect(200)).body as SagaBody;
  const until = (id: string, status: string) => waitFor(async () => ((s) => s.status === status && s)(await get(id)), `saga ${id} ${status}`);
  const start = async (name: string, ref: string, plan: Record<string, PlannedReply[]>): Promise<string> =>
    (await system.startSaga(name, { ref, plan }).set(as(OPERATOR)).expect(202)).body.id as string;
  const bulk = (action: string, query: string, body: object, key?: string, token = OPERATOR) => {
    const call = system.http().post(`/sagas/bulk/${action}?${query}`).set(as(token)).send(body);
    return key ? call.set('Idempotency-Key', key) : call;
  };
  const operatorEntries = (s: SagaBody) => s.history.filter((h) => h.type === 'OPERATOR_ACTION');

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'saga-bulk-'));
    const step = scriptedStep;
    const saga = (name: string, steps: unknown[]) => scriptedSaga(name, steps, { withRef: true });
    await writeScriptedDefinitions(
      folder,
      QUEUE,
      ['a.do', 'a.undo', 'b.do', 'b.undo', 'c.do'],
      [
        saga('chain', [step('a'), step('b'), step('c', { undo: false })]),
        saga('other', [step('a'), step('b'), step('c', { undo: false })]),
        saga('hold', [step('a', { timeoutMs: 600_000 }), step('b', { undo: false })]),
        saga('pivoted', [step('a'), step('b', { undo: false, pivot: true }), step('c', { undo: false, retry: SLOW_RETRY })]),
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

  it('retry-compensation: dry run first, then at most max per call, each saga its own repair; the rest untouched; a repeat does nothing twice', async () => {
    const stuck = [await start('chain', 'r-1', STUCK), await start('chain', 'r-2', STUCK), await start('chain', 'r-3', STUCK)];
    const outside = await start('other', 'r-4', STUCK);
    for (const id of [...stuck, outside]) await until(id, 'COMPENSATION_FAILED');
    const before = await Promise.all(stuck.map(get));

    const filter = 'status=COMPENSATION_FAILED&name=chain';
    const dry = await bulk('retry-compensation', filter, { reason: 'gateway fixed' }).expect(200);
    expect(dry.body).toEqual({ action: 'retry-compensation', dryRun: true, matched: 3, more: false, ids: expect.any(Array), done: 0, replayed: 0, refused: [], failed: [] });
    expect([...dry.body.ids].sort()).toEqual([...stuck].sort());
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await Promise.all(stuck.map(get))).toEqual(before); // a dry run changes nothing

    const listed = (await system.http().get(`/sagas?${filter}`).set(as(OPERATOR)).expect(200)).body.items.map((item: { id: string }) => item.id);
    const first = await bulk('retry-compensation', filter, { reason: 'gateway fixed', dryRun: false, max: 2 }, 'bulk-1').expect(200);
    expect(first.body).toMatchObject({ dryRun: false, matched: 2, more: true, done: 2, replayed: 0, refused: [], failed: [] });
    expect(first.body.ids).toEqual(listed.slice(0, 2)); // the most recently changed first, as GET /sagas lists them
    const rest = await bulk('retry-compensation', filter, { reason: 'gateway fixed', dryRun: false, max: 2 }, 'bulk-2').expect(200);
    expect(rest.body).toMatchObject({ matched: 1, more: false, done: 1 });

    for (const id of stuck) {
      const done = await until(id, 'COMPENSATED');
      expect(participant.log(id)).toEqual(['a.do#1', 'b.do#1', 'c.do#1', 'b.undo#1', 'b.undo#2', 'b.undo#3', 'b.undo#4', 'a.undo#1']);
      expect(operatorEntries(done)).toEqual([
        expect.objectContaining({ reason: 'RETRY_COMPENSATION', step: 'b', detail: expect.objectContaining({ by: 'olga', reason: 'gateway fixed' }) }),
      ]);
    }
    expect((await get(outside)).status).toBe('COMPENSATION_FAILED'); // outside the filter

    // The first call again (same key), now over every chain saga: those it handled are replayed,
    // the one another call handled is refused by the engine (no longer COMPENSATION_FAILED).
    const sent = stuck.map((id) => participant.log(id));
    const again = await bulk('retry-compensation', 'name=chain', { reason: 'gateway fixed', dryRun: false, max: 10 }, 'bulk-1').expect(200);
    expect(again.body).toMatchObject({ matched: 3, done: 0, replayed: 2, failed: [] });
    expect(again.body.refused).toEqual([{ id: rest.body.ids[0], reason: expect.stringContaining('COMPENSATED') }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stuck.map((id) => participant.log(id))).toEqual(sent);
  });

  it('cancel: every RUNNING saga of the filter is rolled back, with who and why; a finished one is refused, not fatal', async () => {
    const held = [await start('hold', 'h-1', { 'a.do': ['silent'] }), await start('hold', 'h-2', { 'a.do': ['silent'] })];
    const finished = await start('chain', 'h-3', {});
    await until(finished, 'COMPLETED');
    await waitFor(async () => (await Promise.all(held.map(get))).every((s) => s.steps[0].status === 'RUNNING'), 'held sagas in flight');
    const dry = await bulk('cancel', 'businessKey=h-1', { reason: 'campaign withdrawn' }).expect(200);
    expect(dry.body).toMatchObject({ dryRun: true, matched: 1, ids: [held[0]] });

    const done = await bulk('cancel', 'name=hold&status=RUNNING', { reason: 'campaign withdrawn', dryRun: false }).expect(200);
    expect(done.body).toMatchObject({ matched: 2, done: 2, refused: [], more: false });
    for (const id of held) {
      const cancelled = await until(id, 'COMPENSATED');
      expect(cancelled.history).toContainEqual(expect.objectContaining({ type: 'CANCEL_REQUESTED', reason: 'campaign withdrawn', detail: { by: 'olga' } }));
    }
    const refused = await bulk('cancel', 'businessKey=h-3', { reason: 'too late', dryRun: false }).expect(200);
    expect(refused.body).toMatchObject({ matched: 1, done: 0, refused: [{ id: finished, reason: 'saga is COMPLETED' }] });
  });

  it('retry-step: the step in flight after the pivot is sent again now', async () => {
    const id = await start('pivoted', 'p-1', { 'c.do': ['retry', 'ok'] });
    // Waiting for its retry means the orchestrator has handled the retryable reply, not only that the participant logged it.
    await waitFor(async () => participant.log(id).includes('c.do#1') && (await get(id)).steps[2].waitingForRetry === true, 'c waiting for its retry');
    const call = await bulk('retry-step', 'name=pivoted&step=c', { reason: 'downstream is back', dryRun: false }).expect(200);
    expect(call.body).toMatchObject({ matched: 1, done: 1, ids: [id] });
    const completed = await until(id, 'COMPLETED');
    expect(participant.log(id)).toEqual(['a.do#1', 'b.do#1', 'c.do#1', 'c.do#2']);
    expect(operatorEntries(completed)).toEqual([expect.objectContaining({ reason: 'RETRY_STEP', step: 'c' })]);
  });

  it('lists unfinished sagas whose definition version is missing', async () => {
    const id = await start('hold', 'm-1', { 'a.do': ['silent'] });
    await start('hold', 'm-2', { 'a.do': ['silent'] }); // unfinished too, but its version is loaded
    await system.query('orchestrator', 'UPDATE saga_instances SET definition_version = 7 WHERE id = $1', [id]);
    const page = (await system.http().get('/sagas?definitionMissing=true').set(as(VIEWER)).expect(200)).body;
    expect(page.items.map((item: { id: string; version: number }) => [item.id, item.version])).toEqual([[id, 7]]);
    expect((await system.http().get('/sagas?definitionMissing=true&name=chain').set(as(VIEWER)).expect(200)).body.items).toEqual([]);
    expect((await bulk('cancel', 'definitionMissing=true', { reason: 'x' }).expect(200)).body).toMatchObject({ dryRun: true, matched: 1, ids: [id] });
    const health = (await system.http().get('/health').set(as(VIEWER)).expect(200)).body;
    expect(health.definitionsMissing).toEqual([{ name: 'hold', version: 7, sagas: 1 }]);
    await system.query('orchestrator', 'UPDATE saga_instances SET definition_version = 1 WHERE id = $1', [id]);
  });

  it('refuses bad requests (400), viewers (403), and reads the bulk path as a route, never as a saga id', async () => {
    const fields = async (response: { body: { errors?: { field: string }[] } }) => (response.body.errors ?? []).map((error) => error.field);
    expect(await fields(await bulk('cancel', 'name=chain', {}).expect(400))).toContain('reason');
    expect(await fields(await bulk('cancel', 'name=chain', { reason: 'x', max: 0 }).expect(400))).toContain('max');
    expect(await fields(await bulk('cancel', 'name=chain', { reason: 'x', max: 1001 }).expect(400))).toContain('max');
    expect(await fields(await bulk('cancel', 'name=chain', { reason: 'x', dryRun: 'yes' }).expect(400))).toContain('dryRun');
    expect(await fields(await bulk('cancel', 'status=NOPE', { reason: 'x' }).expect(400))).toContain('status');
    expect(await fields(await bulk('cancel', 'definitionMissing=false', { reason: 'x' }).expect(400))).toContain('definitionMissing');
    await bulk('cancel', 'name=chain', { reason: 'x' }, undefined, VIEWER).expect(403);
    await system.http().post('/sagas/bulk/cancel').send({ reason: 'x' }).expect(401);
    await bulk('resolve', 'name=chain', { reason: 'x' }).expect(400); // `bulk` is not a saga id: the single-saga route says so
  });
});
