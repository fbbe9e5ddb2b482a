/**
 * Publishes outbox rows that their writer did not publish: the process died between its commit
 * and the broker's confirm, the broker was down, or it nacked. (On the happy path the writer
 * publishes from memory right after its commit: outbox-publisher.service.ts.)
 *
 * Guarantees (docs/semantics.md S4, S7):
 * - Only rows older than OUTBOX_CLAIM_AFTER_MS are claimed, so the relay does not race the
 *   writer's own publish; if it does (a confirm slower than that), the command goes out twice,
 *   which the deterministic message ids make harmless. Never lost: at-least-once.
 * - A row's delete commits only after the broker confirmed its message; if publishing fails the
 *   transaction rolls back and the rows are sent again later.
 * - Rows are claimed with FOR UPDATE SKIP LOCKED, so several replicas never publish one row at
 *   the same time, and any replica publishes what a dead one left behind.
 * - Polls every OUTBOX_POLL_MS (default 5000), and at once when the broker connection comes back:
 *   a row its writer did not publish (a dead replica's, say) goes out within
 *   OUTBOX_CLAIM_AFTER_MS + OUTBOX_POLL_MS of its commit while the broker is up.
 * - Each poll first reads whether any row is old enough (one plain read, no transaction id);
 *   only then does it open the claiming transaction, so an idle relay writes nothing.
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { faultPoint } from '#saga/fault-points';
import { OutboxStore } from '#saga/persistence';
import type { Options } from 'amqplib';
import type { DataSource } from 'typeorm';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { BrokerService } from './broker.service';
import { publishCommand } from './command-publishing';
import { WakeableLoop } from './wakeable-loop';

@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('OutboxRelay');
  private readonly loop: WakeableLoop;
  private readonly outbox = new OutboxStore();
  published = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    private readonly broker: BrokerService,
  ) {
    this.loop = new WakeableLoop('outbox relay', () => this.publishBatch(), config.outboxPollMs, this.logger);
  }

  onApplicationBootstrap(): void {
    this.broker.client.whenConnected(() => this.loop.wake()); // back from a broker outage: publish the backlog
    this.loop.start();
  }

  /** Returns true when a full batch was published (more may be waiting). */
  private async publishBatch(): Promise<boolean> {
    if (!this.broker.client.connected) return false;
    // The common case, nothing left behind: one cheap read instead of a write transaction.
    if (!(await this.outbox.hasUnpublished(this.dataSource.manager, this.config.outboxClaimAfterMs))) return false;
    const batch = this.config.outboxBatchSize;
    const count = await this.dataSource.transaction(async (manager) => {
      // Claimed and deleted in one statement; the delete only becomes visible if every publish is
      // confirmed and the transaction commits, otherwise the rows come back untouched.
      const rows = await this.outbox.claimUnpublished(manager, batch, this.config.outboxClaimAfterMs);
      await Promise.all(rows.map((row) => publishCommand(this.broker, this.logger, row.queue, row.body, row.properties as Options.Publish)));
      if (rows.length > 0) faultPoint('orchestrator.after-publish-before-outbox-delete'); // confirmed, the delete not yet committed
      return rows.length;
    });
    this.published += count;
    return count === batch;
  }

  async onModuleDestroy(): Promise<void> {
    await this.loop.stop();
  }
}
