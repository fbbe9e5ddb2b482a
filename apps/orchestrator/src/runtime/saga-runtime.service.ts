/**
 * The imperative shell around the pure engine: receive → commit(decide) → publish → (the caller
 * acks). Every change to a saga goes through the committer (libs/persistence saga-committer.ts),
 * the one owner of the write path; this file binds the engine to the pinned definitions and the
 * clock, publishes what a commit wrote, and tells the rest of the process what changed.
 *
 * Guarantees (docs/semantics.md S4, S6, S7):
 * - Commands are published only after the commit that wrote them to the outbox; a caller acks
 *   its message only after the method it called resolved.
 * - Starting validates the input before anything is stored; an idempotency key with the same
 *   input returns the existing saga, with a different input a conflict (values, not throws). A
 *   keyed start is written like any other (batched, no read first); the saga holding a taken key
 *   is read only after the write found it taken (start-writer.ts).
 * - A reply batch that rejects wrote nothing: the caller retries its replies one by one.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import {
  commandEnvelope,
  decide,
  validateInput,
  isTerminal,
  REPAIR_EVENT_TYPES,
  type Decision,
  type Direction,
  type FieldError,
  type HistoryEntry,
  type RepairEvent,
  type ReplyEvent,
  type SagaEvent,
  type SagaState,
  type SagaStatus,
  businessKeyOf,
} from '#saga/core';
import { SagaCommitter, type CommitOutcome, type Committed, type SagaInput } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { DefinitionRegistry } from '../definitions/definition-registry';
import { BrokerService } from './broker.service';
import { logLine } from '../logging/log-line';
import { inputHash } from './input-hash';
import { OutboxPublisher } from './outbox-publisher.service';
import { RuntimeSignals } from './runtime-signals';
import { SagaMetrics } from './saga-metrics';
import { SagaTrails, type SagaTrail } from './saga-trails';
import { StartWriter } from './start-writer';

export type StartResult =
  { kind: 'started' | 'existing'; id: string; name: string; version: number; status: SagaStatus } | { kind: 'invalid'; errors: FieldError[] } | { kind: 'conflict'; id: string };

export type CancelResult = { kind: 'cancelled'; status: SagaStatus } | { kind: 'refused'; reason: string; status: SagaStatus } | { kind: 'unknown-saga' };

/** One reply: the saga it names, the event, and its correlation id (the inbox key). */
export interface ReplyItem {
  sagaId: string;
  event: ReplyEvent;
  inboxKey: string;
}

/** History entries about a dead letter of the saga, and the `reason` each records. */
const DEAD_LETTER_NOTE_REASONS = { DEAD_LETTERED: null, DEAD_LETTER_REPLAYED: 'replay', DEAD_LETTER_REPLAY_FAILED: 'replay-failed', DEAD_LETTER_DISCARDED: 'discard' } as const;
export type DeadLetterNote = keyof typeof DEAD_LETTER_NOTE_REASONS;

@Injectable()
export class SagaRuntime {
  private readonly logger = new Logger('SagaRuntime');
  private readonly committer: SagaCommitter;
  private readonly starts: StartWriter;
  /** What this process committed of the sagas a start request waits for (saga-trails.ts). */
  private readonly trails: SagaTrails;
  private readonly decide = (state: SagaState, event: SagaEvent): Decision => decide(this.registry.pinned(state.name, state.version), state, event, Date.now());

  constructor(
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    @InjectDataSource() dataSource: DataSource,
    private readonly registry: DefinitionRegistry,
    private readonly signals: RuntimeSignals,
    private readonly metrics: SagaMetrics,
    private readonly publisher: OutboxPublisher,
    broker: BrokerService,
  ) {
    const replyTo = broker.names.replyQueue;
    this.committer = new SagaCommitter(dataSource, {
      toOutbox: (command) => commandEnvelope(command, registry.queueFor(command.command), replyTo, Date.now()),
      stateCacheSize: config.stateCacheSize,
      stateCacheMaxBytes: config.stateCacheMaxBytes,
      logger: new Logger('SagaCommitter'),
      publishedOutbox: publisher.published, // confirmed rows: the next start or reply write deletes them
    });
    this.starts = new StartWriter(this.committer, config.startBatchSize);
    this.trails = new SagaTrails(config.historyLimit);
  }

