/**
 * The statements of the saga tables, for one saga or a batch of them with the same statements
 * (saga-sql.ts). The committer (saga-committer.ts) is the one caller on the write path: it owns
 * the transactions and chooses the strategy; this file only runs statements inside them.
 *
 * Guarantees:
 * - lockMany / loadForUpdate take the sagas' row locks (in id order): events of one saga apply one
 *   at a time (docs/semantics.md S7); loadMany reads after the locks and claims the batch's inbox keys with it.
 * - writeDecisions writes state, changed steps, history, outbox rows and timers of any number of
 *   decisions in ONE statement, so they commit together or not at all (docs/semantics.md S4); it checks each
 *   saga's optimistic version and fails with ConcurrentSagaUpdateError if another writer got in.
 * - claimAndWrite is a whole reply batch in one statement for states the caller holds: strict
 *   inbox claim + writes with every saga's version checked; on any doubt it fails whole.
 * - insertMany stores any number of new sagas with their first decisions' effects in one
 *   statement, all or none, except that a saga whose idempotency key is taken is left out whole
 *   (none of its rows) and reported as null; insertNew is insertMany of one.
 * - Both return the commands they wrote to the outbox (row id + envelope; the envelope is made by
 *   the caller's `toOutbox`), for the caller to publish once the transaction committed; the rows
 *   stay until deleted after the broker's confirm (outbox-store.ts).
 * - claimInbox / claimTimer return true exactly once per key: the unique key / the delete decides.
 * - Every write of a saga moves its version by one, history-only writes included (they touch
 *   the row), and every write that stores a history entry with a failure type sets the saga's
 *   has_exceptions in the same statement (saga-write-rows.ts); writes of decisions alone run
 *   the plain statements.
 */
import type { Decision, HistoryEntry, SagaEvent, SagaState, SagaStatus, StepState } from '#saga/core';
import type { DataSource, EntityManager } from 'typeorm';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaTimerEntity } from './entities/saga-timer.entity';
import {
  BATCH_STATEMENTS,
  CLAIM_AND_WRITE,
  CLAIM_INBOX,
  CLAIM_DUE_TIMER,
  CLAIM_TIMER,
  CONCURRENT_UPDATE_MARK,
  DUE_TIMERS,
  NEXT_TIMER_AT,
  LOAD_SAGAS,
  LOCK_SAGAS,
  OPERATOR_ENTRY,
  PENDING_ATTEMPT_TIMERS,
  POSTPONE_TIMER,
  START_SAGAS,
  touchingSagas,
  WRITE_DECISIONS,
} from './saga-sql';
import { stepRows, writeParameters, EffectRows, type CommittedCommand, type LoadedSaga, type SagaWrite, type StepRepair, type ToOutbox } from './saga-write-rows';
import type { PipelinedSession } from './sql/pipelined-session';
import { preparedQuery } from './sql/prepared-query';

export type { CommittedCommand, LoadedSaga, SagaWrite, ToOutbox } from './saga-write-rows';

export class ConcurrentSagaUpdateError extends Error {
  readonly code = 'CONCURRENT_SAGA_UPDATE';
  constructor(sagaIds: string[]) {
    super(`saga ${sagaIds.join(', ')} was changed by another writer; the event will be retried`);
    this.name = 'ConcurrentSagaUpdateError';
  }
}

export interface NewSagaMeta {
  idempotencyKey: string | null;
  inputHash: string;
  /** The fingerprint of the definition version the saga is pinned to (saga_definitions). */
  definitionFingerprint?: string | null;
  /** The definition's business key of the input (saga-core business-key.ts); none: null. */
  businessKey?: string | null;
}

/** A saga to store: its first decision and what identifies its start. */
export interface NewSaga {
  decision: Decision;
  meta: NewSagaMeta;
}

/** A saga as LOAD_SAGAS returns it (jsonb: times in epoch ms). */
interface SagaJson {
  id: string;
  name: string;
  definitionVersion: number;
  status: SagaStatus;
  input: unknown;
  current: number;
  pastPivot: boolean;
  failure: SagaState['failure'];
  version: number;
  createdAt: number;
  updatedAt: number;
  steps: StepState[] | null;
}

function toLoaded(saga: SagaJson): LoadedSaga {
  const state: SagaState = {
    id: saga.id,
    name: saga.name,
    version: saga.definitionVersion,
    status: saga.status,
    input: saga.input,
    current: saga.current,
    failure: saga.failure,
    pastPivot: saga.pastPivot,
    createdAt: saga.createdAt,
    updatedAt: saga.updatedAt,
    steps: (saga.steps ?? []).map(storedStep),
  };
  return { state, version: saga.version };
}

