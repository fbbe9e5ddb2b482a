/**
 * decide(): cancel and the saga deadline (docs/semantics.md S2: RUNNING → COMPENSATING, the in-flight step
 * counts as possibly applied), and the pivot (docs/semantics.md S1: once it succeeds, never compensate; later
 * steps are retried until they succeed; cancel is rejected).
 */
import { orderInput, placeOrder, saga, step, type StepOverrides } from '../testing/fixtures';
import { given, T0 } from '../testing/saga-script';

/** a (undo) → p (pivot, no undo) → c → d (no undo: after the pivot). */
const withPivot = (pivot: StepOverrides = {}) =>
  saga([step('a'), step('p', { pivot: true, compensation: false, ...pivot }), step('c', { compensation: false }), step('d', { compensation: false })]);

describe('decide: cancel', () => {
  it('while RUNNING: the in-flight step is treated as possibly applied and compensated, then the earlier ones', () => {
    given(placeOrder)
      .start(orderInput)
      .replySuccess({ orderId: 'o1' })
      .expectCommand('order.create')
      .expectCommand('inventory.reserve')
      .cancel('customer changed their mind', 'alice')
      .expectStatus('COMPENSATING')
      .expectStepStatus('reserve-inventory', 'COMPENSATING')
      .expectLastHistory(['CANCEL_REQUESTED', 'STEP_OUTCOME_UNKNOWN', 'COMPENSATION_STARTED', 'COMPENSATION_SENT'])
      .check((s) => {
        expect(s.lastDecision.history[0]).toMatchObject({ reason: 'customer changed their mind', detail: { by: 'alice' } });
        expect(s.lastDecision.cancelTimers).toEqual(expect.arrayContaining(['saga-1/reserve-inventory/action/1/timeout', 'saga-1/reserve-inventory/action/2/retry']));
        expect(s.state!.failure).toEqual({ step: 'reserve-inventory', type: 'operator', code: 'CANCELLED', message: 'customer changed their mind' });
      })
      .expectNoTimer({ step: 'reserve-inventory', direction: 'action' })
      .expectCompensation('inventory.release', { payload: { reservationId: 'saga-1', reserved: null } })
      .replyLate({ attempt: 1, direction: 'action' })
      .expectUnchanged()
      .replySuccess()
      .expectCompensation('order.reject')
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPENSATED');
  });

  it('while a retry is pending: the retry is dropped and the step compensated', () => {
    given(placeOrder)
      .start(orderInput)
      .replyRetryable('BUSY')
      .cancel()
      .expectNoTimer({ direction: 'action' })
      .expectTimer({ type: 'ATTEMPT_TIMED_OUT', direction: 'compensation', step: 'create-order', attempt: 1 })
      .expectCommand('order.create', { attempt: 1 })
      .expectCompensation('order.reject')
      .fire({ type: 'RETRY_DUE', step: 'create-order', direction: 'action', attempt: 2 })
      .expectUnchanged()
      .expectNoCommand();
  });

  it('is rejected, changing nothing, once the saga is compensating or terminal', () => {
    given(placeOrder)
      .start(orderInput)
      .replySuccess({ orderId: 'o1' })
      .replyFailure('OUT_OF_STOCK')
      .cancel()
      .expectUnchanged()
      .expectLastHistory(['CANCEL_REJECTED'])
      .check((s) => expect(s.lastDecision.history[0].reason).toBe('saga is COMPENSATING'))
      .replySuccess()
      .expectStatus('COMPENSATED')
      .cancel()
      .expectUnchanged()
      .expectStatus('COMPENSATED');
    given(saga([step('a', { compensation: false })]))
      .start({})
      .replySuccess()
      .cancel()
      .expectUnchanged()
      .expectStatus('COMPLETED');
  });

  it('is rejected while a step without compensation is in flight (it could not be undone)', () => {
    given(saga([step('a'), step('b', { compensation: false })]))
      .start({})
      .replySuccess()
      .cancel()
      .expectUnchanged()
      .expectLastHistory(['CANCEL_REJECTED'])
      .replySuccess()
      .expectStatus('COMPLETED');
  });
});

