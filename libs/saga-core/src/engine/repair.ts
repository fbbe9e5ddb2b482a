/**
 * Operator repairs (docs/semantics.md S8): retry a failed compensation, skip one, resolve a saga
 * by hand, fire a pending retry or timeout now, retry a step past the pivot now.
 *
 * Guarantees:
 * - Each repair is an event like a reply: pure, applied through decide() and the same write
 *   path. Applied, it records `OPERATOR_ACTION` (failure type `operator`, reason = the action,
 *   detail { action, by, reason, requestKey?, message }); refused, it records
 *   `OPERATOR_ACTION_REJECTED` with the refusal as `reason` and changes nothing else. Refusals
 *   are values, never throws.
 * - Attempt numbers keep counting across a repair, so replies to attempts sent before it stay
 *   recognisably late; the fresh budget and backoff count from `*BudgetFrom`.
 * - Compensations still run strictly in reverse order: a skipped step is COMPENSATED (marked
 *   `manual`) and rollback goes on with compensateNext; nothing is undone twice.
 * - RESOLVE ends the saga as RESOLVED_MANUALLY and cancels its timers: every later reply is late.
 */
import type { SagaDefinition } from '../definition/saga-definition';
import type { Direction } from '../protocol/message-ids';
import { attemptTimerId, type DecisionBuilder } from './decision-builder';
import { compensateNext, finish } from './progress';
import type { FireTimerNowEvent, RepairEvent, ResolveEvent, RetryCompensationEvent, RetryStepEvent, SkipCompensationEvent } from './saga-events';
import { inFlightDirection } from './saga-state';
import { sendAction, sendCompensation } from './step-dispatch';

interface Where {
  step?: string | null;
  direction?: Direction | null;
  attempt?: number | null;
}

function operatorDetail(event: RepairEvent, message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { action: event.type, by: event.by, reason: event.reason, ...(event.requestKey ? { requestKey: event.requestKey } : {}), message, ...extra };
}

function refuse(d: DecisionBuilder, event: RepairEvent, why: string, where: Where = {}): void {
  d.record('OPERATOR_ACTION_REJECTED', { ...where, failureType: 'operator', reason: why, detail: operatorDetail(event, why) });
}

function accept(d: DecisionBuilder, event: RepairEvent, where: Where, message: string, extra?: Record<string, unknown>): void {
  d.touch();
  d.record('OPERATOR_ACTION', { ...where, failureType: 'operator', reason: event.type, detail: operatorDetail(event, message, extra) });
}

function stepIndex(d: DecisionBuilder, name: string): number {
  return d.state.steps.findIndex((step) => step.name === name);
}

export function retryCompensation(d: DecisionBuilder, definition: SagaDefinition, event: RetryCompensationEvent): void {
  const index = d.state.steps.findIndex((step) => step.status === 'COMPENSATION_FAILED');
  if (d.state.status !== 'COMPENSATION_FAILED' || index < 0) {
    return refuse(d, event, `saga is ${d.state.status}: only a COMPENSATION_FAILED saga's undo can be retried`);
  }
  const step = d.state.steps[index];
  const attempt = step.compensationAttempt + 1;
  step.compensationBudgetFrom = step.compensationAttempt;
  step.finishedAt = null;
  d.state.status = 'COMPENSATING';
  accept(d, event, { step: step.name, direction: 'compensation', attempt }, `undo of step "${step.name}" sent again (attempt ${attempt}) with a fresh retry budget`);
  sendCompensation(d, definition, index, attempt);
}

