/**
 * What an operator does with a stored dead letter: replay it to its source queue, or discard
 * it; one at a time or a filtered set. Every attempt is audited in `dead_letter_actions`.
 *
 * Guarantees:
 * - A dead letter leaves `parked` once. Its row is locked (FOR UPDATE) from the check to the
 *   commit, and the replay is published (default exchange, routing key = source queue,
 *   persistent, mandatory, publisher confirm) while the lock is held, so two operators never
 *   both replay it: the second sees it replayed (refused, 409).
 * - Nothing is marked unless the broker confirmed the replay into an existing queue: a source
 *   queue that no longer exists (the broker returns the mandatory message) or a failed publish
 *   leaves the dead letter parked, with the refusal audited.
 * - A replay confirmed but not committed (the database failed in between) leaves it parked; a
 *   second replay then publishes a duplicate, which is harmless: a participant answers a command
 *   it has processed from its processed_commands record, and the orchestrator ignores a reply
 *   whose correlation id it has seen (saga_inbox) or whose attempt is no longer current.
 * - After the commit, a saga the dead letter names, if it exists, gets a DEAD_LETTER_REPLAYED or
 *   DEAD_LETTER_DISCARDED history entry with the actor, the reason and the dead letter's id.
 *   The audit row is the record; a failed history note is logged and reported, not retried.
 */
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DeadLetterStore, type DeadLetterFilter, type DeadLetterRow, type DeadLetterState } from '#saga/persistence';
import type { DataSource, EntityManager } from 'typeorm';
import { logLine } from '../logging/log-line';
import { BrokerService } from '../runtime/broker.service';
import { SagaRuntime, type DeadLetterNote } from '../runtime/saga-runtime.service';
import { isSagaUuid, replayProperties } from './dead-letter-record';

export type ActionOutcome =
  | { kind: 'done'; state: Exclude<DeadLetterState, 'parked'>; sagaId: string | null; sagaNoted: boolean }
  | { kind: 'unknown' }
  | { kind: 'already-resolved'; state: DeadLetterState }
  | { kind: 'no-source-queue' }
  | { kind: 'source-queue-missing'; sourceQueue: string }
  | { kind: 'publish-failed'; message: string };

export interface BulkReplayResult {
  dryRun: boolean;
  /** Parked dead letters matching the filter. */
  matched: number;
  /** Dry run: the ids a real run would replay (oldest first); real run: the ids replayed. */
  ids: number[];
  replayed: number;
  failed: { id: number; outcome: string; message: string }[];
}

/** Why an outcome that is not `done` refused, for people. */
export function refusalMessage(id: number, outcome: Exclude<ActionOutcome, { kind: 'done' }>): string {
  switch (outcome.kind) {
    case 'unknown':
      return `no dead letter ${id}`;
    case 'already-resolved':
      return `dead letter ${id} is already ${outcome.state}`;
    case 'no-source-queue':
      return `dead letter ${id} names no source queue: there is nowhere to replay it`;
    case 'source-queue-missing':
      return `the source queue "${outcome.sourceQueue}" of dead letter ${id} does not exist (any more): nothing was published, it stays parked`;
    case 'publish-failed':
      return `replaying dead letter ${id} failed: ${outcome.message}; it stays parked`;
  }
}

