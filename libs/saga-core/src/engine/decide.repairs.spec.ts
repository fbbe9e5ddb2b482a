/**
 * decide(): operator repairs (docs/semantics.md S8). Each applies, refuses with a recorded reason
 * (nothing else changes), and replies to attempts sent before the repair stay late afterwards.
 */
import { saga, step } from '../testing/fixtures';
import { given, outcomes } from '../testing/saga-script';
import type { RepairEvent } from './saga-events';

const by = { by: 'alice', reason: 'participant fixed', requestKey: 'k1' };
const op = <E extends Omit<RepairEvent, 'by' | 'reason'>>(event: E) => ({ ...by, ...event }) as RepairEvent;

/** a, b compensable; c has none and fails: the rollback compensates b then a. */
const abc = () => saga([step('a'), step('b'), step('c', { compensation: false })]);
/** b's undo fails twice (its budget): COMPENSATION_FAILED with a still to undo. */
const stuck = () =>
  given(abc())
    .start({})
    .replySuccess('A')
    .replySuccess('B')
    .replyFailure('NO')
    .replyFailure('CANNOT')
    .fireRetry()
    .replyFailure('CANNOT')
    .expectStatus('COMPENSATION_FAILED')
    .expectStepStatus('b', 'COMPENSATION_FAILED')
    .expectCommand('a.do')
    .expectCommand('b.do')
    .expectCommand('c.do')
    .expectCompensation('b.undo', { attempt: 1 })
    .expectCompensation('b.undo', { attempt: 2 });

/** a (undo) → p (pivot) → c (no undo, after the pivot). */
const pivoted = () => saga([step('a'), step('p', { pivot: true, compensation: false }), step('c', { compensation: false })]);

const rejected = (reason: RegExp) => (s: { lastDecision: { history: { reason: string | null; failureType: string | null; detail: unknown }[] } }) => {
  expect(s.lastDecision.history).toHaveLength(1);
  expect(s.lastDecision.history[0]).toMatchObject({ failureType: 'operator', detail: { by: 'alice', reason: 'participant fixed', requestKey: 'k1' } });
  expect(s.lastDecision.history[0].reason).toMatch(reason);
};

describe('decide: RETRY_COMPENSATION', () => {
  it('sends the failed undo again with a fresh budget, numbering on; the rollback then finishes', () => {
    stuck()
      .apply(op({ type: 'RETRY_COMPENSATION' }))
      .expectStatus('COMPENSATING')
      .expectStepStatus('b', 'COMPENSATING')
      .expectLastHistory(['OPERATOR_ACTION', 'COMPENSATION_SENT'])
      .check((s) => {
        expect(s.lastDecision.history[0]).toMatchObject({
          failureType: 'operator',
          reason: 'RETRY_COMPENSATION',
          step: 'b',
          attempt: 3,
          detail: { by: 'alice', reason: 'participant fixed' },
        });
        expect(s.state!.steps[1].compensationBudgetFrom).toBe(2);
      })
      .expectCompensation('b.undo', { attempt: 3, correlationId: 'saga-1/b/compensation/3' })
      // fresh budget of 2 and backoff from the start: attempt 3 fails → retry 4 after 50 ms
      .replyFailure('CANNOT')
      .expectStatus('COMPENSATING')
      .expectTimer({ type: 'RETRY_DUE', step: 'b', direction: 'compensation', attempt: 4 })
      .check((s) => expect(s.lastDecision.timers[0].fireAt - s.now).toBe(50))
      .fireRetry()
      .expectCompensation('b.undo', { attempt: 4 })
      .replySuccess()
      .expectCompensation('a.undo', { attempt: 1 })
      .replySuccess()
      .expectStatus('COMPENSATED');
  });

  it('treats a reply to an attempt sent before the repair as late', () => {
    stuck()
      .apply(op({ type: 'RETRY_COMPENSATION' }))
      .replyLate({ attempt: 2 }, outcomes.success())
      .expectLastHistory(['LATE_REPLY_IGNORED'])
      .expectUnchanged()
      .expectStepStatus('b', 'COMPENSATING');
  });

  it('uses up the fresh budget and fails again', () => {
    stuck()
      .apply(op({ type: 'RETRY_COMPENSATION' }))
      .replyFailure('X')
      .fireRetry()
      .replyFailure('X')
      .expectStatus('COMPENSATION_FAILED')
      .expectStepStatus('b', 'COMPENSATION_FAILED');
  });

  it('is refused unless the saga is COMPENSATION_FAILED', () => {
    given(abc())
      .start({})
      .apply(op({ type: 'RETRY_COMPENSATION' }))
      .expectUnchanged()
      .expectLastHistory(['OPERATOR_ACTION_REJECTED'])
      .check(rejected(/saga is RUNNING/));
  });
});

