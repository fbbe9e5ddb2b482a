/**
 * The effective timeout and retry policy of each step: the step's own setting, else the saga's
 * `defaults`, else the built-in default. The engine reads policies only through here.
 *
 * Guarantees: pure lookups over an accepted definition (validateDefinition guarantees every
 * step has an action timeout, its own or the saga's default); nothing is copied or mutated.
 */
import type { Direction } from '../protocol/message-ids';
import { DEFAULT_ACTION_RETRY, DEFAULT_COMPENSATION_RETRY, type RetryPolicy, type SagaDefinition } from './saga-definition';
import { InvalidDefinitionError } from '../errors';

export interface EffectivePolicies {
  timeoutMs: number;
  retry: RetryPolicy;
  compensationTimeoutMs: number;
  compensationRetry: RetryPolicy;
}

export function actionTimeoutMs(definition: SagaDefinition, index: number): number {
  const timeoutMs = definition.steps[index].timeoutMs ?? definition.defaults?.timeoutMs;
  if (timeoutMs === undefined) {
    // Unreachable for a validated definition; a loud error beats a silent NaN deadline.
    throw new InvalidDefinitionError(definition.name, [{ path: `steps[${index}].timeoutMs`, message: 'missing (and no defaults.timeoutMs)' }]);
  }
  return timeoutMs;
}

export function timeoutFor(definition: SagaDefinition, index: number, direction: Direction): number {
  if (direction === 'action') return actionTimeoutMs(definition, index);
  return definition.steps[index].compensationTimeoutMs ?? definition.defaults?.compensationTimeoutMs ?? actionTimeoutMs(definition, index);
}

export function retryPolicyFor(definition: SagaDefinition, index: number, direction: Direction): RetryPolicy {
  const step = definition.steps[index];
  if (direction === 'action') return step.retry ?? definition.defaults?.retry ?? DEFAULT_ACTION_RETRY;
  return step.compensationRetry ?? definition.defaults?.compensationRetry ?? DEFAULT_COMPENSATION_RETRY;
}

export function effectivePolicies(definition: SagaDefinition, index: number): EffectivePolicies {
  return {
    timeoutMs: timeoutFor(definition, index, 'action'),
    retry: retryPolicyFor(definition, index, 'action'),
    compensationTimeoutMs: timeoutFor(definition, index, 'compensation'),
    compensationRetry: retryPolicyFor(definition, index, 'compensation'),
  };
}
