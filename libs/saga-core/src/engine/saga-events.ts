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

export type SagaEvent = StartEvent | ReplyEvent | TimerEvent | CancelEvent;
