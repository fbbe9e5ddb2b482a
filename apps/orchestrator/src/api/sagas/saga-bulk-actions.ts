/**
 * Bulk actions over a filter (docs/semantics.md S8): the sagas GET /sagas would list, most
 * recently changed first, each acted on through the same single-saga path as its endpoint
 * (SagaRuntime.cancel, SagaRepairs), so each is its own engine event, committed and recorded in
 * that saga's history with who and why; nothing is written beside the engine.
 *
 * Guarantees:
 * - A dry run reads only: it counts matches (up to DRY_RUN_COUNT_CAP) and names the first ones.
 * - One call acts on at most `max` sagas, chosen before the first action (acting changes a
 *   saga's updated_at, so the walk would otherwise meet it again); `more` says whether others
 *   matched.
 * - A refusal (the saga changed since it matched) or a failure of one saga never stops the
 *   others; each is reported with its reason.
 * - With an Idempotency-Key, each saga's repair claims `bulk:<key>` under its own saga, so a
 *   repeated call acts on no saga twice (a cancel is refused anyway once a saga is no longer
 *   RUNNING).
 * - Progress is logged every PROGRESS_EVERY sagas, with the actor; never the reason.
 */
import { Injectable, Logger } from '@nestjs/common';
import { logLine } from '../../logging/log-line';
import { SagaRepairs, type RepairResult } from '../../runtime/saga-repairs.service';
import { SagaRuntime } from '../../runtime/saga-runtime.service';
import { DRY_RUN_COUNT_CAP, type BulkActionView } from './saga-bulk.dto';
import { SagaQueries } from './saga-queries';
import type { SagaSearchFilter } from './saga-search';

export const BULK_ACTIONS = ['cancel', 'retry-compensation', 'retry-step'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

export interface BulkRequest {
  by: string;
  reason: string;
  idempotencyKey: string | null;
  dryRun: boolean;
  max: number;
}

const PAGE = 500;
const SAMPLE = 20;
const PROGRESS_EVERY = 100;

interface Target {
  id: string;
  step: string | null;
}

@Injectable()
export class SagaBulkActions {
  private readonly logger = new Logger('SagaBulkActions');

  constructor(
    private readonly queries: SagaQueries,
    private readonly runtime: SagaRuntime,
    private readonly repairs: SagaRepairs,
  ) {}

  async run(action: BulkAction, filter: Omit<SagaSearchFilter, 'limit' | 'after'>, request: BulkRequest): Promise<BulkActionView> {
    const wanted = request.dryRun ? DRY_RUN_COUNT_CAP : request.max;
    const { targets, more } = await this.matching(filter, wanted);
    const view: BulkActionView = { action, dryRun: request.dryRun, matched: targets.length, more, ids: [], done: 0, replayed: 0, refused: [], failed: [] };
    if (request.dryRun) return { ...view, ids: targets.slice(0, SAMPLE).map((target) => target.id) };
    this.logger.log(logLine('bulk action started', { action, actor: request.by, sagas: targets.length, more }));
    for (const [index, target] of targets.entries()) {
      view.ids.push(target.id);
      try {
        const outcome = await this.act(action, target, request);
        if (outcome === DONE) view.done++;
        else if (outcome === REPLAYED) view.replayed++;
        else view.refused.push({ id: target.id, reason: outcome });
      } catch (error) {
        view.failed.push({ id: target.id, reason: (error as Error).message.slice(0, 300) });
      }
      if ((index + 1) % PROGRESS_EVERY === 0) this.logger.log(logLine('bulk action progress', { action, actor: request.by, handled: index + 1, of: targets.length }));
    }
    this.logger.log(logLine('bulk action finished', { action, actor: request.by, done: view.done, refused: view.refused.length, failed: view.failed.length }));
    return view;
  }

  /** Up to `wanted` matching sagas, in the list's order, and whether more match. */
  private async matching(filter: Omit<SagaSearchFilter, 'limit' | 'after'>, wanted: number): Promise<{ targets: Target[]; more: boolean }> {
    const targets: Target[] = [];
    let after: SagaSearchFilter['after'];
    for (;;) {
      const page = await this.queries.searchRows({ ...filter, limit: Math.min(PAGE, wanted - targets.length + 1), after });
      for (const row of page.rows) targets.push({ id: row.id, step: row.step_name });
      if (targets.length > wanted) return { targets: targets.slice(0, wanted), more: true };
      if (!page.more || page.rows.length === 0) return { targets, more: false };
      const last = page.rows.at(-1)!;
      after = { updatedAt: last.cursor_at, id: last.id };
    }
  }

  /** DONE, REPLAYED (an earlier call with this key did it), else why not. */
  private async act(action: BulkAction, target: Target, request: BulkRequest): Promise<string> {
    const repair = { by: request.by, reason: request.reason, idempotencyKey: request.idempotencyKey === null ? null : `bulk:${request.idempotencyKey}` };
    switch (action) {
      case 'cancel': {
        const outcome = await this.runtime.cancel(target.id, request.reason, request.by);
        if (outcome.kind === 'cancelled') return DONE;
        return outcome.kind === 'refused' ? outcome.reason : 'the saga no longer exists';
      }
      case 'retry-compensation':
        return refusalOf(await this.repairs.retryCompensation(target.id, repair));
      case 'retry-step':
        if (target.step === null) return 'the saga has no step in flight';
        return refusalOf(await this.repairs.retryStep(target.id, target.step, repair));
    }
  }
}

const DONE = 'done';
const REPLAYED = 'replayed';

function refusalOf(result: RepairResult): string {
  switch (result.kind) {
    case 'done':
      return result.replayed ? REPLAYED : DONE;
    case 'refused':
      return result.reason;
    case 'key-reused':
      return `the Idempotency-Key was already used for ${result.action} on this saga`;
    case 'unknown-saga':
      return 'the saga no longer exists';
  }
}
