/**
 * Property tests of operator repairs (docs/semantics.md S8) over random definitions and random
 * runs where an operator acts at random moments with random repairs (any type, any step, often
 * ones that must be refused), then a drain in which the operator clears COMPENSATION_FAILED by
 * retrying or skipping until the saga ends.
 *
 * Invariants: a refused repair changes nothing but one OPERATOR_ACTION_REJECTED entry; an applied
 * one records exactly one OPERATOR_ACTION with who and why; compensations are still sent in
 * reverse step order and never for a step once it is COMPENSATED; each step becomes COMPENSATED
 * at most once; no action is sent once rollback started, nothing at all once RESOLVED_MANUALLY;
 * every run ends COMPLETED, COMPENSATED (all that was applied undone, by hand or not) or
 * RESOLVED_MANUALLY.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { definitionArb } from '../testing/saga-arbitraries';
import { deepFreeze } from '../testing/deep-freeze';
import { T0 } from '../testing/saga-script';
import type { SagaDefinition } from '../definition/saga-definition';
import { decide } from './decide';
import type { Decision, OutgoingCommand, TimerRequest } from './decision';
import type { RepairEvent, SagaEvent } from './saga-events';
import type { SagaState } from './saga-state';

type Op = { kind: 'reply'; ok: boolean } | { kind: 'timer' } | { kind: 'repair'; type: RepairEvent['type']; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.boolean().map((ok) => ({ kind: 'reply' as const, ok })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'timer' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('repair' as const),
      type: fc.constantFrom<RepairEvent['type']>('RETRY_COMPENSATION', 'SKIP_COMPENSATION', 'RESOLVE', 'FIRE_TIMER_NOW', 'RETRY_STEP'),
      pick: fc.nat(),
    }),
  },
);
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

class Run {
  state: SagaState;
  now = T0;
  readonly timers = new Map<string, TimerRequest>();
  readonly sent: OutgoingCommand[] = [];
  open: OutgoingCommand | null = null;
  compensatedTimes = new Map<string, number>();
  rollbackStarted = false;
  resolved = false;
  readonly history: Decision['history'] = [];

  constructor(readonly definition: SagaDefinition) {
    const decision = decide(definition, null, { type: 'START', sagaId: 's', input: {} }, this.now);
    this.state = decision.state;
    this.absorb(decision);
  }

  apply(event: SagaEvent): Decision {
    this.now += 1;
    const decision = decide(this.definition, deepFreeze(this.state), event, this.now);
    if (event.type !== 'RETRY_COMPENSATION' && event.type !== 'SKIP_COMPENSATION' && event.type !== 'RESOLVE' && event.type !== 'FIRE_TIMER_NOW' && event.type !== 'RETRY_STEP') {
      return this.absorb(decision);
    }
    const operator = decision.history.filter((h) => h.type === 'OPERATOR_ACTION' || h.type === 'OPERATOR_ACTION_REJECTED');
    assert.equal(operator.length, 1, 'one operator entry per repair');
    assert.deepEqual([operator[0].failureType, operator[0].detail?.by, operator[0].detail?.reason], ['operator', 'prop', 'why']);
    if (operator[0].type === 'OPERATOR_ACTION_REJECTED') {
      assert.deepStrictEqual(plain(decision.state), plain(this.state), 'a refused repair changes nothing');
      assert.deepStrictEqual([decision.commands, decision.timers, decision.cancelTimers, decision.history.length], [[], [], [], 1]);
    }
    return this.absorb(decision);
  }

  reply(ok: boolean): void {
    const open = this.open;
    if (!open) return;
    this.apply({
      type: 'REPLY',
      step: open.step,
      direction: open.direction,
      attempt: open.attempt,
      outcome: ok ? { kind: 'success', result: 1 } : { kind: 'retryable', code: 'BUSY', message: 'busy' },
    });
  }

  fireTimer(): void {
    const timer = [...this.timers.values()].find((t) => t.event.type !== 'DEADLINE_REACHED');
    if (!timer) return;
    this.timers.delete(timer.id);
    this.now = Math.max(this.now, timer.fireAt);
    this.apply(timer.event);
  }

  repair(type: RepairEvent['type'], pick: number): void {
    // Half the time the step a repair could apply to (in flight, or whose undo failed), else any.
    const likely = this.state.current >= 0 ? this.state.steps[this.state.current] : this.state.steps.find((st) => st.status === 'COMPENSATION_FAILED');
    const step = likely && pick % 2 === 0 ? likely.name : this.state.steps[pick % this.state.steps.length].name;
    const common = { by: 'prop', reason: 'why' };
    const attemptTimer = [...this.timers.values()].find((t) => t.event.type !== 'DEADLINE_REACHED');
    switch (type) {
      case 'FIRE_TIMER_NOW': {
        const event = attemptTimer?.event ?? { type: 'RETRY_DUE' as const, step, direction: 'action' as const, attempt: 99 };
        if (event.type === 'DEADLINE_REACHED') return;
        if (attemptTimer) this.timers.delete(attemptTimer.id); // the runtime claims the row
        this.apply({ type, ...common, timer: event });
        return;
      }
      case 'RESOLVE':
        // Rarely: resolving ends most runs at once.
        if (pick % 4 !== 0) return;
        this.apply({ type, ...common });
        return;
      case 'RETRY_COMPENSATION':
        this.apply({ type, ...common });
        return;
      default:
        this.apply({ type, ...common, step });
    }
  }

  private absorb(decision: Decision): Decision {
    const before = this.state;
    this.history.push(...decision.history);
    for (const id of decision.cancelTimers) this.timers.delete(id);
    for (const timer of decision.timers) this.timers.set(timer.id, timer);
    if (decision.history.some((h) => h.type === 'COMPENSATION_STARTED')) this.rollbackStarted = true;
    for (const command of decision.commands) {
      assert.ok(!this.resolved, 'nothing is sent once RESOLVED_MANUALLY');
      if (command.direction === 'action') assert.ok(!this.rollbackStarted, 'no action once rollback started');
      if (command.direction === 'compensation') {
        const index = this.definition.steps.findIndex((s) => s.name === command.step);
        const later = this.sent.filter((c) => c.direction === 'compensation' && this.definition.steps.findIndex((s) => s.name === c.step) < index);
        assert.deepEqual(later, [], 'compensations in reverse step order');
        assert.ok(!this.compensatedTimes.has(command.step), 'no undo for a step already COMPENSATED');
      }
      this.sent.push(command);
      this.open = command;
    }
    if (decision.commands.length === 0 && (decision.state.current < 0 || decision.state.steps[decision.state.current]?.waitingForRetry)) this.open = null;
    decision.state.steps.forEach((step, index) => {
      if (step.status === 'COMPENSATED' && before.steps[index].status !== 'COMPENSATED') {
        this.compensatedTimes.set(step.name, (this.compensatedTimes.get(step.name) ?? 0) + 1);
        assert.equal(this.compensatedTimes.get(step.name), 1, 'a step is COMPENSATED at most once');
      }
    });
    if (decision.state.status === 'RESOLVED_MANUALLY') this.resolved = true;
    this.state = decision.state;
    return decision;
  }

  /** Everything answers; the operator clears COMPENSATION_FAILED by retrying or skipping. */
  drain(preferSkip: boolean): void {
    for (let guard = 0; ; guard++) {
      assert.ok(guard < 2_000, 'drain did not finish');
      if (this.state.status === 'COMPENSATION_FAILED') {
        const failed = this.state.steps.find((s) => s.status === 'COMPENSATION_FAILED')!;
        this.apply(preferSkip ? { type: 'SKIP_COMPENSATION', step: failed.name, by: 'prop', reason: 'why' } : { type: 'RETRY_COMPENSATION', by: 'prop', reason: 'why' });
      } else if (this.open) this.reply(true);
      else if ([...this.timers.values()].some((t) => t.event.type === 'RETRY_DUE')) this.fireTimer();
      else break;
    }
  }
}

