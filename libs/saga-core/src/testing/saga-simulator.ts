/**
 * Plays a random Scenario against the pure engine, like the runtime would (timers bookkept from
 * decisions, replies to the command in flight, late/duplicate replies, stale timers, cancels),
 * then drains it (every action and compensation eventually succeeds) until nothing is in flight.
 *
 * The simulator keeps its own model of what happened, independent of the engine's internals:
 * which command is open, and each step's "fate" = the last outcome the engine accepted for its
 * action (a reply kind, 'timeout', or 'cancel' when a cancel caught it in flight). It asserts
 * (node:assert, so fast-check can shrink a failure):
 * - per event: decide is deterministic and never mutates its (deep-frozen) input; at most one
 *   command per decision, sent only when none is open; attempts count 1, 2, 3… per command;
 *   in flight (one open command with its timeout timer, or one pending retry) ⇔ not terminal;
 *   late/duplicate replies → only LATE_REPLY_IGNORED; stale timers → nothing at all; a terminal
 *   status never changes; docs/semantics.md S3 retry rules (budget, pivot, missing compensation).
 * - at the end: the checks of saga-run-checks.ts (which steps were compensated, and how).
 */
import assert from 'node:assert/strict';
import { decide } from '../engine/decide';
import { expiryGraceMs } from '../engine/step-dispatch';
import type { Decision, FailureType, HistoryEntry, HistoryType, OutgoingCommand, TimerRequest } from '../engine/decision';
import type { ReplyEvent, SagaEvent } from '../engine/saga-events';
import { isTerminal, type SagaState } from '../engine/saga-state';
import type { SagaDefinition } from '../definition/saga-definition';
import { retryPolicyFor, timeoutFor } from '../definition/step-policies';
import { validateDefinition } from '../definition/validate-definition';
import type { ReplyOutcome } from '../protocol/reply';
import { deepFreeze } from './deep-freeze';
import { checkFinalRun, type RunSummary } from './saga-run-checks';
import { testCatalog } from './fixtures';
import type { Move, ReplyKind, Scenario } from './saga-arbitraries';
import { T0 } from './saga-script';

/** The last outcome the engine accepted for a step's action. */
export type Fate = ReplyKind | 'timeout' | 'cancel';

