/**
 * Publishes the commands of a committed transaction straight from memory, then has their outbox
 * rows deleted: the happy path costs no extra transaction and no polling delay.
 *
 * Guarantees (docs/semantics.md S4):
 * - Called only after the commit that wrote the rows, so nothing is published that may roll back.
 * - A row is deleted only after the broker confirmed its command. If publishing fails (broker
 *   down, nack) or the process dies first, the row stays and the outbox relay publishes it once
 *   it is OUTBOX_CLAIM_AFTER_MS old (at-least-once; participants drop repeats by message id);
 *   a failure here wakes the relay for that moment, so it does not wait for its next poll.
 * - Confirmed rows go to `published` (published-outbox.ts): the committer's next start or reply
 *   write deletes them as a part of its own statement. Rows no write took for a whole tick are
 *   deleted here, in one statement (an idle process: within two ticks). A failed delete is
 *   retried, and at worst a command is published twice, never lost.
 * - On shutdown it waits for publishes in flight and flushes the deletes before the broker and
 *   the database close.
 */
import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { faultPoint } from '#saga/fault-points';
import { OutboxStore, PublishedOutbox, type CommittedCommand } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { BrokerService } from './broker.service';
import { publishCommand } from './command-publishing';
import { OutboxRelay } from './outbox-relay.service';
import { logLine } from '../logging/log-line';

/** How long a confirmed row waits for a write to delete it before it is aged; aged rows are
 *  deleted on their own at the next tick. */
const DELETE_TICK_MS = 50;
const DELETE_RETRY_MS = 1_000;

@Injectable()
export class OutboxPublisher implements OnModuleDestroy {
  private readonly logger = new Logger('OutboxPublisher');
  private readonly inFlight = new Set<Promise<void>>();
  private readonly outbox = new OutboxStore();
  /** Confirmed rows not yet deleted; the committer's writes take from it too (saga-runtime.service.ts). */
  readonly published = new PublishedOutbox();
  private deleteTimer: NodeJS.Timeout | undefined;
  private deleting: Promise<void> | undefined;
  private stopped = false;

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
    this.published.add(outboxId);
    this.scheduleDelete(DELETE_TICK_MS);
  }

  private scheduleDelete(delayMs: number): void {
    if (this.deleteTimer || this.stopped) return;
    this.deleteTimer = setTimeout(() => {
      this.deleteTimer = undefined;
      void this.deleteConfirmed(this.published.takeAged());
    }, delayMs);
  }

  /** One DELETE for `ids` (none: nothing to do); on failure they are given back and retried.
   *  Ticks go on only while rows wait, so an idle process sets no timer. */
  private async deleteConfirmed(ids: string[]): Promise<void> {
    if (this.deleting) {
      this.published.restore(ids);
      await this.deleting;
    } else if (ids.length > 0) {
      this.deleting = (async () => {
        try {
          await this.outbox.deletePublished(this.dataSource, ids);
        } catch (error) {
          this.published.restore(ids);
          this.logger.warn(logLine('deleting published outbox rows failed; retrying', { rows: ids.length, error: (error as Error).message }));
          this.scheduleDelete(DELETE_RETRY_MS);
        } finally {
          this.deleting = undefined;
        }
      })();
      await this.deleting;
    }
    if (this.published.size > 0) this.scheduleDelete(DELETE_TICK_MS);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight]);
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    await this.deleting;
    await this.deleteConfirmed(this.published.takeAll()); // a failure here leaves rows the relay republishes after a restart
  }
}