/** A step as stored: nulls where unset, and the `repair` column's fields only when present. */
const storedStep = (stored: StepState & { repair?: StepRepair | null }): StepState => {
  const { repair, ...step } = stored;
  return {
    ...step,
    request: step.request ?? null,
    result: step.result ?? null,
    lastError: step.lastError ?? null,
    startedAt: step.startedAt ?? null,
    finishedAt: step.finishedAt ?? null,
    ...(repair ?? {}),
  };
};

/** A copy of `state` shaped as the store reads it back (JSON values only, null where unset), and
 *  the size of its JSON (what a cache of states counts). */
export function storedCopy(state: SagaState): { state: SagaState; jsonLength: number } {
  const text = JSON.stringify(state);
  const copy = JSON.parse(text) as SagaState;
  return { state: { ...copy, failure: copy.failure ?? null, steps: copy.steps.map(storedStep) }, jsonLength: text.length };
}

/** The saga_instances row of a new saga, as START_SAGAS takes it (without has_exceptions). */
function newSagaRow(state: SagaState, meta: NewSagaMeta) {
  return {
    id: state.id,
    definition_name: state.name,
    definition_version: state.version,
    status: state.status,
    input: state.input ?? null,
    current_step: state.current,
    past_pivot: state.pastPivot,
    failure: state.failure ?? null,
    idempotency_key: meta.idempotencyKey,
    input_hash: meta.inputHash,
    definition_fingerprint: meta.definitionFingerprint ?? null,
    created_at: new Date(state.createdAt).toISOString(),
    business_key: meta.businessKey ?? null,
  };
}

/** Runs a WRITE_DECISIONS and turns its version-check failure into ConcurrentSagaUpdateError. */
async function concurrentUpdateChecked<T>(writes: readonly SagaWrite[], write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (String((error as Error)?.message).includes(CONCURRENT_UPDATE_MARK)) {
      throw new ConcurrentSagaUpdateError(writes.flatMap((item) => (item.kind === 'decision' ? [item.decision.state.id] : [])));
    }
    throw error;
  }
}

export class SagaStore {
  /** Locks the sagas among `ids` that exist, in id order; returns their ids. */
  async lockMany(manager: EntityManager, ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows: { id: string }[] = await manager.query(LOCK_SAGAS, [ids]);
    return new Set(rows.map((row) => row.id));
  }

  /** Reads sagas locked by lockMany and claims the inbox keys given (for those sagas). */
  async loadMany(manager: EntityManager, ids: string[], inbox: { key: string; sagaId: string }[]): Promise<{ sagas: Map<string, LoadedSaga>; claimed: Set<string> }> {
    if (ids.length === 0) return { sagas: new Map(), claimed: new Set() };
    const [row]: { claimed: string[]; sagas: SagaJson[] }[] = await manager.query(LOAD_SAGAS, [ids, inbox.map((item) => item.key), inbox.map((item) => item.sagaId)]);
    return { sagas: new Map(row.sagas.map((saga) => [saga.id, toLoaded(saga)])), claimed: new Set(row.claimed) };
  }

  async loadForUpdate(manager: EntityManager, id: string): Promise<LoadedSaga | null> {
    if ((await this.lockMany(manager, [id])).size === 0) return null;
    return (await this.loadMany(manager, [id], [])).sagas.get(id) ?? null;
  }

  async findByIdempotencyKey(manager: EntityManager, name: string, key: string): Promise<SagaInstanceEntity | null> {
    return manager.findOne(SagaInstanceEntity, { where: { definitionName: name, idempotencyKey: key } });
  }

  /** insertMany of one: its commands, or null when its idempotency key was taken (nothing stored). */
  async insertNew(manager: EntityManager, decision: Decision, meta: NewSagaMeta, toOutbox: ToOutbox): Promise<CommittedCommand[] | null> {
    return (await this.insertMany(manager, [{ decision, meta }], toOutbox))[0];
  }

