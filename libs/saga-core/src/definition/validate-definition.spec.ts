/**
 * validateDefinition: each load-time rule yields a clear message at the right path, every problem
 * is reported at once, and an order-like saga with a pivot (the lib's test saga) is accepted.
 */
import { InvalidDefinitionError, type DefinitionProblem } from '../errors';
import { catalog, step, testCatalog } from '../testing/fixtures';
import { orderSaga } from '../testing/order-saga';
import type { StepDefinition } from './saga-definition';
import { MAX_TIMEOUT_MS, validateDefinition } from './validate-definition';

const base = (steps: unknown[], extra: Record<string, unknown> = {}) => ({ name: 'demo', version: 1, inputSchema: { type: 'object' }, steps, ...extra });

function problemsOf(raw: unknown): DefinitionProblem[] {
  try {
    validateDefinition(raw, testCatalog, 'spec.json');
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidDefinitionError);
    return (error as InvalidDefinitionError).problems;
  }
  return [];
}

/** The problems as "path: message" lines, for readable assertions. */
const lines = (raw: unknown) => problemsOf(raw).map((p) => `${p.path}: ${p.message}`);

const withStep = (index: number, patch: Record<string, unknown>, steps: StepDefinition[] = [step('a'), step('b'), step('c', { compensation: false })]) =>
  base(steps.map((s, i) => (i === index ? { ...s, ...patch } : s)));

