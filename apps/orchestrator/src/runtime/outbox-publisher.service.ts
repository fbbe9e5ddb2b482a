/**
 * Publishes the commands of a committed transaction straight from memory, then deletes their
 * outbox rows in batches: the happy path costs no extra transaction and no polling delay.
 *
 * Guarantees (docs/semantics.md S4):
 * - Called only after the commit that wrote the rows, so nothing is published that may roll back.
 * - A row is deleted only after the broker confirmed its command. If publishing fails (broker
 *   down, nack) or the process dies first, the row stays and the outbox relay publishes it once
 *   it is OUTBOX_CLAIM_AFTER_MS old (at-least-once; participants drop repeats by message id);
 *   a failure here wakes the relay for that moment, so it does not wait for its next poll.
 * - Deletes are batched (one statement for everything confirmed meanwhile); a failed delete is
 *   retried, and at worst a command is published twice, never lost.
 * - On shutdown it waits for publishes in flight and flushes the deletes before the broker and
 *   the database close.
 */
import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { faultPoint } from '#saga/fault-points';
import { OutboxStore, type CommittedCommand } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { BrokerService } from './broker.service';
import { publishCommand } from './command-publishing';
import { OutboxRelay } from './outbox-relay.service';
import { logLine } from '../logging/log-line';

/** Confirmed deletes wait at most this long, so a burst of confirms costs one statement. */
const DELETE_DELAY_MS = 20;
const DELETE_RETRY_MS = 1_000;

@Injectable()
export class OutboxPublisher implements OnModuleDestroy {
  private readonly logger = new Logger('OutboxPublisher');
  private readonly inFlight = new Set<Promise<void>>();
  private readonly outbox = new OutboxStore();
  private confirmed: string[] = [];
  private deleteTimer: NodeJS.Timeout | undefined;
  private deleting: Promise<void> | undefined;
  private stopped = false;
  published = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly broker: BrokerService,
    private readonly relay: OutboxRelay,
  ) {}

  /** Fire and forget: the caller's transaction already committed; failures leave the rows to the relay. */
  publishCommitted(commands: CommittedCommand[]): void {
    if (commands.length === 0 || this.stopped) return;
    if (!this.broker.client.connected) return this.relay.wakeFor(Date.now()); // the relay sends them once the broker is back
    for (const command of commands) {
      const publishing = this.publishOne(command);
      this.inFlight.add(publishing);
      void publishing.finally(() => this.inFlight.delete(publishing));
    }
  }

  private async publishOne({ outboxId, envelope }: CommittedCommand): Promise<void> {
    try {
      await publishCommand(this.broker, this.logger, envelope.queue, envelope.body, envelope.properties);
    } catch (error) {
      this.relay.wakeFor(Date.now());
      this.logger.warn(
        logLine('command not published now; the outbox relay will send it', {
          correlationId: String(envelope.properties.correlationId),
          queue: envelope.queue,
          error: (error as Error).message,
        }),
      );
      return;
    }
    faultPoint('orchestrator.after-publish-before-outbox-delete');
    this.published++;
    this.confirmed.push(outboxId);
    this.scheduleDelete(DELETE_DELAY_MS);
  }

  private scheduleDelete(delayMs: number): void {
    if (this.deleteTimer || this.stopped) return;
    this.deleteTimer = setTimeout(() => {
      this.deleteTimer = undefined;
      void this.deleteConfirmed();
    }, delayMs);
  }

  /** One DELETE for every row confirmed so far; on failure the ids are kept and retried. */
  private async deleteConfirmed(): Promise<void> {
    if (this.deleting) return this.deleting;
    const ids = this.confirmed;
    if (ids.length === 0) return;
    this.confirmed = [];
    this.deleting = (async () => {
      try {
        await this.outbox.deletePublished(this.dataSource, ids);
      } catch (error) {
        this.confirmed.push(...ids);
        this.logger.warn(logLine('deleting published outbox rows failed; retrying', { rows: ids.length, error: (error as Error).message }));
        this.scheduleDelete(DELETE_RETRY_MS);
      } finally {
        this.deleting = undefined;
      }
    })();
    await this.deleting;
    if (this.confirmed.length > 0) this.scheduleDelete(DELETE_DELAY_MS);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight]);
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    await this.deleting;
    await this.deleteConfirmed(); // a failure here leaves rows the relay republishes after a restart
  }
}