describe('decide: repair properties', () => {
  it('keep compensations in reverse order, each step compensated at most once, refusals inert; every run ends', () => {
    const ends: Record<string, number> = {};
    const applied: Record<string, number> = {};
    fc.assert(
      fc.property(definitionArb, fc.array(opArb, { maxLength: 60 }), fc.boolean(), (definition, ops, preferSkip) => {
        const run = new Run(definition);
        for (const op of ops) {
          if (op.kind === 'reply') run.reply(op.ok);
          else if (op.kind === 'timer') run.fireTimer();
          else run.repair(op.type, op.pick);
        }
        run.drain(preferSkip);
        const { status, steps } = run.state;
        ends[status] = (ends[status] ?? 0) + 1;
        for (const entry of run.history) if (entry.type === 'OPERATOR_ACTION') applied[entry.reason!] = (applied[entry.reason!] ?? 0) + 1;
        assert.ok(['COMPLETED', 'COMPENSATED', 'RESOLVED_MANUALLY'].includes(status), `ended ${status}`);
        if (status === 'COMPENSATED') {
          // Applied or possibly applied, as the history says: a success, or an outcome left unknown.
          const applied = (name: string) =>
            run.history.some((h) => h.step === name && ((h.type === 'REPLY_RECEIVED' && h.direction === 'action' && h.reason === 'success') || h.type === 'STEP_OUTCOME_UNKNOWN'));
          definition.steps.forEach((step, index) => {
            if (step.compensation && applied(step.name)) assert.equal(steps[index].status, 'COMPENSATED', `${step.name} undone`);
          });
        }
      }),
      { numRuns: 2_000 },
    );
    // The generator must reach every ending and apply every kind of repair, or this proves little.
    for (const status of ['COMPLETED', 'COMPENSATED', 'RESOLVED_MANUALLY']) expect({ [status]: (ends[status] ?? 0) > 0 }).toEqual({ [status]: true });
    for (const type of ['RETRY_COMPENSATION', 'SKIP_COMPENSATION', 'RESOLVE', 'FIRE_TIMER_NOW', 'RETRY_STEP'])
      expect({ [type]: (applied[type] ?? 0) > 0 }).toEqual({ [type]: true });
  });
});
