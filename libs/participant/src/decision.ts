/**
 * The participant's decisions, as pure functions of what the database said (docs/semantics.md S3, S4):
 * decideProcessing looks at the dedupe record, the counterpart record of the same (saga id, step)
 * and the expiry; settleOutcome says what to keep of a handler's outcome.
 *
 * Guarantees:
 * - A message id seen before is answered with its stored outcome; nothing runs again.
 * - An action never runs after a compensation was recorded for its (saga id, step): it is refused
 *   with ALREADY_COMPENSATED (the tombstone), and that refusal is stored.
 * - An expired command (action or compensation) is never run: it is answered "expired" and nothing
 *   is stored, because the orchestrator retries expired commands with the SAME message id and a
 *   fresh expiry, and that retry must be able to run (a stored "expired" would answer every retry
 *   "expired" and fail a saga whose command merely waited in a queue). No attempt can run later:
 *   each retry carries a later expiry than the ones before it.
 * - A compensation runs the undo only when its action's stored outcome is a success; with no action
 *   record (never arrived, or expired) it stores a tombstone (success, compensated: false), with a
 *   failed or refused action it stores a success no-op.
 * - Only success outcomes of compensations and success/failure outcomes of actions are stored;
 *   retryable and expired outcomes never are, and a failure never keeps the handler's writes.
 */
import type { Direction, ReplyOutcome } from '#saga/core';
import type { AppliedAction } from './handlers';
import { ToolkitCodes, type HandlerOutcome, type StoredOutcome } from './outcomes';

/** A row of processed_commands, as the decision needs it. */
export interface StoredCommand {
  messageId: string;
  direction: Direction;
  pattern: string;
  outcome: StoredOutcome;
  request: unknown;
}

export interface DecisionInput {
  direction: Direction;
  pattern: string;
  /** Compensations only: the action pattern the registered handler undoes. */
  undoes?: string;
  now: number;
  expiresAt: number;
  /** The record stored under this command's message id, if any. */
  existing?: StoredCommand;
  /** The record of the other direction for the same (saga id, step), if any. */
  counterpart?: StoredCommand;
}

export type ProcessingDecision =
  /** Duplicate: reply the stored outcome again, change nothing. */
  | { kind: 'replay'; outcome: StoredOutcome }
  /** Store this outcome and reply it; the handler is not run. */
  | { kind: 'record'; outcome: StoredOutcome }
  /** Reply this outcome; nothing is stored (expired commands). */
  | { kind: 'reply'; outcome: ReplyOutcome }
  | { kind: 'run-action' }
  | { kind: 'run-compensation'; action: AppliedAction }
  /** The stored records contradict this message: it is dead-lettered with the reason. */
  | { kind: 'reject'; reason: string };

export const NEVER_APPLIED_REASON = 'action never applied';

export function decideProcessing(input: DecisionInput): ProcessingDecision {
  const { existing, counterpart } = input;
  if (existing) {
    if (existing.pattern !== input.pattern || existing.direction !== input.direction) {
      return { kind: 'reject', reason: `message id ${existing.messageId} was already used by ${existing.direction} "${existing.pattern}"` };
    }
    return { kind: 'replay', outcome: existing.outcome };
  }
  const expired = input.now > input.expiresAt;
  if (input.direction === 'action') {
    if (counterpart) {
      return {
        kind: 'record',
        outcome: { kind: 'failure', code: ToolkitCodes.alreadyCompensated, message: `step was compensated (by "${counterpart.pattern}") before this action arrived` },
      };
    }
    if (expired) return { kind: 'reply', outcome: expiredOutcome(input) };
    return { kind: 'run-action' };
  }
  if (expired) return { kind: 'reply', outcome: expiredOutcome(input) };
  if (!counterpart) return { kind: 'record', outcome: noOp(NEVER_APPLIED_REASON) };
  if (input.undoes !== undefined && counterpart.pattern !== input.undoes) {
    return { kind: 'reject', reason: `"${input.pattern}" undoes "${input.undoes}" but this step's action was "${counterpart.pattern}"` };
  }
  const applied = counterpart.outcome;
  if (applied.kind === 'success') {
    return { kind: 'run-compensation', action: { pattern: counterpart.pattern, request: counterpart.request, result: applied.result } };
  }
  return { kind: 'record', outcome: noOp(`action not applied (${applied.code})`) };
}

function expiredOutcome(input: DecisionInput): ReplyOutcome {
  return { kind: 'expired', message: `${input.direction} "${input.pattern}" expired at ${new Date(input.expiresAt).toISOString()}` };
}

function noOp(reason: string): StoredOutcome {
  return { kind: 'success', result: { compensated: false, reason } };
}

export type Settlement =
  /** Keep the handler's writes, store the outcome, reply it. */
  | { kind: 'apply'; outcome: StoredOutcome }
  /** Discard the handler's writes, store the outcome, reply it. */
  | { kind: 'record-only'; outcome: StoredOutcome }
  /** Roll everything back, store nothing, reply the outcome. */
  | { kind: 'rollback'; outcome: ReplyOutcome };

export function settleOutcome(direction: Direction, outcome: HandlerOutcome): Settlement {
  switch (outcome.kind) {
    case 'success':
      return { kind: 'apply', outcome: { kind: 'success', result: outcome.result ?? null } };
    case 'failure': {
      // A failed action is terminal: remember the answer. A failed undo must stay retryable
      // (by the orchestrator or an operator), so it is not remembered.
      const failure = { kind: 'failure' as const, code: outcome.code, message: outcome.message };
      return direction === 'action' ? { kind: 'record-only', outcome: failure } : { kind: 'rollback', outcome: failure };
    }
    case 'retryable':
      return { kind: 'rollback', outcome: { kind: 'retryable', code: outcome.code, message: outcome.message } };
  }
}
