/**
 * Reads and writes saga state inside a caller's transaction (the runtime owns the transaction).
 *
 * Guarantees:
 * - loadForUpdate takes the saga's row lock: events of one saga apply one at a time (SPEC S7).
 * - applyDecision writes state, changed steps, history, outbox rows and timers of ONE decision
 *   with the same EntityManager, so they commit together or not at all (SPEC S4); it also checks
 *   the optimistic version and fails with ConcurrentSagaUpdateError if another writer got in.
 * - claimInbox / claimTimer return true exactly once per key: the unique key / the delete decides.
 */
import { commandEnvelope, type Decision, type HistoryEntry, type SagaState, type SagaStatus, type StepState } from '#saga/core';
import type { EntityManager } from 'typeorm';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaTimerEntity } from './entities/saga-timer.entity';
import { DUE_TIMERS, INSERT_SAGA, LOAD_SAGA, LOCK_SAGA, UPDATE_SAGA, WRITE_EFFECTS } from './saga-sql';

/** The PostgreSQL NOTIFY channel a commit that wrote outbox rows signals on. */
export const OUTBOX_CHANNEL = 'saga_outbox';

export class ConcurrentSagaUpdateError extends Error {
  readonly code = 'CONCURRENT_SAGA_UPDATE';
  constructor(sagaId: string) {
    super(`saga ${sagaId} was changed by another writer; the event will be retried`);
    this.name = 'ConcurrentSagaUpdateError';
  }
}

export interface LoadedSaga {
  state: SagaState;
  version: number;
}

/** Where commands go: resolves a command name to its queue, and the queue replies come back to. */
export interface CommandRouting {
  queueFor(command: string): string;
  replyTo: string;
}

export interface NewSagaMeta {
  idempotencyKey: string | null;
  inputHash: string;
}

interface LockedRow {
  id: string;
  definition_name: string;
  definition_version: number;
  status: string;
  input: unknown;
  current_step: number;
  past_pivot: boolean;
  failure: SagaState['failure'];
  version: number;
  created_at: Date;
  updated_at: Date;
  steps: (Omit<StepState, 'startedAt' | 'finishedAt'> & { position: number; startedAt: string | null; finishedAt: string | null })[];
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function stepRecords(steps: StepState[], positions: number[]): string {
  return JSON.stringify(
    positions.map((position) => {
      const step = steps[position];
      return {
        position,
        name: step.name,
        status: step.status,
        attempt: step.attempt,
        compensation_attempt: step.compensationAttempt,
        waiting_for_retry: step.waitingForRetry,
        request: step.request,
        result: step.result,
        last_error: step.lastError,
        started_at: iso(step.startedAt),
        finished_at: iso(step.finishedAt),
      };
    }),
  );
}

const json = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

export class SagaStore {
  async loadForUpdate(manager: EntityManager, id: string): Promise<LoadedSaga | null> {
    // Lock in a statement of its own: a SELECT that had to wait for the lock returns the newest
    // saga row, but its steps subquery would still read the statement's older snapshot.
    const locked: unknown[] = await manager.query(LOCK_SAGA, [id]);
    if (locked.length === 0) return null;
    const [row]: LockedRow[] = await manager.query(LOAD_SAGA, [id]);
    const state: SagaState = {
      id: row.id,
      name: row.definition_name,
      version: row.definition_version,
      status: row.status as SagaStatus,
      input: row.input,
      current: row.current_step,
      failure: row.failure,
      pastPivot: row.past_pivot,
      createdAt: row.created_at.getTime(),
      updatedAt: row.updated_at.getTime(),
      steps: (row.steps ?? []).map(({ position: _position, startedAt, finishedAt, ...step }) => ({
        ...step,
        request: step.request ?? null,
        result: step.result ?? null,
        lastError: step.lastError ?? null,
        startedAt: startedAt === null ? null : Number(startedAt),
        finishedAt: finishedAt === null ? null : Number(finishedAt),
      })),
    };
    return { state, version: row.version };
  }

  async findByIdempotencyKey(manager: EntityManager, name: string, key: string): Promise<SagaInstanceEntity | null> {
    return manager.findOne(SagaInstanceEntity, { where: { definitionName: name, idempotencyKey: key } });
  }