describe('validateDefinition', () => {
  it('accepts the place-order test saga and returns it as is', () => {
    const raw = structuredClone(orderSaga);
    expect(validateDefinition(raw, catalog)).toBe(raw);
  });

  it('accepts a minimal definition, and a last step without compensation when there is no pivot', () => {
    expect(lines(base([step('o', { compensation: false })]))).toEqual([]);
    expect(lines(base([step('a'), step('b', { compensation: false })]))).toEqual([]);
  });

  it('throws an InvalidDefinitionError naming the source and every path', () => {
    expect(() => validateDefinition(withStep(0, { timeoutMs: 0 }), testCatalog, 'defs/demo.json')).toThrow(
      expect.objectContaining({ code: 'INVALID_DEFINITION', source: 'defs/demo.json', message: expect.stringContaining('steps[0].timeoutMs') }),
    );
  });

  it('rejects a non-object, bad names, versions and deadlines', () => {
    expect(lines('nope')).toEqual([': a definition must be a JSON object']);
    expect(lines(base([step('a', { compensation: false })], { name: 'Bad Name', version: 0, deadlineMs: -5 }))).toEqual([
      'name: must be lowercase letters, digits and dashes, starting with a letter (it is used in URLs)',
      'version: must be an integer between 1 and 1000000, got 0',
      `deadlineMs: must be an integer between 1 and ${30 * MAX_TIMEOUT_MS}, got -5`,
    ]);
    expect(lines(base([]))).toEqual(['steps: must be a non-empty array']);
    expect(lines(base([42]))).toEqual(['steps[0]: must be an object']);
    expect(lines(withStep(1, { name: '1-bad/name' }))).toEqual(['steps[1].name: must be lowercase letters, digits and dashes, starting with a letter']);
  });

  it('rejects misspelt or unknown keys instead of ignoring them', () => {
    const raw = { ...withStep(1, { compensationTimeout: 5000 }), deadline: 1000 };
    (raw.steps[0] as Record<string, unknown>).retry = { maxAttempts: 2, backof: {}, backoff: { initialMs: 1, multiplier: 1, maxMs: 1, spread: true } };
    expect(lines(raw)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^deadline: unknown key/),
        expect.stringMatching(/^steps\[1\]\.compensationTimeout: unknown key; expected one of .*compensationTimeoutMs/),
        expect.stringMatching(/^steps\[0\]\.retry\.backof: unknown key/),
        expect.stringMatching(/^steps\[0\]\.retry\.backoff\.spread: unknown key/),
      ]),
    );
    expect(lines({ ...base([step('o', { compensation: false })]), $schema: 'https://example.com/saga.schema.json' })).toEqual([]);
  });

  it('rejects duplicate step names', () => {
    expect(lines(base([step('a'), step('a'), step('c', { compensation: false })]))).toEqual(['steps[1].name: duplicate step name "a"']);
  });

  it('rejects commands the catalog does not know, in actions and compensations', () => {
    expect(lines(withStep(0, { action: { command: 'nobody.serves' }, compensation: { command: '' } }))).toEqual([
      'steps[0].action.command: unknown command "nobody.serves": no participant in the catalog serves it',
      'steps[0].compensation.command: must be a non-empty string',
    ]);
    expect(lines(withStep(0, { action: 'a.do' }))).toEqual(['steps[0].action: must be an object { command, payload? }']);
  });

  it('requires a compensation on every step a later failure can roll back', () => {
    expect(lines(withStep(0, { compensation: undefined }))).toEqual([
      'steps[0].compensation: step "a" needs a compensation: a later step can fail and roll it back (mark a pivot to say otherwise)',
    ]);
    const beforePivot = [step('a', { compensation: false }), step('p', { pivot: true, compensation: false }), step('z', { compensation: false })];
    expect(lines(base(beforePivot))).toEqual(['steps[0].compensation: step "a" needs a compensation: it comes before the pivot']);
  });

  it('allows at most one pivot, and no compensation after it', () => {
    const twoPivots = [step('a'), step('p', { pivot: true }), step('q', { pivot: true })];
    expect(lines(base(twoPivots))).toEqual([
      'steps: at most one step may be the pivot; found 2',
      'steps[2].compensation: step "q" comes after the pivot, so its compensation would never run; remove it',
    ]);
    const undoAfterPivot = [step('p', { pivot: true, compensation: false }), step('b')];
    expect(lines(base(undoAfterPivot))).toEqual(['steps[1].compensation: step "b" comes after the pivot, so its compensation would never run; remove it']);
    expect(lines(withStep(2, { pivot: 'yes' }))).toEqual(['steps[2].pivot: must be a boolean']);
  });

  it.each([
    [0, 'got 0'],
    [-1, 'got -1'],
    [1.5, 'got 1.5'],
    ['100', 'got "100"'],
    [MAX_TIMEOUT_MS + 1, `got ${MAX_TIMEOUT_MS + 1}`],
  ])('rejects timeoutMs %p', (timeoutMs, shown) => {
    expect(lines(withStep(1, { timeoutMs }))).toEqual([`steps[1].timeoutMs: must be an integer between 1 and ${MAX_TIMEOUT_MS}, ${shown}`]);
    expect(lines(withStep(1, { compensationTimeoutMs: timeoutMs }))).toEqual([`steps[1].compensationTimeoutMs: must be an integer between 1 and ${MAX_TIMEOUT_MS}, ${shown}`]);
  });

  it('rejects bad retry policies, for actions and compensations', () => {
    const backoff = { initialMs: 100, multiplier: 2, maxMs: 1_000 };
    expect(lines(withStep(0, { retry: 'often' }))).toEqual(['steps[0].retry: must be an object { maxAttempts, backoff }']);
    expect(lines(withStep(0, { retry: { maxAttempts: 0, backoff } }))).toEqual(['steps[0].retry.maxAttempts: must be an integer between 1 and 1000, got 0']);
    expect(lines(withStep(0, { retry: { maxAttempts: 1001, backoff } }))).toEqual(['steps[0].retry.maxAttempts: must be an integer between 1 and 1000, got 1001']);
    expect(lines(withStep(0, { retry: { maxAttempts: 2 } }))).toEqual(['steps[0].retry.backoff: must be an object { initialMs, multiplier, maxMs }']);
    expect(lines(withStep(0, { compensationRetry: { maxAttempts: 2, backoff: { initialMs: 500, multiplier: 0.5, maxMs: 100 } } }))).toEqual([
      'steps[0].compensationRetry.backoff.multiplier: must be a number between 1 and 100',
      'steps[0].compensationRetry.backoff.maxMs: must not be smaller than initialMs',
    ]);
    expect(lines(withStep(0, { retry: { maxAttempts: 2, backoff: { ...backoff, jitter: 1.5 }, nonRetryableCodes: ['OK', ''] } }))).toEqual([
      'steps[0].retry.backoff.jitter: must be a number between 0 and 1',
      'steps[0].retry.nonRetryableCodes: must be an array of non-empty error codes',
    ]);
    expect(lines(withStep(0, { retry: { maxAttempts: 2, backoff: { ...backoff, jitter: 0.3 }, nonRetryableCodes: ['CARD_EXPIRED'] } }))).toEqual([]);
    expect(lines(withStep(0, { retry: { maxAttempts: 2, backoff: { initialMs: 0, multiplier: NaN, maxMs: 10 } } }))).toEqual([
      'steps[0].retry.backoff.initialMs: must be an integer between 1 and 86400000, got 0',
      'steps[0].retry.backoff.multiplier: must be a number between 1 and 100',
    ]);
  });

  it('lets steps inherit timeouts and retry policies from the saga defaults, and checks the defaults', () => {
    const bare = (name: string, compensation = true) => ({ name, action: { command: `${name}.do` }, ...(compensation ? { compensation: { command: `${name}.undo` } } : {}) });
    const retry = { maxAttempts: 4, backoff: { initialMs: 100, multiplier: 2, maxMs: 1_000 } };
    expect(lines(base([bare('a'), bare('b', false)], { defaults: { timeoutMs: 2_000, retry, compensationRetry: retry, compensationTimeoutMs: 500 } }))).toEqual([]);
    expect(lines(base([bare('a'), { ...bare('b', false), timeoutMs: 10 }]))).toEqual([
      'steps[0].timeoutMs: required: set it on the step or as defaults.timeoutMs for the whole saga',
    ]);
    expect(lines(base([bare('a'), bare('b', false)], { defaults: { retry } }))).toEqual([
      'steps[0].timeoutMs: required: set it on the step or as defaults.timeoutMs for the whole saga',
      'steps[1].timeoutMs: required: set it on the step or as defaults.timeoutMs for the whole saga',
    ]);
    expect(lines(base([bare('a', false)], { defaults: { timeoutMs: 0, retry: { maxAttempts: 0, backoff: retry.backoff }, timeout: 5 } }))).toEqual([
      `defaults.timeout: unknown key; expected one of timeoutMs, retry, compensationTimeoutMs, compensationRetry`,
      `defaults.timeoutMs: must be an integer between 1 and ${MAX_TIMEOUT_MS}, got 0`,
      'defaults.retry.maxAttempts: must be an integer between 1 and 1000, got 0',
    ]);
    expect(lines(base([bare('a', false)], { defaults: 'fast' }))).toEqual([
      'defaults: must be an object { timeoutMs?, retry?, compensationTimeoutMs?, compensationRetry? }',
      'steps[0].timeoutMs: required: set it on the step or as defaults.timeoutMs for the whole saga',
    ]);
  });

  it('only lets payloads refer to the saga, the input and earlier steps (and, in a compensation, its own result)', () => {
    const payload = (action: unknown, compensation?: unknown) =>
      withStep(1, { action: { command: 'b.do', payload: action }, compensation: { command: 'b.undo', payload: compensation } });
    expect(lines(payload({ a: '$.steps.a.id', i: '$.input.x', s: '$.saga.id', escaped: '$$.steps.nope' }, { r: '$.result', q: '$.request', own: '$.steps.b' }))).toEqual([]);
    expect(lines(payload({ later: '$.steps.c' }))).toEqual(['steps[1].action.payload: $.steps.c refers to "c", which is not an earlier step']);
    expect(lines(payload(['$.steps.b.x']))).toEqual(['steps[1].action.payload: $.steps.b.x refers to "b", which is not an earlier step']);
    expect(lines(payload('$.steps'))).toEqual(['steps[1].action.payload: $.steps refers to "", which is not an earlier step']);
    expect(lines(payload({ x: '$.env.SECRET' }))).toEqual(['steps[1].action.payload: $.env.SECRET must start with one of $.saga, $.input, $.steps']);
    expect(lines(payload({ x: '$.result' }))).toEqual(['steps[1].action.payload: $.result must start with one of $.saga, $.input, $.steps']);
    expect(lines(payload(null, { later: '$.steps.c.id' }))).toEqual(['steps[1].compensation.payload: $.steps.c.id refers to "c", which is not an earlier step']);
  });

  it('rejects an input schema that is missing or does not compile', () => {
    expect(lines(base([step('a', { compensation: false })], { inputSchema: undefined }))).toEqual(['inputSchema: must be a JSON Schema object']);
    expect(lines(base([step('a', { compensation: false })], { inputSchema: { type: 'nonsense' } }))).toEqual([
      expect.stringMatching(/^inputSchema: is not a valid JSON Schema: .*type/),
    ]);
  });

  it('reports every problem at once, rollback coverage included', () => {
    const raw = base([{ ...step('a', { compensation: false }), timeoutMs: 0 }, step('a', { action: { command: 'x.y' } }), step('p', { pivot: true, compensation: false })], {
      version: 'one',
    });
    expect(problemsOf(raw).map((p) => p.path)).toEqual(['version', 'steps[0].timeoutMs', 'steps[1].action.command', 'steps[1].name', 'steps[0].compensation']);
  });
});