/** JSON copy made in this realm: structuredClone'd objects carry another realm's prototypes under jest. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const outcome = (kind: ReplyKind, tag: string): ReplyOutcome =>
  kind === 'success' ? { kind, result: { tag } } : kind === 'expired' ? { kind, message: tag } : { kind, code: kind.toUpperCase(), message: tag };

export class SagaSimulator {
  state: SagaState;
  now = T0;
  readonly timers = new Map<string, TimerRequest>();
  readonly scheduled: TimerRequest[] = [];
  readonly sent: OutgoingCommand[] = [];
  open: OutgoingCommand | null = null;
  fate: (Fate | undefined)[];
  pivotDone = false;
  cancelAccepted = false;
  private lastAccepted: ReplyEvent | null = null;
  /** Accepted compensation success replies, per step. */
  readonly confirmedUndo = new Map<string, number>();

  constructor(
    readonly definition: SagaDefinition,
    readonly compensationsSucceed: boolean,
    readonly sagaId = 'saga-p',
  ) {
    validateDefinition(structuredClone(definition), testCatalog, 'generated');
    this.fate = definition.steps.map(() => undefined);
    const decision = decide(definition, null, { type: 'START', sagaId, input: { n: 7 } }, this.now);
    this.state = decision.state;
    this.absorb(decision);
  }

  run(moves: Move[]): RunSummary {
    for (const move of moves) this.play(move);
    for (let guard = 0; ; guard++) {
      assert.ok(guard < 1_000, 'drain did not finish');
      if (this.open) this.reply('success');
      else if (this.pending('RETRY_DUE')) this.retry();
      else break;
    }
    return checkFinalRun(this);
  }

  play(move: Move): void {
    switch (move.kind) {
      case 'reply':
        return this.reply(move.outcome);
      case 'timeout':
        return this.timeout();
      case 'retry':
        return this.retry();
      case 'late':
        return this.late(move.pick, move.outcome);
      case 'duplicate':
        return void (this.lastAccepted && this.ignored(this.lastAccepted, ['LATE_REPLY_IGNORED']));
      case 'stale':
        return this.stale(move.pick);
      case 'cancel':
        return this.cancel(false);
      case 'deadline':
        return this.cancel(true);
    }
  }

  // ---- moves --------------------------------------------------------------------------------

  private lastUndoAttempt(command: OutgoingCommand): boolean {
    const budget = retryPolicyFor(this.definition, this.index(command.step), 'compensation').maxAttempts;
    return this.compensationsSucceed && command.direction === 'compensation' && command.attempt >= budget;
  }

  private reply(kind: ReplyKind): void {
    const open = this.open;
    if (!open) return;
    if (this.lastUndoAttempt(open)) kind = 'success';
    const event: ReplyEvent = { type: 'REPLY', step: open.step, direction: open.direction, attempt: open.attempt, outcome: outcome(kind, `${open.step}#${open.attempt}`) };
    const index = this.index(open.step);
    const pivotBefore = this.pivotDone;
    this.now += 1;
    const decision = this.decideChecked(event);
    this.open = null;
    this.lastAccepted = event;
    if (open.direction === 'compensation') {
      if (kind === 'success') this.confirmedUndo.set(open.step, (this.confirmedUndo.get(open.step) ?? 0) + 1);
      this.absorb(decision);
      return kind === 'success' ? undefined : this.checkUndoRetry(open);
    }
    this.fate[index] = kind;
    if (kind === 'success' && this.definition.steps[index].pivot) this.pivotDone = true;
    this.absorb(decision);
    const retryLeft = (kind === 'retryable' || kind === 'expired') && open.attempt < retryPolicyFor(this.definition, index, 'action').maxAttempts;
    if (kind === 'success') {
      const next = this.definition.steps[index + 1]?.name;
      assert.ok(next === undefined ? this.state.status === 'COMPLETED' : this.current()?.step === next, 'a success moves on');
    } else if (pivotBefore || retryLeft) {
      assert.equal(this.retryFor(open.step, 'action', open.attempt + 1), true, `${kind} must be retried`);
    } else {
      assert.notEqual(this.state.status, 'RUNNING', `${kind} with no retry left must roll back`);
    }
  }

  /** A failed compensation attempt is retried within its budget, then COMPENSATION_FAILED. */
  private checkUndoRetry(command: OutgoingCommand): void {
    if (command.attempt < retryPolicyFor(this.definition, this.index(command.step), 'compensation').maxAttempts) {
      assert.equal(this.retryFor(command.step, 'compensation', command.attempt + 1), true, 'a failed compensation is retried');
    } else {
      assert.equal(this.state.status, 'COMPENSATION_FAILED', 'a compensation out of budget is COMPENSATION_FAILED');
    }
  }

  private current(): OutgoingCommand | null {
    return this.open;
  }

  private timeout(): void {
    const timer = this.pending('ATTEMPT_TIMED_OUT');
    if (!timer || timer.event.type !== 'ATTEMPT_TIMED_OUT') return;
    if (this.open && this.lastUndoAttempt(this.open)) return this.reply('success');
    const { step, direction, attempt } = timer.event;
    this.now = Math.max(this.now, timer.fireAt);
    this.timers.delete(timer.id);
    const decision = this.decideChecked(timer.event);
    const open = this.open;
    this.open = null;
    if (direction === 'compensation') {
      this.absorb(decision);
      return this.checkUndoRetry(open!);
    }
    const index = this.index(step);
    const stepDefinition = this.definition.steps[index];
    this.fate[index] = 'timeout';
    this.absorb(decision);
    if (attempt < retryPolicyFor(this.definition, index, 'action').maxAttempts || !stepDefinition.compensation || this.pivotDone) {
      assert.equal(this.retryFor(step, 'action', attempt + 1), true, 'a timeout with retries left (or nothing to undo) is retried');
    } else {
      assert.ok(
        decision.history.some((h) => h.type === 'STEP_OUTCOME_UNKNOWN' && h.step === step),
        'exhausted timeouts → UNKNOWN',
      );
      assert.notEqual(this.state.status, 'RUNNING');
    }
  }

  private retry(): void {
    const timer = this.pending('RETRY_DUE');
    if (!timer || timer.event.type !== 'RETRY_DUE') return;
    const { step, direction, attempt } = timer.event;
    const stepDefinition = this.definition.steps[this.index(step)];
    const policy = retryPolicyFor(this.definition, this.index(step), direction);
    if (direction === 'action' && attempt > policy.maxAttempts) {
      assert.ok(this.pivotDone || (!stepDefinition.compensation && this.fate[this.index(step)] === 'timeout'), 'retry beyond the budget');
    }
    if (direction === 'compensation') assert.ok(attempt <= policy.maxAttempts);
    this.now = Math.max(this.now, timer.fireAt);
    this.timers.delete(timer.id);
    const decision = this.decideChecked(timer.event);
    assert.deepEqual(
      decision.commands.map((c) => [c.step, c.direction, c.attempt]),
      [[step, direction, attempt]],
      'RETRY_DUE sends its attempt',
    );
    this.absorb(decision);
  }

  private late(pick: number, kind: ReplyKind): void {
    const old = this.sent.filter((command) => command !== this.open);
    if (old.length === 0) return;
    const { step, direction, attempt } = old[pick % old.length];
    this.ignored({ type: 'REPLY', step, direction, attempt, outcome: outcome(kind, 'late') }, ['LATE_REPLY_IGNORED']);
  }

  private stale(pick: number): void {
    const stale = this.scheduled.filter((timer) => !this.timers.has(timer.id));
    if (stale.length > 0) this.ignored(stale[pick % stale.length].event, []);
  }

  private cancel(deadline: boolean): void {
    const deadlineTimer = this.pending('DEADLINE_REACHED');
    if (deadline) {
      if (!deadlineTimer) return;
      this.now = Math.max(this.now, deadlineTimer.fireAt);
      this.timers.delete(deadlineTimer.id);
    }
    const running = this.state.status === 'RUNNING';
    const retry = this.pending('RETRY_DUE')?.event;
    const stepName = this.open?.step ?? (retry?.type === 'RETRY_DUE' ? retry.step : undefined);
    const index = stepName === undefined ? -1 : this.index(stepName);
    const accepted = running && !this.pivotDone && index >= 0 && this.definition.steps[index].compensation !== undefined;
    const event: SagaEvent = deadline ? { type: 'DEADLINE_REACHED' } : { type: 'CANCEL', reason: 'random cancel', by: 'property' };
    if (deadline && running && !this.pivotDone && index >= 0 && !accepted) {
      // The step in flight cannot be undone: the deadline is refused now and re-armed for later.
      const decision = this.decideChecked(event);
      assert.deepStrictEqual(plain(decision.state), plain(this.state), 'a refused deadline does not change the state');
      assert.deepStrictEqual(
        decision.history.map((h) => h.type),
        ['CANCEL_REJECTED'],
      );
      assert.deepStrictEqual(
        decision.timers.map((t) => [t.event.type, t.fireAt]),
        [['DEADLINE_REACHED', this.now + timeoutFor(this.definition, index, 'action')]],
      );
      assert.deepStrictEqual([decision.commands, decision.cancelTimers], [[], []]);
      return this.absorb(decision);
    }
    // A deadline that fires once the saga left RUNNING is dropped silently; a cancel is always answered.
    this.acceptOrReject(event, accepted, index, deadline && !running ? [] : ['CANCEL_REJECTED']);
  }

  private acceptOrReject(event: SagaEvent, accepted: boolean, index: number, rejection: HistoryType[]): void {
    if (!accepted) return this.ignored(event, rejection);
    assert.equal(this.open === null || this.open.direction === 'action', true, 'RUNNING means an action is in flight');
    const decision = this.decideChecked(event);
    assert.equal(decision.history[0]?.type, event.type === 'CANCEL' ? 'CANCEL_REQUESTED' : 'DEADLINE_REACHED');
    this.open = null;
    this.fate[index] = 'cancel';
    this.cancelAccepted = true;
    this.absorb(decision);
    assert.notEqual(this.state.status, 'RUNNING', 'an accepted cancel rolls back');
  }

  // ---- checks ---------------------------------------------------------------------------------

  private index(step: string): number {
    const index = this.definition.steps.findIndex((s) => s.name === step);
    assert.ok(index >= 0, `unknown step ${step}`);
    return index;
  }

  private pending(type: SagaEvent['type']): TimerRequest | undefined {
    return [...this.timers.values()].find((timer) => timer.event.type === type);
  }

  private retryFor(step: string, direction: string, attempt: number): boolean {
    const timer = this.pending('RETRY_DUE');
    const live = direction === 'action' ? this.state.status === 'RUNNING' : this.state.status === 'COMPENSATING';
    return live && timer?.event.type === 'RETRY_DUE' && timer.event.step === step && timer.event.direction === direction && timer.event.attempt === attempt;
  }

  private decideChecked(event: SagaEvent): Decision {
    const frozen = deepFreeze(this.state);
    const decision = decide(this.definition, frozen, event, this.now);
    assert.deepStrictEqual(decide(this.definition, frozen, event, this.now), decision, 'decide is deterministic');
    for (const entry of decision.history) checkFailureType(entry);
    return decision;
  }

  /** An event that must change nothing but append `history`. */
  private ignored(event: SagaEvent, history: HistoryType[]): void {
    const decision = this.decideChecked(event);
    assert.deepStrictEqual(plain(decision.state), plain(this.state), `${event.type} must not change the state`);
    assert.deepStrictEqual([decision.commands, decision.timers, decision.cancelTimers], [[], [], []], `${event.type} must have no effect`);
    assert.deepStrictEqual(
      decision.history.map((h) => h.type),
      history,
    );
  }

  private absorb(decision: Decision): void {
    const wasTerminal = isTerminal(this.state.status) ? this.state.status : null;
    assert.ok(decision.commands.length <= 1, 'at most one command per decision');
    for (const id of decision.cancelTimers) this.timers.delete(id);
    for (const timer of decision.timers) {
      this.timers.set(timer.id, timer);
      if (timer.event.type !== 'DEADLINE_REACHED') this.scheduled.push(timer);
    }
    for (const command of decision.commands) {
      assert.equal(this.open, null, 'a command is sent only when none is in flight');
      const earlier = this.sent.filter((c) => c.step === command.step && c.direction === command.direction).length;
      assert.equal(command.attempt, earlier + 1, 'attempts count up by one');
      this.sent.push(command);
      this.open = command;
    }
    this.state = decision.state;
    if (wasTerminal) assert.equal(this.state.status, wasTerminal, 'a terminal status never changes');
    const attemptTimers = [...this.timers.values()].filter((timer) => timer.event.type !== 'DEADLINE_REACHED');
    assert.ok(attemptTimers.length <= 1, 'at most one attempt timer pending');
    const open = this.open as OutgoingCommand | null;
    if (isTerminal(this.state.status)) {
      assert.deepEqual([open, attemptTimers.length, this.pending('DEADLINE_REACHED')], [null, 0, undefined], 'nothing in flight once terminal');
    } else if (open) {
      assert.deepEqual(attemptTimers[0]?.event, { type: 'ATTEMPT_TIMED_OUT', step: open.step, direction: open.direction, attempt: open.attempt });
      assert.equal(
        attemptTimers[0].fireAt,
        open.expiresAt + expiryGraceMs(timeoutFor(this.definition, this.index(open.step), open.direction)),
        'the timeout fires a grace period after the command expiry',
      );
    } else {
      assert.equal(attemptTimers[0]?.event.type, 'RETRY_DUE', 'a live saga always has work in flight');
    }
  }
}

