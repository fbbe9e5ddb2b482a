/**
 * decide(): step outcomes of docs/semantics.md S3 — business failure, retryable errors, expired commands,
 * timeouts with an unknown outcome — and which steps a rollback compensates (applied or possibly
 * applied ones only, in reverse order, each once).
 */
import { orderInput, placeOrder, saga, step } from '../testing/fixtures';
import { given, T0 } from '../testing/saga-script';

const throughPayment = () =>
  given(placeOrder)
    .start(orderInput)
    .expectCommand('order.create')
    .replySuccess({ orderId: 'o1' })
    .expectCommand('inventory.reserve')
    .replySuccess({ items: ['A'] })
    .expectCommand('payment.charge');

describe('decide: business failure', () => {
  it('compensates only the applied steps, then COMPENSATED', () => {
    given(placeOrder)
      .start(orderInput)
      .expectCommand('order.create', { attempt: 1 })
      .replySuccess({ orderId: 'o1' })
      .expectCommand('inventory.reserve')
      .replyFailure('OUT_OF_STOCK', 'no more A')
      .expectStatus('COMPENSATING')
      .expectStepStatus('reserve-inventory', 'FAILED')
      .expectCompensation('order.reject', { attempt: 1, payload: { orderId: 'saga-1' } })
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPENSATED')
      .expectStepStatus('create-order', 'COMPENSATED')
      .expectStepStatus('reserve-inventory', 'FAILED')
      .expectStepStatus('charge-payment', 'PENDING')
      .expectNoTimer()
      .check((s) => expect(s.state!.failure).toEqual({ step: 'reserve-inventory', type: 'business', code: 'OUT_OF_STOCK', message: 'no more A' }))
      .expectHistory([
        'SAGA_STARTED',
        'COMMAND_SENT',
        'REPLY_RECEIVED',
        'COMMAND_SENT',
        'REPLY_RECEIVED',
        'STEP_FAILED',
        'COMPENSATION_STARTED',
        'COMPENSATION_SENT',
        'REPLY_RECEIVED',
        'SAGA_COMPENSATED',
      ]);
  });

  it('compensates in reverse order, one at a time, with payloads built from each action result', () => {
    throughPayment()
      .replyFailure('DECLINED')
      .expectCompensation('inventory.release', { payload: { reservationId: 'saga-1', reserved: ['A'] } })
      .expectNoCommand()
      .replySuccess()
      .expectCompensation('order.reject')
      .expectNoCommand()
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPENSATED')
      .expectStepStatus('charge-payment', 'FAILED')
      .check((s) => expect(s.sent.filter((c) => c.direction === 'compensation').map((c) => c.step)).toEqual(['reserve-inventory', 'create-order']));
  });

  it('a failure of the first step rolls back nothing and ends COMPENSATED at once', () => {
    given(placeOrder).start(orderInput).replyFailure('INVALID').expectCommand('order.create').expectNoCommand().expectStatus('COMPENSATED');
  });

  it('records failure entries with type, time, reason, step, direction and attempt (docs/semantics.md S5)', () => {
    const script = given(placeOrder).start(orderInput).advanceTime(7).replyFailure('INVALID', 'bad order');
    expect(script.history.find((h) => h.type === 'STEP_FAILED')).toEqual({
      type: 'STEP_FAILED',
      failureType: 'business',
      at: T0 + 7,
      step: 'create-order',
      direction: 'action',
      attempt: 1,
      reason: 'INVALID',
      detail: { message: 'bad order' },
    });
  });
});

