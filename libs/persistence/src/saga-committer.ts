/**
 * The ONE owner of the saga write path. Every change to a saga (a start, a reply, a timer, an
 * operator's action) is committed here: the caller hands over events and a `decide` function (the
 * pure engine bound to its definitions and clock) and gets back what each event did and the
 * commands to publish, which it may publish only now, after the commit.
 *
 * Strategies, chosen here and invisible to the caller:
 * - held: a reply batch whose sagas' last committed states this process holds (SagaStateCache)
 *   is ONE statement without a transaction around it: strict inbox claim + every decision's
 *   writes, every saga's version checked. A concurrent update or an inbox key seen before (the
 *   only errors that mean "the state moved") fail it whole with nothing written; the batch then
 *   goes the read way, logged at debug with the reason. Any other error propagates.
 * - read: BEGIN + lock every saga (id order) + read them + claim their inbox keys in one round
 *   trip; decide each; every write + COMMIT in a second. All or nothing.
 * - single: timers and operator actions, one transaction each: lock the saga, claim the timer
 *   (whoever deletes its row handles it; a scheduler claims only the row it read due, never the
 *   same id set again for later), read the saga, decide, write. Saga before timer is the order a
 *   reply that cancels the timer takes too, so the two never deadlock. An operator action may carry an
 *   inbox key (its idempotency key) and a timer to claim: the saga is locked first, then the key
 *   is claimed (taken: `duplicate`, nothing written), then the timer (gone: `timer-already-fired`).
 * - Confirmed outbox rows (options.publishedOutbox) ride along: the start statement and the
 *   replies' write statement delete up to MAX_PUBLISHED_PER_WRITE of them as a part of
 *   themselves; a write that fails gives them back.
 *
 * Guarantees (docs/semantics.md S4, S7):
 * - State, history, outbox rows, timers and the inbox record of a reply commit together or not
 *   at all; events of one saga apply one at a time (row lock or optimistic version).
 * - A reply whose inbox key is already taken is a duplicate: only a history entry is written
 *   (a history write, never a fake state), the saga is unchanged. An event for a saga that does
 *   not exist writes nothing.
 * - The held path never trusts the cache: a held state is only tried against the database's
 *   version. The version arithmetic (every write of a saga moves its version by one, a
 *   duplicate's history entry and a note included) lives here and in saga-write-rows.ts only.
 * - If commit() rejects, nothing of the batch was written: the caller may retry each event alone.
 * - start() is one statement: its sagas are stored together, or none if it rejects (the caller
 *   may retry each start alone); a start whose idempotency key is taken is reported `key-taken`
 *   and nothing of it is stored (docs/semantics.md S6: the caller answers with findStart()).
 */
import type { Decision, HistoryEntry, ReplyEvent, SagaEvent, SagaState } from '#saga/core';
import type { DataSource } from 'typeorm';
import type { PublishedOutbox } from './published-outbox';
import { SagaStateCache } from './saga-state-cache';
import { ConcurrentSagaUpdateError, SagaStore, type NewSaga } from './saga-store';
import { versionAfter, type CommittedCommand, type LoadedSaga, type SagaWrite, type ToOutbox } from './saga-write-rows';
import { PipelinedSession } from './sql/pipelined-session';

/** An event for an existing saga, with what makes it happen once. */
export type SagaInput =
  | { kind: 'reply'; sagaId: string; event: ReplyEvent; inboxKey: string }
  | { kind: 'timer'; sagaId: string; event: SagaEvent; timerId: string; /** when the scheduler read it due */ dueAt?: number }
  | { kind: 'operator'; sagaId: string; event: SagaEvent; inboxKey?: string; timerId?: string };

/** The engine, bound by the caller to the saga's pinned definition and a clock. */
export type Decide = (state: SagaState, event: SagaEvent) => Decision;

/** `version`: the saga's version this commit wrote (every write moves it by one, so the version
 *  before it was `version - 1`): a caller that saw every version of a saga knows all its rows. */
