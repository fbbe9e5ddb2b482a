/**
 * The rows one write statement carries for a set of writes (saga-sql.ts: START_SAGAS,
 * WRITE_DECISIONS), one array per table, and the commands it wrote to the outbox.
 *
 * Guarantees:
 * - Every write of a saga moves its version by exactly one (docs/semantics.md S7): a decision
 *   writes the saga row, with the version it was read at (checked), and its changed step rows;
 *   a history-only write (a duplicate reply, a note) touches the row (`touched()`). So a saga's
 *   version names one content of its state, steps, history and set of pending timers (a failed
 *   timer's postponed fire time aside), and whoever committed every version from 1 to v knows
 *   that content without reading it (the start-and-wait answer relies on it).
 * - Commands arrive already in their wire form (the caller's `toOutbox`: persistence knows
 *   nothing of AMQP) and are returned with the outbox id they were stored under, so they can be
 *   published from memory after the commit.
 * - Every saga a statement writes a failure entry for is flagged (has_exceptions) by that
 *   statement: through its saga row, or through its touch.
 */
import type { CommandEnvelope, Decision, HistoryEntry, OutgoingCommand, SagaState, StepState } from '#saga/core';
import type { SqlValue } from './sql/sql-value';

export interface LoadedSaga {
  state: SagaState;
  /** The optimistic version of the saga row this state was read at (or committed as). */
  version: number;
}

/** A command written to the outbox by a committed transaction, ready to publish. */
export interface CommittedCommand {
  outboxId: string;
  envelope: CommandEnvelope;
}

/** Turns a command the engine decided into the message stored in the outbox and published. */
export type ToOutbox = (command: OutgoingCommand) => CommandEnvelope;

/** One write of a statement: a decision about a saga read at `before`, or history entries alone
 *  (a duplicate reply, a parked malformed reply) that change nothing else. */
export type SagaWrite = { kind: 'decision'; before: LoadedSaga; decision: Decision } | { kind: 'history'; sagaId: string; entries: HistoryEntry[] };

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The step's repair fields as the `repair` column holds them; null when no operator touched it. */
export function repairOf(step: StepState): StepRepair | null {
  const repair: StepRepair = {};
  if (step.actionBudgetFrom !== undefined) repair.actionBudgetFrom = step.actionBudgetFrom;
  if (step.compensationBudgetFrom !== undefined) repair.compensationBudgetFrom = step.compensationBudgetFrom;
  if (step.manual !== undefined) repair.manual = step.manual;
  return Object.keys(repair).length > 0 ? repair : null;
}

export type StepRepair = Pick<StepState, 'actionBudgetFrom' | 'compensationBudgetFrom' | 'manual'>;

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
      repair: repairOf(step),
    };
  });
}

/** The rows of one statement's worth of writes, one array per table. */
export class EffectRows {
  readonly sagas: unknown[] = [];
  readonly steps: unknown[] = [];
  readonly history: unknown[] = [];
  readonly outbox: unknown[] = [];
  readonly cancelTimers: string[] = [];
  readonly timers: unknown[] = [];
  /** Sagas this statement writes a failure entry for (docs: has_exceptions). */
  readonly failing = new Set<string>();
  private readonly envelopes = new Map<string, CommandEnvelope>();

  constructor(private readonly toOutbox: ToOutbox | undefined) {}

  addHistory(sagaId: string, entries: readonly HistoryEntry[]): void {
    for (const entry of entries) {
      this.history.push({ ...entry, saga_id: sagaId, at: new Date(entry.at).toISOString() });
      if (entry.failureType !== null) this.failing.add(sagaId);
    }
  }

  /** Sagas this statement writes history of without writing their saga row, and those of them
   *  with a failure entry: a touching statement (saga-sql.ts touchingSagas) moves their version
   *  and sets has_exceptions on the flagged ones. */
  touched(): { ids: string[]; flagged: string[] } {
    const written = new Set(this.sagas.map((row) => (row as { id: string }).id));
    const ids = [...new Set(this.history.map((row) => (row as { saga_id: string }).saga_id))].filter((id) => !written.has(id));
    return { ids, flagged: ids.filter((id) => this.failing.has(id)) };
  }

  /** History, outbox rows and timers of a decision (not its saga and step rows). */
  addEffects(decision: Decision): void {
    const sagaId = decision.state.id;
    this.addHistory(sagaId, decision.history);
    for (const command of decision.commands) {
      if (!this.toOutbox) throw new Error('commands to write but no way to turn them into outbox messages');
      const envelope = this.toOutbox(command);
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

/** The rows and the eight WRITE_DECISIONS parameters of a set of writes; `published`: confirmed
 *  outbox rows the statement deletes too. */
export function writeParameters(writes: readonly SagaWrite[], toOutbox: ToOutbox | undefined, published: readonly string[] = []): { rows: EffectRows; params: SqlValue[] } {
  const rows = new EffectRows(toOutbox);
  for (const write of writes) {
    if (write.kind === 'history') {
      rows.addHistory(write.sagaId, write.entries);
      continue;
    }
    const { before, decision } = write;
    const { state } = decision;
    rows.sagas.push({
      id: state.id,
      status: state.status,
      current_step: state.current,
      past_pivot: state.pastPivot,
      failure: state.failure ?? null,
      updated_at: new Date(state.updatedAt).toISOString(),
      version: before.version,
      has_exceptions: decision.history.some((entry) => entry.failureType !== null),
    });
    const changed = state.steps.map((_, position) => position).filter((p) => JSON.stringify(state.steps[p]) !== JSON.stringify(before.state.steps[p]));
    rows.steps.push(...stepRows(state.id, state.steps, changed));
    rows.addEffects(decision);
  }
  const params: SqlValue[] = [
    JSON.stringify(rows.sagas),
    JSON.stringify(rows.steps),
    JSON.stringify(rows.history),
    JSON.stringify(rows.outbox),
    rows.cancelTimers,
    JSON.stringify(rows.timers),
    rows.sagas.length,
    [...published],
  ];
  return { rows, params };
}

/** The version a saga row has once a write over `before` committed: every write moves it by one. */
export function versionAfter(before: LoadedSaga): number {
  return before.version + 1;
}