describe('decide: SKIP_COMPENSATION', () => {
  it('marks a failed undo done by hand and goes on undoing the rest in reverse order', () => {
    stuck()
      .apply(op({ type: 'SKIP_COMPENSATION', step: 'b' }))
      .expectStepStatus('b', 'COMPENSATED')
      .check((s) => {
        expect(s.state!.steps[1]).toMatchObject({ manual: true, lastError: { code: 'CANNOT' } });
        expect(s.lastDecision.history[0]).toMatchObject({ type: 'OPERATOR_ACTION', reason: 'SKIP_COMPENSATION', step: 'b', failureType: 'operator' });
      })
      .expectStatus('COMPENSATING')
      .expectCompensation('a.undo', { attempt: 1 })
      .replySuccess()
      .expectStatus('COMPENSATED')
      .expectNoCommand();
  });

  it('skips an undo waiting for its retry: the retry timer is cancelled and a late reply stays late', () => {
    given(abc())
      .start({})
      .replySuccess()
      .replySuccess()
      .replyFailure('NO')
      .replyFailure('CANNOT')
      .expectTimer({ type: 'RETRY_DUE', step: 'b', attempt: 2 })
      .apply(op({ type: 'SKIP_COMPENSATION', step: 'b' }))
      .expectNoTimer({ step: 'b' })
      .check((s) => expect(s.lastDecision.cancelTimers).toContain('saga-1/b/compensation/2/retry'))
      .replyLate({ attempt: 1, step: 'b', direction: 'compensation' }, outcomes.success())
      .expectLastHistory(['LATE_REPLY_IGNORED'])
      .expectStepStatus('a', 'COMPENSATING');
  });

  it('when the last undo is skipped the saga is COMPENSATED', () => {
    const one = saga([step('a'), step('c', { compensation: false })]);
    given(one)
      .start({})
      .replySuccess()
      .replyFailure('NO')
      .replyFailure('X')
      .fireRetry()
      .replyFailure('X')
      .expectStatus('COMPENSATION_FAILED')
      .apply(op({ type: 'SKIP_COMPENSATION', step: 'a' }))
      .expectStatus('COMPENSATED')
      .expectLastHistory(['OPERATOR_ACTION', 'SAGA_COMPENSATED']);
  });

  it('is refused for an unknown step, an undo in flight, or a step that is not failing', () => {
    stuck()
      .apply(op({ type: 'SKIP_COMPENSATION', step: 'zz' }))
      .expectUnchanged()
      .check(rejected(/no step "zz"/));
    stuck()
      .apply(op({ type: 'SKIP_COMPENSATION', step: 'a' }))
      .expectUnchanged()
      .check(rejected(/step "a" is SUCCEEDED/));
    given(abc())
      .start({})
      .replySuccess()
      .replySuccess()
      .replyFailure('NO')
      .apply(op({ type: 'SKIP_COMPENSATION', step: 'b' }))
      .expectUnchanged()
      .check(rejected(/in flight/));
  });
});

describe('decide: RESOLVE', () => {
  it('ends a COMPENSATION_FAILED saga as RESOLVED_MANUALLY', () => {
    stuck()
      .apply(op({ type: 'RESOLVE', outcome: 'COMPENSATED' }))
      .expectStatus('RESOLVED_MANUALLY')
      .expectLastHistory(['OPERATOR_ACTION', 'SAGA_RESOLVED_MANUALLY'])
      .check((s) => expect(s.lastDecision.history[0].detail).toMatchObject({ outcome: 'COMPENSATED', from: 'COMPENSATION_FAILED', by: 'alice' }))
      .apply(op({ type: 'RETRY_COMPENSATION' }))
      .expectUnchanged()
      .check(rejected(/RESOLVED_MANUALLY/));
  });

  it('ends a running saga, cancels its timers, and later replies are late', () => {
    given(saga([step('a'), step('b')], { deadlineMs: 60_000 }))
      .start({})
      .apply(op({ type: 'RESOLVE' }))
      .expectStatus('RESOLVED_MANUALLY')
      .check((s) => {
        expect(s.lastDecision.cancelTimers).toEqual(expect.arrayContaining(['saga-1/a/action/1/timeout', 'saga-1/a/action/2/retry', 'saga-1/deadline']));
        expect(s.state!.steps[0]).toMatchObject({ status: 'RUNNING', manual: true });
        expect(s.state!.current).toBe(-1);
      })
      .expectNoTimer({})
      .expectNoTimer({ type: 'DEADLINE_REACHED' })
      .replyLate({ attempt: 1 }, outcomes.success())
      .expectLastHistory(['LATE_REPLY_IGNORED'])
      .expectUnchanged()
      .cancel()
      .expectLastHistory(['CANCEL_REJECTED']);
  });

  it('is refused for a finished saga', () => {
    given(saga([step('a')]))
      .start({})
      .replySuccess()
      .apply(op({ type: 'RESOLVE' }))
      .expectUnchanged()
      .check(rejected(/already COMPLETED/));
  });
});

