/**
 * Sending one attempt of a step's action or compensation, and scheduling its retry.
 *
 * Guarantees:
 * - The action payload is rendered once, at the first attempt, and reused verbatim on retries;
 *   the message id is the same on every attempt (docs/semantics.md S4), only the attempt number changes.
 * - Every sent attempt gets exactly one timeout timer, set a short grace period after the
 *   command's expiry: a participant never executes a command after its expiry, and its
 *   "expired" answer (not applied, docs/semantics.md S3) still arrives while the attempt is current, instead
 *   of racing the timeout and leaving the outcome unknown.
 * - A compensation's payload is built from what its action returned (null if unknown).
 * - A command's payload never aliases the state: editing one cannot change the other.
 * - After an operator's repair (compensationBudgetFrom / actionBudgetFrom), attempt numbers keep
 *   counting but the budget and the backoff count only the attempts since the repair.
 */
import type { SagaDefinition } from '../definition/saga-definition';
import { retryPolicyFor, timeoutFor } from '../definition/step-policies';
import { renderTemplate } from '../definition/payload-template';
import { commandMessageId, correlationIdFor, type Direction } from '../protocol/message-ids';
import { retryDelayMs } from './backoff';
import { attemptTimerId, type DecisionBuilder } from './decision-builder';
import type { SagaState, StepState } from './saga-state';
import { copyJson } from './json-copy';

export function stepResults(state: SagaState): Record<string, unknown> {
  const results: Record<string, unknown> = {};
  for (const step of state.steps) if (step.status !== 'PENDING') results[step.name] = step.result;
  return results;
}

function baseContext(state: SagaState): Record<string, unknown> {
  return { saga: { id: state.id, name: state.name, version: state.version }, input: state.input, steps: stepResults(state) };
}

/** Time between a command's expiry and its timeout: 10% of the timeout, within 50 ms..2 s. */
export function expiryGraceMs(timeoutMs: number): number {
  return Math.min(2_000, Math.max(50, Math.round(timeoutMs / 10)));
}

function emit(d: DecisionBuilder, definition: SagaDefinition, index: number, direction: Direction, attempt: number, payload: unknown): void {
  const stepDefinition = definition.steps[index];
  const address = { sagaId: d.state.id, step: stepDefinition.name, direction };
  const timeoutMs = timeoutFor(definition, index, direction);
  const expiresAt = d.now + timeoutMs;
  const command = direction === 'action' ? stepDefinition.action.command : stepDefinition.compensation!.command;
  d.commands.push({
    messageId: commandMessageId(address),
    correlationId: correlationIdFor({ ...address, attempt }),
    sagaId: d.state.id,
    sagaName: d.state.name,
    step: stepDefinition.name,
    direction,
    attempt,
    command,
    // A copy: the payload may share objects with the new state (templates return sub-trees).
    payload: copyJson(payload),
    expiresAt,
  });
  d.timers.push({
    id: attemptTimerId(d.state.id, stepDefinition.name, direction, attempt, 'timeout'),
    fireAt: expiresAt + expiryGraceMs(timeoutMs),
    event: { type: 'ATTEMPT_TIMED_OUT', step: stepDefinition.name, direction, attempt },
  });
  d.record(direction === 'action' ? 'COMMAND_SENT' : 'COMPENSATION_SENT', {
    step: stepDefinition.name,
    direction,
    attempt,
    detail: { command, expiresAt },
  });
}

export function sendAction(d: DecisionBuilder, definition: SagaDefinition, index: number, attempt: number): void {
  const step = d.state.steps[index];
  if (attempt === 1) {
    const template = definition.steps[index].action.payload;
    step.request = template === undefined ? d.state.input : renderTemplate(template, baseContext(d.state));
    step.startedAt = d.now;
  }
  step.status = 'RUNNING';
  step.attempt = attempt;
  step.waitingForRetry = false;
  d.state.current = index;
  emit(d, definition, index, 'action', attempt, step.request);
}

export function sendCompensation(d: DecisionBuilder, definition: SagaDefinition, index: number, attempt: number): void {
  const step = d.state.steps[index];
  const template = definition.steps[index].compensation!.payload;
  const context = { ...baseContext(d.state), request: step.request, result: step.result };
  const payload = template === undefined ? { request: step.request, result: step.result } : renderTemplate(template, context);
  step.status = 'COMPENSATING';
  step.compensationAttempt = attempt;
  step.waitingForRetry = false;
  d.state.current = index;
  emit(d, definition, index, 'compensation', attempt, payload);
}

/** Attempts sent before an operator's repair gave the step a fresh budget (0 if never). */
export function budgetFrom(step: StepState, direction: Direction): number {
  return (direction === 'action' ? step.actionBudgetFrom : step.compensationBudgetFrom) ?? 0;
}

/** Attempts sent in `direction` that count against its retry budget. */
export function attemptsUsed(step: StepState, direction: Direction): number {
  return (direction === 'action' ? step.attempt : step.compensationAttempt) - budgetFrom(step, direction);
}

/** Waits out the backoff, then a RETRY_DUE timer sends attempt `failedAttempt + 1`. */
export function scheduleRetry(d: DecisionBuilder, definition: SagaDefinition, index: number, direction: Direction, failedAttempt: number, reason: string): void {
  const stepDefinition = definition.steps[index];
  const nextAttempt = failedAttempt + 1;
  // After an operator's repair the backoff starts over: count only the attempts since then.
  const sinceRepair = failedAttempt - budgetFrom(d.state.steps[index], direction);
  const delayMs = retryDelayMs(retryPolicyFor(definition, index, direction), sinceRepair, attemptTimerId(d.state.id, stepDefinition.name, direction, nextAttempt, 'retry'));
  d.state.steps[index].waitingForRetry = true;
  d.timers.push({
    id: attemptTimerId(d.state.id, stepDefinition.name, direction, nextAttempt, 'retry'),
    fireAt: d.now + delayMs,
    event: { type: 'RETRY_DUE', step: stepDefinition.name, direction, attempt: nextAttempt },
  });
  d.record('RETRY_SCHEDULED', { step: stepDefinition.name, direction, attempt: nextAttempt, reason, detail: { delayMs } });
}
