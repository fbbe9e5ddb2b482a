/**
 * The imperative shell around the pure engine: receive → load → decide → commit → signal.
 *
 * Guarantees (SPEC S4, S6, S7):
 * - Each event is handled in ONE transaction: the saga row is locked, the engine decides, and
 *   state + history + outbox + timers + the inbox record of the reply commit together. The
 *   caller acks the message only after this resolves.
 * - handleReplies does the same for a batch of replies to distinct sagas in one transaction of
 *   two round trips (BEGIN + lock all + read all + claim their inbox keys; decide each; one write
 *   + COMMIT): all commit or none does, and the caller may then retry them one by one. When this
 *   process holds every saga's last committed state (SagaStateCache), the batch is ONE statement
 *   instead: strict inbox claim + writes, every saga's version checked; if any key was claimed
 *   before or any version moved, nothing is written and the batch is locked and read as above.
 * - Commands are published only after the commit that wrote them to the outbox.
 * - A reply whose correlation id is already in the inbox is a duplicate: it is recorded in the
 *   saga's history and changes nothing. A reply for an unknown saga changes nothing.
 * - A timer is handled by whoever deletes its row; everybody else skips it.
 * - Starting validates the input before anything is stored; an idempotency key with the same
 *   input returns the existing saga, with a different input a conflict (values, not throws).
 *   Starts without a key that arrive together are stored by one statement (StartWriter).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomUUID } from 'node:crypto';
import { decide, isTerminal, validateInput, type Decision, type Direction, type FieldError, type HistoryEntry, type SagaEvent, type SagaState, type SagaStatus } from '#saga/core';
import { BatchedTransaction, SagaStore, writesSagaRow, type CommandRouting, type CommittedCommand, type LoadedSaga, type SagaWrite } from '#saga/persistence';
import { DataSource, type EntityManager } from 'typeorm';
import { DefinitionRegistry } from '../definitions/definition-registry';
import { BrokerService } from './broker.service';
import { OutboxPublisher } from './outbox-publisher.service';
import { RuntimeSignals } from './runtime-signals';
import { SagaMetrics } from './saga-metrics';
import { SagaStateCache } from './saga-state-cache';
import { StartWriter } from './start-writer';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';

export type StartResult =
  | { kind: 'started'; id: string; name: string; version: number; status: SagaStatus }
  | { kind: 'existing'; id: string; name: string; version: number; status: SagaStatus }
  | { kind: 'invalid'; errors: FieldError[] }
  | { kind: 'conflict'; id: string };

export type HandleResult = 'applied' | 'duplicate' | 'unknown-saga' | 'timer-already-fired';

/** One reply of a batch: the saga it names, the event, and its correlation id (the inbox key). */
export interface ReplyItem {
  sagaId: string;
  event: SagaEvent;
  inboxKey: string;
}

export type CancelResult =
  | { kind: 'cancelled'; status: SagaStatus }
  | { kind: 'refused'; reason: string; status: SagaStatus }
  | { kind: 'unknown-saga' };

/** Canonical JSON (sorted keys) so the same input always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function inputHash(input: unknown): string {
  return createHash('sha256').update(canonical(input)).digest('hex');
}

function duplicateEntry(event: SagaEvent): HistoryEntry {
  const reply = event.type === 'REPLY' ? event : undefined;
  return {
    type: 'DUPLICATE_REPLY_IGNORED',
    failureType: 'duplicate',
    at: Date.now(),
    step: reply?.step ?? null,
    direction: reply?.direction ?? null,
    attempt: reply?.attempt ?? null,
    reason: 'duplicate',
    detail: reply ? { outcome: reply.outcome.kind } : null,
  };
}

/** A decision that writes only history (no state change, no command, no timer). */
function effectsOnly(sagaId: string, history: HistoryEntry[]): Decision {
  return { state: { id: sagaId } as SagaState, history, commands: [], timers: [], cancelTimers: [] };
}

@Injectable()
export class SagaRuntime {
  private readonly logger = new Logger('SagaRuntime');
  private readonly store = new SagaStore();
  private readonly routing: CommandRouting;
  private readonly cache: SagaStateCache;
  private readonly starts: StartWriter;

  constructor(
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly registry: DefinitionRegistry,
    private readonly signals: RuntimeSignals,
    private readonly metrics: SagaMetrics,
    private readonly publisher: OutboxPublisher,
    broker: BrokerService,
  ) {
    this.routing = { queueFor: (command) => registry.queueFor(command), replyTo: broker.names.replyQueue };
    this.cache = new SagaStateCache(config.stateCacheSize);
    this.starts = new StartWriter(dataSource, this.store, this.routing, config.startBatchSize);
  }

