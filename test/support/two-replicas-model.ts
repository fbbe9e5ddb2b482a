/**
 * The model of two orchestrator replicas on one database, for test/adapters/two-replicas.model.adapter.spec.ts
 * (docs/semantics.md S4, S7, S8).
 *
 * The model is what the sagas must be, built only from the pure engine and what each commit
 * answered: every applied decision must equal decide() over the last state the model holds (so a
 * commit made on a stale state, a lost update, is caught at once), every reply / operator key is
 * applied at most once and is a `duplicate` from then on, every timer is handled once and is
 * `timer-already-fired` from then on (a handler holding a timer that was since handled and set
 * again under the same id, as a refused deadline is, must not take the new one early: such a
 * firing is recorded in `early`, and the spec requires none). Status transitions must be the
 * allowed ones and compensation success is accepted at most once per step.
 * two-replicas-checks.ts compares the database with the model after every step.
 *
 * All of it is plain data, so a race of two commits can be absorbed on copies in either order.
 */
import assert from 'node:assert/strict';
import {
  decide,
  isTerminal,
  validateDefinition,
  type Decision,
  type HistoryEntry,
  type OutgoingCommand,
  type ParticipantCatalog,
  type SagaDefinition,
  type SagaState,
  type TimerRequest,
} from '#saga/core';
import type { CommitOutcome, CommitPath, SagaInput } from '#saga/persistence';

export const MODEL_QUEUE = 'model.queue';
export const catalog: ParticipantCatalog = {
  participants: { model: { queue: MODEL_QUEUE, commands: ['a', 'b', 'c'].flatMap((name) => [`${name}.do`, `${name}.undo`]) } },
};

const policies = {
  timeoutMs: 1_000,
  retry: { maxAttempts: 2, backoff: { initialMs: 100, multiplier: 2, maxMs: 1_000 } },
  compensationRetry: { maxAttempts: 2, backoff: { initialMs: 50, multiplier: 2, maxMs: 500 } },
};
const step = (name: string, undo: boolean, pivot = false) => ({
  name,
  action: { command: `${name}.do`, payload: { id: '$.saga.id' } },
  ...(undo ? { compensation: { command: `${name}.undo`, payload: { id: '$.saga.id' } } } : {}),
  ...(pivot ? { pivot: true } : {}),
});

/** Three steps with undos; and a variant whose middle step is the pivot. Short budgets, a deadline. */
export const definitions: SagaDefinition[] = [
  validateDefinition(
    { name: 'model-three', version: 1, inputSchema: { type: 'object' }, defaults: policies, deadlineMs: 5_000, steps: [step('a', true), step('b', true), step('c', true)] },
    catalog,
    'model-three',
  ),
  validateDefinition(
    { name: 'model-pivot', version: 1, inputSchema: { type: 'object' }, defaults: policies, deadlineMs: 5_000, steps: [step('a', true), step('b', false, true), step('c', false)] },
    catalog,
    'model-pivot',
  ),
];
export const definitionOf = (name: string): SagaDefinition => definitions.find((definition) => definition.name === name)!;

/** JSON copy in this realm (the database's and the engine's objects compare as data). */
export const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** JSON with every object's keys sorted: the database gives a state's fields back in its own order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

export interface ModelSaga {
  id: string;
  state: SagaState;
  version: number;
  /** (type, step, direction, attempt) of every history entry, in commit order. */
  history: string[];
  timers: Record<string, TimerRequest>;
  /** Attempt timers handled (fired by the scheduler or an operator): their rows are gone. */
  fired: TimerRequest[];
  /** Commands of committed decisions, in commit order. */
  sent: OutgoingCommand[];
  /** Compensation success replies the engine accepted, per step. */
  confirmedUndo: Record<string, number>;
}

export interface Model {
  sagas: Record<string, ModelSaga>;
  /** Inbox keys applied (reply correlation ids, operator idempotency keys), with the saga. */
  keys: Record<string, string>;
  /** Replies applied, to deliver again as duplicates. */
  delivered: Extract<SagaInput, { kind: 'reply' }>[];
  /** Correlation ids of every command a commit returned to publish. */
  published: string[];
  paths: Record<CommitPath, number>;
  /** Timers fired before their time by a handler holding an older timer of the same id. */
  early: string[];
}

/** The fire time of the timer an input was made from (the model tells timers apart by id and time). */
export const timerSeen = new WeakMap<SagaInput, number>();

export const emptyModel = (): Model => ({ sagas: {}, keys: {}, delivered: [], published: [], paths: { held: 0, read: 0, single: 0 }, early: [] });

const ALLOWED: ReadonlySet<string> = new Set([
  'RUNNING>COMPLETED',
  'RUNNING>COMPENSATING',
  'RUNNING>COMPENSATED', // the first step failed: through COMPENSATING in one decision
  'COMPENSATING>COMPENSATED',
  'COMPENSATING>COMPENSATION_FAILED',
  'COMPENSATION_FAILED>COMPENSATING',
  'COMPENSATION_FAILED>COMPENSATED', // the last undo skipped by hand
  'RUNNING>RESOLVED_MANUALLY',
  'COMPENSATING>RESOLVED_MANUALLY',
  'COMPENSATION_FAILED>RESOLVED_MANUALLY',
]);

export const entryKey = (entry: Pick<HistoryEntry, 'type' | 'step' | 'direction' | 'attempt'>): string => `${entry.type}|${entry.step}|${entry.direction}|${entry.attempt}`;

