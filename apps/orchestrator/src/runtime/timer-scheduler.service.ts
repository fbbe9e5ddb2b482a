/**
 * Fires due timers (attempt timeouts, retry backoffs, saga deadlines) into the runtime.
 *
 * Guarantees (docs/semantics.md S7): a timer fires once across all replicas, because handling it starts by
 * deleting its row (locked FOR UPDATE SKIP LOCKED, so replicas never wait on each other) in the
 * same transaction as the saga update; a crash before commit leaves the row in place and it
 * fires again later. Finding due timers is an index range scan on fire_at, never a full scan.
 * Never fires early: only rows due at the run's clock are read.
 *
 * Sleeps until the next timer it knows of instead of polling fast: a timer this process sets
 * wakes it for that time (RuntimeSignals), and after every run it reads when the next stored
 * timer fires and wakes then. Timers set by other replicas are found by a poll every
 * TIMER_POLL_MS (default 1000): such a timer, or one left by a dead replica, fires at most
 * TIMER_POLL_MS late. A timer whose handling fails is postponed (30 s) rather than blocking the
 * timers behind it. Idle, one run costs two index reads and no transaction.
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
    const now = Date.now();
    const due = await this.store.dueTimers(this.dataSource.manager, now, BATCH);
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
    if (due.length === BATCH) return true; // more are due: run again at once
    // Only timers due after `now`: one read as due but held by another replica (being fired
    // there) must not wake this loop over and over; a due one not read is left to the poll.
    const next = await this.store.nextTimerAt(this.dataSource.manager, now);
    if (next !== null) this.loop.wakeAt(next);
    return false;
  }

  async onModuleDestroy(): Promise<void> {
    this.unsubscribe?.();
    await this.loop.stop();
  }
}
