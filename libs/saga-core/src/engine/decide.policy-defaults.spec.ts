/**
 * decide(): where a step's timeout and retry policy come from — the step itself, else the saga's
 * `defaults`, else the built-in defaults — for actions and compensations alike.
 */
import { DEFAULT_ACTION_RETRY, type StepDefinition } from '../definition/saga-definition';
import { effectivePolicies } from '../definition/step-policies';
import { validateDefinition } from '../definition/validate-definition';
import { testCatalog } from '../testing/fixtures';
import { given } from '../testing/saga-script';

const bare = (name: string, extra: Partial<StepDefinition> = {}): StepDefinition => ({
  name,
  action: { command: `${name}.do` },
  compensation: { command: `${name}.undo` },
  ...extra,
});
const fixed = (maxAttempts: number, delayMs: number) => ({ maxAttempts, backoff: { initialMs: delayMs, multiplier: 1, maxMs: delayMs } });

const withDefaults = validateDefinition(
  {
    name: 'defaults-saga',
    version: 1,
    inputSchema: { type: 'object' },
    defaults: { timeoutMs: 2_000, retry: fixed(3, 700), compensationTimeoutMs: 900, compensationRetry: fixed(2, 300) },
    steps: [bare('a'), bare('b', { timeoutMs: 5_000, retry: fixed(1, 1) }), { name: 'c', action: { command: 'c.do' } }],
  },
  testCatalog,
);

describe('decide: policy defaults', () => {
  it('a step without its own policy uses the saga defaults: timeout, attempts and backoff', () => {
    given(withDefaults)
      .start({})
      .expectCommand('a.do', { attempt: 1, expiresAt: 1_700_000_000_000 + 2_000 })
      .replyRetryable('BUSY')
      .expectTimer({ type: 'RETRY_DUE', attempt: 2, fireAt: 1_700_000_000_000 + 700 })
      .fireRetry()
      .expectCommand('a.do', { attempt: 2 })
      .replyRetryable('BUSY')
      .fireRetry()
      .expectCommand('a.do', { attempt: 3 })
      .replyRetryable('BUSY') // the third attempt was the last: nothing applied, nothing to undo
      .expectStatus('COMPENSATED')
      .expectStepStatus('a', 'FAILED')
      .expectNoCommand();
  });

  it("a step's own policy wins over the defaults; compensations use the compensation defaults", () => {
    const script = given(withDefaults).start({}).expectCommand('a.do').replySuccess({ id: 1 });
    const sentAt = script.now;
    script
      .expectCommand('b.do', { attempt: 1, expiresAt: sentAt + 5_000 })
      .replyRetryable('BUSY') // b allows one attempt only: no retry, roll back
      .expectStepStatus('b', 'FAILED')
      .expectCompensation('a.undo', { attempt: 1, expiresAt: sentAt + 900 })
      .replyFailure('LOCKED')
      .expectTimer({ type: 'RETRY_DUE', direction: 'compensation', attempt: 2, fireAt: sentAt + 300 })
      .fireRetry()
      .expectCompensation('a.undo', { attempt: 2 })
      .replyFailure('LOCKED')
      .expectStatus('COMPENSATION_FAILED');
  });

  it('without saga defaults a step without retry gets DEFAULT_ACTION_RETRY', () => {
    const definition = validateDefinition(
      { name: 'builtin', version: 1, inputSchema: { type: 'object' }, steps: [{ name: 'a', action: { command: 'a.do' }, timeoutMs: 1_000 }] },
      testCatalog,
    );
    expect(effectivePolicies(definition, 0)).toEqual({
      timeoutMs: 1_000,
      retry: DEFAULT_ACTION_RETRY,
      compensationTimeoutMs: 1_000,
      compensationRetry: expect.objectContaining({ maxAttempts: 10 }),
    });
    const script = given(definition).start({});
    for (let attempt = 1; attempt < DEFAULT_ACTION_RETRY.maxAttempts; attempt++) script.expectCommand('a.do', { attempt }).replyRetryable('BUSY').fireRetry();
    script.expectCommand('a.do', { attempt: DEFAULT_ACTION_RETRY.maxAttempts }).replyRetryable('BUSY').expectStatus('COMPENSATED').expectNoCommand();
  });
});
