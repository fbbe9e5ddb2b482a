/**
 * A small scripted DSL for engine specs: it plays the runtime around the pure `decide()`.
 *
 *   given(definition).start(input)
 *     .expectCommand('order.create', { attempt: 1 }).replySuccess({ orderId: 'o1' })
 *     .expectCommand('inventory.reserve').replyFailure('OUT_OF_STOCK')
 *     .expectCompensation('order.reject').replySuccess()
 *     .expectStatus('COMPENSATED')
 *
 * How it works (and what it guarantees):
 * - Only the public `decide()` is called, with an explicit clock (`now`, starting at T0 and moved
 *   by advanceTime() or by firing a timer at its fireAt); Date.now() is never read.
 * - Every state handed to decide() is deep-frozen first, so any mutation of its input throws.
 * - Timers are bookkept like the runtime does: a decision's `timers` are added, its
 *   `cancelTimers` removed. timeout()/fireRetry()/fireDeadline() fire the one pending timer of
 *   that kind (and fail loudly if there is none or several); fire(event) fires anything, e.g. a
 *   stale timer.
 * - Replies answer the latest command sent; replyLate() answers an older attempt.
 * - expectCommand/expectCompensation consume sent commands in order, so a script reads as the
 *   exact sequence of commands the saga sends; expectNoCommand() says nothing is left unread.
 * Every step returns the script, so a scenario is one chain; failures throw jest assertion errors.
 */
import { decide } from '../engine/decide';
import type { Decision, HistoryEntry, HistoryType, OutgoingCommand, TimerRequest } from '../engine/decision';
import type { SagaEvent, TimerEvent } from '../engine/saga-events';
import type { SagaState, SagaStatus, StepStatus } from '../engine/saga-state';
import type { SagaDefinition } from '../definition/saga-definition';
import type { Direction } from '../protocol/message-ids';
import type { ReplyOutcome } from '../protocol/reply';
import { deepFreeze } from './deep-freeze';

/** The clock every script starts at (epoch ms; any fixed value would do). */
export const T0 = 1_700_000_000_000;

export interface TimerMatch {
  type?: TimerEvent['type'];
  step?: string;
  direction?: Direction;
  attempt?: number;
  fireAt?: number;
}

export const outcomes = {
  success: (result: unknown = null): ReplyOutcome => ({ kind: 'success', result }),
  failure: (code: string, message = code): ReplyOutcome => ({ kind: 'failure', code, message }),
  retryable: (code: string, message = code): ReplyOutcome => ({ kind: 'retryable', code, message }),
  expired: (message = 'command expired'): ReplyOutcome => ({ kind: 'expired', message }),
};

export function given(definition: SagaDefinition, options: { sagaId?: string; now?: number } = {}): SagaScript {
  return new SagaScript(definition, options.sagaId ?? 'saga-1', options.now ?? T0);
}

export class SagaScript {
  state: SagaState | null = null;
  /** The state before the latest decision (null before start). */
  previousState: SagaState | null = null;
  readonly decisions: Decision[] = [];
  /** Every command sent so far, in order. */
  readonly sent: OutgoingCommand[] = [];
  /** Pending timers by id, as the runtime would hold them. */
  readonly timers = new Map<string, TimerRequest>();
  private read = 0;

  constructor(
    readonly definition: SagaDefinition,
    readonly sagaId: string,
    public now: number,
  ) {}

  /** The whole history so far (all decisions, in order). */
  get history(): HistoryEntry[] {
    return this.decisions.flatMap((decision) => decision.history);
  }

  get lastDecision(): Decision {
    const last = this.decisions.at(-1);
    if (!last) throw new Error('no decision yet: call start() first');
    return last;
  }

  /** The latest command sent. */
  get lastCommand(): OutgoingCommand {
    const last = this.sent.at(-1);
    if (!last) throw new Error('no command has been sent');
    return last;
  }

  // ---- events -------------------------------------------------------------------------------

  apply(event: SagaEvent): this {
    this.previousState = this.state;
    const decision = decide(this.definition, this.state === null ? null : deepFreeze(this.state), event, this.now);
    this.decisions.push(decision);
    this.state = decision.state;
    this.sent.push(...decision.commands);
    for (const id of decision.cancelTimers) this.timers.delete(id);
    for (const timer of decision.timers) this.timers.set(timer.id, timer);
    return this;
  }

  start(input: unknown): this {
    return this.apply({ type: 'START', sagaId: this.sagaId, input });
  }

  /** Answers the latest command sent with any outcome. */
  reply(outcome: ReplyOutcome): this {
    const { step, direction, attempt } = this.lastCommand;
    return this.apply({ type: 'REPLY', step, direction, attempt, outcome });
  }

  replySuccess(result: unknown = null): this {
    return this.reply(outcomes.success(result));
  }

  replyFailure(code: string, message?: string): this {
    return this.reply(outcomes.failure(code, message));
  }

  replyRetryable(code: string, message?: string): this {
    return this.reply(outcomes.retryable(code, message));
  }

