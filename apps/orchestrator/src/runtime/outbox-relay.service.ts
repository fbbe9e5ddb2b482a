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
 * - Polls every OUTBOX_POLL_MS (default 5000), at once when the broker connection comes back,
 *   and when this process's own publish failed (wakeFor): a row its writer did not publish (a
 *   dead replica's, say) goes out within OUTBOX_CLAIM_AFTER_MS + OUTBOX_POLL_MS of its commit
 *   while the broker is up, one of this process's within about OUTBOX_CLAIM_AFTER_MS.
 * - Each poll first reads how old the oldest row is (one plain read, no transaction id); only
 *   when it is old enough does it open the claiming transaction, so an idle relay writes
 *   nothing. A row still too young (a reconnect finds the commands that failed during the
 *   outage) sets the next run for when it will be old enough, not a whole poll later.
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

/** Wake-ups for rows that become claimable land this much later, so the claim finds them old enough. */
const CLAIM_MARGIN_MS = 50;

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

  /** A command of this process could not be published now: publish its row once it may be claimed. */
  wakeFor(committedAt: number): void {
    this.loop.wakeAt(committedAt + this.config.outboxClaimAfterMs + CLAIM_MARGIN_MS);
  }

  onApplicationBootstrap(): void {
    this.broker.client.whenConnected(() => this.loop.wake()); // back from a broker outage: publish the backlog
    this.loop.start();
  }

  /** Returns true when a full batch was published (more may be waiting). */
  private async publishBatch(): Promise<boolean> {
    if (!this.broker.client.connected) return false;
    // The common case, nothing left behind (or only rows their writers are publishing): one cheap read.
    const oldestAgeMs = await this.outbox.oldestAgeMs(this.dataSource.manager);
    if (oldestAgeMs === null) return false;
    if (oldestAgeMs < this.config.outboxClaimAfterMs) {
      this.loop.wakeAt(Date.now() + this.config.outboxClaimAfterMs - oldestAgeMs + CLAIM_MARGIN_MS);
      return false;
    }
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