describe('decide: deadline', () => {
  const timed = () => saga([step('a'), step('b'), step('c', { compensation: false })], { deadlineMs: 10_000 });

  it('cancels a saga still RUNNING when it fires', () => {
    given(timed())
      .start({})
      .expectTimer({ type: 'DEADLINE_REACHED', fireAt: T0 + 10_000 })
      .replySuccess('A')
      .fireDeadline()
      .check((s) => expect(s.now).toBe(T0 + 10_000))
      .expectLastHistory(['DEADLINE_REACHED', 'STEP_OUTCOME_UNKNOWN', 'COMPENSATION_STARTED', 'COMPENSATION_SENT'])
      .expectCommand('a.do')
      .expectCommand('b.do')
      .expectCompensation('b.undo', { payload: { request: {}, result: null } })
      .replySuccess()
      .expectCompensation('a.undo', { payload: { request: {}, result: 'A' } })
      .replySuccess()
      .expectStatus('COMPENSATED')
      .check((s) => expect(s.state!.failure).toEqual({ step: 'b', type: 'timeout', code: 'DEADLINE', message: 'saga deadline reached' }));
  });

  it('is refused while a step without compensation is in flight, and tried again after that step had time to answer', () => {
    given(timed())
      .start({})
      .replySuccess('A')
      .replySuccess('B')
      .expectCommand('a.do')
      .expectCommand('b.do')
      .expectCommand('c.do')
      .fireDeadline()
      .expectStatus('RUNNING')
      .expectLastHistory(['CANCEL_REJECTED'])
      .check((s) => expect(s.lastDecision.timers).toEqual([{ id: expect.any(String), fireAt: T0 + 10_000 + 1_000, event: { type: 'DEADLINE_REACHED' } }]))
      .replyFailure('NO')
      .expectStatus('COMPENSATING')
      .expectCompensation('b.undo');
  });

  it('is cancelled when the saga completes, and ignored silently if it fires while compensating', () => {
    given(timed()).start({}).replySuccess().replySuccess().replySuccess().expectStatus('COMPLETED').expectNoTimer({ type: 'DEADLINE_REACHED' });
    given(timed()).start({}).replyFailure('NO').expectStatus('COMPENSATED').expectNoTimer({ type: 'DEADLINE_REACHED' });
    given(timed()).start({}).replySuccess().replyFailure('NO').expectStatus('COMPENSATING').fireDeadline().expectUnchanged().expectLastHistory([]);
  });
});

describe('decide: pivot', () => {
  it('after the pivot succeeds, failures and timeouts are retried beyond the budget and never compensate', () => {
    const script = given(withPivot())
      .start({})
      .replySuccess()
      .replySuccess()
      .expectCommand('a.do')
      .expectCommand('p.do')
      .check((s) => expect(s.state!.pastPivot).toBe(true));
    for (let attempt = 1; attempt <= 5; attempt++) {
      script.expectCommand('c.do', { attempt });
      if (attempt % 2 === 1) script.replyFailure('DECLINED');
      else script.timeout();
      script
        .expectStatus('RUNNING')
        .expectStepStatus('c', 'RUNNING')
        .expectTimer({ type: 'RETRY_DUE', step: 'c', attempt: attempt + 1 })
        .fireRetry();
    }
    script
      .expectCommand('c.do', { attempt: 6 })
      .replySuccess()
      .expectCommand('d.do')
      .replyExpired()
      .fireRetry()
      .expectCommand('d.do', { attempt: 2 })
      .replyRetryable('BUSY')
      .fireRetry()
      .expectCommand('d.do', { attempt: 3 })
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPLETED')
      .check((s) => expect(s.history.map((h) => h.type)).not.toContain('COMPENSATION_STARTED'));
  });

  it('after the pivot succeeds, cancel and the deadline are rejected', () => {
    given(saga(withPivot().steps, { deadlineMs: 5_000 }))
      .start({})
      .replySuccess()
      .replySuccess()
      .cancel()
      .expectUnchanged()
      .expectLastHistory(['CANCEL_REJECTED'])
      .check((s) => expect(s.lastDecision.history[0].reason).toMatch(/pivot/))
      .fireDeadline()
      .expectUnchanged()
      .check((s) => expect(s.lastDecision.history[0]).toMatchObject({ type: 'CANCEL_REJECTED', detail: { by: 'deadline' } }))
      .expectStatus('RUNNING');
  });

  it('a pivot that fails before succeeding rolls back the steps before it', () => {
    given(withPivot())
      .start({})
      .replySuccess()
      .replyFailure('NO')
      .expectCommand('a.do')
      .expectCommand('p.do')
      .expectCompensation('a.undo')
      .replySuccess()
      .expectStatus('COMPENSATED')
      .expectStepStatus('p', 'FAILED');
  });

  it('a pivot without compensation whose attempts time out keeps retrying', () => {
    given(withPivot())
      .start({})
      .replySuccess()
      .timeout()
      .fireRetry()
      .timeout()
      .fireRetry()
      .timeout()
      .expectStatus('RUNNING')
      .expectStepStatus('p', 'RUNNING')
      .expectTimer({ type: 'RETRY_DUE', step: 'p', attempt: 4 });
  });

  it('a pivot with a compensation that times out is UNKNOWN and compensated like any step', () => {
    given(withPivot({ compensation: { command: 'p.undo' }, retry: { maxAttempts: 1, backoff: { initialMs: 1, multiplier: 1, maxMs: 1 } } }))
      .start({})
      .replySuccess()
      .timeout()
      .expectLastHistory(['ATTEMPT_TIMED_OUT', 'STEP_OUTCOME_UNKNOWN', 'COMPENSATION_STARTED', 'COMPENSATION_SENT'])
      .expectCommand('a.do')
      .expectCommand('p.do')
      .expectCompensation('p.undo')
      .replySuccess()
      .expectCompensation('a.undo');
  });
});
