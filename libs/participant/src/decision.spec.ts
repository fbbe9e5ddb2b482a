/**
 * decideProcessing / settleOutcome: the participant's pure choices (dedupe, tombstone,
 * expiry, what to store), scripted and as properties.
 */
import fc from 'fast-check';
import { decideProcessing, NEVER_APPLIED_REASON, settleOutcome, type DecisionInput, type StoredCommand } from './decision';
import { fail, ok, retry, ToolkitCodes, type StoredOutcome } from './outcomes';

const NOW = 1_763_700_000_000;

function stored(partial: Partial<StoredCommand> & Pick<StoredCommand, 'direction' | 'pattern'>): StoredCommand {
  return { messageId: `saga-1/reserve/${partial.direction}`, outcome: { kind: 'success', result: { id: 1 } }, request: { qty: 2 }, ...partial };
}

function action(extra: Partial<DecisionInput> = {}): DecisionInput {
  return { direction: 'action', pattern: 'inventory.reserve', now: NOW, expiresAt: NOW + 60_000, ...extra };
}

function compensation(extra: Partial<DecisionInput> = {}): DecisionInput {
  return { direction: 'compensation', pattern: 'inventory.release', undoes: 'inventory.reserve', now: NOW, expiresAt: NOW + 60_000, ...extra };
}

describe('decideProcessing: actions', () => {
  it('runs a fresh, unexpired action with no compensation on record', () => {
    expect(decideProcessing(action())).toEqual({ kind: 'run-action' });
  });

  it('replays the stored outcome of a duplicate, whatever else is true', () => {
    const outcome: StoredOutcome = { kind: 'failure', code: 'OUT_OF_STOCK', message: 'sku-1' };
    const existing = stored({ direction: 'action', pattern: 'inventory.reserve', outcome });
    expect(decideProcessing(action({ existing, now: NOW + 10 ** 9 }))).toEqual({ kind: 'replay', outcome });
  });

  it('refuses an action whose step was already compensated (tombstone), expired or not', () => {
    const counterpart = stored({ direction: 'compensation', pattern: 'inventory.release' });
    for (const now of [NOW, NOW + 10 ** 9]) {
      const decision = decideProcessing(action({ counterpart, now }));
      expect(decision).toMatchObject({ kind: 'record', outcome: { kind: 'failure', code: ToolkitCodes.alreadyCompensated } });
    }
  });

  it('answers "expired" for an action past its expiry, never runs it and stores nothing', () => {
    expect(decideProcessing(action({ now: NOW + 60_001 }))).toMatchObject({ kind: 'reply', outcome: { kind: 'expired' } });
  });

  it('still runs an action at exactly its expiry instant', () => {
    expect(decideProcessing(action({ now: NOW + 60_000 }))).toEqual({ kind: 'run-action' });
  });

  it('rejects a message id already used by another pattern', () => {
    const existing = stored({ direction: 'action', pattern: 'payment.charge' });
    expect(decideProcessing(action({ existing }))).toMatchObject({ kind: 'reject' });
  });
});

describe('decideProcessing: compensations', () => {
  it('runs the undo with the stored request and result of a successful action', () => {
    const counterpart = stored({ direction: 'action', pattern: 'inventory.reserve', request: { items: 1 }, outcome: { kind: 'success', result: { r: 7 } } });
    expect(decideProcessing(compensation({ counterpart }))).toEqual({
      kind: 'run-compensation',
      action: { pattern: 'inventory.reserve', request: { items: 1 }, result: { r: 7 } },
    });
  });

  it('records a tombstone (success, compensated: false) when the action never arrived', () => {
    expect(decideProcessing(compensation())).toEqual({
      kind: 'record',
      outcome: { kind: 'success', result: { compensated: false, reason: NEVER_APPLIED_REASON } },
    });
  });

  it.each<[string, StoredOutcome]>([
    ['failed', { kind: 'failure', code: 'OUT_OF_STOCK', message: 'no' }],
    ['refused', { kind: 'failure', code: ToolkitCodes.alreadyCompensated, message: 'late' }],
  ])('records a success no-op when the action %s', (_label, outcome) => {
    const counterpart = stored({ direction: 'action', pattern: 'inventory.reserve', outcome });
    expect(decideProcessing(compensation({ counterpart }))).toMatchObject({ kind: 'record', outcome: { kind: 'success', result: { compensated: false } } });
  });

  it('answers an expired compensation "expired" without storing anything', () => {
    const counterpart = stored({ direction: 'action', pattern: 'inventory.reserve' });
    expect(decideProcessing(compensation({ counterpart, now: NOW + 60_001 }))).toMatchObject({ kind: 'reply', outcome: { kind: 'expired' } });
    expect(decideProcessing(compensation({ now: NOW + 60_001 }))).toMatchObject({ kind: 'reply', outcome: { kind: 'expired' } });
  });

  it('replays a duplicate compensation', () => {
    const existing = stored({ direction: 'compensation', pattern: 'inventory.release', outcome: { kind: 'success', result: { released: true } } });
    expect(decideProcessing(compensation({ existing }))).toEqual({ kind: 'replay', outcome: existing.outcome });
  });

  it('rejects a compensation whose step ran a different action', () => {
    const counterpart = stored({ direction: 'action', pattern: 'payment.charge' });
    expect(decideProcessing(compensation({ counterpart }))).toMatchObject({ kind: 'reject' });
  });
});