  async start(name: string, input: unknown, idempotencyKey: string | null): Promise<StartResult> {
    const definition = this.registry.latest(name);
    const errors = validateInput(definition.inputSchema, input);
    if (errors.length > 0) return { kind: 'invalid', errors };
    const hash = inputHash(input);
    const existing = async (manager: EntityManager): Promise<StartResult | undefined> => {
      if (idempotencyKey === null) return undefined;
      const found = await this.store.findByIdempotencyKey(manager, name, idempotencyKey);
      if (!found) return undefined;
      if (found.inputHash !== hash) return { kind: 'conflict', id: found.id };
      return { kind: 'existing', id: found.id, name, version: found.definitionVersion, status: found.status as SagaStatus };
    };
    const earlier = await existing(this.dataSource.manager);
    if (earlier) return earlier;
    const startedAt = performance.now();
    const event: SagaEvent = { type: 'START', sagaId: randomUUID(), input };
    const decision = decide(definition, null, event, Date.now());
    let committed: CommittedCommand[];
    try {
      committed = await this.starts.write({ decision, meta: { idempotencyKey, inputHash: hash } });
    } catch (error) {
      // Two requests with one key raced: the unique index let one in; answer like the loser came second.
      const raced = (error as { code?: string }).code === '23505' ? await existing(this.dataSource.manager) : undefined;
      if (raced) return raced;
      throw error;
    }
    this.afterCommit(decision, committed);
    this.cache.remember(decision.state, 1);
    this.metrics.handled(event, 'applied', (performance.now() - startedAt) / 1000, decision);
    return { kind: 'started', id: decision.state.id, name, version: definition.version, status: decision.state.status };
  }

  /** Applies one event to one saga. `inboxKey` dedupes replies; `timerId` claims a timer. */
  async handle(sagaId: string, event: SagaEvent, options: { inboxKey?: string; timerId?: string } = {}): Promise<HandleResult> {
    return (await this.apply(sagaId, event, options)).result;
  }

  /** Cancels a saga; a refusal (not RUNNING, past the pivot...) is a value with the engine's reason. */
  async cancel(sagaId: string, reason: string, by: string): Promise<CancelResult> {
    const { result, decision } = await this.apply(sagaId, { type: 'CANCEL', reason, by }, {});
    if (result === 'unknown-saga') return { kind: 'unknown-saga' };
    const refusal = decision?.history.find((entry) => entry.type === 'CANCEL_REJECTED');
    return refusal ? { kind: 'refused', reason: refusal.reason ?? 'refused', status: decision!.state.status } : { kind: 'cancelled', status: decision!.state.status };
  }

  private async apply(sagaId: string, event: SagaEvent, options: { inboxKey?: string; timerId?: string }): Promise<{ result: HandleResult; decision?: Decision }> {
    const startedAt = performance.now();
    let decision: Decision | undefined;
    let committed: CommittedCommand[] = [];
    this.cache.forget([sagaId]); // this path writes from a fresh read; the next batch reads too
    const result = await this.dataSource.transaction(async (manager): Promise<HandleResult> => {
      if (options.timerId !== undefined && !(await this.store.claimTimer(manager, options.timerId))) return 'timer-already-fired';
      // Lock the saga first: nothing is written for a saga that does not exist, and two
      // deliveries of one reply are serialised before the inbox decides which is the duplicate.
      const loaded = await this.store.loadForUpdate(manager, sagaId);
      if (!loaded) return 'unknown-saga';
      if (options.inboxKey !== undefined && !(await this.store.claimInbox(manager, options.inboxKey, sagaId))) {
        await this.recordDuplicate(manager, sagaId, event);
        return 'duplicate';
      }
      const definition = this.registry.pinned(loaded.state.name, loaded.state.version);
      decision = decide(definition, loaded.state, event, Date.now());
      committed = await this.store.applyDecision(manager, loaded, decision, this.routing);
      return 'applied';
    });
    if (decision) this.afterCommit(decision, committed);
    this.metrics.handled(event, result, (performance.now() - startedAt) / 1000, decision);
    if (result === 'unknown-saga') this.logger.warn(`${event.type} for unknown saga ${sagaId} ignored`);
    return { result, decision };
  }

  /**
   * Applies replies to distinct sagas in one transaction; returns each one's result, in order.
   * Throws if anything fails (nothing is then written): the caller retries them one by one.
   */
  async handleReplies(items: ReplyItem[]): Promise<HandleResult[]> {
    const startedAt = performance.now();
    const ids = items.map((item) => item.sagaId);
    if (new Set(ids).size !== ids.length) throw new Error('handleReplies takes at most one reply per saga');
    const held = this.cache.getAll(ids);
    let outcome: { results: HandleResult[]; decisions: (Decision | undefined)[]; committed: CommittedCommand[] } | undefined;
    if (held) {
      try {
        outcome = await this.writeFromHeldStates(items, held);
        this.metrics.replyBatch('held');
      } catch {
        this.cache.forget(ids); // claimed before, or changed meanwhile: lock and read below
      }
    }
    if (!outcome) {
      outcome = await this.lockReadAndWrite(items);
      this.metrics.replyBatch('read');
    }
    const { results, decisions, committed } = outcome;
    const seconds = (performance.now() - startedAt) / 1000 / items.length;
    items.forEach((item, index) => {
      const decision = decisions[index];
      if (decision) this.afterCommit(decision, []);
      this.metrics.handled(item.event, results[index], seconds, decision);
      if (results[index] === 'unknown-saga') this.logger.warn(`${item.event.type} for unknown saga ${item.sagaId} ignored`);
    });
    this.publisher.publishCommitted(committed);
    return results;
  }