  /** Starts `name` at `version`, or at its latest version. `trail`: keep what this process
   *  commits of the new saga until endTrail() (a request waits for its end). */
  async start(name: string, input: unknown, idempotencyKey: string | null, version?: number, trail = false): Promise<StartResult> {
    const definition = version === undefined ? this.registry.latest(name) : this.registry.pinned(name, version);
    const errors = validateInput(definition.inputSchema, input);
    if (errors.length > 0) return { kind: 'invalid', errors };
    const hash = inputHash(input);
    const startedAt = performance.now();
    const event: SagaEvent = { type: 'START', sagaId: randomUUID(), input };
    const decision = decide(definition, null, event, Date.now());
    const definitionFingerprint = this.registry.loadedVersion(definition.name, definition.version).fingerprint;
    const businessKey = businessKeyOf(definition.businessKey, input);
    const written = await this.starts.write({ decision, meta: { idempotencyKey, inputHash: hash, definitionFingerprint, businessKey } });
    if (written.kind === 'existing') {
      // The key started another saga (earlier, or a racing request): nothing of this one was stored.
      const { saga } = written;
      return saga.inputHash === hash ? { kind: 'existing', id: saga.id, name, version: saga.version, status: saga.status } : { kind: 'conflict', id: saga.id };
    }
    // Begun before the commands go out: no reply can be committed before it.
    if (trail) this.trails.begin(decision, { definitionFingerprint: definitionFingerprint ?? null, businessKey: businessKey ?? null });
    this.published(written.publish);
    this.settled(event, { kind: 'applied', decision, version: 1 }, startedAt);
    return { kind: 'started', id: decision.state.id, name, version: definition.version, status: decision.state.status };
  }

  /** Replies to distinct sagas, committed together; one outcome each, in order. */
  async handleReplies(items: readonly ReplyItem[]): Promise<CommitOutcome[]> {
    const committed = await this.commit(items.map((item): SagaInput => ({ kind: 'reply', ...item })));
    this.metrics.replyBatch(committed.path === 'held' ? 'held' : 'read');
    return committed.outcomes;
  }

  /** A due timer; handled by whoever deletes its row. */
  async fireTimer(timer: { id: string; sagaId: string; event: SagaEvent; dueAt?: number }): Promise<CommitOutcome> {
    return (await this.commit([{ kind: 'timer', sagaId: timer.sagaId, event: timer.event, timerId: timer.id, dueAt: timer.dueAt }])).outcomes[0];
  }

  /** Cancels a saga; a refusal (not RUNNING, past the pivot...) is a value with the engine's reason. */
  async cancel(sagaId: string, reason: string, by: string): Promise<CancelResult> {
    const [outcome] = (await this.commit([{ kind: 'operator', sagaId, event: { type: 'CANCEL', reason, by } }])).outcomes;
    if (outcome.kind !== 'applied') return { kind: 'unknown-saga' };
    const { state, history } = outcome.decision;
    const refusal = history.find((entry) => entry.type === 'CANCEL_REJECTED');
    return refusal ? { kind: 'refused', reason: refusal.reason ?? 'refused', status: state.status } : { kind: 'cancelled', status: state.status };
  }

  /** One operator repair (saga-repairs.service.ts), committed alone like a cancel; `claim` holds its
   *  idempotency inbox key and the timer row it fires, both claimed in the same transaction. */
  async repair(sagaId: string, event: RepairEvent, claim: { inboxKey?: string; timerId?: string }): Promise<CommitOutcome> {
    return (await this.commit([{ kind: 'operator', sagaId, event, ...claim }])).outcomes[0];
  }

  /** The unbroken trail of a saga started with `trail`, if it is still unbroken. */
  trail(sagaId: string): SagaTrail | undefined {
    return this.trails.peek(sagaId);
  }

  endTrail(sagaId: string): void {
    this.trails.end(sagaId);
  }

