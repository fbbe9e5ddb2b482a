/**
 * The saga engine: decide(definition, state, event, now) → { state, commands, timers, history }.
 *
 * Guarantees (docs/semantics.md S2, S3):
 * - Pure: no I/O, no clock (time is the `now` argument), no randomness; the given state is
 *   never mutated. The same inputs always give the same decision.
 * - An event about an attempt that is not the one in flight changes nothing but the history
 *   (late replies) or nothing at all (stale timers).
 * - Outcomes follow docs/semantics.md S3: success → applied; failure → not applied; retryable/expired → retried,
 *   then treated as failure; timeouts → retried, then outcome UNKNOWN and compensated. A step
 *   without a compensation is never left UNKNOWN: it is retried until it answers.
 * - After the pivot succeeded the saga never compensates; later steps retry until they succeed.
 * - Operator repairs (repair.ts) are events like the others: applied or refused as a value,
 *   each recorded with who asked and why.
 */
import { EngineMisuseError } from '../errors';
import type { SagaDefinition } from '../definition/saga-definition';
import type { Direction } from '../protocol/message-ids';
import type { ReplyOutcome } from '../protocol/reply';
import type { Decision, Failure, FailureType } from './decision';
import { attemptTimerId, deadlineTimerId, DecisionBuilder } from './decision-builder';
import type { CancelEvent, ReplyEvent, SagaEvent, StartEvent, TimerEvent } from './saga-events';
import { inFlightDirection, type SagaState } from './saga-state';
import { advance, compensateNext, failCompensation, startRollback } from './progress';
import { retryPolicyFor, timeoutFor } from '../definition/step-policies';
import { attemptsUsed, scheduleRetry, sendAction, sendCompensation } from './step-dispatch';
import { fireTimerNow, resolve, retryCompensation, retryStep, skipCompensation } from './repair';
import { copyJson } from './json-copy';

export function decide(definition: SagaDefinition, state: SagaState | null, event: SagaEvent, now: number): Decision {
  if (event.type === 'START') {
    if (state !== null) throw new EngineMisuseError(`saga ${state.id} already exists`);
    return start(definition, event, now);
  }
  if (state === null) throw new EngineMisuseError(`${event.type} needs an existing saga`);
  if (state.name !== definition.name || state.version !== definition.version) {
    throw new EngineMisuseError(`saga ${state.id} is pinned to ${state.name}@${state.version}, not ${definition.name}@${definition.version}`);
  }
  const d = DecisionBuilder.from(state, now);
  switch (event.type) {
    case 'REPLY':
      onReply(d, definition, event);
      break;
    case 'ATTEMPT_TIMED_OUT':
    case 'RETRY_DUE':
      onAttemptTimer(d, definition, event);
      break;
    case 'DEADLINE_REACHED':
      onCancel(d, definition, { type: 'CANCEL', reason: 'saga deadline reached', by: 'deadline' }, 'DEADLINE_REACHED');
      break;
    case 'CANCEL':
      onCancel(d, definition, event, 'CANCEL_REQUESTED');
      break;
    case 'RETRY_COMPENSATION':
      retryCompensation(d, definition, event);
      break;
    case 'SKIP_COMPENSATION':
      skipCompensation(d, definition, event);
      break;
    case 'RESOLVE':
      resolve(d, definition, event);
      break;
    case 'FIRE_TIMER_NOW': {
      const waiting = event.timer.type === 'RETRY_DUE';
      const { step, direction, attempt } = event.timer;
      const current = currentIndex(d, step, direction, attempt, waiting) >= 0;
      if (fireTimerNow(d, event, current)) onAttemptTimer(d, definition, event.timer);
      break;
    }
    case 'RETRY_STEP':
      retryStep(d, definition, event);
      break;
  }
  return d.build();
}

function start(definition: SagaDefinition, event: StartEvent, now: number): Decision {
  const state: SagaState = {
    id: event.sagaId,
    name: definition.name,
    version: definition.version,
    status: 'RUNNING',
    input: copyJson(event.input),
    steps: definition.steps.map((step) => ({
      name: step.name,
      status: 'PENDING',
      attempt: 0,
      compensationAttempt: 0,
      waitingForRetry: false,
      request: null,
      result: null,
      lastError: null,
      startedAt: null,
      finishedAt: null,
    })),
    current: -1,
    failure: null,
    pastPivot: false,
    createdAt: now,
    updatedAt: now,
  };
  const d = new DecisionBuilder(state, now);
  d.record('SAGA_STARTED', { detail: { definition: `${definition.name}@${definition.version}` } });
  if (definition.deadlineMs !== undefined) {
    d.timers.push({ id: deadlineTimerId(state.id), fireAt: now + definition.deadlineMs, event: { type: 'DEADLINE_REACHED' } });
  }
  sendAction(d, definition, 0, 1);
  return d.build();
}

