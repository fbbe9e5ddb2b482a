/**
 * The commands of the two-replica model-based test (test/adapters/two-replicas.model.adapter.spec.ts):
 * what each step does to the two replicas' committers, and how its answer is folded into the
 * model (two-replicas-model.ts) before the database is checked (two-replicas-checks.ts).
 *
 * Commands pick their target at run time from the model (index modulo what exists), so a
 * shrunk sequence stays meaningful. A race runs two commits at once, one per replica. Should
 * PostgreSQL ever break a lock cycle between them (40P01), the victim's commit rejected having
 * written nothing and is retried alone, as a redelivery would be, and the cycle is recorded: the
 * spec requires none (the timer path locks the saga before its timer, as a reply does).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { DataSource } from 'typeorm';
import { commandEnvelope, decide, type ReplyOutcome, type SagaEvent, type TimerRequest } from '#saga/core';
import type { Committed, SagaCommitter, SagaInput, ToOutbox } from '#saga/persistence';
import { checkDatabase, checkDatabaseAgainstAny } from './two-replicas-checks';
import { absorbCommit, absorbRace, absorbStart, definitions, MODEL_QUEUE, timerSeen, type Model } from './two-replicas-model';

export const NOW = Date.UTC(2100, 0, 1);
const MAX_SAGAS = 5;
const DEADLOCK = '40P01';
export const toOutbox: ToOutbox = (command) => commandEnvelope(command, MODEL_QUEUE, 'saga.replies', NOW);

export type Replica = 0 | 1;
type ReplyKind = 'success' | 'failure' | 'retryable';
type OperatorAction = 'cancel' | 'retry-compensation' | 'skip-compensation' | 'resolve' | 'retry-step' | 'fire-timer';

/** fast-check's model: the model proper (replaced whole after a race) and the clock. */
export interface Box {
  model: Model;
  now: number;
}

/** The system under test: two replicas' committers, and what they logged. */
export interface World {
  sources: [DataSource, DataSource];
  committers: [SagaCommitter, SagaCommitter];
  fallbacks: string[];
  /** Races where PostgreSQL aborted one commit to break a lock cycle (40P01). */
  deadlocks: string[];
  checker: DataSource;
  newCommitter(replica: Replica, box: Box): SagaCommitter;
}

const outcomeOf = (kind: ReplyKind, step: string): ReplyOutcome =>
  kind === 'success' ? { kind, result: { done: step } } : kind === 'failure' ? { kind, code: 'DECLINED', message: 'declined' } : { kind, code: 'BUSY', message: 'busy' };

const pick = <T>(items: readonly T[], index: number): T | undefined => (items.length === 0 ? undefined : items[index % items.length]);

/** Replies not delivered yet (to the attempt in flight, or late ones), saga by saga. */
function openReplies(model: Model, kind: ReplyKind, exclude: Set<string> = new Set()): Extract<SagaInput, { kind: 'reply' }>[] {
  return Object.values(model.sagas)
    .filter((saga) => !exclude.has(saga.id))
    .flatMap((saga) => saga.sent.filter((command) => model.keys[command.correlationId] === undefined))
    .map((command) => ({
      kind: 'reply' as const,
      sagaId: command.sagaId,
      inboxKey: command.correlationId,
      event: { type: 'REPLY' as const, step: command.step, direction: command.direction, attempt: command.attempt, outcome: outcomeOf(kind, command.step) },
    }));
}

function timerInput(box: Box, timer: TimerRequest, sagaId: string): SagaInput {
  box.now = Math.max(box.now, timer.fireAt);
  // As the scheduler does: the fire time it read the timer due with (a claim takes only that row).
  const input: SagaInput = { kind: 'timer', sagaId, event: timer.event, timerId: timer.id, dueAt: timer.fireAt };
  timerSeen.set(input, timer.fireAt);
  return input;
}

