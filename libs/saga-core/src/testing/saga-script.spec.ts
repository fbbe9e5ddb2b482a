/**
 * The scripted DSL itself: it must fail loudly when a script's expectation is wrong or a step
 * cannot be played, otherwise engine specs written with it could pass vacuously.
 */
import { orderInput, placeOrder } from './fixtures';
import { given, T0 } from './saga-script';

describe('saga-script DSL', () => {
  it('fails on the wrong command, direction, fields or a command that was never sent', () => {
    expect(() => given(placeOrder).start(orderInput).expectCommand('inventory.reserve')).toThrow();
    expect(() => given(placeOrder).start(orderInput).expectCompensation('order.create')).toThrow();
    expect(() => given(placeOrder).start(orderInput).expectCommand('order.create', { attempt: 2 })).toThrow();
    expect(() => given(placeOrder).start(orderInput).expectCommand('order.create').expectCommand('order.create')).toThrow(/no unread command/);
    expect(() => given(placeOrder).start(orderInput).expectNoCommand()).toThrow();
  });

  it('fails when there is no timer of the kind to fire', () => {
    expect(() => given(placeOrder).start(orderInput).fireRetry()).toThrow(/exactly one pending RETRY_DUE timer, found 0/);
    expect(() => given(placeOrder).start(orderInput).fireDeadline()).toThrow(/DEADLINE_REACHED/);
    expect(() => given(placeOrder).start(orderInput).replyRetryable('BUSY').timeout()).toThrow(/ATTEMPT_TIMED_OUT/);
  });

  it('fails on a wrong status, step status, timer, history or an unexpected change', () => {
    const script = () => given(placeOrder).start(orderInput);
    expect(() => script().expectStatus('COMPLETED')).toThrow();
    expect(() => script().expectStepStatus('create-order', 'SUCCEEDED')).toThrow();
    expect(() => script().expectStepStatus('nope', 'PENDING')).toThrow(/no step named/);
    expect(() => script().expectTimer({ type: 'RETRY_DUE' })).toThrow();
    expect(() => script().expectNoTimer()).toThrow();
    expect(() => script().expectHistory(['SAGA_STARTED'])).toThrow();
    expect(() => script().replySuccess({ orderId: 'o' }).expectUnchanged()).toThrow();
  });

  it('moves its clock only by advanceTime and by firing timers at their time', () => {
    const script = given(placeOrder).start(orderInput);
    expect(script.now).toBe(T0);
    script.advanceTime(10).replyRetryable('BUSY');
    expect(script.now).toBe(T0 + 10);
    script.fireRetry();
    expect(script.now).toBe(T0 + 10 + 200);
  });
});
