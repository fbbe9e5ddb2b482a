/**
 * Retention of finished sagas (docs/operations.md "Retention"): every RETENTION_INTERVAL_MS each
 * replica deletes the COMPLETED, COMPENSATED and RESOLVED_MANUALLY sagas whose last change is older
 * than RETENTION_FINISHED_SAGAS, with their steps, history and inbox keys, in batches of
 * RETENTION_BATCH_SIZE sagas per transaction.
 *
 * Guarantees: never touches an unfinished or COMPENSATION_FAILED saga; each saga goes whole, in one
 * statement, by exactly one replica (SKIP LOCKED, finished-saga-retention.ts); a sweep stops after
 * MAX_BATCHES_PER_RUN batches and continues at once in the next run, so stop() never waits for a
 * backlog; counts go to saga_pruned_total{table} and one log line per sweep that deleted anything.
 * A failing run is logged and retried after the interval (WakeableLoop). Pruning is off when the
 * window is 0/off.
 *
 * Vacuum (churn-vacuum.ts, docs/operations.md "Vacuum when autovacuum is off"): at the end of
 * each sweep, with RETENTION_VACUUM=auto and the server's autovacuum off, every saga table is
 * vacuumed (they churn through the runtime's updates and deletes as well as through retention, so
 * the loop runs for vacuum alone when the window is off). At bootstrap one check warns when
 * autovacuum is off; a failed check never stops the boot.
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { ChurnVacuum, PRUNED_TABLES, pruneFinishedSagas, type PrunedCounts } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { logLine } from '../logging/log-line';
import { SagaMetrics } from './saga-metrics';
import { WakeableLoop } from './wakeable-loop';

const MAX_BATCHES_PER_RUN = 20;
/** Every table retention deletes from; the runtime updates or deletes rows in each of them too. */
const CHURNED_TABLES = PRUNED_TABLES;

@Injectable()
export class SagaRetention implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('SagaRetention');
  private readonly loop: WakeableLoop | undefined;
  private readonly settings: OrchestratorConfig['retention'];
  private readonly vacuum: ChurnVacuum;
  private sweep: PrunedCounts = emptyCounts();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    private readonly metrics: SagaMetrics,
  ) {
    this.settings = config.retention;
    this.vacuum = new ChurnVacuum(dataSource, this.settings.vacuum, CHURNED_TABLES, this.settings.intervalMs);
    if (this.settings.finishedSagasMs !== null || this.settings.vacuum === 'auto') {
      this.loop = new WakeableLoop('saga retention', () => this.run(), this.settings.intervalMs, this.logger);
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.vacuum.warnIfAutovacuumOff(this.logger);
    this.loop?.start();
  }

  /** One run: batches until one is not full, then the vacuum (false), or MAX_BATCHES_PER_RUN
   *  were full (true: run again at once, the vacuum waits for the sweep's end). */
  async run(now = Date.now()): Promise<boolean> {
    const windowMs = this.settings.finishedSagasMs;
    if (windowMs !== null && (await this.prune(new Date(now - windowMs)))) return true;
    await this.vacuum.run();
    return false;
  }

  /** Whether the backlog goes on past this run. */
  private async prune(cutoff: Date): Promise<boolean> {
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
      const counts = await pruneFinishedSagas(this.dataSource.manager, cutoff, this.settings.batchSize);
      for (const table of PRUNED_TABLES) {
        this.metrics.rowsPruned(table, counts[table]);
        this.sweep[table] += counts[table];
      }
      if (counts.saga_instances < this.settings.batchSize) {
        this.endSweep(cutoff);
        return false;
      }
    }
    return true;
  }

  private endSweep(cutoff: Date): void {
    const done = this.sweep;
    this.sweep = emptyCounts();
    if (done.saga_instances === 0) return;
    this.logger.log(
      logLine('finished sagas pruned', {
        olderThan: cutoff.toISOString(),
        sagas: done.saga_instances,
        steps: done.saga_steps,
        history: done.saga_history,
        inbox: done.saga_inbox,
        timers: done.saga_timers,
        outbox: done.saga_outbox,
      }),
    );
  }

  async onModuleDestroy(): Promise<void> {
    await this.loop?.stop();
  }
}

function emptyCounts(): PrunedCounts {
  return Object.fromEntries(PRUNED_TABLES.map((table) => [table, 0])) as PrunedCounts;
}