const pendingTimers = (model: Model) => Object.values(model.sagas).flatMap((saga) => Object.values(saga.timers).map((timer) => ({ timer, sagaId: saga.id })));
const firedTimers = (model: Model) => Object.values(model.sagas).flatMap((saga) => saga.fired.map((timer) => ({ timer, sagaId: saga.id })));

function operatorInput(box: Box, action: OperatorAction, sagaPick: number, key: number | null, stepPick: number, timerPick: number): SagaInput | undefined {
  const saga = pick(Object.values(box.model.sagas), sagaPick);
  if (!saga) return undefined;
  const fields = { by: 'olga', reason: 'model', requestKey: key === null ? null : `k${key}` };
  const inboxKey = key === null ? undefined : `op:olga:${saga.id}:k${key}`;
  const stepName = saga.state.steps[stepPick % saga.state.steps.length].name;
  if (action === 'cancel') return { kind: 'operator', sagaId: saga.id, event: { type: 'CANCEL', reason: 'model', by: 'olga' } };
  if (action === 'fire-timer') {
    const attempts = [...Object.values(saga.timers), ...saga.fired].filter((timer) => timer.event.type !== 'DEADLINE_REACHED');
    const timer = pick(attempts, timerPick);
    if (!timer || timer.event.type === 'DEADLINE_REACHED') return undefined;
    const input: SagaInput = { kind: 'operator', sagaId: saga.id, event: { type: 'FIRE_TIMER_NOW', ...fields, timer: timer.event }, inboxKey, timerId: timer.id };
    timerSeen.set(input, timer.fireAt);
    return input;
  }
  const event: SagaEvent =
    action === 'retry-compensation'
      ? { type: 'RETRY_COMPENSATION', ...fields }
      : action === 'skip-compensation'
        ? { type: 'SKIP_COMPENSATION', ...fields, step: stepName }
        : action === 'retry-step'
          ? { type: 'RETRY_STEP', ...fields, step: stepName }
          : { type: 'RESOLVE', ...fields, outcome: null };
  return { kind: 'operator', sagaId: saga.id, event, inboxKey };
}

/** One commit on one replica, folded into the model, then the database checked. */
async function commitAndCheck(box: Box, world: World, replica: Replica, inputs: SagaInput[]): Promise<void> {
  const committed = await world.committers[replica].commit(inputs, (state, event) =>
    decide(
      definitions.find((d) => d.name === state.name)!,
      state,
      event,
      box.now,
    ),
  );
  absorbCommit(box.model, inputs, committed, box.now);
  await checkDatabase(world.checker, box.model);
}

abstract class Step implements fc.AsyncCommand<Box, World> {
  check(box: Readonly<Box>): boolean {
    return Object.keys(box.model.sagas).length > 0;
  }
  abstract run(box: Box, world: World): Promise<void>;
  abstract toString(): string;
}

export class Start extends Step {
  constructor(
    readonly replica: Replica,
    readonly definition: number,
  ) {
    super();
  }
  override check(box: Readonly<Box>): boolean {
    return Object.keys(box.model.sagas).length < MAX_SAGAS;
  }
  async run(box: Box, world: World): Promise<void> {
    const decision = decide(definitions[this.definition], null, { type: 'START', sagaId: randomUUID(), input: {} }, box.now);
    const [outcome] = await world.committers[this.replica].start([{ decision, meta: { idempotencyKey: null, inputHash: 'model' } }]);
    if (outcome.kind !== 'stored') throw new Error(`a keyless start was not stored: ${outcome.kind}`);
    absorbStart(
      box.model,
      decision,
      outcome.publish.map((command) => command.envelope.properties.correlationId),
    );
    await checkDatabase(world.checker, box.model);
  }
  toString = () => `start(${this.replica}, ${definitions[this.definition].name})`;
}

