/**
 * fast-check generators for engine property tests: random valid saga definitions and random
 * sequences of runtime events ("moves") to play against them.
 *
 * Guarantees: every generated definition satisfies validateDefinition's rules by construction
 * (1–6 steps, an optional pivot, a compensation exactly where one is required, optional where
 * allowed, none after the pivot; small retry budgets so exhaustion is common); the simulator
 * re-validates each one, so a generator bug fails loudly instead of testing nonsense.
 */
import fc from 'fast-check';
import type { CommandDefinition, RetryPolicy, SagaDefinition, StepDefinition } from '../definition/saga-definition';
import type { ReplyOutcome } from '../protocol/reply';

export type ReplyKind = ReplyOutcome['kind'];

export type Move =
  | { kind: 'reply'; outcome: ReplyKind }
  | { kind: 'timeout' }
  | { kind: 'retry' }
  | { kind: 'late'; pick: number; outcome: ReplyKind }
  | { kind: 'duplicate' }
  | { kind: 'stale'; pick: number }
  | { kind: 'cancel' }
  | { kind: 'deadline' };

export interface Scenario {
  definition: SagaDefinition;
  moves: Move[];
  /** When true, every compensation's last allowed attempt succeeds: COMPENSATION_FAILED is impossible. */
  compensationsSucceed: boolean;
}

const retryArb = (maxAttempts: number): fc.Arbitrary<RetryPolicy> =>
  fc
    .record({
      maxAttempts: fc.integer({ min: 1, max: maxAttempts }),
      initialMs: fc.integer({ min: 1, max: 1_000 }),
      multiplier: fc.constantFrom(1, 1.5, 2, 3),
      maxMs: fc.integer({ min: 1, max: 5_000 }),
    })
    .map(({ maxAttempts: attempts, initialMs, multiplier, maxMs }) => ({
      maxAttempts: attempts,
      backoff: { initialMs, multiplier, maxMs: Math.max(initialMs, maxMs) },
    }));

const stepShapeArb = fc.record({
  timeoutMs: fc.integer({ min: 1, max: 10_000 }),
  retry: retryArb(4),
  optionalUndo: fc.boolean(),
  templated: fc.boolean(),
  compensationRetry: fc.option(retryArb(2), { nil: undefined }),
  compensationTimeoutMs: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
  /** Leave timeout and retry to the saga's defaults. */
  inherits: fc.boolean(),
});

/** Saga-level defaults; a step that inherits needs at least the default timeout. */
const defaultsArb = fc.record({
  timeoutMs: fc.integer({ min: 1, max: 10_000 }),
  retry: fc.option(retryArb(4), { nil: undefined }),
  compensationRetry: fc.option(retryArb(2), { nil: undefined }),
  compensationTimeoutMs: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
});

type StepShape = typeof stepShapeArb extends fc.Arbitrary<infer T> ? T : never;

function buildStep(shape: StepShape, index: number, count: number, pivot: number | undefined, withDefaults: boolean): StepDefinition {
  const name = `step-${index}`;
  const required = pivot !== undefined ? index < pivot : index < count - 1;
  const forbidden = pivot !== undefined && index > pivot;
  const hasUndo = required || (!forbidden && shape.optionalUndo);
  const action: CommandDefinition = { command: `${name}.do` };
  if (shape.templated) action.payload = { n: '$.input.n', saga: '$.saga.id', previous: index > 0 ? `$.steps.step-${index - 1}` : null };
  const step: StepDefinition = withDefaults && shape.inherits ? { name, action } : { name, action, timeoutMs: shape.timeoutMs, retry: shape.retry };
  if (pivot === index) step.pivot = true;
  if (hasUndo) {
    step.compensation = shape.templated ? { command: `${name}.undo`, payload: { result: '$.result', literal: '$$.result' } } : { command: `${name}.undo` };
    if (shape.compensationRetry) step.compensationRetry = shape.compensationRetry;
    if (shape.compensationTimeoutMs) step.compensationTimeoutMs = shape.compensationTimeoutMs;
  }
  return step;
}

export const definitionArb: fc.Arbitrary<SagaDefinition> = fc.integer({ min: 1, max: 6 }).chain((count) =>
  fc
    .record({
      pivot: fc.option(fc.integer({ min: 0, max: count - 1 }), { nil: undefined }),
      shapes: fc.array(stepShapeArb, { minLength: count, maxLength: count }),
      deadlineMs: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
      defaults: fc.option(defaultsArb, { nil: undefined }),
    })
    .map(({ pivot, shapes, deadlineMs, defaults }) => ({
      name: 'random-saga',
      version: 1,
      inputSchema: { type: 'object' },
      ...(deadlineMs === undefined ? {} : { deadlineMs }),
      ...(defaults === undefined ? {} : { defaults: JSON.parse(JSON.stringify(defaults)) as SagaDefinition['defaults'] }),
      steps: shapes.map((shape, index) => buildStep(shape, index, count, pivot, defaults !== undefined)),
    })),
);

const outcomeArb: fc.Arbitrary<ReplyKind> = fc.constantFrom<ReplyKind>('success', 'success', 'success', 'failure', 'retryable', 'retryable', 'expired');

export const moveArb: fc.Arbitrary<Move> = fc.oneof(
  { weight: 8, arbitrary: outcomeArb.map((outcome) => ({ kind: 'reply' as const, outcome })) },
  { weight: 4, arbitrary: fc.constant({ kind: 'timeout' as const }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'retry' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('late' as const), pick: fc.nat(), outcome: outcomeArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'duplicate' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'deadline' as const }) },
);

export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  definition: definitionArb,
  moves: fc.array(moveArb, { maxLength: 60 }),
  compensationsSucceed: fc.constantFrom(false, false, true),
});
