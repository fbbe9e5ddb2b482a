/**
 * A mutable accumulator for one decision: the engine copies the state once per event, then
 * records commands, timers and history here. Nothing outside the engine ever sees it mutate.
 *
 * Guarantees: timer ids are deterministic per (saga, step, direction, attempt, kind); every
 * history entry gets the decision's `now` and a failure type (null unless it is a failure
 * entry); the input state object is never modified. The copy is structural (the saga, its
 * steps array, each step): the JSON values inside (input, requests, results, errors, failure)
 * are shared with the input state, because the engine only ever replaces them, never changes
 * one in place (a deep copy per event was the engine's largest cost).
 */
import type { Direction } from '../protocol/message-ids';
import type { Decision, FailureType, HistoryEntry, HistoryType, OutgoingCommand, TimerRequest } from './decision';
import type { SagaState } from './saga-state';

export type TimerKind = 'timeout' | 'retry';

export function attemptTimerId(sagaId: string, step: string, direction: Direction, attempt: number, kind: TimerKind): string {
  return `${sagaId}/${step}/${direction}/${attempt}/${kind}`;
}

export function deadlineTimerId(sagaId: string): string {
  return `${sagaId}/deadline`;
}

export interface HistoryFields {
  failureType?: FailureType | null;
  step?: string | null;
  direction?: Direction | null;
  attempt?: number | null;
  reason?: string | null;
  detail?: Record<string, unknown> | null;
}

export class DecisionBuilder {
  readonly commands: OutgoingCommand[] = [];
  readonly timers: TimerRequest[] = [];
  readonly cancelTimers: string[] = [];
  readonly history: HistoryEntry[] = [];

  constructor(
    readonly state: SagaState,
    readonly now: number,
  ) {}

  static from(state: SagaState, now: number): DecisionBuilder {
    return new DecisionBuilder({ ...state, steps: state.steps.map((step) => ({ ...step })) }, now);
  }

  record(type: HistoryType, fields: HistoryFields = {}): void {
    this.history.push({
      type,
      failureType: fields.failureType ?? null,
      at: this.now,
      step: fields.step ?? null,
      direction: fields.direction ?? null,
      attempt: fields.attempt ?? null,
      reason: fields.reason ?? null,
      detail: fields.detail ?? null,
    });
  }

  touch(): void {
    this.state.updatedAt = this.now;
  }

  build(): Decision {
    return { state: this.state, commands: this.commands, timers: this.timers, cancelTimers: this.cancelTimers, history: this.history };
  }
}