export function skipCompensation(d: DecisionBuilder, definition: SagaDefinition, event: SkipCompensationEvent): void {
  const index = stepIndex(d, event.step);
  if (index < 0) return refuse(d, event, `the saga has no step "${event.step}"`);
  const step = d.state.steps[index];
  const where = { step: step.name, direction: 'compensation' as const, attempt: step.compensationAttempt };
  const failed = d.state.status === 'COMPENSATION_FAILED' && step.status === 'COMPENSATION_FAILED';
  const waiting = d.state.status === 'COMPENSATING' && d.state.current === index && step.status === 'COMPENSATING' && step.waitingForRetry;
  if (!failed && !waiting) {
    const why =
      step.status === 'COMPENSATING' && d.state.current === index
        ? `the undo of step "${step.name}" is in flight (attempt ${step.compensationAttempt}): wait for its answer or its timeout`
        : `step "${step.name}" is ${step.status} in a ${d.state.status} saga: only an undo that failed or waits for its retry can be skipped`;
    return refuse(d, event, why, where);
  }
  if (waiting) {
    d.cancelTimers.push(
      attemptTimerId(d.state.id, step.name, 'compensation', step.compensationAttempt, 'timeout'),
      attemptTimerId(d.state.id, step.name, 'compensation', step.compensationAttempt + 1, 'retry'),
    );
  }
  step.status = 'COMPENSATED';
  step.manual = true;
  step.waitingForRetry = false;
  step.finishedAt = d.now;
  d.state.status = 'COMPENSATING';
  accept(d, event, where, `undo of step "${step.name}" marked done by hand; rollback goes on`);
  compensateNext(d, definition);
}

export function resolve(d: DecisionBuilder, definition: SagaDefinition, event: ResolveEvent): void {
  const { status } = d.state;
  if (status === 'COMPLETED' || status === 'COMPENSATED' || status === 'RESOLVED_MANUALLY') {
    return refuse(d, event, `saga is already ${status}`);
  }
  const index = d.state.current;
  const inFlight = index >= 0 ? d.state.steps[index] : undefined;
  const direction = inFlight && inFlightDirection(inFlight);
  let where: Where = {};
  if (inFlight && direction) {
    const sent = direction === 'action' ? inFlight.attempt : inFlight.compensationAttempt;
    d.cancelTimers.push(attemptTimerId(d.state.id, inFlight.name, direction, sent, 'timeout'), attemptTimerId(d.state.id, inFlight.name, direction, sent + 1, 'retry'));
    inFlight.waitingForRetry = false;
    inFlight.manual = true;
    where = { step: inFlight.name, direction, attempt: sent };
  }
  const outcome = event.outcome ?? null;
  accept(d, event, where, `saga resolved by hand from ${status}`, { outcome, from: status });
  d.state.status = 'RESOLVED_MANUALLY';
  finish(d, definition);
  d.record('SAGA_RESOLVED_MANUALLY', { reason: outcome, detail: { by: event.by, from: status } });
}

/** Records the operator's firing of a timer; false (refused) when it is not the current attempt's. */
export function fireTimerNow(d: DecisionBuilder, event: FireTimerNowEvent, current: boolean): boolean {
  const { step, direction, attempt, type } = event.timer;
  const where = { step, direction, attempt };
  if (!current) {
    refuse(d, event, `the ${type} timer of step "${step}" (${direction}, attempt ${attempt}) is not pending: that attempt was answered or the saga moved on`, where);
    return false;
  }
  accept(
    d,
    event,
    where,
    type === 'RETRY_DUE' ? `retry of step "${step}" (${direction}, attempt ${attempt}) sent now` : `timeout of step "${step}" (${direction}, attempt ${attempt}) fired now`,
    { timer: type },
  );
  return true;
}

export function retryStep(d: DecisionBuilder, definition: SagaDefinition, event: RetryStepEvent): void {
  const index = stepIndex(d, event.step);
  if (index < 0) return refuse(d, event, `the saga has no step "${event.step}"`);
  const step = d.state.steps[index];
  const where = { step: step.name, direction: 'action' as const, attempt: step.attempt };
  if (d.state.status !== 'RUNNING') return refuse(d, event, `saga is ${d.state.status}: only a running saga's step can be retried`, where);
  if (!d.state.pastPivot) {
    return refuse(d, event, `the pivot step has not succeeded: before it the step's retry policy decides (wait, or cancel the saga)`, where);
  }
  if (d.state.current !== index || step.status !== 'RUNNING') return refuse(d, event, `step "${step.name}" is ${step.status}, not the step in flight`, where);
  if (!step.waitingForRetry) {
    return refuse(d, event, `attempt ${step.attempt} of step "${step.name}" is in flight: wait for its answer or fire its timeout`, where);
  }
  const attempt = step.attempt + 1;
  d.cancelTimers.push(attemptTimerId(d.state.id, step.name, 'action', attempt, 'retry'));
  step.actionBudgetFrom = step.attempt;
  accept(d, event, { ...where, attempt }, `attempt ${attempt} of step "${step.name}" sent now; backoff starts over`);
  sendAction(d, definition, index, attempt);
}
