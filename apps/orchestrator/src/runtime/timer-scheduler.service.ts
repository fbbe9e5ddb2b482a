/**
 * Fires due timers (attempt timeouts, retry backoffs, saga deadlines) into the runtime.
 *
 * Guarantees (docs/semantics.md S7): a timer fires once across all replicas, because handling it starts by
 * deleting its row (locked FOR UPDATE SKIP LOCKED, so replicas never wait on each other) in the
 * same transaction as the saga update; a crash before commit leaves the row in place and it
 * fires again later. Finding due timers is an index range scan on fire_at, never a full scan. Wakes exactly when a newly set timer is due, and
 * polls every TIMER_POLL_MS for timers set elsewhere. A timer whose handling fails is postponed
 * (30 s) rather than blocking the timers behind it.
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { SagaStore } from '#saga/persistence';
import type { SagaEvent } from '#saga/core';
import type { DataSource } from 'typeorm';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { RuntimeSignals } from './runtime-signals';
import { SagaRuntime } from './saga-runtime.service';
import { WakeableLoop } from './wakeable-loop';
import { logLine } from '../logging/log-line';

const BATCH = 100;
const FAILED_TIMER_DELAY_MS = 30_000;

@Injectable()
export class TimerScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('TimerScheduler');
  private readonly store = new SagaStore();
  private readonly loop: WakeableLoop;
  private unsubscribe: (() => void) | undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    private readonly runtime: SagaRuntime,
    private readonly signals: RuntimeSignals,
  ) {
    this.loop = new WakeableLoop('timer scheduler', () => this.fireDue(), config.timerPollMs, this.logger);
  }

  onApplicationBootstrap(): void {
    this.unsubscribe = this.signals.onTimerSet((fireAt) => this.loop.wakeAt(fireAt));
    this.loop.start();
  }

  private async fireDue(): Promise<boolean> {
    const due = await this.store.dueTimers(this.dataSource.manager, Date.now(), BATCH);
    for (const timer of due) {
      try {
        await this.runtime.fireTimer({ id: timer.id, sagaId: timer.sagaId, event: timer.event as unknown as SagaEvent, dueAt: new Date(timer.fireAt).getTime() });
      } catch (error) {
        // One timer that cannot be handled (say its saga's definition version was unloaded) must
        // not hold up the others: it is put back a little later and keeps being logged.
        this.logger.error(
          logLine('timer failed; retrying later', {
            sagaId: timer.sagaId,
            timerId: timer.id,
            event: (timer.event as { type?: string }).type,
            retryInMs: FAILED_TIMER_DELAY_MS,
            error: (error as Error).message,
          }),
        );
        await this.store.postponeTimer(this.dataSource.manager, timer.id, Date.now() + FAILED_TIMER_DELAY_MS);
      }
    }
    return due.length === BATCH;
  }

  async onModuleDestroy(): Promise<void> {
    this.unsubscribe?.();
    await this.loop.stop();
  }
}
