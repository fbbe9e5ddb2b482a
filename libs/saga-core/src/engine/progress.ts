/**
 * Moving a saga forward (next step, completion) and backward (reverse-order compensation).
 *
 * Guarantees:
 * - Compensations run one at a time, strictly in reverse step order, and only for steps whose
 *   action was applied or possibly applied (SUCCEEDED, UNKNOWN); each is sent until confirmed.
 * - Reaching a terminal status clears `current` and cancels the saga deadline timer.
 */
import type { SagaDefinition } from '../definition/saga-definition';
import type { Failure } from './decision';
import { deadlineTimerId, type DecisionBuilder } from './decision-builder';
import { sendAction, sendCompensation } from './step-dispatch';

export function finish(d: DecisionBuilder, definition: SagaDefinition): void {
  d.state.current = -1;
  if (definition.deadlineMs !== undefined) d.cancelTimers.push(deadlineTimerId(d.state.id));
}

export function advance(d: DecisionBuilder, definition: SagaDefinition, completedIndex: number): void {
  const next = completedIndex + 1;
  if (next < definition.steps.length) return sendAction(d, definition, next, 1);
  d.state.status = 'COMPLETED';
  finish(d, definition);
  d.record('SAGA_COMPLETED');
}

export function compensateNext(d: DecisionBuilder, definition: SagaDefinition): void {
  for (let index = d.state.steps.length - 1; index >= 0; index--) {
    const step = d.state.steps[index];
    if ((step.status === 'SUCCEEDED' || step.status === 'UNKNOWN') && definition.steps[index].compensation) {
      return sendCompensation(d, definition, index, 1);
    }
  }
  d.state.status = 'COMPENSATED';
  finish(d, definition);
  d.record('SAGA_COMPENSATED', { reason: d.state.failure?.code ?? null });
}

export function startRollback(d: DecisionBuilder, definition: SagaDefinition, failure: { step: string | null } & Failure): void {
  d.state.status = 'COMPENSATING';
  d.state.failure = failure;
  d.record('COMPENSATION_STARTED', { step: failure.step, direction: 'compensation', reason: failure.code, detail: { message: failure.message } });
  compensateNext(d, definition);
}

export function failCompensation(d: DecisionBuilder, definition: SagaDefinition, index: number, failure: Failure): void {
  const step = d.state.steps[index];
  step.status = 'COMPENSATION_FAILED';
  step.waitingForRetry = false;
  step.finishedAt = d.now;
  d.state.status = 'COMPENSATION_FAILED';
  finish(d, definition);
  d.record('COMPENSATION_FAILED', {
    step: step.name,
    direction: 'compensation',
    attempt: step.compensationAttempt,
    failureType: failure.type,
    reason: failure.code,
    detail: { message: failure.message },
  });
}