export type CommitOutcome = { kind: 'applied'; decision: Decision; version: number } | { kind: 'duplicate' } | { kind: 'unknown-saga' } | { kind: 'timer-already-fired' };

export type CommitPath = 'held' | 'read' | 'single';

/** What start() did with a new saga: stored (with the commands to publish now), or left out
 *  whole because its definition's idempotency key is taken by another saga. */
export type StartOutcome = { kind: 'stored'; publish: CommittedCommand[] } | { kind: 'key-taken' };

/** The saga an idempotency key started: what a repeated start is answered with. */
export interface StartedSaga {
  id: string;
  version: number;
  status: SagaState['status'];
  inputHash: string;
}

export interface Committed {
  /** One per input, in order. */
  outcomes: CommitOutcome[];
  /** Commands written to the outbox by the commit, to publish now. */
  publish: CommittedCommand[];
  path: CommitPath;
}

export interface SagaCommitterOptions {
  toOutbox: ToOutbox;
  /** Running sagas whose last committed state is held for the held path (0: never held). */
  stateCacheSize: number;
  /** The most state held, measured as the states' JSON (default DEFAULT_STATE_CACHE_BYTES). */
  stateCacheMaxBytes?: number;
  logger?: { debug(message: string): void };
  clock?: () => number;
  /** Outbox rows whose commands the broker confirmed: the hot writes delete them too. */
  publishedOutbox?: PublishedOutbox;
}

/** SQLSTATE unique_violation: an inbox key claimed before. */
const UNIQUE_VIOLATION = '23505';

/** Why a failed held write means "the state moved", or undefined when it means something else. */
function stateMoved(error: unknown): string | undefined {
  if (error instanceof ConcurrentSagaUpdateError) return error.message;
  if ((error as { code?: unknown })?.code === UNIQUE_VIOLATION) return 'a reply of the batch was seen before (inbox key taken)';
  return undefined;
}

/** Rolls back an operator action whose timer another handler claimed first. */
class TimerGone extends Error {
  readonly code = 'TIMER_GONE';
}

