/**
 * decide(): compensations retried within their budget (docs/semantics.md S3), COMPENSATION_FAILED as a terminal
 * status that no later event changes (docs/semantics.md S2), late/duplicate replies and stale timers (docs/semantics.md S4).
 */
import { DEFAULT_COMPENSATION_RETRY } from '../definition/saga-definition';
import { orderInput, placeOrder, saga, step } from '../testing/fixtures';
import { given, outcomes, T0 } from '../testing/saga-script';

/** a, b compensable; c has none and fails: the rollback compensates b then a. */
const abc = () => saga([step('a'), step('b', { compensationTimeoutMs: 700 }), step('c', { compensation: false })]);
const failingAtC = () => given(abc()).start({}).replySuccess('A').replySuccess('B').replyFailure('NO').expectCommand('a.do').expectCommand('b.do').expectCommand('c.do');

describe('decide: compensation retries', () => {
  it('retries a failing or timed-out compensation with its own backoff and timeout', () => {
    failingAtC()
      .expectCompensation('b.undo', { attempt: 1, expiresAt: T0 + 700 })
      .replyFailure('TRY_LATER')
      .expectStatus('COMPENSATING')
      .expectTimer({ type: 'RETRY_DUE', direction: 'compensation', step: 'b', attempt: 2, fireAt: T0 + 50 })
      .fireRetry()
      .expectCompensation('b.undo', { attempt: 2, messageId: 'saga-1/b/compensation', correlationId: 'saga-1/b/compensation/2' })
      .replySuccess()
      .expectCompensation('a.undo', { attempt: 1 })
      .timeout()
      .expectLastHistory(['ATTEMPT_TIMED_OUT', 'RETRY_SCHEDULED'])
      .fireRetry()
      .expectCompensation('a.undo', { attempt: 2 })
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPENSATED');
  });

  it('uses the default compensation budget when the step sets none (place-order)', () => {
    const script = given(placeOrder).start(orderInput).replySuccess({ orderId: 'o1' }).replyFailure('OUT_OF_STOCK');
    const { maxAttempts } = DEFAULT_COMPENSATION_RETRY;
    for (let attempt = 1; attempt < maxAttempts; attempt++) {
      const sentAt = script.now;
      script.timeout().expectStatus('COMPENSATING');
      expect(script.lastDecision.timers[0]).toMatchObject({ event: { type: 'RETRY_DUE', attempt: attempt + 1 } });
      expect(script.lastDecision.timers[0].fireAt - script.now).toBe(Math.min(30_000, 500 * 2 ** (attempt - 1)));
      expect(script.now - sentAt).toBe(5_000 + 500); // compensationTimeoutMs defaults to timeoutMs, plus the expiry grace
      script.fireRetry();
    }
    script.timeout().expectStatus('COMPENSATION_FAILED');
    expect(script.sent.filter((c) => c.direction === 'compensation')).toHaveLength(maxAttempts);
  });
});

describe('decide: COMPENSATION_FAILED', () => {
  const stuck = () =>
    failingAtC()
      .expectCompensation('b.undo', { attempt: 1 })
      .replyFailure('CANNOT')
      .fireRetry()
      .expectCompensation('b.undo', { attempt: 2 })
      .replyRetryable('STILL_CANNOT', 'db down');

  it('is reached when a compensation exhausts its budget; earlier steps are left for the operator', () => {
    stuck()
      .expectNoCommand()
      .expectStatus('COMPENSATION_FAILED')
      .expectStepStatus('b', 'COMPENSATION_FAILED')
      .expectStepStatus('a', 'SUCCEEDED')
      .expectNoTimer()
      .expectLastHistory(['REPLY_RECEIVED', 'COMPENSATION_FAILED'])
      .check((s) => expect(s.lastDecision.history[1]).toMatchObject({ step: 'b', direction: 'compensation', attempt: 2, reason: 'STILL_CANNOT', detail: { message: 'db down' } }));
  });

  it('never changes afterwards, whatever arrives', () => {
    const script = stuck();
    const frozen = structuredClone(script.state);
    script
      .replyLate({ attempt: 2 }, outcomes.success())
      .expectLastHistory(['LATE_REPLY_IGNORED'])
      .replyLate({ attempt: 1, step: 'c', direction: 'action' }, outcomes.success())
      .cancel()
      .expectLastHistory(['CANCEL_REJECTED'])
      .fire({ type: 'DEADLINE_REACHED' })
      .fire({ type: 'RETRY_DUE', step: 'b', direction: 'compensation', attempt: 3 })
      .fire({ type: 'ATTEMPT_TIMED_OUT', step: 'b', direction: 'compensation', attempt: 2 })
      .expectNoCommand();
    expect(script.state).toEqual(frozen);
    expect(script.decisions.slice(-6).every((d) => d.commands.length === 0 && d.timers.length === 0)).toBe(true);
  });

  it('a deadline on a saga that ends stuck is cancelled with it', () => {
    given(
      saga([step('a', { compensationRetry: { maxAttempts: 1, backoff: { initialMs: 1, multiplier: 1, maxMs: 1 } } }), step('b', { compensation: false })], { deadlineMs: 60_000 }),
    )
      .start({})
      .expectTimer({ type: 'DEADLINE_REACHED', fireAt: T0 + 60_000 })
      .replySuccess()
      .replyFailure('NO')
      .replyFailure('UNDO_FAILED')
      .expectStatus('COMPENSATION_FAILED')
      .check((s) => expect(s.lastDecision.cancelTimers).toContain('saga-1/deadline'))
      .expectNoTimer({ type: 'DEADLINE_REACHED' });
  });
});

