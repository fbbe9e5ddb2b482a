/**
 * Read side of sagas for the API: one saga with steps and history, lists, and waiting for a
 * terminal status.
 *
 * Guarantees: reads never lock; one saga is read from one snapshot (no torn status/history); waitForTerminal returns as soon as this process commits a
 * terminal status (in-process signal) or, for changes made by another replica, within 250 ms.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isTerminal, type SagaStatus } from '#saga/core';
import { SagaHistoryEntity, SagaInstanceEntity, SagaStepEntity } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { RuntimeSignals } from '../../runtime/runtime-signals';
import type { SagaSummaryView, SagaView } from './saga-views';

const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

export function summaryView(saga: { id: string; name: string; version: number; status: string }): SagaSummaryView {
  return { id: saga.id, name: saga.name, version: saga.version, status: saga.status, links: { self: `/sagas/${saga.id}` } };
}

@Injectable()
export class SagaQueries {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly signals: RuntimeSignals,
  ) {}

  async status(id: string): Promise<SagaStatus | undefined> {
    const row = await this.dataSource.manager.findOne(SagaInstanceEntity, { where: { id }, select: { id: true, status: true } });
    return row?.status as SagaStatus | undefined;
  }

  async waitForTerminal(id: string, waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const status = await this.status(id);
      if (status === undefined || isTerminal(status)) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(250, remaining));
        const unsubscribe = this.signals.onSagaChanged(id, done);
        function done(): void {
          clearTimeout(timer);
          unsubscribe();
          resolve();
        }
      });
    }
  }

  async findOne(id: string): Promise<SagaView | undefined> {
    // One snapshot for the three reads, so status, steps and history always agree.
    const read = await this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const instance = await manager.findOne(SagaInstanceEntity, { where: { id } });
      if (!instance) return undefined;
      const steps = await manager.find(SagaStepEntity, { where: { sagaId: id }, order: { position: 'ASC' } });
      const history = await manager.find(SagaHistoryEntity, { where: { sagaId: id }, order: { id: 'ASC' } });
      return { instance, steps, history };
    });
    if (!read) return undefined;
    const { instance, steps, history } = read;
    return {
      ...summaryView({ id, name: instance.definitionName, version: instance.definitionVersion, status: instance.status }),
      input: instance.input,
      failure: instance.failure,
      currentStep: instance.currentStep >= 0 ? (steps[instance.currentStep]?.name ?? null) : null,
      createdAt: instance.createdAt.toISOString(),
      updatedAt: instance.updatedAt.toISOString(),
      steps: steps.map((step) => ({
        name: step.name,
        status: step.status,
        attempt: step.attempt,
        compensationAttempt: step.compensationAttempt,
        waitingForRetry: step.waitingForRetry,
        request: step.request ?? null,
        result: step.result ?? null,
        lastError: step.lastError,
        startedAt: iso(step.startedAt),
        finishedAt: iso(step.finishedAt),
      })),
      history: history.map((entry) => ({
        type: entry.type,
        failureType: entry.failureType,
        at: entry.at.toISOString(),
        step: entry.step,
        direction: entry.direction,
        attempt: entry.attempt,
        reason: entry.reason,
        detail: entry.detail,
      })),
      exceptions: history
        .filter((entry) => entry.failureType !== null)
        .map((entry) => ({
          type: entry.failureType!,
          at: entry.at.toISOString(),
          entry: entry.type,
          step: entry.step,
          direction: entry.direction,
          attempt: entry.attempt,
          reason: entry.reason,
          message: typeof entry.detail?.message === 'string' ? entry.detail.message : null,
        })),
    };
  }

  async list(filter: { status?: string; name?: string; limit: number }): Promise<SagaSummaryView[]> {
    const query = this.dataSource.manager.createQueryBuilder(SagaInstanceEntity, 'saga').orderBy('saga.updated_at', 'DESC').limit(filter.limit);
    if (filter.status) query.andWhere('saga.status = :status', { status: filter.status });
    if (filter.name) query.andWhere('saga.definition_name = :name', { name: filter.name });
    const rows = await query.getMany();
    return rows.map((row) => summaryView({ id: row.id, name: row.definitionName, version: row.definitionVersion, status: row.status }));
  }
}