export function runScenario(scenario: Scenario, sagaId?: string): RunSummary {
  return new SagaSimulator(scenario.definition, scenario.compensationsSucceed, sagaId).run(scenario.moves);
}

/** Failure entries (docs/semantics.md S5) carry the failure type their cause implies; progress entries none. */
function checkFailureType(entry: HistoryEntry): void {
  const expected: Partial<Record<HistoryType, readonly (FailureType | null)[]>> = {
    REPLY_RECEIVED: entry.reason === 'success' ? [null] : entry.reason === 'EXPIRED' ? ['expired'] : ['business', 'retryable'],
    ATTEMPT_TIMED_OUT: ['timeout'],
    STEP_FAILED: ['business', 'retryable', 'expired'],
    STEP_OUTCOME_UNKNOWN: ['timeout', 'operator'],
    COMPENSATION_FAILED: ['timeout', 'business', 'retryable', 'expired'],
    CANCEL_REQUESTED: ['operator'],
    CANCEL_REJECTED: ['operator', 'timeout'],
    DEADLINE_REACHED: ['timeout'],
    LATE_REPLY_IGNORED: ['late'],
  };
  const allowed = expected[entry.type] ?? [null];
  assert.ok(allowed.includes(entry.failureType), `${entry.type} (${entry.reason}) has failure type ${entry.failureType}, expected one of ${allowed.join(', ')}`);
}