  /** One statement: every saga's state is the one this process last committed (checked). */
  private async writeFromHeldStates(items: ReplyItem[], held: LoadedSaga[]) {
    const writes: SagaWrite[] = items.map((item, index) => {
      const before = held[index];
      const definition = this.registry.pinned(before.state.name, before.state.version);
      return { before, decision: decide(definition, before.state, item.event, Date.now()) };
    });
    const committed = await this.store.claimAndWrite(this.dataSource, items.map((item) => ({ key: item.inboxKey, sagaId: item.sagaId })), writes, this.routing);
    for (const { before, decision } of writes) this.cache.remember(decision.state, before!.version + 1);
    return { results: items.map((): HandleResult => 'applied'), decisions: writes.map((write) => write.decision), committed };
  }

  /** Two round trips: BEGIN + lock + read + inbox claim, then writes + COMMIT. */
  private async lockReadAndWrite(items: ReplyItem[]) {
    const decisions: (Decision | undefined)[] = [];
    const transaction = await BatchedTransaction.open(this.dataSource);
    let committed: CommittedCommand[];
    let results: HandleResult[];
    const writes: SagaWrite[] = [];
    const unchanged: LoadedSaga[] = []; // read, and left as they were (duplicates)
    try {
      const { sagas, claimed } = await this.store.beginBatch(transaction, items.map((item) => item.sagaId), items.map((item) => ({ key: item.inboxKey, sagaId: item.sagaId })));
      results = items.map((item, index): HandleResult => {
        const loaded = sagas.get(item.sagaId);
        if (!loaded) return 'unknown-saga';
        if (!claimed.has(item.inboxKey)) {
          writes.push({ before: null, decision: effectsOnly(item.sagaId, [duplicateEntry(item.event)]) });
          unchanged.push(loaded);
          return 'duplicate';
        }
        const definition = this.registry.pinned(loaded.state.name, loaded.state.version);
        const decision = decide(definition, loaded.state, item.event, Date.now());
        decisions[index] = decision;
        writes.push({ before: loaded, decision });
        return 'applied';
      });
      committed = await this.store.commitBatch(transaction, writes, this.routing);
    } finally {
      await transaction.release();
    }
    for (const { before, decision } of writes) {
      if (before) this.cache.remember(decision.state, before.version + (writesSagaRow(before, decision.state) ? 1 : 0));
    }
    for (const loaded of unchanged) this.cache.remember(loaded.state, loaded.version);
    return { results, decisions, committed };
  }

  /** A reply for this saga that could not be read was parked in the dead-letter queue: say so in
   *  the saga's history (the exception log), so the person looking at the saga sees it. */
  async recordMalformedReply(sagaId: string, address: { step: string; direction: Direction; attempt: number }, reason: string): Promise<void> {
    const recorded = await this.dataSource.transaction(async (manager) => {
      const exists: unknown[] = await manager.query('SELECT 1 FROM saga_instances WHERE id = $1', [sagaId]);
      if (exists.length === 0) return false;
      await this.store.appendHistory(manager, sagaId, [
        { type: 'MALFORMED_REPLY_PARKED', failureType: 'malformed', at: Date.now(), step: address.step, direction: address.direction, attempt: address.attempt, reason: 'malformed', detail: { message: reason } },
      ]);
      return true;
    });
    if (recorded) this.metrics.exception('malformed');
  }

  private async recordDuplicate(manager: EntityManager, sagaId: string, event: SagaEvent): Promise<void> {
    await this.store.appendHistory(manager, sagaId, [duplicateEntry(event)]);
  }

  private afterCommit(decision: Decision, committed: CommittedCommand[]): void {
    this.publisher.publishCommitted(committed);
    const stuck = decision.history.find((entry) => entry.type === 'COMPENSATION_FAILED');
    if (stuck) {
      this.logger.error(
        `Saga ${decision.state.id} (${decision.state.name}@${decision.state.version}) is COMPENSATION_FAILED: the undo of step ` +
          `"${stuck.step}" gave up after ${stuck.attempt} attempts (${stuck.reason}: ${String(stuck.detail?.message ?? '')}); it needs an operator`,
      );
    }
    if (decision.timers.length > 0) this.signals.timerSet(Math.min(...decision.timers.map((timer) => timer.fireAt)));
    if (isTerminal(decision.state.status)) this.signals.sagaChanged(decision.state.id, decision.state.status);
  }
}
