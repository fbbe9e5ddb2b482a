/**
 * decide(): the happy path of the shipped place-order saga (docs/semantics.md S2 RUNNING → COMPLETED, S4 ids),
 * payload templating, purity (the input state is never mutated), determinism and misuse errors.
 */
import { commandMessageId, correlationIdFor } from '../protocol/message-ids';
import { EngineMisuseError } from '../errors';
import { deepFreeze } from '../testing/deep-freeze';
import { orderInput, placeOrder, saga, step } from '../testing/fixtures';
import { given, T0 } from '../testing/saga-script';
import { decide } from './decide';
import type { SagaEvent } from './saga-events';

describe('decide: happy path', () => {
  it('sends every action in order, templating payloads from the input and earlier results, then COMPLETES', () => {
    given(placeOrder)
      .start(orderInput)
      .expectStatus('RUNNING')
      .expectCommand('order.create', {
        attempt: 1,
        payload: { orderId: 'saga-1', customerId: 'c1', items: [{ sku: 'A', quantity: 2 }], amount: 10 },
        expiresAt: T0 + 5_000,
      })
      .expectTimer({ type: 'ATTEMPT_TIMED_OUT', step: 'create-order', attempt: 1, fireAt: T0 + 5_000 + 500 })
      .replySuccess({ orderId: 'o-77' })
      .expectStepStatus('create-order', 'SUCCEEDED')
      .expectCommand('inventory.reserve', { attempt: 1, payload: { reservationId: 'saga-1', items: [{ sku: 'A', quantity: 2 }] } })
      .replySuccess({ items: ['A'] })
      .expectCommand('payment.charge', { payload: { paymentId: 'saga-1', customerId: 'c1', amount: 10 } })
      .replySuccess({ chargeId: 'ch-1' })
      .expectCommand('order.approve', { payload: { orderId: 'o-77' } })
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPLETED')
      .expectNoTimer()
      .check((s) => {
        expect(s.state!.current).toBe(-1);
        expect(s.state!.steps.map((x) => x.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
        expect(s.state!.steps[0].result).toEqual({ orderId: 'o-77' });
      })
      .expectHistory([
        'SAGA_STARTED',
        'COMMAND_SENT',
        'REPLY_RECEIVED',
        'COMMAND_SENT',
        'REPLY_RECEIVED',
        'COMMAND_SENT',
        'REPLY_RECEIVED',
        'COMMAND_SENT',
        'REPLY_RECEIVED',
        'SAGA_COMPLETED',
      ]);
  });

  it('cancels the timeout timer of every answered attempt', () => {
    const script = given(placeOrder).start(orderInput).replySuccess({ orderId: 'o1' });
    expect(script.lastDecision.cancelTimers).toContain('saga-1/create-order/action/1/timeout');
    expect([...script.timers.keys()]).toEqual(['saga-1/reserve-inventory/action/1/timeout']);
  });

  it('keeps the message id across retries while the correlation id carries the attempt', () => {
    const script = given(placeOrder)
      .start(orderInput)
      .timeout()
      .fireRetry()
      .replyRetryable('BUSY')
      .fireRetry()
      .expectCommand('order.create', { attempt: 1 })
      .expectCommand('order.create', { attempt: 2 })
      .expectCommand('order.create', { attempt: 3 });
    const address = { sagaId: 'saga-1', step: 'create-order', direction: 'action' as const };
    expect(script.sent.map((c) => c.messageId)).toEqual([1, 2, 3].map(() => commandMessageId(address)));
    expect(script.sent.map((c) => c.correlationId)).toEqual([1, 2, 3].map((attempt) => correlationIdFor({ ...address, attempt })));
    expect(new Set(script.sent.map((c) => JSON.stringify(c.payload))).size).toBe(1);
  });

  it('renders the action payload once: a retry resends the first payload verbatim', () => {
    const script = given(placeOrder).start(orderInput).advanceTime(5).replySuccess({ orderId: 'o1' }).timeout().fireRetry();
    const reserves = script.sent.filter((c) => c.command === 'inventory.reserve');
    expect(reserves.map((c) => c.attempt)).toEqual([1, 2]);
    expect(reserves[1].payload).toEqual(reserves[0].payload);
    expect(script.state!.steps[1]).toMatchObject({ request: reserves[0].payload, startedAt: T0 + 5, attempt: 2 });
  });

  it('uses the saga input as payload when an action has no template, and sets expiry = now + timeout', () => {
    given(saga([step('a'), step('b', { compensation: false, timeoutMs: 250 })]))
      .start({ hello: 'world' })
      .expectCommand('a.do', { payload: { hello: 'world' }, expiresAt: T0 + 1_000 })
      .advanceTime(10)
      .replySuccess()
      .expectCommand('b.do', { payload: { hello: 'world' }, expiresAt: T0 + 10 + 250 });
  });

  it('a command payload is not aliased to the new state: editing it cannot corrupt the saga', () => {
    const decision = decide(placeOrder, null, { type: 'START', sagaId: 's', input: structuredClone(orderInput) }, T0);
    (decision.commands[0].payload as { items: unknown[] }).items.push('tampered');
    expect(decision.state.steps[0].request).toEqual({ orderId: 's', customerId: 'c1', items: orderInput.items, amount: 10 });
    expect(decision.state.input).toEqual(orderInput);
  });
});

describe('decide: purity and determinism', () => {
  const events = (script: ReturnType<typeof given>): SagaEvent[] => [
    { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 1, outcome: { kind: 'success', result: { orderId: 'o1' } } },
    { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 1, outcome: { kind: 'failure', code: 'X', message: 'x' } },
    { type: 'ATTEMPT_TIMED_OUT', step: 'create-order', direction: 'action', attempt: 1 },
    { type: 'RETRY_DUE', step: 'create-order', direction: 'action', attempt: 2 },
    { type: 'CANCEL', reason: 'stop', by: 'operator' },
    { type: 'DEADLINE_REACHED' },
    { type: 'REPLY', step: 'create-order', direction: 'action', attempt: 9, outcome: { kind: 'success', result: null } },
    ...script.sent.map((c) => ({ type: 'ATTEMPT_TIMED_OUT' as const, step: c.step, direction: c.direction, attempt: c.attempt })),
  ];

  it('never mutates the (deep-frozen) input state, whatever the event', () => {
    const script = given(placeOrder).start(orderInput);
    const snapshot = structuredClone(script.state!);
    const frozen = deepFreeze(script.state!);
    for (const event of events(script)) {
      expect(() => decide(placeOrder, frozen, event, T0 + 1)).not.toThrow();
      expect(frozen).toEqual(snapshot);
    }
  });

  it('gives deep-equal decisions for the same inputs', () => {
    const script = given(placeOrder).start(orderInput).replySuccess({ orderId: 'o1' });
    for (const event of events(script)) {
      expect(decide(placeOrder, script.state, event, T0 + 5)).toEqual(decide(placeOrder, script.state, event, T0 + 5));
    }
    const start: SagaEvent = { type: 'START', sagaId: 'same', input: orderInput };
    expect(decide(placeOrder, null, start, T0)).toEqual(decide(placeOrder, null, start, T0));
  });

  it('stamps history and updatedAt with the given clock only', () => {
    const script = given(placeOrder, { now: 42 }).start(orderInput).advanceTime(8).replySuccess({ orderId: 'o1' });
    expect(script.history.map((h) => h.at)).toEqual([42, 42, 50, 50]);
    expect(script.state).toMatchObject({ createdAt: 42, updatedAt: 50 });
  });
});

describe('decide: misuse', () => {
  it('refuses START on an existing saga and other events without one', () => {
    const { state } = given(placeOrder).start(orderInput);
    expect(() => decide(placeOrder, state, { type: 'START', sagaId: 'x', input: {} }, T0)).toThrow(EngineMisuseError);
    expect(() => decide(placeOrder, null, { type: 'CANCEL', reason: 'r', by: 'b' }, T0)).toThrow(/needs an existing saga/);
  });

  it('refuses a state pinned to another definition version', () => {
    const { state } = given(placeOrder).start(orderInput);
    expect(() => decide({ ...placeOrder, version: 2 }, state, { type: 'DEADLINE_REACHED' }, T0)).toThrow(/pinned to place-order@1/);
  });
});