  async insertNew(manager: EntityManager, decision: Decision, meta: NewSagaMeta, routing: CommandRouting): Promise<void> {
    const { state } = decision;
    await manager.query(INSERT_SAGA, [
      state.id,
      state.name,
      state.version,
      state.status,
      JSON.stringify(state.input ?? null),
      state.current,
      state.pastPivot,
      json(state.failure),
      meta.idempotencyKey,
      meta.inputHash,
      new Date(state.createdAt),
      stepRecords(state.steps, state.steps.map((_, position) => position)),
    ]);
    await this.writeEffects(manager, decision, routing);
  }

  async applyDecision(manager: EntityManager, before: LoadedSaga, decision: Decision, routing: CommandRouting): Promise<void> {
    const { state } = decision;
    if (JSON.stringify(state) !== JSON.stringify(before.state)) {
      const changed = state.steps.map((_, position) => position).filter((p) => JSON.stringify(state.steps[p]) !== JSON.stringify(before.state.steps[p]));
      const updated: unknown[] = await manager.query(UPDATE_SAGA, [
        state.id,
        state.status,
        state.current,
        state.pastPivot,
        json(state.failure),
        new Date(state.updatedAt),
        before.version,
        stepRecords(state.steps, changed),
      ]);
      if (updated.length !== 1) throw new ConcurrentSagaUpdateError(state.id);
    }
    await this.writeEffects(manager, decision, routing);
  }

  async appendHistory(manager: EntityManager, sagaId: string, entries: HistoryEntry[]): Promise<void> {
    if (entries.length > 0) await this.writeEffects(manager, { state: { id: sagaId } as SagaState, history: entries, commands: [], timers: [], cancelTimers: [] }, undefined);
  }

  /** History, outbox rows, cancelled and new timers of one decision, in one statement. */
  private async writeEffects(manager: EntityManager, decision: Decision, routing: CommandRouting | undefined): Promise<void> {
    const { state } = decision;
    if (decision.history.length + decision.commands.length + decision.timers.length + decision.cancelTimers.length === 0) return;
    const now = Date.now();
    const outbox = decision.commands.map((command) => {
      const envelope = commandEnvelope(command, routing!.queueFor(command.command), routing!.replyTo, now);
      return { queue: envelope.queue, body: envelope.body, properties: envelope.properties };
    });
    await manager.query(WRITE_EFFECTS, [
      state.id,
      JSON.stringify(decision.history.map((entry) => ({ ...entry, at: new Date(entry.at).toISOString() }))),
      JSON.stringify(outbox),
      decision.cancelTimers,
      JSON.stringify(decision.timers.map((timer) => ({ id: timer.id, fire_at: new Date(timer.fireAt).toISOString(), event: timer.event }))),
      OUTBOX_CHANNEL,
    ]);
  }

  async claimInbox(manager: EntityManager, messageKey: string, sagaId: string): Promise<boolean> {
    const inserted: unknown[] = await manager.query(
      'INSERT INTO saga_inbox (message_key, saga_id, received_at) VALUES ($1, $2, now()) ON CONFLICT (message_key) DO NOTHING RETURNING message_key',
      [messageKey, sagaId],
    );
    return inserted.length > 0;
  }

  async claimTimer(manager: EntityManager, id: string): Promise<SagaTimerEntity | null> {
    const [rows]: [SagaTimerEntity[], number] = await manager.query(
      // SKIP LOCKED: a timer another replica is firing right now is not waited for; if that
      // replica rolls back, the row is still there and the next poll fires it.
      'DELETE FROM saga_timers WHERE id = (SELECT id FROM saga_timers WHERE id = $1 FOR UPDATE SKIP LOCKED) RETURNING id, saga_id AS "sagaId", fire_at AS "fireAt", event',
      [id],
    );
    return rows[0] ?? null;
  }

  async dueTimers(manager: EntityManager, now: number, limit: number): Promise<SagaTimerEntity[]> {
    return manager.query(DUE_TIMERS, [new Date(now), limit]);
  }
}