  /** New sagas with their first decisions' effects, in ONE statement (all or none); returns, for
   *  each saga in the order given, the commands written, or null when its idempotency key was
   *  taken (then nothing of it was written: START_SAGAS). `published`: confirmed outbox rows the
   *  statement deletes too. */
  async insertMany(manager: EntityManager, starts: readonly NewSaga[], toOutbox: ToOutbox, published: readonly string[] = []): Promise<(CommittedCommand[] | null)[]> {
    const rows = new EffectRows(toOutbox);
    const sagas = starts.map(({ decision, meta }) => ({
      ...newSagaRow(decision.state, meta),
      has_exceptions: decision.history.some((entry) => entry.failureType !== null),
    }));
    const steps: unknown[] = [];
    for (const { decision } of starts) {
      steps.push(
        ...stepRows(
          decision.state.id,
          decision.state.steps,
          decision.state.steps.map((_, position) => position),
        ),
      );
      rows.addEffects(decision);
    }
    const params = [JSON.stringify(sagas), JSON.stringify(steps), JSON.stringify(rows.history), JSON.stringify(rows.outbox), JSON.stringify(rows.timers), [...published]];
    // Outside a transaction (one statement is atomic) it runs as a prepared statement.
    const [result]: { outbox: { id: string; correlationId: string }[]; stored: string[] }[] = manager.queryRunner
      ? await manager.query(START_SAGAS, params)
      : await preparedQuery(manager.connection, START_SAGAS, params);
    const stored = new Set(result.stored);
    const committed = rows.committed(result.outbox);
    return starts.map(({ decision }) => {
      if (!stored.has(decision.state.id)) return null;
      const mine = new Set(decision.commands.map((command) => command.correlationId));
      return committed.filter((command) => mine.has(command.envelope.properties.correlationId));
    });
  }

  async applyDecision(manager: EntityManager, before: LoadedSaga, decision: Decision, toOutbox: ToOutbox): Promise<CommittedCommand[]> {
    return this.writeDecisions(manager, [{ kind: 'decision', before, decision }], toOutbox);
  }

  /** Writes every decision in one statement; see the file header for the guarantees. */
  async writeDecisions(manager: EntityManager, writes: readonly SagaWrite[], toOutbox: ToOutbox | undefined): Promise<CommittedCommand[]> {
    const { rows, params } = writeParameters(writes, toOutbox);
    if (rows.empty) return [];
    const touched = rows.touched();
    const [result]: { outbox: { id: string; correlationId: string }[] }[] = await concurrentUpdateChecked(writes, () =>
      touched.ids.length === 0 ? manager.query(WRITE_DECISIONS, params) : manager.query(touchingSagas(WRITE_DECISIONS, 9), [...params, touched.ids, touched.flagged]),
    );
    return rows.committed(result.outbox);
  }

  /**
   * The first round trip of a reply batch: BEGIN, lock the sagas among `ids` that exist (id
   * order), read them and claim the inbox keys, in ONE multi-statement batch.
   */
  async beginBatch(session: PipelinedSession, ids: string[], inbox: { key: string; sagaId: string }[]): Promise<{ sagas: Map<string, LoadedSaga>; claimed: Set<string> }> {
    await session.prepare(Object.values(BATCH_STATEMENTS)); // a round trip only on a connection's first batch
    const [, loaded] = await session.begin([
      session.execute(BATCH_STATEMENTS.lock, [ids]),
      session.execute(BATCH_STATEMENTS.load, [ids, inbox.map((item) => item.key), inbox.map((item) => item.sagaId)]),
    ]);
    const row = loaded.rows[0] as { claimed: string[]; sagas: SagaJson[] };
    return { sagas: new Map(row.sagas.map((saga) => [saga.id, toLoaded(saga)])), claimed: new Set(row.claimed) };
  }

  /**
   * A reply batch in ONE round trip, for sagas whose state the caller holds (`before` of each
   * write, from its cache): claims the inbox keys and writes every decision in one statement,
   * checking every saga's version whether its state changed or not. Throws (nothing written) on
   * a key already claimed (23505) or a stale version (ConcurrentSagaUpdateError). `published`:
   * confirmed outbox rows the statement deletes too.
   */
  async claimAndWrite(
    dataSource: DataSource,
    inbox: { key: string; sagaId: string }[],
    writes: readonly SagaWrite[],
    toOutbox: ToOutbox,
    published: readonly string[] = [],
  ): Promise<CommittedCommand[]> {
    if (writes.some((write) => write.kind !== 'decision')) throw new RangeError('claimAndWrite takes decisions only');
    const { rows, params } = writeParameters(writes, toOutbox, published);
    const claim = [inbox.map((item) => item.key), inbox.map((item) => item.sagaId)];
    const [written] = await concurrentUpdateChecked(writes, () =>
      preparedQuery<{ outbox: { id: string; correlationId: string }[] }>(dataSource, CLAIM_AND_WRITE, [...params, ...claim]),
    );
    return rows.committed(written.outbox);
  }

