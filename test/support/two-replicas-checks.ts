/**
 * The database against the model of two-replicas-model.ts, every saga of a run, after every
 * step of test/adapters/two-replicas.model.adapter.spec.ts (docs/semantics.md S2, S4, S7):
 * - state and version (one more per row write) are the model's; the history is the committed
 *   decisions' entries (and duplicate-reply entries) in commit order; the pending timers, the
 *   inbox keys and the outbox rows are exactly the model's; each command is written once and
 *   returned to publish once, and only commands of committed decisions are;
 * - a finished saga has no pending timers; an unfinished one has exactly one step in flight and
 *   an attempt timer (timeout or retry) pending, so it never stalls;
 * - compensations are sent in reverse order, only for steps whose action was sent, never past
 *   the pivot, and a step COMPENSATED (not by hand) had its undo confirmed exactly once.
 */
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { isTerminal, type HistoryEntry, type SagaState, type SagaStatus } from '#saga/core';
import { SagaStore } from '#saga/persistence';
import { canonical, entryKey, type Model, type ModelSaga } from './two-replicas-model';

/** The one of `candidates` the database matches (the first one's difference if none does). */
export async function checkDatabaseAgainstAny(ds: DataSource, candidates: Model[]): Promise<Model> {
  let first: unknown;
  for (const candidate of candidates) {
    try {
      await checkDatabase(ds, candidate);
      return candidate;
    } catch (error) {
      first ??= error;
    }
  }
  throw first;
}

const sorted = (values: string[]): string[] => [...values].sort();

/** Equal as data (rows come from another realm under jest); the message shows both sides. */
function same(actual: unknown, expected: unknown, message: string): void {
  const [a, e] = [canonical(actual), canonical(expected)];
  if (a !== e) assert.fail(`${message}\n  stored: ${a}\n  model:  ${e}`);
}

/** The database against the model, every saga of the run; throws on the first difference. */
export async function checkDatabase(ds: DataSource, model: Model): Promise<void> {
  const ids = Object.keys(model.sagas);
  if (ids.length === 0) return;
  const store = new SagaStore();
  const loaded = await ds.transaction(async (manager) => {
    const found = new Map<string, { state: SagaState; version: number }>();
    for (const id of ids) found.set(id, (await store.loadForUpdate(manager, id))!);
    return found;
  });
  const group = <R extends { saga_id: string }>(rows: R[]): Map<string, R[]> => {
    const map = new Map<string, R[]>(ids.map((id) => [id, []]));
    for (const row of rows) map.get(row.saga_id)!.push(row);
    return map;
  };
  const history = group(
    await ds.query<{ saga_id: string; type: HistoryEntry['type']; step: string | null; direction: 'action' | 'compensation' | null; attempt: number | null }[]>(
      'SELECT saga_id, type, step, direction, attempt FROM saga_history WHERE saga_id = ANY($1) ORDER BY id',
      [ids],
    ),
  );
  const timers = group(await ds.query<{ saga_id: string; id: string; fire_at: Date }[]>('SELECT saga_id, id, fire_at FROM saga_timers WHERE saga_id = ANY($1)', [ids]));
  const outbox = group(
    await ds.query<{ saga_id: string; correlation_id: string }[]>(
      "SELECT saga_id, properties->>'correlationId' AS correlation_id FROM saga_outbox WHERE saga_id = ANY($1) ORDER BY id",
      [ids],
    ),
  );
  const inbox = await ds.query<{ saga_id: string; message_key: string }[]>('SELECT saga_id, message_key FROM saga_inbox WHERE saga_id = ANY($1)', [ids]);

  same(
    sorted(inbox.map((row) => `${row.saga_id} ${row.message_key}`)),
    sorted(Object.entries(model.keys).map(([key, id]) => `${id} ${key}`)),
    'the inbox holds exactly the keys applied',
  );
  const sent = Object.values(model.sagas).flatMap((saga) => saga.sent.map((command) => command.correlationId));
  same(sorted(model.published), sorted(sent), 'commits return to publish exactly the commands of their decisions');
  assert.equal(new Set(sent).size, sent.length, 'each command (correlation id) is written once');

  for (const saga of Object.values(model.sagas)) {
    const row = loaded.get(saga.id)!;
    const where = `saga ${saga.id} (${saga.state.name}, ${saga.state.status})`;
    same(row.state, saga.state, `${where}: the stored state is the model's`);
    assert.equal(row.version, saga.version, `${where}: the version moved once per row write`);
    same(history.get(saga.id)!.map(entryKey), saga.history, `${where}: the history is the decisions' entries, in commit order`);
    const stored = timers.get(saga.id)!;
    same(
      sorted(stored.map((timer) => `${timer.id}@${timer.fire_at.getTime()}`)),
      sorted(Object.values(saga.timers).map((timer) => `${timer.id}@${timer.fireAt}`)),
      `${where}: pending timers`,
    );
    same(
      outbox.get(saga.id)!.map((row) => row.correlation_id),
      saga.sent.map((command) => command.correlationId),
      `${where}: the outbox holds each committed command once`,
    );
    checkShape(
      saga,
      stored.map((timer) => timer.id),
      where,
    );
  }
}

/** Invariants of one saga that hold whatever happened. */
function checkShape(saga: ModelSaga, timerIds: string[], where: string): void {
  const { state } = saga;
  const status: SagaStatus = state.status;
  if (isTerminal(status) && status !== 'COMPENSATION_FAILED') same(timerIds, [], `${where}: a finished saga has no pending timers`);
  if (!isTerminal(status))
    assert.ok(
      timerIds.some((id) => !id.endsWith('/deadline')),
      `${where}: a saga not finished has an attempt timer (timeout or retry) pending`,
    );
  const inFlight = state.steps.filter((step) => step.status === 'RUNNING' || step.status === 'COMPENSATING');
  if (!isTerminal(status)) assert.equal(inFlight.length, 1, `${where}: one step in flight`);
  else assert.ok(inFlight.length <= (status === 'RESOLVED_MANUALLY' ? 1 : 0), `${where}: nothing in flight once finished`);
  const position = (name: string) => state.steps.findIndex((step) => step.name === name);
  const undos = saga.sent.filter((command) => command.direction === 'compensation').map((command) => position(command.step));
  undos.forEach((index, i) => assert.ok(i === 0 || index <= undos[i - 1], `${where}: compensations are sent in reverse order`));
  for (const index of new Set(undos))
    assert.ok(
      saga.sent.some((command) => command.direction === 'action' && position(command.step) === index),
      `${where}: only a step whose action was sent is compensated`,
    );
  if (state.pastPivot) same(undos, [], `${where}: nothing is compensated once the pivot succeeded`);
  for (const step of state.steps) if (step.status === 'COMPENSATED' && !step.manual) assert.equal(saga.confirmedUndo[step.name], 1, `${where}: ${step.name} compensated once`);
}