export class SagaCommitter {
  private readonly store = new SagaStore();
  private readonly cache: SagaStateCache;
  private readonly clock: () => number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: SagaCommitterOptions,
  ) {
    this.cache = new SagaStateCache(options.stateCacheSize, options.stateCacheMaxBytes);
    this.clock = options.clock ?? Date.now;
  }

  /** Stores new sagas with their first decisions' effects in ONE statement, all or none, except
   *  a saga whose idempotency key is taken: left out whole (`key-taken`), the others stored. One
   *  outcome per start, in order; rejects with the database's error, having stored nothing. */
  async start(starts: readonly NewSaga[]): Promise<StartOutcome[]> {
    const committed = await this.deletingPublished((published) => this.store.insertMany(this.dataSource.manager, starts, this.options.toOutbox, published));
    return starts.map(({ decision }, index): StartOutcome => {
      const publish = committed[index];
      if (publish === null) return { kind: 'key-taken' };
      this.cache.remember(decision.state, 1);
      return { kind: 'stored', publish };
    });
  }

  /** The saga an idempotency key started, if any (what a repeated start answers with). */
  async findStart(name: string, idempotencyKey: string): Promise<StartedSaga | null> {
    const found = await this.store.findByIdempotencyKey(this.dataSource.manager, name, idempotencyKey);
    return found && { id: found.id, version: found.definitionVersion, status: found.status as SagaState['status'], inputHash: found.inputHash };
  }

  /** Commits events: any number of replies to distinct sagas together, or one other event. */
  async commit(inputs: readonly SagaInput[], decide: Decide): Promise<Committed> {
    const replies = inputs.filter((input): input is Extract<SagaInput, { kind: 'reply' }> => input.kind === 'reply');
    if (replies.length === inputs.length) return this.commitReplies(replies, decide);
    const [input] = inputs;
    if (inputs.length !== 1 || input.kind === 'reply') throw new RangeError('only replies are committed in batches');
    return this.commitAlone(input, decide);
  }

  /** The saga's pending attempt timers (retries and timeouts), soonest first. */
  async pendingAttemptTimers(sagaId: string): Promise<{ id: string; fireAt: number; event: SagaEvent }[]> {
    return this.store.pendingAttemptTimers(this.dataSource.manager, sagaId);
  }

  /** The history entry an actor's operator action with this request key recorded on the saga:
   *  what a repeated request answers with. */
  async findOperatorEntry(sagaId: string, requestKey: string, by: string): Promise<HistoryEntry | null> {
    return this.store.findOperatorEntry(this.dataSource.manager, sagaId, requestKey, by);
  }

  /** History entries alone (a parked malformed reply); false when the saga does not exist. */
  async appendHistory(sagaId: string, entries: HistoryEntry[]): Promise<boolean> {
    this.cache.forget([sagaId]); // the touch moves the version past the one held
    return this.dataSource.transaction(async (manager) => {
      if ((await this.store.lockMany(manager, [sagaId])).size === 0) return false;
      await this.store.appendHistory(manager, sagaId, entries);
      return true;
    });
  }

  private async commitReplies(items: Extract<SagaInput, { kind: 'reply' }>[], decide: Decide): Promise<Committed> {
    const ids = items.map((item) => item.sagaId);
    if (new Set(ids).size !== ids.length) throw new RangeError('a batch holds at most one reply per saga');
    const held = this.cache.getAll(ids);
    if (held) {
      try {
        return await this.writeHeld(items, held, decide);
      } catch (error) {
        this.cache.forget(ids);
        const reason = stateMoved(error);
        if (reason === undefined) throw error;
        this.options.logger?.debug(`held batch of ${items.length} replies falls back to lock and read: ${reason}`);
      }
    }
    return this.lockReadWrite(items, decide);
  }

  /** One statement: every saga's state is the one this process last committed (checked). */
  private async writeHeld(items: Extract<SagaInput, { kind: 'reply' }>[], held: LoadedSaga[], decide: Decide): Promise<Committed> {
    const writes = items.map((item, index) => ({ kind: 'decision' as const, before: held[index], decision: decide(held[index].state, item.event) }));
    const inbox = items.map((item) => ({ key: item.inboxKey, sagaId: item.sagaId }));
    const publish = await this.deletingPublished((published) => this.store.claimAndWrite(this.dataSource, inbox, writes, this.options.toOutbox, published));
    for (const { before, decision } of writes) this.cache.remember(decision.state, versionAfter(before));
    return { outcomes: writes.map(({ before, decision }) => ({ kind: 'applied', decision, version: versionAfter(before) })), publish, path: 'held' };
  }

  /** Two round trips: BEGIN + lock + read + inbox claim, then every write + COMMIT. */
  private async lockReadWrite(items: Extract<SagaInput, { kind: 'reply' }>[], decide: Decide): Promise<Committed> {
    const session = await PipelinedSession.open(this.dataSource);
    const writes: SagaWrite[] = [];
    const unchanged: LoadedSaga[] = []; // read, and left as they were (duplicates)
    let outcomes: CommitOutcome[];
    let publish: CommittedCommand[];
    try {
      const inbox = items.map((item) => ({ key: item.inboxKey, sagaId: item.sagaId }));
      const { sagas, claimed } = await this.store.beginBatch(
        session,
        items.map((item) => item.sagaId),
        inbox,
      );
      outcomes = items.map((item): CommitOutcome => {
        const loaded = sagas.get(item.sagaId);
        if (!loaded) return { kind: 'unknown-saga' };
        if (!claimed.has(item.inboxKey)) {
          writes.push({ kind: 'history', sagaId: item.sagaId, entries: [this.duplicateEntry(item.event)] });
          unchanged.push(loaded);
          return { kind: 'duplicate' };
        }
        const decision = decide(loaded.state, item.event);
        writes.push({ kind: 'decision', before: loaded, decision });
        return { kind: 'applied', decision, version: versionAfter(loaded) };
      });
      publish = await this.deletingPublished((published) => this.store.commitBatch(session, writes, this.options.toOutbox, published));
    } finally {
      await session.release();
    }
    for (const write of writes) if (write.kind === 'decision') this.cache.remember(write.decision.state, versionAfter(write.before));
    for (const loaded of unchanged) this.cache.remember(loaded.state, versionAfter(loaded)); // touched by the duplicate's entry
    return { outcomes, publish, path: 'read' };
  }

  /** One transaction: claim the timer if any, lock and read the saga, decide, write. */
  private async commitAlone(input: Exclude<SagaInput, { kind: 'reply' }>, decide: Decide): Promise<Committed> {
    this.cache.forget([input.sagaId]); // written from a fresh read below
    let written: { loaded: LoadedSaga; decision: Decision } | undefined;
    const transaction = this.dataSource.transaction(async (manager): Promise<{ outcome: CommitOutcome; publish: CommittedCommand[] }> => {
      if (input.kind === 'timer') {
        // The saga first, then its timer (SKIP LOCKED): the order a reply that cancels this timer
        // takes too, so a reply and its own timeout never deadlock. The timer row is claimed even
        // when the saga is gone, so an orphan timer does not come due forever.
        const found = (await this.store.lockMany(manager, [input.sagaId])).size > 0;
        if (!(await this.store.claimTimer(manager, input.timerId, input.dueAt))) return { outcome: { kind: 'timer-already-fired' }, publish: [] };
        if (!found) return { outcome: { kind: 'unknown-saga' }, publish: [] };
      }
      if (input.kind === 'operator' && (input.inboxKey !== undefined || input.timerId !== undefined)) {
        // Saga lock first: the timer path claims its row, then waits for this lock; our SKIP LOCKED
        // claim below never waits for it, so the two cannot deadlock.
        if ((await this.store.lockMany(manager, [input.sagaId])).size === 0) return { outcome: { kind: 'unknown-saga' }, publish: [] };
        if (input.inboxKey !== undefined && !(await this.store.claimInbox(manager, input.inboxKey, input.sagaId))) return { outcome: { kind: 'duplicate' }, publish: [] };
        // Gone: roll back the key claimed above, so a repeat of the request is not taken for done.
        if (input.timerId !== undefined && !(await this.store.claimTimer(manager, input.timerId))) throw new TimerGone();
      }
      const loaded = await this.store.loadForUpdate(manager, input.sagaId);
      if (!loaded) return { outcome: { kind: 'unknown-saga' }, publish: [] };
      const decision = decide(loaded.state, input.event);
      written = { loaded, decision };
      return { outcome: { kind: 'applied', decision, version: versionAfter(loaded) }, publish: await this.store.applyDecision(manager, loaded, decision, this.options.toOutbox) };
    });
    const { outcome, publish } = await transaction.catch((error: unknown) => {
      if (error instanceof TimerGone) return { outcome: { kind: 'timer-already-fired' } as const, publish: [] };
      throw error;
    });
    if (written) this.cache.remember(written.decision.state, versionAfter(written.loaded));
    return { outcomes: [outcome], publish, path: 'single' };
  }

  /** Runs `write` with confirmed outbox rows for it to delete; gives them back if it fails. */
  private async deletingPublished<T>(write: (published: readonly string[]) => Promise<T>): Promise<T> {
    const published = this.options.publishedOutbox?.take() ?? [];
    try {
      return await write(published);
    } catch (error) {
      this.options.publishedOutbox?.restore(published);
      throw error;
    }
  }

  private duplicateEntry(event: SagaEvent): HistoryEntry {
    const reply = event.type === 'REPLY' ? event : undefined;
    return {
      type: 'DUPLICATE_REPLY_IGNORED',
      failureType: 'duplicate',
      at: this.clock(),
      step: reply?.step ?? null,
      direction: reply?.direction ?? null,
      attempt: reply?.attempt ?? null,
      reason: 'duplicate',
      detail: reply ? { outcome: reply.outcome.kind } : null,
    };
  }
}