describe('decide: FIRE_TIMER_NOW', () => {
  it('fires the pending retry now and records who did it', () => {
    given(abc())
      .start({})
      .replyRetryable('BUSY')
      .expectTimer({ type: 'RETRY_DUE', step: 'a', attempt: 2 })
      .apply(op({ type: 'FIRE_TIMER_NOW', timer: { type: 'RETRY_DUE', step: 'a', direction: 'action', attempt: 2 } }))
      .expectLastHistory(['OPERATOR_ACTION', 'COMMAND_SENT'])
      .expectCommand('a.do', { attempt: 1 })
      .expectCommand('a.do', { attempt: 2 });
  });

  it('fires the pending timeout now: the attempt counts as timed out', () => {
    given(abc())
      .start({})
      .apply(op({ type: 'FIRE_TIMER_NOW', timer: { type: 'ATTEMPT_TIMED_OUT', step: 'a', direction: 'action', attempt: 1 } }))
      .expectLastHistory(['OPERATOR_ACTION', 'ATTEMPT_TIMED_OUT', 'RETRY_SCHEDULED'])
      .replyLate({ attempt: 1 }, outcomes.success())
      .expectLastHistory(['LATE_REPLY_IGNORED']);
  });

  it('is refused for a timer that is not the current attempt', () => {
    given(abc())
      .start({})
      .replySuccess()
      .apply(op({ type: 'FIRE_TIMER_NOW', timer: { type: 'ATTEMPT_TIMED_OUT', step: 'a', direction: 'action', attempt: 1 } }))
      .expectUnchanged()
      .check(rejected(/not pending/));
  });
});

describe('decide: RETRY_STEP', () => {
  const waitingAfterPivot = () =>
    given(pivoted())
      .start({})
      .replySuccess()
      .replySuccess()
      .replyRetryable('BUSY')
      .fireRetry()
      .replyRetryable('BUSY')
      .fireRetry()
      .replyRetryable('BUSY')
      .expectTimer({ type: 'RETRY_DUE', step: 'c', attempt: 4 });

  it('past the pivot sends the next attempt now and restarts the backoff', () => {
    waitingAfterPivot()
      .apply(op({ type: 'RETRY_STEP', step: 'c' }))
      .expectLastHistory(['OPERATOR_ACTION', 'COMMAND_SENT'])
      .expectNoTimer({ type: 'RETRY_DUE' })
      .check((s) => expect(s.lastDecision.cancelTimers).toContain('saga-1/c/action/4/retry'))
      .check((s) => expect(s.sent.at(-1)).toMatchObject({ command: 'c.do', attempt: 4 }))
      .replyRetryable('BUSY')
      .check((s) => expect(s.lastDecision.timers[0].fireAt - s.now).toBe(100))
      .replyLate({ attempt: 3 }, outcomes.success())
      .expectLastHistory(['LATE_REPLY_IGNORED'])
      .fireRetry()
      .replySuccess()
      .expectStatus('COMPLETED');
  });

  it('is refused before the pivot, for a step in flight, and for a step that is not current', () => {
    given(pivoted())
      .start({})
      .replyRetryable('BUSY')
      .apply(op({ type: 'RETRY_STEP', step: 'a' }))
      .expectUnchanged()
      .check(rejected(/pivot step has not succeeded/));
    waitingAfterPivot()
      .fireRetry()
      .apply(op({ type: 'RETRY_STEP', step: 'c' }))
      .expectUnchanged()
      .check(rejected(/in flight/));
    waitingAfterPivot()
      .apply(op({ type: 'RETRY_STEP', step: 'a' }))
      .expectUnchanged()
      .check(rejected(/not the step in flight/));
    waitingAfterPivot()
      .apply(op({ type: 'RETRY_STEP', step: 'nope' }))
      .expectUnchanged()
      .check(rejected(/no step "nope"/));
  });
});
