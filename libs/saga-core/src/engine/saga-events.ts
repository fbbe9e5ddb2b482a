/**
 * Events the engine reacts to. The runtime turns messages, timers and API calls into these.
 *
 * Guarantees: every event that concerns one attempt names it (step, direction, attempt), so the
 * engine can tell a current event from a late one without any other bookkeeping.
 */
import type { Direction } from '../protocol/message-ids';
import type { ReplyOutcome } from '../protocol/reply';

export interface StartEvent {
  type: 'START';
  sagaId: string;
  input: unknown;
}

export interface ReplyEvent {
  type: 'REPLY';
  step: string;
  direction: Direction;
  attempt: number;
  outcome: ReplyOutcome;
}

/** A step attempt waited its whole timeout without a reply. */
export interface AttemptTimedOutEvent {
  type: 'ATTEMPT_TIMED_OUT';
  step: string;
  direction: Direction;
  attempt: number;
}

/** The backoff before a retry has elapsed: send the attempt. */
export interface RetryDueEvent {
  type: 'RETRY_DUE';
  step: string;
  direction: Direction;
  attempt: number;
}

export interface DeadlineReachedEvent {
  type: 'DEADLINE_REACHED';
}

export interface CancelEvent {
  type: 'CANCEL';
  reason: string;
  by: string;
}

export type TimerEvent = AttemptTimedOutEvent | RetryDueEvent | DeadlineReachedEvent;

/** Who asked for an operator repair and why; `requestKey` (the idempotency key, if any) is
 *  recorded with it so a repeated request can be answered with what the first one did. */
export interface OperatorFields {
  by: string;
  reason: string;
  requestKey?: string | null;
}

/** COMPENSATION_FAILED saga: send the failed step's undo again now, with a fresh budget. */
export interface RetryCompensationEvent extends OperatorFields {
  type: 'RETRY_COMPENSATION';
}

/** Mark a step's undo as done by hand and go on undoing the rest. */
export interface SkipCompensationEvent extends OperatorFields {
  type: 'SKIP_COMPENSATION';
  step: string;
}

/** What the operator says the business outcome is (recorded only). */
export type ResolveOutcome = 'COMPLETED' | 'COMPENSATED';

/** End a saga that is not finished (or is COMPENSATION_FAILED) as RESOLVED_MANUALLY. */
export interface ResolveEvent extends OperatorFields {
  type: 'RESOLVE';
  outcome?: ResolveOutcome | null;
}

/** A pending retry or timeout timer of the attempt in flight, fired now (the runtime has
 *  claimed its row). */
export interface FireTimerNowEvent extends OperatorFields {
  type: 'FIRE_TIMER_NOW';
  timer: AttemptTimedOutEvent | RetryDueEvent;
}

/** Past the pivot: send the next attempt of the step waiting for its retry now. */
export interface RetryStepEvent extends OperatorFields {
  type: 'RETRY_STEP';
  step: string;
}

export type RepairEvent = RetryCompensationEvent | SkipCompensationEvent | ResolveEvent | FireTimerNowEvent | RetryStepEvent;

export const REPAIR_EVENT_TYPES: readonly RepairEvent['type'][] = ['RETRY_COMPENSATION', 'SKIP_COMPENSATION', 'RESOLVE', 'FIRE_TIMER_NOW', 'RETRY_STEP'];

export type SagaEvent = StartEvent | ReplyEvent | TimerEvent | CancelEvent | RepairEvent;