/** The index of the step if `direction`/`attempt` is exactly what is in flight (not waiting). */
function currentIndex(d: DecisionBuilder, step: string, direction: Direction, attempt: number, waiting: boolean): number {
  const index = d.state.current;
  if (index < 0) return -1;
  const candidate = d.state.steps[index];
  if (candidate.name !== step || inFlightDirection(candidate) !== direction || candidate.waitingForRetry !== waiting) return -1;
  const sent = direction === 'action' ? candidate.attempt : candidate.compensationAttempt;
  const expected = waiting ? sent + 1 : sent;
  return attempt === expected ? index : -1;
}

/** What a reply says, as the history records it; `type` is null for a success. */
function describe(outcome: ReplyOutcome): { reason: string; message: string; type: FailureType | null } {
  switch (outcome.kind) {
    case 'success':
      return { reason: 'success', message: 'ok', type: null };
    case 'expired':
      return { reason: 'EXPIRED', message: outcome.message, type: 'expired' };
    case 'retryable':
      return { reason: outcome.code, message: outcome.message, type: 'retryable' };
    case 'failure':
      return { reason: outcome.code, message: outcome.message, type: 'business' };
  }
}

function onReply(d: DecisionBuilder, definition: SagaDefinition, event: ReplyEvent): void {
  const { reason, message, type } = describe(event.outcome);
  const index = currentIndex(d, event.step, event.direction, event.attempt, false);
  const where = { step: event.step, direction: event.direction, attempt: event.attempt };
  if (index < 0) {
    d.record('LATE_REPLY_IGNORED', { ...where, failureType: 'late', reason, detail: { outcome: event.outcome.kind, message, sagaStatus: d.state.status } });
    return;
  }
  d.touch();
  d.cancelTimers.push(attemptTimerId(d.state.id, event.step, event.direction, event.attempt, 'timeout'));
  d.record('REPLY_RECEIVED', { ...where, failureType: type, reason, detail: event.outcome.kind === 'success' ? null : { outcome: event.outcome.kind, message } });
  const step = d.state.steps[index];
  if (event.outcome.kind !== 'success') step.lastError = { code: reason, message };
  if (event.direction === 'compensation') {
    if (event.outcome.kind === 'success') {
      step.status = 'COMPENSATED';
      step.finishedAt = d.now;
      return compensateNext(d, definition);
    }
    return retryOrFailCompensation(d, definition, index, { type: type!, code: reason, message });
  }
  if (event.outcome.kind === 'success') {
    step.status = 'SUCCEEDED';
    step.result = event.outcome.result;
    step.finishedAt = d.now;
    if (definition.steps[index].pivot) d.state.pastPivot = true;
    return advance(d, definition, index);
  }
  const policy = retryPolicyFor(definition, index, 'action');
  const nonRetryable = event.outcome.kind === 'retryable' && (policy.nonRetryableCodes ?? []).includes(event.outcome.code);
  const retryable = event.outcome.kind !== 'failure' && !nonRetryable;
  if (d.state.pastPivot || (retryable && attemptsUsed(step, 'action') < policy.maxAttempts)) {
    return scheduleRetry(d, definition, index, 'action', step.attempt, reason);
  }
  // A code the policy calls non-retryable is a business failure, whatever the participant said.
  failStep(d, definition, index, { type: nonRetryable ? 'business' : type!, code: reason, message }, nonRetryable);
}

function failStep(d: DecisionBuilder, definition: SagaDefinition, index: number, failure: Failure, nonRetryable: boolean): void {
  const step = d.state.steps[index];
  step.status = 'FAILED';
  step.waitingForRetry = false;
  step.finishedAt = d.now;
  const detail = nonRetryable ? { message: failure.message, nonRetryableCode: true } : { message: failure.message };
  d.record('STEP_FAILED', { step: step.name, direction: 'action', attempt: step.attempt, failureType: failure.type, reason: failure.code, detail });
  startRollback(d, definition, { step: step.name, ...failure });
}