describe('decide: retryable errors', () => {
  it('retries with exponential backoff, then treats exhausted attempts as a failure (not compensated)', () => {
    given(placeOrder)
      .start(orderInput)
      .replySuccess({ orderId: 'o1' })
      .expectCommand('order.create')
      .expectCommand('inventory.reserve', { attempt: 1 })
      .replyRetryable('BUSY')
      .expectNoCommand()
      .expectStatus('RUNNING')
      .expectTimer({ type: 'RETRY_DUE', step: 'reserve-inventory', direction: 'action', attempt: 2, fireAt: T0 + 200 })
      .expectLastHistory(['REPLY_RECEIVED', 'RETRY_SCHEDULED'])
      .fireRetry()
      .expectCommand('inventory.reserve', { attempt: 2, expiresAt: T0 + 200 + 5_000 })
      .replyRetryable('BUSY')
      .expectTimer({ type: 'RETRY_DUE', attempt: 3, fireAt: T0 + 200 + 400 })
      .fireRetry()
      .expectCommand('inventory.reserve', { attempt: 3 })
      .replyRetryable('BUSY')
      .expectStepStatus('reserve-inventory', 'FAILED')
      .expectCompensation('order.reject')
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPENSATED');
  });

  it('treats a retryable reply whose code the step lists as non-retryable as a business failure at once', () => {
    given(
      saga([
        step('a'),
        step('b', { retry: { maxAttempts: 5, backoff: { initialMs: 100, multiplier: 2, maxMs: 1_000 }, nonRetryableCodes: ['CARD_EXPIRED'] } }),
        step('c', { compensation: false }),
      ]),
    )
      .start({})
      .replySuccess('A')
      .replyRetryable('CARD_EXPIRED')
      .expectStepStatus('b', 'FAILED')
      .check((s) => expect(s.state!.steps[1].attempt).toBe(1))
      .expectLastHistory(['REPLY_RECEIVED', 'STEP_FAILED', 'COMPENSATION_STARTED', 'COMPENSATION_SENT'])
      .expectCommand('a.do')
      .expectCommand('b.do')
      .expectCompensation('a.undo');
  });

  it('spreads a retry by the jitter, the same on every re-decision', () => {
    const jittery = saga([step('a', { retry: { maxAttempts: 3, backoff: { initialMs: 1_000, multiplier: 2, maxMs: 10_000, jitter: 0.5 } } }), step('b', { compensation: false })]);
    const delays = ['s-1', 's-2', 's-3', 's-4'].map((sagaId) => {
      const script = given(jittery, { sagaId }).start({}).replyRetryable('BUSY');
      const timer = script.lastDecision.timers.find((t) => t.event.type === 'RETRY_DUE')!;
      return timer.fireAt - script.now;
    });
    for (const delay of delays) expect(delay >= 750 && delay < 1_250).toBe(true);
    expect(new Set(delays).size).toBeGreaterThan(1);
    const again = given(jittery, { sagaId: 's-1' }).start({}).replyRetryable('BUSY');
    expect(again.lastDecision.timers.find((t) => t.event.type === 'RETRY_DUE')!.fireAt - again.now).toBe(delays[0]);
  });

  it('a success after retryable errors carries on normally', () => {
    given(placeOrder)
      .start(orderInput)
      .replyRetryable('BUSY')
      .fireRetry()
      .replySuccess({ orderId: 'o1' })
      .expectCommand('order.create', { attempt: 1 })
      .expectCommand('order.create', { attempt: 2 })
      .expectCommand('inventory.reserve', { attempt: 1 })
      .expectStepStatus('create-order', 'SUCCEEDED');
  });
});

describe('decide: expired replies', () => {
  it('an expired command is not applied: retried, and never compensated when attempts run out', () => {
    given(saga([step('a'), step('b'), step('c', { compensation: false })]))
      .start({})
      .replySuccess('A')
      .expectCommand('a.do')
      .expectCommand('b.do', { attempt: 1 })
      .replyExpired()
      .expectLastHistory(['REPLY_RECEIVED', 'RETRY_SCHEDULED'])
      .fireRetry()
      .expectCommand('b.do', { attempt: 2 })
      .replyExpired()
      .expectStepStatus('b', 'FAILED')
      .check((s) => expect(s.state!.steps[1].lastError).toEqual({ code: 'EXPIRED', message: 'command expired' }))
      .expectCompensation('a.undo', { payload: { request: {}, result: 'A' } })
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPENSATED');
  });
});