describe('decide: late and duplicate replies', () => {
  it('a reply for an older attempt is LATE_REPLY_IGNORED and changes nothing', () => {
    given(placeOrder)
      .start(orderInput)
      .timeout()
      .fireRetry()
      .expectCommand('order.create', { attempt: 1 })
      .expectCommand('order.create', { attempt: 2 })
      .advanceTime(3)
      .replyLate({ attempt: 1 }, outcomes.success({ orderId: 'late' }))
      .expectUnchanged()
      .expectLastHistory(['LATE_REPLY_IGNORED'])
      .check((s) =>
        expect(s.lastDecision.history[0]).toEqual({
          type: 'LATE_REPLY_IGNORED',
          failureType: 'late',
          at: T0 + 5_000 + 500 + 200 + 3, // timeout (5 s + 500 ms grace), backoff, 3 ms later
          step: 'create-order',
          direction: 'action',
          attempt: 1,
          reason: 'success',
          detail: { outcome: 'success', message: 'ok', sagaStatus: 'RUNNING' },
        }),
      )
      .replySuccess({ orderId: 'current' })
      .expectCommand('inventory.reserve')
      .check((s) => expect(s.state!.steps[0].result).toEqual({ orderId: 'current' }));
  });

  it('ignores replies while a retry is pending, for a future attempt, or in the wrong direction', () => {
    given(placeOrder)
      .start(orderInput)
      .timeout()
      .replyLate({ attempt: 1 }, outcomes.success())
      .expectUnchanged()
      .replyLate({ attempt: 2 }, outcomes.success())
      .expectUnchanged()
      .fireRetry()
      .replyLate({ attempt: 3 }, outcomes.failure('X'))
      .expectUnchanged()
      .replyLate({ attempt: 2, direction: 'compensation' }, outcomes.success())
      .expectUnchanged()
      .replyLate({ attempt: 2, step: 'reserve-inventory' }, outcomes.success())
      .expectUnchanged()
      .expectStepStatus('create-order', 'RUNNING');
  });

  it('a duplicate of an accepted reply is ignored: each step is compensated once', () => {
    failingAtC()
      .expectCompensation('b.undo')
      .replySuccess()
      .replyLate({ attempt: 1, step: 'b' }, outcomes.success())
      .expectUnchanged()
      .replyLate({ attempt: 1, step: 'b' }, outcomes.failure('X'))
      .expectUnchanged()
      .expectCompensation('a.undo')
      .expectNoCommand()
      .replySuccess()
      .replySuccess()
      .expectUnchanged()
      .expectStatus('COMPENSATED')
      .check((s) => expect(s.history.filter((h) => h.type === 'SAGA_COMPENSATED')).toHaveLength(1));
  });
});

describe('decide: stale timers', () => {
  it('a timeout of an answered attempt, a repeated retry or a timer of another attempt changes nothing, not even history', () => {
    const script = given(placeOrder).start(orderInput).timeout().fireRetry().replySuccess({ orderId: 'o1' });
    const staleEvents = [
      { type: 'ATTEMPT_TIMED_OUT', step: 'create-order', direction: 'action', attempt: 2 },
      { type: 'ATTEMPT_TIMED_OUT', step: 'create-order', direction: 'action', attempt: 1 },
      { type: 'RETRY_DUE', step: 'create-order', direction: 'action', attempt: 2 },
      { type: 'RETRY_DUE', step: 'reserve-inventory', direction: 'action', attempt: 1 },
      { type: 'RETRY_DUE', step: 'reserve-inventory', direction: 'action', attempt: 2 },
      { type: 'ATTEMPT_TIMED_OUT', step: 'reserve-inventory', direction: 'action', attempt: 2 },
      { type: 'ATTEMPT_TIMED_OUT', step: 'reserve-inventory', direction: 'compensation', attempt: 1 },
    ] as const;
    for (const event of staleEvents) script.fire(event).expectUnchanged().expectLastHistory([]);
    script.expectStepStatus('reserve-inventory', 'RUNNING');
  });

  it('a RETRY_DUE timer fired twice sends the attempt once', () => {
    const script = given(placeOrder).start(orderInput).replyRetryable('BUSY').fireRetry();
    script.fire({ type: 'RETRY_DUE', step: 'create-order', direction: 'action', attempt: 2 }).expectUnchanged();
    expect(script.sent.map((c) => c.attempt)).toEqual([1, 2]);
  });
});