export class Reply extends Step {
  constructor(
    readonly replica: Replica,
    readonly picks: { pick: number; kind: ReplyKind }[],
  ) {
    super();
  }
  async run(box: Box, world: World): Promise<void> {
    const batch: SagaInput[] = [];
    for (const { pick: index, kind } of this.picks) {
      const input = pick(openReplies(box.model, kind, new Set(batch.map((i) => i.sagaId))), index);
      if (input) batch.push(input);
    }
    if (batch.length > 0) await commitAndCheck(box, world, this.replica, batch);
  }
  toString = () => `reply(${this.replica}, ${this.picks.map((p) => `${p.kind}#${p.pick}`).join(' ')})`;
}

export class Duplicate extends Step {
  constructor(
    readonly replica: Replica,
    readonly index: number,
  ) {
    super();
  }
  async run(box: Box, world: World): Promise<void> {
    const input = pick(box.model.delivered, this.index);
    if (input) await commitAndCheck(box, world, this.replica, [input]);
  }
  toString = () => `duplicate(${this.replica}, #${this.index})`;
}

class FireTimer extends Step {
  constructor(
    readonly replica: Replica,
    readonly index: number,
    readonly stale: boolean,
  ) {
    super();
  }
  async run(box: Box, world: World): Promise<void> {
    const chosen = pick(this.stale ? firedTimers(box.model) : pendingTimers(box.model), this.index);
    if (chosen) await commitAndCheck(box, world, this.replica, [timerInput(box, chosen.timer, chosen.sagaId)]);
  }
  toString = () => `timer(${this.replica}, ${this.stale ? 'stale' : 'due'}#${this.index})`;
}

class Operator extends Step {
  constructor(
    readonly replica: Replica,
    readonly action: OperatorAction,
    readonly saga: number,
    readonly key: number | null,
    readonly step: number,
    readonly timer: number,
  ) {
    super();
  }
  async run(box: Box, world: World): Promise<void> {
    const input = operatorInput(box, this.action, this.saga, this.key, this.step, this.timer);
    if (input) await commitAndCheck(box, world, this.replica, [input]);
  }
  toString = () => `${this.action}(${this.replica}, saga#${this.saga}, key ${this.key}, step#${this.step}, timer#${this.timer})`;
}

class Crash extends Step {
  constructor(readonly replica: Replica) {
    super();
  }
  override check = () => true;
  async run(box: Box, world: World): Promise<void> {
    world.committers[this.replica] = world.newCommitter(this.replica, box);
  }
  toString = () => `crash(${this.replica})`;
}

class Advance extends Step {
  constructor(readonly ms: number) {
    super();
  }
  override check = () => true;
  async run(box: Box): Promise<void> {
    box.now += this.ms;
  }
  toString = () => `advance(${this.ms})`;
}

type RaceKind = 'same-reply' | 'same-timer' | 'same-key' | 'reply-vs-cancel' | 'reply-vs-timer';

