/**
 * Two orchestrator replicas on one PostgreSQL database, model-based (fast-check commands),
 * docs/semantics.md S4, S7, S8. Issue 13 item 6.
 *
 * Two SagaCommitter instances (each with its own pool and state cache, as two replicas have;
 * the cache is what makes the "held" path) are driven with the pure engine over a controlled
 * clock through random interleavings of: starts; replies to sent commands (success, business
 * failure, retryable; current or late), also batched over several sagas; duplicates of applied
 * replies; due timers fired the scheduler's way (whoever deletes the row handles it) and stale
 * ones; crashes (an instance's committer and cache thrown away); operator actions (cancel,
 * retry-compensation, skip-compensation, resolve, retry-step, fire-timer) with and without
 * idempotency keys, repeated; and races: the same reply, timer or keyed action on both replicas
 * at once, a reply against a cancel, a reply against its timeout.
 *
 * After every step test/support/two-replicas-model.ts checks: each committed decision is
 * decide() over the last committed state (no lost update: a stale held state must fall back),
 * a key or timer is applied at most once across both replicas, and the database (state,
 * version, history, timers, inbox, outbox) is exactly the model's, with the structural
 * invariants (allowed transitions, compensations in reverse order and once, no timers once
 * finished, an unfinished saga always has work pending).
 *
 * A failure prints fast-check's seed, path and the commands' replayPath; replay it with
 * MODEL_SEED=<seed> MODEL_PATH=<path> MODEL_REPLAY=<replayPath>.
 * MODEL_RUNS changes the number of runs (default 40, ~20 s).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { DataSource } from 'typeorm';
import { commandEnvelope, decide, type ReplyOutcome, type SagaEvent, type TimerRequest } from '#saga/core';
import { openSagaDataSource, SagaCommitter, type Committed, type SagaInput, type ToOutbox } from '#saga/persistence';
import { createTestDatabase, runId } from '../support/infra';
import {
  absorbCommit,
  absorbRace,
  absorbStart,
  checkDatabase,
  checkDatabaseAgainstAny,
  definitions,
  emptyModel,
  MODEL_QUEUE,
  timerSeen,
  type Model,
} from '../support/two-replicas-model';

const NOW = Date.UTC(2100, 0, 1);
const MAX_SAGAS = 5;
const DEADLOCK = '40P01';
const toOutbox: ToOutbox = (command) => commandEnvelope(command, MODEL_QUEUE, 'saga.replies', NOW);

type Replica = 0 | 1;
type ReplyKind = 'success' | 'failure' | 'retryable';
type OperatorAction = 'cancel' | 'retry-compensation' | 'skip-compensation' | 'resolve' | 'retry-step' | 'fire-timer';

/** fast-check's model: the model proper (replaced whole after a race) and the clock. */
interface Box {
  model: Model;
  now: number;
}

/** The system under test: two replicas' committers, and what they logged. */
interface World {
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
  const input: SagaInput = { kind: 'timer', sagaId, event: timer.event, timerId: timer.id };
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

class Start extends Step {
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
    const [published] = await world.committers[this.replica].start([{ decision, meta: { idempotencyKey: null, inputHash: 'model' } }]);
    absorbStart(
      box.model,
      decision,
      published.map((command) => command.envelope.properties.correlationId),
    );
    await checkDatabase(world.checker, box.model);
  }
  toString = () => `start(${this.replica}, ${definitions[this.definition].name})`;
}

class Reply extends Step {
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

class Duplicate extends Step {
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
const commands = [
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

describe('two replicas on one database, model-based', () => {
  const dbs: { url: string; drop: () => Promise<void> }[] = [];
  let sources: [DataSource, DataSource];
  let checker: DataSource;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'replicas_model');
    dbs.push(db);
    sources = [await openSagaDataSource(db.url, 3), await openSagaDataSource(db.url, 3)];
    checker = await openSagaDataSource(db.url, 2);
  });

  afterAll(async () => {
    for (const ds of [...(sources ?? []), checker]) await ds?.destroy();
    for (const db of dbs) await db.drop();
  });

  /** Two fresh replicas (committers with empty caches) whose debug lines land in `logs`. */
  function twoReplicas(box: Box, logs: { fallbacks: string[]; deadlocks: string[] }): World {
    const newCommitter = (replica: Replica, b: Box) =>
      new SagaCommitter(sources[replica], { toOutbox, stateCacheSize: 100, clock: () => b.now, logger: { debug: (message) => logs.fallbacks.push(message) } });
    return { sources, committers: [newCommitter(0, box), newCommitter(1, box)], fallbacks: logs.fallbacks, deadlocks: logs.deadlocks, checker, newCommitter };
  }

  it('a replica whose held state went stale falls back to lock and read, for a moved saga and for a reply seen before', async () => {
    const box: Box = { model: emptyModel(), now: NOW };
    const logs = { fallbacks: [] as string[], deadlocks: [] as string[] };
    const world = twoReplicas(box, logs);
    await new Start(0, 0).run(box, world); // replica 0 holds version 1
    await new Reply(1, [{ pick: 0, kind: 'success' }]).run(box, world); // replica 1 moves it to version 2
    await new Reply(0, [{ pick: 0, kind: 'success' }]).run(box, world); // replica 0's held version 1 is stale
    expect(logs.fallbacks).toEqual([expect.stringMatching(/falls back to lock and read: .*changed by another writer/)]);
    await new Duplicate(0, 1).run(box, world); // replica 0 now holds the saga; the reply was applied before
    expect(logs.fallbacks[1]).toMatch(/inbox key taken/);
    expect(box.model.paths).toEqual({ held: 0, read: 3, single: 0 });
    expect(Object.values(box.model.sagas)[0].version).toBe(3);
  });

  it('keeps every invariant after every step of random interleavings of both replicas', async () => {
    const logs = { fallbacks: [] as string[], deadlocks: [] as string[] };
    const early: string[] = [];
    const paths = { held: 0, read: 0, single: 0 };
    const seed = process.env.MODEL_SEED === undefined ? undefined : Number(process.env.MODEL_SEED);
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: 'max', replayPath: process.env.MODEL_REPLAY }), async (steps) => {
        const box: Box = { model: emptyModel(), now: NOW };
        await fc.asyncModelRun(() => ({ model: box, real: twoReplicas(box, logs) }), steps);
        for (const path of ['held', 'read', 'single'] as const) paths[path] += box.model.paths[path];
        early.push(...box.model.early);
      }),
      { numRuns: Number(process.env.MODEL_RUNS ?? 40), seed, path: process.env.MODEL_PATH, endOnFailure: seed !== undefined },
    );
    // The runs went through every write path.
    expect(paths.held).toBeGreaterThan(0);
    expect(paths.read).toBeGreaterThan(0);
    expect(paths.single).toBeGreaterThan(0);
    process.stdout.write(`two replicas: ${JSON.stringify(paths)} commits, ${logs.deadlocks.length} deadlocks retried, ${early.length} timers fired early by a stale claim\n`);
  }, 120_000);
});