@Injectable()
export class DeadLetterActions {
  private readonly logger = new Logger('DeadLetterActions');
  private readonly store = new DeadLetterStore();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly broker: BrokerService,
    private readonly runtime: SagaRuntime,
  ) {}

  /** The saga's history notes the replay BEFORE the message is published, so the entry comes
   *  before anything the replayed message causes; a publish that then fails is noted too. */
  async replay(id: number, actor: string, reason: string): Promise<ActionOutcome> {
    return this.act(id, 'replay', actor, reason, async (manager, row) => {
      if (!row.sourceQueue) return { kind: 'no-source-queue' };
      const sagaNoted = await this.noteSaga(row, 'DEAD_LETTER_REPLAYED', actor, reason);
      let failed: Extract<ActionOutcome, { kind: 'source-queue-missing' | 'publish-failed' }> | undefined;
      try {
        const routed = await this.broker.client.publish('', row.sourceQueue, row.body, replayProperties(row, id, actor));
        if (routed === 'unroutable') failed = { kind: 'source-queue-missing', sourceQueue: row.sourceQueue };
      } catch (error) {
        failed = { kind: 'publish-failed', message: (error as Error).message };
      }
      if (failed) {
        if (sagaNoted) await this.noteSaga(row, 'DEAD_LETTER_REPLAY_FAILED', actor, refusalMessage(id, failed));
        return failed;
      }
      await this.store.resolve(manager, id, 'replayed', actor, reason, new Date());
      return { kind: 'done', state: 'replayed', sagaId: row.sagaId, sagaNoted };
    });
  }

  async discard(id: number, actor: string, reason: string): Promise<ActionOutcome> {
    return this.act(id, 'discard', actor, reason, async (manager, row) => {
      await this.store.resolve(manager, id, 'discarded', actor, reason, new Date());
      return { kind: 'done', state: 'discarded', sagaId: row.sagaId, sagaNoted: false };
    });
  }

  /** Replays up to `max` parked dead letters matching the filter, oldest first, one by one. */
  async replayMany(filter: Omit<DeadLetterFilter, 'state'>, max: number, dryRun: boolean, actor: string, reason: string): Promise<BulkReplayResult> {
    const { ids, total } = await this.store.selectIds(this.dataSource.manager, { ...filter, state: 'parked' }, max);
    if (dryRun) return { dryRun, matched: total, ids, replayed: 0, failed: [] };
    const result: BulkReplayResult = { dryRun, matched: total, ids: [], replayed: 0, failed: [] };
    for (const id of ids) {
      const outcome = await this.replay(id, actor, reason);
      if (outcome.kind === 'done') {
        result.replayed += 1;
        result.ids.push(id);
      } else {
        result.failed.push({ id, outcome: outcome.kind, message: refusalMessage(id, outcome) });
      }
    }
    return result;
  }

  /** Lock, check it is parked, do it, audit (also a refusal), commit; then note the saga. */
  private async act(
    id: number,
    action: 'replay' | 'discard',
    actor: string,
    reason: string,
    work: (manager: EntityManager, row: DeadLetterRow) => Promise<ActionOutcome>,
  ): Promise<ActionOutcome> {
    let row: DeadLetterRow | null = null;
    const outcome = await this.dataSource.transaction(async (manager): Promise<ActionOutcome> => {
      row = await this.store.lockForUpdate(manager, id);
      if (!row) return { kind: 'unknown' };
      const done = row.state === 'parked' ? await work(manager, row) : ({ kind: 'already-resolved', state: row.state } as const);
      const detail = done.kind === 'done' ? null : refusalMessage(id, done);
      await this.store.audit(manager, { deadLetterId: id, action, actor, reason, at: new Date(), outcome: done.kind === 'done' ? done.state : done.kind, detail });
      return done;
    });
    const stored = row as DeadLetterRow | null;
    if (action === 'replay' || outcome.kind !== 'done' || !stored) return outcome; // a replay notes the saga itself
    return { ...outcome, sagaNoted: await this.noteSaga(stored, 'DEAD_LETTER_DISCARDED', actor, reason) };
  }

  /** Appends the entry to the history of the saga the dead letter names, if any; false when none. */
  private async noteSaga(row: DeadLetterRow, type: Exclude<DeadLetterNote, 'DEAD_LETTERED'>, actor: string, reason: string): Promise<boolean> {
    if (!isSagaUuid(row.sagaId)) return false;
    const direction = row.direction === 'action' || row.direction === 'compensation' ? row.direction : null;
    try {
      return await this.runtime.noteDeadLetter(
        row.sagaId!,
        type,
        { step: row.step, direction, attempt: row.attempt },
        { deadLetterId: row.id, by: actor, reason, sourceQueue: row.sourceQueue, link: `/dead-letters/${row.id}` },
      );
    } catch (error) {
      this.logger.warn(logLine('dead letter action not noted in the saga history', { deadLetterId: row.id, sagaId: row.sagaId, error: (error as Error).message }));
      return false;
    }
  }
}
