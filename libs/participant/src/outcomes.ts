/**
 * What a handler returns. Expected outcomes are values, not exceptions:
 *   ok(result)            the effect is applied; the result is stored and replied
 *   fail(code, message)   business failure: terminal, NOT applied (the toolkit discards the
 *                         handler's writes, then stores and replies the failure)
 *   retry(code, message)  not applied this attempt: nothing is stored, the transaction rolls back,
 *                         and the orchestrator retries later with the same message id
 * An unexpected throw from a handler is treated like retry().
 *
 * Guarantees: helpers are pure; codes the toolkit itself emits are listed in ToolkitCodes and
 * never change meaning.
 */
import type { ReplyOutcome } from '#saga/core';

export type SuccessOutcome<R = unknown> = { kind: 'success'; result: R };
export type FailureOutcome = { kind: 'failure'; code: string; message: string };
export type RetryableOutcome = { kind: 'retryable'; code: string; message: string };

/** An outcome a handler may return. */
export type HandlerOutcome<R = unknown> = SuccessOutcome<R> | FailureOutcome | RetryableOutcome;

/** An outcome that may be stored in processed_commands: never retryable, never expired (both are
 *  answers for this attempt only; the orchestrator's retry must be able to run). */
export type StoredOutcome = Extract<ReplyOutcome, { kind: 'success' | 'failure' }>;

export const ToolkitCodes = {
  /** The action arrived after its undo was recorded (tombstone): refused, never applied. */
  alreadyCompensated: 'ALREADY_COMPENSATED',
  /** The command's data did not pass the handler's schema (the command is also copied to the
   *  dead-letter queue; so is any failure with this code, including on replay). */
  invalidCommand: 'INVALID_COMMAND',
  /** The handler threw: the transaction rolled back, the orchestrator may retry. */
  handlerError: 'HANDLER_ERROR',
} as const;

export function ok<R>(result: R): SuccessOutcome<R> {
  return { kind: 'success', result };
}

export function fail(code: string, message: string): FailureOutcome {
  return { kind: 'failure', code, message };
}

export function retry(code: string, message: string): RetryableOutcome {
  return { kind: 'retryable', code, message };
}