  replyExpired(message?: string): this {
    return this.reply(outcomes.expired(message));
  }

  /** Answers an older attempt; step and direction default to the latest command's. */
  replyLate(target: { attempt: number; step?: string; direction?: Direction }, outcome: ReplyOutcome = outcomes.success()): this {
    const step = target.step ?? this.lastCommand.step;
    const direction = target.direction ?? this.lastCommand.direction;
    return this.apply({ type: 'REPLY', step, direction, attempt: target.attempt, outcome });
  }

  /** Fires the pending ATTEMPT_TIMED_OUT timer of the attempt in flight. */
  timeout(): this {
    return this.firePending('ATTEMPT_TIMED_OUT');
  }

  /** Fires the pending RETRY_DUE timer (the backoff has elapsed). */
  fireRetry(): this {
    return this.firePending('RETRY_DUE');
  }

  fireDeadline(): this {
    return this.firePending('DEADLINE_REACHED');
  }

  /** Fires any timer event now, pending or not (e.g. a stale one the runtime failed to cancel). */
  fire(event: TimerEvent): this {
    return this.apply(event);
  }

  cancel(reason = 'operator request', by = 'operator'): this {
    return this.apply({ type: 'CANCEL', reason, by });
  }

  advanceTime(ms: number): this {
    this.now += ms;
    return this;
  }

  private firePending(type: TimerEvent['type']): this {
    const pending = [...this.timers.values()].filter((timer) => timer.event.type === type);
    if (pending.length !== 1) throw new Error(`expected exactly one pending ${type} timer, found ${pending.length}`);
    const [timer] = pending;
    this.now = Math.max(this.now, timer.fireAt);
    this.timers.delete(timer.id);
    return this.apply(timer.event);
  }

  // ---- expectations -------------------------------------------------------------------------

  /** The next unread command is this action (fields: a partial OutgoingCommand to match). */
  expectCommand(command: string, fields: Partial<OutgoingCommand> = {}): this {
    return this.expectNext('action', command, fields);
  }

  /** The next unread command is this compensation. */
  expectCompensation(command: string, fields: Partial<OutgoingCommand> = {}): this {
    return this.expectNext('compensation', command, fields);
  }

  private expectNext(direction: Direction, command: string, fields: Partial<OutgoingCommand>): this {
    const next = this.sent[this.read];
    if (!next) throw new Error(`expected ${direction} "${command}" but no unread command was sent`);
    this.read++;
    expect({ direction: next.direction, command: next.command }).toEqual({ direction, command });
    expect(next).toMatchObject(fields);
    return this;
  }

  /** Every sent command has been read by an expectation (nothing new was sent). */
  expectNoCommand(): this {
    expect(this.sent.slice(this.read).map((c) => `${c.direction}:${c.command}#${c.attempt}`)).toEqual([]);
    return this;
  }

  expectStatus(status: SagaStatus): this {
    expect(this.requireState().status).toBe(status);
    return this;
  }

  expectStepStatus(name: string, status: StepStatus): this {
    const step = this.requireState().steps.find((s) => s.name === name);
    if (!step) throw new Error(`no step named "${name}"`);
    expect({ step: name, status: step.status }).toEqual({ step: name, status });
    return this;
  }

  /** Some pending timer matches every given field. */
  expectTimer(match: TimerMatch): this {
    const pending = [...this.timers.values()].map((t) => ({ ...t.event, fireAt: t.fireAt }));
    expect(pending).toContainEqual(expect.objectContaining(match));
    return this;
  }

  /** No pending timer matches (default: no attempt timer at all). */
  expectNoTimer(match: TimerMatch = {}): this {
    const matching = [...this.timers.values()]
      .map((t) => ({ ...t.event, fireAt: t.fireAt }))
      .filter((t) => Object.entries(match).every(([key, value]) => (t as Record<string, unknown>)[key] === value))
      .filter((t) => match.type !== undefined || t.type !== 'DEADLINE_REACHED');
    expect(matching).toEqual([]);
    return this;
  }

  /** The history types of the whole run so far, exactly. */
  expectHistory(types: HistoryType[]): this {
    expect(this.history.map((entry) => entry.type)).toEqual(types);
    return this;
  }

  /** The history types the latest decision appended, exactly. */
  expectLastHistory(types: HistoryType[]): this {
    expect(this.lastDecision.history.map((entry) => entry.type)).toEqual(types);
    return this;
  }

  /** The latest decision changed nothing but (maybe) the history: same state, no commands, no timers. */
  expectUnchanged(): this {
    const decision = this.lastDecision;
    expect(decision.state).toEqual(this.previousState);
    expect({ commands: decision.commands, timers: decision.timers, cancelTimers: decision.cancelTimers }).toEqual({
      commands: [],
      timers: [],
      cancelTimers: [],
    });
    return this;
  }

  /** Escape hatch for ad-hoc assertions inside a chain. */
  check(assertion: (script: this) => void): this {
    assertion(this);
    return this;
  }

  private requireState(): SagaState {
    if (!this.state) throw new Error('the saga has not started');
    return this.state;
  }
}