  /** The saga's pending retry and timeout timers, soonest first. */
  pendingAttemptTimers(sagaId: string): Promise<{ id: string; fireAt: number; event: SagaEvent }[]> {
    return this.committer.pendingAttemptTimers(sagaId);
  }

  /** What an actor's earlier repair with this idempotency key recorded on the saga, if any. */
  operatorEntry(sagaId: string, requestKey: string, by: string): Promise<HistoryEntry | null> {
    return this.committer.findOperatorEntry(sagaId, requestKey, by);
  }

  /** A reply naming this saga could not be read and was parked: say so in its history. */
  async recordMalformedReply(sagaId: string, address: { step: string; direction: Direction; attempt: number }, reason: string): Promise<void> {
    const entry = { type: 'MALFORMED_REPLY_PARKED', failureType: 'malformed', at: Date.now(), ...address, reason: 'malformed', detail: { message: reason } } as const;
    if (await this.committer.appendHistory(sagaId, [entry])) this.metrics.exception('malformed');
  }

  /** A dead letter naming this saga was stored, replayed or discarded: say so in its history
   *  (docs/operations.md "Dead letters"); false when the saga does not exist. */
  async noteDeadLetter(
    sagaId: string,
    type: DeadLetterNote,
    address: { step: string | null; direction: Direction | null; attempt: number | null },
    detail: Record<string, unknown>,
  ): Promise<boolean> {
    const failureType = type === 'DEAD_LETTERED' ? null : ('operator' as const);
    const reason = DEAD_LETTER_NOTE_REASONS[type];
    const noted = await this.committer.appendHistory(sagaId, [{ type, failureType, at: Date.now(), ...address, reason, detail }]);
    if (noted && failureType) this.metrics.exception(failureType);
    return noted;
  }

  private async commit(inputs: SagaInput[]): Promise<Committed> {
    const startedAt = performance.now();
    const committed = await this.committer.commit(inputs, this.decide);
    if (this.trails.size > 0) {
      inputs.forEach((input, index) => {
        const outcome = committed.outcomes[index];
        if (outcome.kind === 'applied') this.trails.record(input.sagaId, outcome.decision, outcome.version, input.kind === 'reply' ? undefined : input.timerId);
      });
    }
    this.published(committed.publish);
    inputs.forEach((input, index) => this.settled(input.event, committed.outcomes[index], startedAt, inputs.length, input.sagaId));
    return committed;
  }

  private published(commands: Committed['publish']): void {
    this.publisher.publishCommitted(commands);
  }

  /** After a commit: metrics, the stuck-saga alarm, timer and waiter signals. */
  private settled(event: SagaEvent, outcome: CommitOutcome, startedAt: number, batchSize = 1, sagaId?: string): void {
    const decision = outcome.kind === 'applied' ? outcome.decision : undefined;
    // A repeated operator request is answered from its first commit: not a duplicate reply.
    const result = outcome.kind === 'duplicate' && REPAIR_EVENT_TYPES.includes(event.type as RepairEvent['type']) ? 'replayed' : outcome.kind;
    this.metrics.handled(event, result, (performance.now() - startedAt) / 1000 / batchSize, decision);
    if (outcome.kind === 'unknown-saga') this.logger.warn(logLine('event for an unknown saga ignored', { event: event.type, sagaId }));
    if (!decision) return;
    const stuck = decision.history.find((entry) => entry.type === 'COMPENSATION_FAILED');
    if (stuck) {
      this.logger.error(
        logLine('saga is COMPENSATION_FAILED: an undo gave up; it needs an operator', {
          sagaId: decision.state.id,
          saga: `${decision.state.name}@${decision.state.version}`,
          step: stuck.step,
          attempts: stuck.attempt,
          reason: stuck.reason,
        }),
      );
    }
    if (decision.timers.length > 0) this.signals.timerSet(Math.min(...decision.timers.map((timer) => timer.fireAt)));
    if (isTerminal(decision.state.status)) this.signals.sagaChanged(decision.state.id, decision.state.status);
  }
}
