/**
 * The rows one write statement carries for a set of decisions (saga-sql.ts: START_SAGAS,
 * WRITE_DECISIONS), one array per table, and the commands it wrote to the outbox.
 *
 * Guarantees: a saga row is written only when its state changed (or, asked to check every
 * saga, always: with the version it was read at), and then only its changed step rows; every command gets its wire envelope here, once, and is returned with the outbox id it
 * was stored under, so it can be published from memory after the commit.
 */
import { commandEnvelope, type CommandEnvelope, type Decision, type SagaState, type StepState } from '#saga/core';
import type { SqlValue } from './parameter-text';

export interface LoadedSaga {
  state: SagaState;
  version: number;
}

/** A command written to the outbox by a committed transaction, ready to publish. */
export interface CommittedCommand {
  outboxId: string;
  envelope: CommandEnvelope;
}

/** One decision to write; `before` null means effects only (history, outbox, timers), no state. */
export interface SagaWrite {
  before: LoadedSaga | null;
  decision: Decision;
}

/** Where commands go: resolves a command name to its queue, and the queue replies come back to. */
export interface CommandRouting {
  queueFor(command: string): string;
  replyTo: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function stepRows(sagaId: string, steps: StepState[], positions: number[]): unknown[] {
  return positions.map((position) => {
    const step = steps[position];
    return {
      saga_id: sagaId,
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
  });
}

/** The rows of one statement's worth of decisions, one array per table. */
export class EffectRows {
  readonly sagas: unknown[] = [];
  readonly steps: unknown[] = [];
  readonly history: unknown[] = [];
  readonly outbox: unknown[] = [];
  readonly cancelTimers: string[] = [];
  readonly timers: unknown[] = [];
  readonly envelopes = new Map<string, CommandEnvelope>();

  constructor(private readonly now: number) {}

  add(decision: Decision, routing: CommandRouting | undefined): void {
    const sagaId = decision.state.id;
    for (const entry of decision.history) this.history.push({ ...entry, saga_id: sagaId, at: new Date(entry.at).toISOString() });
    for (const command of decision.commands) {
      const envelope = commandEnvelope(command, routing!.queueFor(command.command), routing!.replyTo, this.now);
      this.envelopes.set(envelope.properties.correlationId, envelope);
      this.outbox.push({ saga_id: sagaId, queue: envelope.queue, body: envelope.body, properties: envelope.properties });
    }
    this.cancelTimers.push(...decision.cancelTimers);
    for (const timer of decision.timers) this.timers.push({ id: timer.id, saga_id: sagaId, fire_at: new Date(timer.fireAt).toISOString(), event: timer.event });
  }

  get empty(): boolean {
    return this.sagas.length + this.history.length + this.outbox.length + this.cancelTimers.length + this.timers.length === 0;
  }

  committed(written: { id: string; correlationId: string }[]): CommittedCommand[] {
    return written.map(({ id, correlationId }) => ({ outboxId: id, envelope: this.envelopes.get(correlationId)! }));
  }
}

/** Whether a write stores the saga's row (and so checks and bumps its version): when its state
 *  changed, or always with `checkEvery` (a `before` from a cache must be proven current). */
export function writesSagaRow(before: LoadedSaga, state: SagaState, checkEvery = false): boolean {
  return checkEvery || JSON.stringify(state) !== JSON.stringify(before.state);
}

/** The rows and the seven WRITE_DECISIONS parameters of a set of decisions. */
export function writeParameters(writes: SagaWrite[], routing: CommandRouting | undefined, checkEvery = false): { rows: EffectRows; params: SqlValue[] } {
  const rows = new EffectRows(Date.now());
  for (const { before, decision } of writes) {
    const { state } = decision;
    if (before && writesSagaRow(before, state, checkEvery)) {
      rows.sagas.push({ id: state.id, status: state.status, current_step: state.current, past_pivot: state.pastPivot, failure: state.failure ?? null, updated_at: new Date(state.updatedAt).toISOString(), version: before.version });
      const changed = state.steps.map((_, position) => position).filter((p) => JSON.stringify(state.steps[p]) !== JSON.stringify(before.state.steps[p]));
      rows.steps.push(...stepRows(state.id, state.steps, changed));
    }
    rows.add(decision, routing);
  }
  const params: SqlValue[] = [
    JSON.stringify(rows.sagas),
    JSON.stringify(rows.steps),
    JSON.stringify(rows.history),
    JSON.stringify(rows.outbox),
    rows.cancelTimers,
    JSON.stringify(rows.timers),
    rows.sagas.length,
  ];
  return { rows, params };
}