describe('decide: timeouts', () => {
  it('retries a timed-out attempt, then marks the outcome UNKNOWN and compensates it with result null', () => {
    given(placeOrder)
      .start(orderInput)
      .replySuccess({ orderId: 'o1' })
      .expectCommand('order.create')
      .expectCommand('inventory.reserve', { attempt: 1 })
      .timeout()
      .expectLastHistory(['ATTEMPT_TIMED_OUT', 'RETRY_SCHEDULED'])
      .expectNoCommand()
      .fireRetry()
      .expectCommand('inventory.reserve', { attempt: 2 })
      .timeout()
      .fireRetry()
      .expectCommand('inventory.reserve', { attempt: 3 })
      .timeout()
      .expectStepStatus('reserve-inventory', 'COMPENSATING')
      .expectStatus('COMPENSATING')
      .expectLastHistory(['ATTEMPT_TIMED_OUT', 'STEP_OUTCOME_UNKNOWN', 'COMPENSATION_STARTED', 'COMPENSATION_SENT'])
      .expectCompensation('inventory.release', { payload: { reservationId: 'saga-1', reserved: null } })
      .replySuccess()
      .expectCompensation('order.reject')
      .replySuccess()
      .expectNoCommand()
      .expectStatus('COMPENSATED')
      .expectStepStatus('reserve-inventory', 'COMPENSATED')
      .check((s) => expect(s.state!.failure).toMatchObject({ step: 'reserve-inventory', code: 'TIMEOUT' }));
  });

  it('the default compensation payload of an UNKNOWN step carries the request and result null', () => {
    given(saga([step('a', { retry: { maxAttempts: 1, backoff: { initialMs: 1, multiplier: 1, maxMs: 1 } } }), step('b', { compensation: false })]))
      .start({ n: 1 })
      .timeout()
      .expectCommand('a.do')
      .expectCompensation('a.undo', { payload: { request: { n: 1 }, result: null } });
  });

  it('a step without compensation whose attempts time out keeps retrying instead of going UNKNOWN', () => {
    const script = given(saga([step('a'), step('b', { compensation: false })]))
      .start({})
      .replySuccess()
      .expectCommand('a.do');
    for (let attempt = 1; attempt <= 6; attempt++) {
      script.expectCommand('b.do', { attempt }).timeout().expectStepStatus('b', 'RUNNING').expectStatus('RUNNING');
      // backoff 100, 200, 400, 800, then capped at maxMs 1000
      script.expectTimer({ type: 'RETRY_DUE', attempt: attempt + 1, fireAt: script.now + Math.min(1_000, 100 * 2 ** (attempt - 1)) });
      script.fireRetry();
    }
    script.expectCommand('b.do', { attempt: 7 }).replySuccess().expectNoCommand().expectStatus('COMPLETED');
  });

  it('a reply after earlier timeouts decides the outcome: a final failure is not compensated', () => {
    given(saga([step('a'), step('b'), step('c', { compensation: false })]))
      .start({})
      .replySuccess()
      .timeout()
      .fireRetry()
      .replyFailure('NOPE')
      .expectCommand('a.do')
      .expectCommand('b.do', { attempt: 1 })
      .expectCommand('b.do', { attempt: 2 })
      .expectCompensation('a.undo')
      .expectNoCommand()
      .expectStepStatus('b', 'FAILED');
  });

  it('the timeout of one attempt is the step timeout from when it was sent', () => {
    given(saga([step('a', { timeoutMs: 3_000 }), step('b', { compensation: false })]))
      .start({})
      .expectTimer({ type: 'ATTEMPT_TIMED_OUT', step: 'a', attempt: 1, fireAt: T0 + 3_000 + 300 })
      .timeout()
      .check((s) => expect(s.now).toBe(T0 + 3_000 + 300))
      .expectTimer({ type: 'RETRY_DUE', attempt: 2, fireAt: T0 + 3_000 + 300 + 100 })
      .fireRetry()
      .expectTimer({ type: 'ATTEMPT_TIMED_OUT', attempt: 2, fireAt: T0 + 3_000 + 300 + 100 + 3_000 + 300 });
  });
});