/** Two commits at once, one on each replica; the model must explain them in some serial order. */
class Race extends Step {
  constructor(
    readonly kind: RaceKind,
    readonly index: number,
    readonly reply: ReplyKind,
  ) {
    super();
  }
  private inputs(box: Box): [SagaInput, SagaInput] | undefined {
    const reply = pick(openReplies(box.model, this.reply), this.index);
    switch (this.kind) {
      case 'same-reply':
        return reply && [reply, reply];
      case 'same-timer': {
        const chosen = pick(pendingTimers(box.model), this.index);
        if (!chosen) return undefined;
        const input = timerInput(box, chosen.timer, chosen.sagaId);
        return [input, input];
      }
      case 'same-key': {
        const input = operatorInput(box, this.index % 2 === 0 ? 'resolve' : 'fire-timer', this.index, 9, 0, 0);
        return input && [input, input];
      }
      case 'reply-vs-cancel':
        return reply && [reply, { kind: 'operator', sagaId: reply.sagaId, event: { type: 'CANCEL', reason: 'race', by: 'olga' } }];
      case 'reply-vs-timer': {
        if (!reply) return undefined;
        const timer = Object.values(box.model.sagas[reply.sagaId].timers).find((t) => t.event.type !== 'DEADLINE_REACHED');
        return timer && [reply, timerInput(box, timer, reply.sagaId)];
      }
    }
  }
  async run(box: Box, world: World): Promise<void> {
    const inputs = this.inputs(box);
    if (!inputs) return;
    const engine = (state: Parameters<typeof decide>[1], event: SagaEvent) =>
      decide(
        definitions.find((d) => d.name === state!.name)!,
        state,
        event,
        box.now,
      );
    const settled = await Promise.allSettled([world.committers[0].commit([inputs[0]], engine), world.committers[1].commit([inputs[1]], engine)]);
    const [first, second] = settled;
    if (first.status === 'fulfilled' && second.status === 'fulfilled') {
      const results: Committed[] = [first.value, second.value];
      const fits = absorbRace(box.model, [(m) => absorbCommit(m, [inputs[0]], results[0], box.now), (m) => absorbCommit(m, [inputs[1]], results[1], box.now)]);
      box.model = await checkDatabaseAgainstAny(world.checker, fits);
      return;
    }
    // PostgreSQL broke a lock cycle: the victim's commit rejected having written nothing (the
    // committer's contract), and the caller retries it alone, as a redelivery would.
    const victim = first.status === 'rejected' ? 0 : 1;
    const winner = settled[1 - victim];
    const error = (settled[victim] as PromiseRejectedResult).reason as { code?: string };
    if (error?.code !== DEADLOCK || winner.status !== 'fulfilled') throw error;
    world.deadlocks.push(`${this.kind}: ${inputs[0].kind} on 0, ${inputs[1].kind} on 1, replica ${victim} rejected`);
    absorbCommit(box.model, [inputs[1 - victim]], winner.value, box.now);
    await checkDatabase(world.checker, box.model);
    await commitAndCheck(box, world, victim as Replica, [inputs[victim]]);
  }
  toString = () => `race(${this.kind}, #${this.index}, ${this.reply})`;
}

const replica = fc.constantFrom<Replica>(0, 1);
const replyKind = fc.constantFrom<ReplyKind>('success', 'success', 'success', 'failure', 'retryable');
const small = fc.nat({ max: 20 });
const start = fc.tuple(replica, fc.nat({ max: definitions.length - 1 })).map(([r, d]) => new Start(r, d));
/** Every command, some twice to weigh them. */
export const commands = [
  start,
  start,
  fc.tuple(replica, fc.array(fc.record({ pick: small, kind: replyKind }), { minLength: 1, maxLength: 3 })).map(([r, picks]) => new Reply(r, picks)),
  fc.tuple(replica, fc.array(fc.record({ pick: small, kind: replyKind }), { minLength: 1, maxLength: 1 })).map(([r, picks]) => new Reply(r, picks)),
  fc.tuple(replica, small).map(([r, i]) => new Duplicate(r, i)),
  fc.tuple(replica, small, fc.boolean()).map(([r, i, stale]) => new FireTimer(r, i, stale)),
  fc.tuple(replica, small).map(([r, i]) => new FireTimer(r, i, false)),
  replica.map((r) => new Crash(r)),
  fc.constantFrom(50, 400, 2_000).map((ms) => new Advance(ms)),
  fc
    .tuple(
      replica,
      fc.constantFrom<OperatorAction>('cancel', 'retry-compensation', 'skip-compensation', 'resolve', 'retry-step', 'fire-timer'),
      small,
      fc.option(fc.nat({ max: 1 }), { nil: null }),
      small,
      small,
    )
    .map(([r, action, saga, key, step, timer]) => new Operator(r, action, saga, key, step, timer)),
  fc.tuple(fc.constantFrom<RaceKind>('same-reply', 'same-timer', 'same-key', 'reply-vs-cancel', 'reply-vs-timer'), small, replyKind).map(([kind, i, r]) => new Race(kind, i, r)),
];
