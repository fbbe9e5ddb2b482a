/**
 * The state of one saga instance, as the engine sees it. Plain JSON-compatible data: the
 * persistence layer stores it and gives it back unchanged.
 *
 * Guarantees: status names are docs/semantics.md S2's; a step's status says exactly whether its action may
 * have been applied (SUCCEEDED, UNKNOWN) and so whether a rollback must undo it.
 */
import type { Direction } from '../protocol/message-ids';
import type { FailureType } from './decision';

export type SagaStatus = 'RUNNING' | 'COMPLETED' | 'COMPENSATING' | 'COMPENSATED' | 'COMPENSATION_FAILED' | 'RESOLVED_MANUALLY';

export const SAGA_STATUSES: readonly SagaStatus[] = ['RUNNING', 'COMPLETED', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED', 'RESOLVED_MANUALLY'];

/** COMPENSATION_FAILED is terminal for the engine's own events; only an operator repair moves it. */
export const TERMINAL_STATUSES: readonly SagaStatus[] = ['COMPLETED', 'COMPENSATED', 'COMPENSATION_FAILED', 'RESOLVED_MANUALLY'];

export function isTerminal(status: SagaStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export type StepStatus =
  | 'PENDING' // action not sent yet
  | 'RUNNING' // action sent, reply awaited (or waiting for a retry)
  | 'SUCCEEDED' // action applied; result recorded
  | 'FAILED' // action definitely not applied (business failure, retries exhausted, expired)
  | 'UNKNOWN' // every attempt timed out, or cancelled while in flight: possibly applied
  | 'COMPENSATING' // undo sent, reply awaited (or waiting for a retry)
  | 'COMPENSATED' // undo confirmed
  | 'COMPENSATION_FAILED'; // undo exhausted its retries: needs an operator

export interface StepError {
  code: string;
  message: string;
}

export interface StepState {
  name: string;
  status: StepStatus;
  /** Attempts of the action sent so far (0 before the first). */
  attempt: number;
  /** Attempts of the compensation sent so far. */
  compensationAttempt: number;
  /** Whether the current attempt is waiting for its backoff before being sent. */
  waitingForRetry: boolean;
  /** The action's payload as sent (fixed at the first attempt, reused on retries). */
  request: unknown;
  /** What the action returned (null until it succeeds). */
  result: unknown;
  /** The last error seen for this step, in either direction. */
  lastError: StepError | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** Action attempts sent before an operator's retry-step: backoff counts from there (absent: 0). */
  actionBudgetFrom?: number;
  /** Compensation attempts sent before an operator's retry-compensation: the fresh budget and
   *  backoff count from there (absent: 0). Attempt numbers themselves keep counting. */
  compensationBudgetFrom?: number;
  /** Set when an operator skipped its undo (COMPENSATED by hand) or resolved the saga while
   *  the step was in flight. */
  manual?: boolean;
}

export interface SagaState {
  id: string;
  name: string;
  version: number;
  status: SagaStatus;
  input: unknown;
  steps: StepState[];
  /** Index of the step whose action or compensation is in flight; -1 when none. */
  current: number;
  /** Why the saga rolled back (first failure or cancel reason); null while it has not. */
  failure: { step: string | null; type: FailureType; code: string; message: string } | null;
  /** Whether the pivot step has succeeded: from then on the saga never compensates. */
  pastPivot: boolean;
  createdAt: number;
  updatedAt: number;
}

/** The direction of work in flight for a step in this status, if any. */
export function inFlightDirection(step: StepState): Direction | undefined {
  if (step.status === 'RUNNING') return 'action';
  if (step.status === 'COMPENSATING') return 'compensation';
  return undefined;
}