/** A saga just started by a commit (its START decision, as stored). */
export function absorbStart(model: Model, decision: Decision, published: string[]): void {
  const { state } = decision;
  assert.ok(!model.sagas[state.id], 'a saga id is started once');
  model.sagas[state.id] = {
    id: state.id,
    state: plain(state),
    version: 1,
    history: decision.history.map(entryKey),
    timers: Object.fromEntries(decision.timers.map((timer) => [timer.id, plain(timer)])),
    fired: [],
    sent: plain(decision.commands),
    confirmedUndo: {},
  };
  model.published.push(...published);
}

/**
 * One input's outcome as a commit answered it, checked against the model and folded into it.
 * Throws (node:assert) when the outcome or the decision is not what the model says it must be.
 */
export function absorb(model: Model, input: SagaInput, outcome: CommitOutcome, now: number): void {
  const saga = model.sagas[input.sagaId];
  assert.ok(saga, `the model knows saga ${input.sagaId}`);
  const key = input.kind === 'timer' ? undefined : input.inboxKey;
  const timerId = input.kind === 'reply' ? undefined : input.timerId;
  if (key !== undefined && model.keys[key] !== undefined) {
    assert.deepEqual(outcome, { kind: 'duplicate' }, `key ${key} was applied before: the repeat must be a duplicate`);
    if (input.kind === 'reply') {
      // Its history entry is a write of the saga: it moves the version like any other.
      saga.history.push(entryKey({ type: 'DUPLICATE_REPLY_IGNORED', step: input.event.step, direction: input.event.direction, attempt: input.event.attempt }));
      saga.version += 1;
    }
    return;
  }
  if (timerId !== undefined && saga.timers[timerId] === undefined) {
    assert.deepEqual(outcome, { kind: 'timer-already-fired' }, `timer ${timerId} was handled before (or never set): it fires at most once`);
    return;
  }
  const seen = timerId === undefined ? undefined : timerSeen.get(input);
  if (timerId !== undefined && seen !== undefined && saga.timers[timerId].fireAt !== seen) {
    // The handler saw an earlier timer with this id, since handled and set again (a refused
    // deadline is retried under the same id): the row it read due is gone, and the new one is
    // not due yet. Firing it now would be early; it is recorded, and the spec requires none.
    if (outcome.kind !== 'applied') return assert.deepEqual(outcome, { kind: 'timer-already-fired' });
    model.early.push(`${timerId} set for ${saga.timers[timerId].fireAt} fired by a handler that saw it at ${seen}`);
  }
  assert.equal(outcome.kind, 'applied', `${input.kind} ${key ?? timerId ?? ''} is new: it must apply`);
  if (outcome.kind !== 'applied') return;
  const expected = decide(definitionOf(saga.state.name), saga.state, input.event, now);
  assert.equal(canonical(outcome.decision), canonical(expected), 'the committed decision is decide() over the last committed state (no lost update)');
  const before = saga.state.status;
  const after = expected.state.status;
  assert.ok(before === after || ALLOWED.has(`${before}>${after}`), `status ${before} → ${after} is not an allowed transition`);
  if (isTerminal(before) && before !== 'COMPENSATION_FAILED') assert.equal(after, before, 'a terminal status never changes');
  assert.equal(outcome.version, saga.version + 1, 'an applied event moves the version by exactly one');
  saga.version += 1;
  saga.history.push(...expected.history.map(entryKey));
  if (key !== undefined) model.keys[key] = input.sagaId;
  if (input.kind === 'reply') model.delivered.push(input);
  if (timerId !== undefined) {
    saga.fired.push(saga.timers[timerId]);
    delete saga.timers[timerId];
  }
  for (const id of expected.cancelTimers) delete saga.timers[id];
  for (const timer of expected.timers) saga.timers[timer.id] ??= plain(timer);
  saga.sent.push(...plain(expected.commands));
  const event = input.event;
  if (event.type === 'REPLY' && event.direction === 'compensation' && event.outcome.kind === 'success' && !expected.history.some((entry) => entry.type === 'LATE_REPLY_IGNORED')) {
    saga.confirmedUndo[event.step] = (saga.confirmedUndo[event.step] ?? 0) + 1;
    assert.ok(saga.confirmedUndo[event.step] <= 1, `step ${event.step} is compensated at most once`);
  }
  saga.state = plain(expected.state);
}

/** The model after one commit of several inputs (a reply batch, or one input). */
export function absorbCommit(
  model: Model,
  inputs: readonly SagaInput[],
  committed: { outcomes: CommitOutcome[]; publish: { envelope: { properties: { correlationId: string } } }[]; path: CommitPath },
  now: number,
): void {
  assert.equal(committed.outcomes.length, inputs.length);
  inputs.forEach((input, index) => absorb(model, input, committed.outcomes[index], now));
  model.published.push(...committed.publish.map((command) => command.envelope.properties.correlationId));
  model.paths[committed.path]++;
}

/**
 * Two commits that ran at the same time: the models after each serial order that explains both
 * outcomes (the database serialised them one way; when both orders fit, only the database's
 * history tells them apart). Throws when no order does.
 */
export function absorbRace(model: Model, commits: [(m: Model) => void, (m: Model) => void]): Model[] {
  const failures: string[] = [];
  const fits: Model[] = [];
  for (const order of [
    [0, 1],
    [1, 0],
  ]) {
    const copy = structuredClone(model);
    try {
      for (const index of order) commits[index](copy);
      fits.push(copy);
    } catch (error) {
      failures.push(`order ${order.join(',')}: ${(error as Error).message}`);
    }
  }
  if (fits.length === 0) throw new assert.AssertionError({ message: `no serial order explains the race:\n${failures.join('\n')}` });
  return fits;
}
