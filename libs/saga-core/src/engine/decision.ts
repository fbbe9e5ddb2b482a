/**
 * What the engine asks the runtime to do after one event. The runtime commits all of it in one
 * transaction (state, history, outbox, timers) or none of it.
 *
 * Guarantees: commands and timers carry deterministic ids, so re-deciding the same event after a
 * crash yields the same ids and the unique keys in storage absorb the repeat.
 */
import type { Direction } from '../protocol/message-ids';
import type { SagaState } from './saga-state';
import type { TimerEvent } from './saga-events';

export interface OutgoingCommand {
  /** Deterministic: (saga id, step, direction); the same on every retry. */
  messageId: string;
  /** (message id, attempt): what the reply will carry back. */
  correlationId: string;
  sagaId: string;
  sagaName: string;
  step: string;
  direction: Direction;
  attempt: number;
  command: string;
  payload: unknown;
  /** Epoch ms after which the participant must not execute the command. */
  expiresAt: number;
}

export interface TimerRequest {
  /** Deterministic id: one timer per (step, direction, attempt, kind) or per saga deadline. */
  id: string;
  fireAt: number;
  event: TimerEvent;
}

export type HistoryType =
  | 'SAGA_STARTED'
  | 'COMMAND_SENT'
  | 'REPLY_RECEIVED'
  | 'RETRY_SCHEDULED'
  | 'ATTEMPT_TIMED_OUT'
  | 'STEP_FAILED'
  | 'STEP_OUTCOME_UNKNOWN'
  | 'COMPENSATION_STARTED'
  | 'COMPENSATION_SENT'
  | 'COMPENSATION_FAILED'
  | 'CANCEL_REQUESTED'
  | 'CANCEL_REJECTED'
  | 'DEADLINE_REACHED'
  | 'LATE_REPLY_IGNORED'
  | 'DUPLICATE_REPLY_IGNORED'
  | 'MALFORMED_REPLY_PARKED'
  | 'SAGA_COMPLETED'
  | 'SAGA_COMPENSATED'
  | 'OPERATOR_ACTION'
  | 'OPERATOR_ACTION_REJECTED'
  | 'SAGA_RESOLVED_MANUALLY'
  /** Written by the orchestrator's dead-letter intake and operator actions, never by decide(). */
  | 'DEAD_LETTERED'
  | 'DEAD_LETTER_REPLAYED'
  | 'DEAD_LETTER_REPLAY_FAILED'
  | 'DEAD_LETTER_DISCARDED';

/**
 * The kind of a failure entry in the exception log (docs/semantics.md S5): what went wrong, as a person
 * triaging a saga would sort it.
 * - timeout: no reply in time (an attempt, or the saga deadline)
 * - business: the participant refused for a business reason (or a non-retryable error code)
 * - retryable: the participant reported a transient error
 * - expired: the participant refused a command that arrived after its expiry
 * - malformed: a reply that could not be read was parked in the dead-letter queue
 * - duplicate / late: a reply that was already handled, or for an attempt no longer current
 * - operator: a cancel or a repair (retry, skip, resolve, fire a timer), accepted or refused
 */
export type FailureType = 'timeout' | 'business' | 'retryable' | 'expired' | 'malformed' | 'duplicate' | 'late' | 'operator';

export const FAILURE_TYPES: readonly FailureType[] = ['timeout', 'business', 'retryable', 'expired', 'malformed', 'duplicate', 'late', 'operator'];

/** A failure as the engine carries it from the event that caused it to the entries it writes. */
export interface Failure {
  type: FailureType;
  code: string;
  message: string;
}

export interface HistoryEntry {
  type: HistoryType;
  /** Set on failure entries (the exception log); null on progress entries. */
  failureType: FailureType | null;
  at: number;
  step: string | null;
  direction: Direction | null;
  attempt: number | null;
  /** Failure entries: the outcome kind or error code ("failure", "DECLINED", "timeout" ...). */
  reason: string | null;
  detail: Record<string, unknown> | null;
}

export interface Decision {
  state: SagaState;
  commands: OutgoingCommand[];
  timers: TimerRequest[];
  /** Ids of timers that no longer matter (their attempt got a reply). */
  cancelTimers: string[];
  history: HistoryEntry[];
}
