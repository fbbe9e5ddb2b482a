/**
 * Takes every message from `<prefix>.dead-letter` into the `dead_letters` table, where an
 * operator lists, replays or discards it (dead-letters.controller.ts).
 *
 * Why a table and not browsing the queue: RabbitMQ has no way to read a queue without taking
 * its messages (basic.get + requeue reorders them, redelivers them to other consumers and, on a
 * quorum queue, counts a delivery each time), no way to take one message by id, and no filter.
 * A table gives all of that and an audit beside it.
 *
 * Guarantees:
 * - At least once, never lost: a message is acked only after its row committed (insert, then
 *   ack). The row's key is a digest of the message as the queue holds it (dead-letter-record.ts),
 *   so a redelivery after a crash between insert and ack, or the same message taken by another
 *   replica (they consume the queue competitively), is the same row, never a second one.
 * - Any message gives a row: unreadable bodies and missing headers are stored as they are; if
 *   the full row is refused anyway, the body alone is stored with a note. A message whose body
 *   cannot be stored either has nowhere further to go: it stays in the queue (returned every
 *   5 s, logged, `saga_dead_letters_taken_total{result="unstorable"}`), never dropped.
 * - An unreachable database parks nothing and loses nothing: the message is retried in place.
 * - A new dead letter naming an existing saga is noted in its history (DEAD_LETTERED, with the
 *   dead letter's id), once: `saga_noted` is set after the note, and a redelivery notes it if a
 *   crash came between.
 * - DEAD_LETTER_INTAKE=false leaves the queue alone (RabbitMQ's own tools then).
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DeadLetterStore, isDatabaseUnavailable, type NewDeadLetter } from '#saga/persistence';
import type { ConsumeMessage } from 'amqplib';
import type { DataSource } from 'typeorm';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { logLine } from '../logging/log-line';
import { BrokerService } from '../runtime/broker.service';
import { SagaMetrics } from '../runtime/saga-metrics';
import { SagaRuntime } from '../runtime/saga-runtime.service';
import { bareRecord, deadLetterRecord, isSagaUuid } from './dead-letter-record';

/** Pause before a message that could not be stored is returned to the dead-letter queue. */
const UNSTORABLE_RETRY_MS = 5_000;

/** A dead letter that could not be stored at all: it stays in the queue. */
export class DeadLetterUnstorableError extends Error {
  readonly code = 'DEAD_LETTER_UNSTORABLE';
  constructor(cause: Error) {
    super(`a dead letter could not be stored and stays in the queue: ${cause.message}`, { cause });
    this.name = 'DeadLetterUnstorableError';
  }
}

@Injectable()
export class DeadLetterIntake implements OnApplicationBootstrap {
  private readonly logger = new Logger('DeadLetterIntake');
  private readonly store = new DeadLetterStore();

  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly broker: BrokerService,
    private readonly runtime: SagaRuntime,
    private readonly metrics: SagaMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.deadLetterIntake) return;
    await this.broker.client.consume(this.broker.names.deadLetterQueue, (message) => this.take(message), {
      prefetch: this.config.deadLetterPrefetch,
      maxBodyBytes: Number.POSITIVE_INFINITY, // a dead letter is kept whole, whatever its size
      requeueDelayMs: UNSTORABLE_RETRY_MS,
      isTransient: isDatabaseUnavailable,
      onPoison: (_message, error) => {
        this.metrics.deadLetterTaken('unstorable');
        this.logger.error(logLine('a dead letter cannot be stored; it stays in the dead-letter queue', { error: error.message.slice(0, 200) }));
        return Promise.reject(new DeadLetterUnstorableError(error));
      },
    });
  }

  private async take(message: ConsumeMessage): Promise<void> {
    const record = deadLetterRecord(message, this.broker.names.replyQueue, Date.now());
    const stored = await this.insert(record);
    this.metrics.deadLetterTaken(stored.inserted ? 'stored' : 'seen');
    if (stored.inserted) this.logger.warn(logLine('dead letter stored', { deadLetterId: stored.id, sourceQueue: record.sourceQueue, sagaId: record.sagaId, step: record.step }));
    if (!stored.sagaNoted && isSagaUuid(record.sagaId)) await this.noteSaga(stored.id, record);
  }

  private async insert(record: NewDeadLetter): Promise<{ id: number; inserted: boolean; sagaNoted: boolean }> {
    try {
      return await this.store.insert(this.dataSource.manager, record);
    } catch (error) {
      if (isDatabaseUnavailable(error as Error)) throw error;
      const refusal = (error as { code?: string }).code ?? (error as Error).name;
      this.logger.warn(logLine('dead letter refused whole; storing its body alone', { sourceQueue: record.sourceQueue, sqlstate: refusal }));
      return this.store.insert(this.dataSource.manager, bareRecord(record, `SQLSTATE ${refusal}`));
    }
  }

  private async noteSaga(id: number, record: NewDeadLetter): Promise<void> {
    const direction = record.direction === 'action' || record.direction === 'compensation' ? record.direction : null;
    await this.runtime.noteDeadLetter(
      record.sagaId!,
      'DEAD_LETTERED',
      { step: record.step, direction, attempt: record.attempt },
      { deadLetterId: id, sourceQueue: record.sourceQueue, reason: record.reason, link: `/dead-letters/${id}` },
    );
    await this.store.markSagaNoted(this.dataSource.manager, id);
  }
}