  /** The second round trip of a reply batch: every decision's writes and COMMIT, in ONE batch.
   *  `published`: confirmed outbox rows the write deletes too. */
  async commitBatch(session: PipelinedSession, writes: readonly SagaWrite[], toOutbox: ToOutbox, published: readonly string[] = []): Promise<CommittedCommand[]> {
    const { rows, params } = writeParameters(writes, toOutbox, published);
    if (rows.empty && published.length === 0) {
      await session.commit([]);
      return [];
    }
    const touched = rows.touched();
    const write =
      touched.ids.length === 0 ? session.execute(BATCH_STATEMENTS.write, params) : session.execute(BATCH_STATEMENTS.writeTouching, [...params, touched.ids, touched.flagged]);
    const [written] = await concurrentUpdateChecked(writes, () => session.commit([write]));
    return rows.committed((written.rows[0] as { outbox: { id: string; correlationId: string }[] }).outbox);
  }

  async appendHistory(manager: EntityManager, sagaId: string, entries: HistoryEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.writeDecisions(manager, [{ kind: 'history', sagaId, entries }], undefined);
  }

  async claimInbox(manager: EntityManager, messageKey: string, sagaId: string): Promise<boolean> {
    const inserted: unknown[] = await manager.query(CLAIM_INBOX, [[messageKey], [sagaId]]);
    return inserted.length > 0;
  }

  /** `dueAt`: the fire time the caller read the timer with; then only that row (or an earlier
   *  one) is claimed, never the same id set again to fire later. */
  async claimTimer(manager: EntityManager, id: string, dueAt?: number): Promise<SagaTimerEntity | null> {
    const [rows]: [SagaTimerEntity[], number] = dueAt === undefined ? await manager.query(CLAIM_TIMER, [id]) : await manager.query(CLAIM_DUE_TIMER, [id, new Date(dueAt)]);
    return rows[0] ?? null;
  }

  /** Puts a timer whose handling failed back, to fire at `fireAt`. */
  async postponeTimer(manager: EntityManager, id: string, fireAt: number): Promise<void> {
    await manager.query(POSTPONE_TIMER, [id, new Date(fireAt)]);
  }

  async pendingAttemptTimers(manager: EntityManager, sagaId: string): Promise<{ id: string; fireAt: number; event: SagaEvent }[]> {
    const rows: { id: string; fireAt: Date; event: SagaEvent }[] = await manager.query(PENDING_ATTEMPT_TIMERS, [sagaId]);
    return rows.map((row) => ({ id: row.id, fireAt: new Date(row.fireAt).getTime(), event: row.event }));
  }

  async findOperatorEntry(manager: EntityManager, sagaId: string, requestKey: string, by: string): Promise<HistoryEntry | null> {
    const [row]: {
      type: HistoryEntry['type'];
      failureType: HistoryEntry['failureType'];
      at: Date;
      step: string | null;
      direction: HistoryEntry['direction'];
      attempt: number | null;
      reason: string | null;
      detail: HistoryEntry['detail'];
    }[] = await manager.query(OPERATOR_ENTRY, [sagaId, requestKey, by]);
    return row ? { ...row, at: new Date(row.at).getTime() } : null;
  }

  /** Sagas in COMPENSATION_FAILED (waiting for an operator). */
  async countStuck(manager: EntityManager): Promise<number> {
    const [row]: { n: number }[] = await manager.query(`SELECT count(*)::int AS n FROM saga_instances WHERE status = 'COMPENSATION_FAILED'`);
    return row.n;
  }

  async dueTimers(manager: EntityManager, now: number, limit: number): Promise<SagaTimerEntity[]> {
    return manager.query(DUE_TIMERS, [new Date(now), limit]);
  }

  /** The epoch ms at which the first timer due after `now` fires, rounded up to the millisecond
   *  (a wake-up then finds it due); null when no timer waits. */
  async nextTimerAt(manager: EntityManager, now: number): Promise<number | null> {
    const [row]: { at: number | null }[] = await manager.query(NEXT_TIMER_AT, [new Date(now)]);
    return row.at === null ? null : Math.ceil(row.at);
  }
}