describe('decideProcessing: properties', () => {
  const outcomeArb: fc.Arbitrary<StoredOutcome> = fc.oneof(
    fc.record({ kind: fc.constant('success' as const), result: fc.jsonValue() }),
    fc.record({ kind: fc.constant('failure' as const), code: fc.string(), message: fc.string() }),
  );
  const inputArb = fc.record({
    direction: fc.constantFrom('action' as const, 'compensation' as const),
    now: fc.integer({ min: 0, max: 10 ** 6 }),
    expiresAt: fc.integer({ min: 0, max: 10 ** 6 }),
    existing: fc.option(outcomeArb, { nil: undefined }),
    counterpart: fc.option(outcomeArb, { nil: undefined }),
  });

  it('never runs a handler for a duplicate, a tombstoned action or an expired command', () => {
    fc.assert(
      fc.property(inputArb, (raw) => {
        const pattern = raw.direction === 'action' ? 'inventory.reserve' : 'inventory.release';
        const other = raw.direction === 'action' ? 'inventory.release' : 'inventory.reserve';
        const decision = decideProcessing({
          direction: raw.direction,
          pattern,
          undoes: raw.direction === 'compensation' ? 'inventory.reserve' : undefined,
          now: raw.now,
          expiresAt: raw.expiresAt,
          existing: raw.existing && stored({ direction: raw.direction, pattern, outcome: raw.existing }),
          counterpart: raw.counterpart && stored({ direction: raw.direction === 'action' ? 'compensation' : 'action', pattern: other, outcome: raw.counterpart }),
        });
        const runs = decision.kind === 'run-action' || decision.kind === 'run-compensation';
        if (raw.existing) expect(decision).toEqual({ kind: 'replay', outcome: raw.existing });
        if (raw.now > raw.expiresAt || (raw.direction === 'action' && raw.counterpart)) expect(runs).toBe(false);
        if (decision.kind === 'run-compensation') expect(raw.counterpart?.kind).toBe('success');
        if (raw.now > raw.expiresAt && !raw.existing && !(raw.direction === 'action' && raw.counterpart)) {
          expect(decision).toMatchObject({ kind: 'reply', outcome: { kind: 'expired' } });
        }
      }),
    );
  });
});

describe('settleOutcome', () => {
  it('keeps the writes and stores a success', () => {
    expect(settleOutcome('action', ok({ a: 1 }))).toEqual({ kind: 'apply', outcome: { kind: 'success', result: { a: 1 } } });
    expect(settleOutcome('compensation', ok(undefined))).toEqual({ kind: 'apply', outcome: { kind: 'success', result: null } });
  });

  it('stores an action failure but discards its writes', () => {
    expect(settleOutcome('action', fail('DECLINED', 'too much'))).toEqual({ kind: 'record-only', outcome: fail('DECLINED', 'too much') });
  });

  it('never stores a compensation failure, so the undo can be retried', () => {
    expect(settleOutcome('compensation', fail('X', 'y'))).toEqual({ kind: 'rollback', outcome: fail('X', 'y') });
  });

  it('never stores a retryable outcome', () => {
    for (const direction of ['action', 'compensation'] as const) {
      expect(settleOutcome(direction, retry('BUSY', 'later'))).toEqual({ kind: 'rollback', outcome: retry('BUSY', 'later') });
    }
  });
});
