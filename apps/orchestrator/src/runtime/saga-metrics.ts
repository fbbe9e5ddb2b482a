/**
 * Prometheus metrics of the orchestrator: what was started and how it ended, every event the
 * runtime handled, how long handling took, and, read fresh on every scrape, the sagas stuck in
 * COMPENSATION_FAILED, the outbox backlog, the parked dead letters and the unfinished sagas whose
 * definition version is not loaded (the things to alert on).
 *
 * Guarantees: one registry per orchestrator instance (tests run several in one process);
 * counters only move after a commit, so they never count work that was rolled back. The
 * default Node metrics sample the event-loop delay every EVENT_LOOP_RESOLUTION_MS (100 ms, not
 * prom-client's 10 ms, which wakes an idle process 100 times a second); the lag percentiles
 * are then as fine as that resolution.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Decision, FailureType, SagaEvent } from '#saga/core';
import { DeadLetterStore, OutboxStore, preparedStatementStats, SagaStore } from '#saga/persistence';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DataSource } from 'typeorm';
import { StoredDefinitions } from '../definitions/stored-definitions';

/** Resolution of the event-loop delay monitor behind nodejs_eventloop_lag_* (prom-client: 10). */
export const EVENT_LOOP_RESOLUTION_MS = 100;

@Injectable()
export class SagaMetrics {
  readonly registry = new Registry();
  private readonly started = new Counter({ name: 'saga_started_total', help: 'Sagas started', labelNames: ['saga'], registers: [this.registry] });
  private readonly finished = new Counter({
    name: 'saga_finished_total',
    help: 'Sagas that reached a terminal status',
    labelNames: ['saga', 'status'],
    registers: [this.registry],
  });
  private readonly compensationFailed = new Counter({
    name: 'saga_compensation_failed_total',
    help: 'Compensations that exhausted their retries (the saga is COMPENSATION_FAILED and needs an operator)',
    labelNames: ['saga', 'step'],
    registers: [this.registry],
  });
  private readonly exceptions = new Counter({
    name: 'saga_exceptions_total',
    help: 'Failure entries written to saga histories (the exception log), by failure type',
    labelNames: ['type'],
    registers: [this.registry],
  });
  private readonly events = new Counter({ name: 'saga_events_total', help: 'Events handled, by type and result', labelNames: ['type', 'result'], registers: [this.registry] });
  private readonly replyBatches = new Counter({
    name: 'saga_reply_batches_total',
    help: 'Reply batches committed, by path: "held" (one statement from the states this process holds) or "read" (locked and read first)',
    labelNames: ['path'],
    registers: [this.registry],
  });
  private readonly handleSeconds = new Histogram({
    name: 'saga_event_handle_seconds',
    help: 'Time to handle one event: lock, decide, commit',
    labelNames: ['type'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  private readonly deadLetters = new Counter({
    name: 'saga_dead_letters_taken_total',
    help: 'Messages taken from the dead-letter queue: "stored" (a new row), "seen" (a redelivery of a stored one), "unstorable" (left in the queue: even its body could not be stored)',
    labelNames: ['result'],
    registers: [this.registry],
  });

  private readonly waitAnswers = new Counter({
    name: 'saga_wait_answers_total',
    help: 'Starts that waited for their saga to end and saw it end, by where the answer came from: "commits" (this process committed every version of it: no read) or "read"',
    labelNames: ['from'],
    registers: [this.registry],
  });
  private readonly pruned = new Counter({
    name: 'saga_pruned_total',
    help: 'Rows deleted by retention (finished sagas and their rows), by table',
    labelNames: ['table'],
    registers: [this.registry],
  });

  constructor(@InjectDataSource() dataSource: DataSource, definitions: StoredDefinitions) {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS });
    new Gauge({
      name: 'saga_definition_missing_sagas',
      help: 'Unfinished sagas pinned to a definition version this replica has not loaded (their replies are parked, timers postponed)',
      labelNames: ['name', 'version'],
      registers: [this.registry],
      async collect() {
        this.reset(); // a version that was loaded since the last scrape disappears
        for (const { name, version, sagas } of await definitions.missing()) this.set({ name, version: String(version) }, sagas);
      },
    });
    new Gauge({
      name: 'saga_stuck',
      help: 'Sagas in COMPENSATION_FAILED, waiting for an operator',
      registers: [this.registry],
      async collect() {
        this.set(await new SagaStore().countStuck(dataSource.manager));
      },
    });
    new Gauge({
      name: 'saga_outbox_backlog',
      help: 'Commands committed but not yet published',
      registers: [this.registry],
      async collect() {
        this.set(await new OutboxStore().backlog(dataSource.manager));
      },
    });
    new Gauge({
      name: 'saga_dead_letters_parked',
      help: 'Dead letters waiting for an operator (GET /dead-letters?state=parked)',
      registers: [this.registry],
      async collect() {
        this.set(await new DeadLetterStore().countParked(dataSource.manager));
      },
    });
    new Gauge({
      name: 'saga_prepared_statements',
      help: 'SQL statements this process prepared on its pooled connections, and evicted to keep each connection under its bound (counts since start)',
      labelNames: ['event'],
      registers: [this.registry],
      collect() {
        const stats = preparedStatementStats();
        this.set({ event: 'prepared' }, stats.prepared);
        this.set({ event: 'evicted' }, stats.evicted);
      },
    });
  }

  replyBatch(path: 'held' | 'read'): void {
    this.replyBatches.inc({ path });
  }

  /** Records an event the runtime handled; `decision` is present when state was committed. */
  handled(event: SagaEvent, result: string, seconds: number, decision?: Decision): void {
    this.events.inc({ type: event.type, result });
    this.handleSeconds.observe({ type: event.type }, seconds);
    if (result === 'duplicate') this.exception('duplicate');
    if (!decision) return;
    const saga = decision.state.name;
    for (const entry of decision.history) {
      if (entry.failureType !== null) this.exception(entry.failureType);
      if (entry.type === 'SAGA_STARTED') this.started.inc({ saga });
      if (entry.type === 'SAGA_COMPLETED') this.finished.inc({ saga, status: 'COMPLETED' });
      if (entry.type === 'SAGA_COMPENSATED') this.finished.inc({ saga, status: 'COMPENSATED' });
      if (entry.type === 'SAGA_RESOLVED_MANUALLY') this.finished.inc({ saga, status: 'RESOLVED_MANUALLY' });
      if (entry.type === 'COMPENSATION_FAILED') {
        this.finished.inc({ saga, status: 'COMPENSATION_FAILED' });
        this.compensationFailed.inc({ saga, step: entry.step ?? '' });
      }
    }
  }

  /** One message taken from the dead-letter queue, by what became of it. */
  rowsPruned(table: string, rows: number): void {
    if (rows > 0) this.pruned.inc({ table }, rows);
  }

  /** A start that waited was answered from this process's commits, or by reading the saga. */
  waitAnswered(from: 'commits' | 'read'): void {
    this.waitAnswers.inc({ from });
  }

  deadLetterTaken(result: 'stored' | 'seen' | 'unstorable'): void {
    this.deadLetters.inc({ result });
  }

  /** One failure entry committed to a saga's history. */
  exception(type: FailureType): void {
    this.exceptions.inc({ type });
  }
}
