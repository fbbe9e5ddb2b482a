/**
 * Shared spec fixtures: the lib's own place-order test saga with its catalog (order-saga.ts), a
 * valid input for it, and a tiny builder for ad-hoc definitions over a generic test catalog.
 *
 * Guarantees: every definition returned here has passed validateDefinition, so specs exercise
 * the engine only with definitions the loader would accept.
 */
import type { ParticipantCatalog } from '../definition/participant-catalog';
import type { SagaDefinition, StepDefinition } from '../definition/saga-definition';
import { validateDefinition } from '../definition/validate-definition';
import { orderCatalog, orderSaga } from './order-saga';

export const catalog: ParticipantCatalog = orderCatalog('test');
export const placeOrder: SagaDefinition = validateDefinition(structuredClone(orderSaga), catalog, 'place-order');

export const orderInput = { customerId: 'c1', items: [{ sku: 'A', quantity: 2 }], amount: 10 };

/** Commands `<step>.do` / `<step>.undo` for steps named a..z or step-0..step-9. */
export const testCatalog: ParticipantCatalog = {
  participants: {
    test: {
      queue: 'test.queue',
      commands: [...'abcdefghijklmnopqrstuvwxyz'.split(''), ...Array.from({ length: 10 }, (_, i) => `step-${i}`)].flatMap((name) => [`${name}.do`, `${name}.undo`]),
    },
  },
};

/** A step `name` with `name.do`, and `name.undo` unless `compensation: false`. */
export type StepOverrides = Omit<Partial<StepDefinition>, 'compensation'> & { compensation?: StepDefinition['compensation'] | false };

export function step(name: string, overrides: StepOverrides = {}): StepDefinition {
  const { compensation, ...rest } = overrides;
  return {
    name,
    action: { command: `${name}.do` },
    ...(compensation === false ? {} : { compensation: compensation ?? { command: `${name}.undo` } }),
    timeoutMs: 1_000,
    retry: { maxAttempts: 2, backoff: { initialMs: 100, multiplier: 2, maxMs: 1_000 } },
    compensationRetry: { maxAttempts: 2, backoff: { initialMs: 50, multiplier: 2, maxMs: 500 } },
    ...rest,
  };
}

export function saga(steps: StepDefinition[], extra: Partial<SagaDefinition> = {}): SagaDefinition {
  return validateDefinition({ name: 'test-saga', version: 1, inputSchema: { type: 'object' }, steps, ...extra }, testCatalog, 'test');
}
