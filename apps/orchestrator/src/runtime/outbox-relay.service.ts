/**
 * Publishes committed outbox rows to RabbitMQ (the "relay" of the transactional outbox).
 *
 * Guarantees (SPEC S4, S7):
 * - A row's delete commits only after the broker confirmed its message; if publishing
 *   fails the transaction rolls back and the rows are sent again later (at-least-once; the
 *   deterministic message ids let participants drop the repeats).
 * - Rows are claimed with FOR UPDATE SKIP LOCKED, so several replicas never publish one row
 *   at the same time.
 * - Publishes with `mandatory`: a command whose queue is gone goes to the dead-letter queue
 *   with the reason instead of vanishing.
 * - Wakes at once on an in-process signal or a PostgreSQL NOTIFY from any replica's commit;
 *   polls every OUTBOX_POLL_MS as the fallback. No fixed sleep on the happy path.
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { deadLetterContent } from '#saga/messaging';
import { OUTBOX_CHANNEL } from '#saga/persistence';
import { Client } from 'pg';
import type { Options } from 'amqplib';
import type { DataSource } from 'typeorm';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { BrokerService } from './broker.service';
import { RuntimeSignals } from './runtime-signals';
import { WakeableLoop } from './wakeable-loop';

interface OutboxRow {
  id: string;
  queue: string;
  body: Record<string, unknown>;
  properties: Options.Publish;
}

@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('OutboxRelay');
  private readonly loop: WakeableLoop;
  private listener: Client | undefined;
  private unsubscribe: (() => void) | undefined;
  private relisten: NodeJS.Timeout | undefined;
  private stopped = false;
  published = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    private readonly broker: BrokerService,
    private readonly signals: RuntimeSignals,
  ) {
    this.loop = new WakeableLoop('outbox relay', () => this.publishBatch(), config.outboxPollMs, this.logger);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe = this.signals.onOutboxWritten(() => this.loop.wake());
    this.broker.client.whenConnected(() => this.loop.wake()); // back from a broker outage: publish the backlog now
    await this.listen();
    this.loop.start();
  }

  /** Opens the LISTEN connection; on failure or loss it retries every second until stopped.
   *  Never throws: without a listener the relay still polls. */
  private async listen(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString: this.config.databaseUrl });
    let lost = false;
    const onLost = (reason: string) => {
      if (lost) return;
      lost = true;
      if (this.listener === client) this.listener = undefined;
      void client.end().catch(() => undefined);
      if (this.stopped) return;
      this.logger.warn(`LISTEN connection lost (${reason}); polling until it is back`);
      this.scheduleListen();
    };
    client.on('notification', () => this.loop.wake());
    client.on('error', (error) => onLost(error.message));
    try {
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (error) {
      onLost((error as Error).message);
      return;
    }
    if (this.stopped || lost) {
      void client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.loop.wake(); // commits made while nobody listened are picked up now, not at the next poll
  }

  private scheduleListen(): void {
    if (this.stopped || this.relisten) return;
    this.relisten = setTimeout(() => {
      this.relisten = undefined;
      void this.listen();
    }, 1000);
    this.relisten.unref();
  }

  /** Returns true when a full batch was published (more may be waiting). */
  private async publishBatch(): Promise<boolean> {
    if (!this.broker.client.connected) return false;
    const batch = this.config.outboxBatchSize;
    const count = await this.dataSource.transaction(async (manager) => {
      // Claim and delete in one statement; the delete only becomes visible if every publish is
      // confirmed and the transaction commits, otherwise the rows come back untouched.
      const [rows]: [OutboxRow[], number] = await manager.query(
        `DELETE FROM saga_outbox WHERE id IN (SELECT id FROM saga_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, queue, body, properties`,
        [batch],
      );
      if (rows.length === 0) return 0;
      rows.sort((a, b) => Number(a.id) - Number(b.id));
      await Promise.all(rows.map((row) => this.publish(row)));
      return rows.length;
    });
    this.published += count;
    return count === batch;
  }

  /** A command no queue takes (its queue was deleted) is parked in the dead-letter queue with
   *  the reason rather than dropped; the saga's timeout then handles the missing reply. */
  private async publish(row: OutboxRow): Promise<void> {
    const content = Buffer.from(JSON.stringify(row.body));
    const result = await this.broker.client.publish('', row.queue, content, { ...row.properties, mandatory: true });
    if (result === 'unroutable') {
      const reason = `unroutable: no queue named "${row.queue}" exists`;
      this.logger.error(`Command ${String(row.properties.correlationId)} ${reason}; dead-lettered`);
      await deadLetterContent(this.broker.client, this.broker.names.deadLetterExchange, content, row.properties, row.queue, reason);
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.relisten) clearTimeout(this.relisten);
    this.relisten = undefined;
    this.unsubscribe?.();
    await this.loop.stop();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }
}