function retryOrFailCompensation(d: DecisionBuilder, definition: SagaDefinition, index: number, failure: Failure): void {
  const step = d.state.steps[index];
  if (attemptsUsed(step, 'compensation') < retryPolicyFor(definition, index, 'compensation').maxAttempts) {
    return scheduleRetry(d, definition, index, 'compensation', step.compensationAttempt, failure.code);
  }
  failCompensation(d, definition, index, failure);
}

function onAttemptTimer(d: DecisionBuilder, definition: SagaDefinition, event: Exclude<TimerEvent, { type: 'DEADLINE_REACHED' }>): void {
  const waiting = event.type === 'RETRY_DUE';
  const index = currentIndex(d, event.step, event.direction, event.attempt, waiting);
  if (index < 0) return; // a stale timer: its attempt already got an answer
  d.touch();
  if (event.type === 'RETRY_DUE') {
    return event.direction === 'action' ? sendAction(d, definition, index, event.attempt) : sendCompensation(d, definition, index, event.attempt);
  }
  const step = d.state.steps[index];
  const stepDefinition = definition.steps[index];
  step.lastError = { code: 'TIMEOUT', message: `no reply to attempt ${event.attempt} in time` };
  d.record('ATTEMPT_TIMED_OUT', {
    step: step.name,
    direction: event.direction,
    attempt: event.attempt,
    failureType: 'timeout',
    reason: 'TIMEOUT',
    detail: { message: step.lastError.message },
  });
  if (event.direction === 'compensation') return retryOrFailCompensation(d, definition, index, { type: 'timeout', ...step.lastError });
  const canUndo = stepDefinition.compensation !== undefined && !d.state.pastPivot;
  if (!canUndo || attemptsUsed(step, 'action') < retryPolicyFor(definition, index, 'action').maxAttempts)
    return scheduleRetry(d, definition, index, 'action', step.attempt, 'TIMEOUT');
  markUnknown(d, index, 'timeout', 'every attempt timed out');
  startRollback(d, definition, { step: step.name, type: 'timeout', code: 'TIMEOUT', message: `no reply after ${step.attempt} attempts: outcome unknown` });
}

function markUnknown(d: DecisionBuilder, index: number, failureType: FailureType, why: string): void {
  const step = d.state.steps[index];
  step.status = 'UNKNOWN';
  step.waitingForRetry = false;
  step.finishedAt = d.now;
  d.record('STEP_OUTCOME_UNKNOWN', { step: step.name, direction: 'action', attempt: step.attempt, failureType, reason: 'UNKNOWN', detail: { message: why } });
}

function onCancel(d: DecisionBuilder, definition: SagaDefinition, event: CancelEvent, type: 'CANCEL_REQUESTED' | 'DEADLINE_REACHED'): void {
  const index = d.state.current;
  const inFlight = index >= 0 ? d.state.steps[index] : undefined;
  // A saga deadline is a timeout; anything else asking to cancel is an operator.
  const failureType: FailureType = type === 'DEADLINE_REACHED' ? 'timeout' : 'operator';
  const reject = (reason: string) => d.record('CANCEL_REJECTED', { step: inFlight?.name ?? null, failureType, reason, detail: { by: event.by, requested: event.reason } });
  if (d.state.status !== 'RUNNING') return type === 'CANCEL_REQUESTED' ? reject(`saga is ${d.state.status}`) : undefined;
  if (d.state.pastPivot) return reject('the pivot step has succeeded: the saga can no longer be rolled back');
  if (inFlight && !definition.steps[index].compensation) {
    reject(`step "${inFlight.name}" is in flight and has no compensation`);
    if (type === 'DEADLINE_REACHED') {
      // Not dropped: try again once the step has had time to answer (it may fail and roll back).
      const retryAt = d.now + timeoutFor(definition, index, 'action');
      d.timers.push({ id: deadlineTimerId(d.state.id), fireAt: retryAt, event: { type: 'DEADLINE_REACHED' } });
    }
    return;
  }
  d.touch();
  d.record(type, { step: inFlight?.name ?? null, failureType, reason: event.reason, detail: { by: event.by } });
  if (inFlight) {
    d.cancelTimers.push(
      attemptTimerId(d.state.id, inFlight.name, 'action', inFlight.attempt, 'timeout'),
      attemptTimerId(d.state.id, inFlight.name, 'action', inFlight.attempt + 1, 'retry'),
    );
    markUnknown(d, index, failureType, 'cancelled while in flight');
  }
  startRollback(d, definition, { step: inFlight?.name ?? null, type: failureType, code: type === 'DEADLINE_REACHED' ? 'DEADLINE' : 'CANCELLED', message: event.reason });
}
