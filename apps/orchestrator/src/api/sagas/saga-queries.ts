/**
 * Read side of sagas for the API: one saga with steps and history, searches (the SQL is in
 * saga-search.ts), counts, and waiting for a terminal status. Every read of a saga is a single
 * SQL statement, so it costs one round trip (a search with a created range and the counts: two).
 *
 * Guarantees: reads never lock; one saga is read by one statement, hence from one snapshot (no
 * torn status/steps/history). waitForTerminal checks the status once on entry (an ended or
 * unknown saga returns at once), then returns as soon as this process commits a terminal
 * status (in-process signal, no further read) or, for changes made by another replica, within
 * 250 ms: one shared poller reads the status of every waited saga in one query per 250 ms, so
 * waiting costs the same however many requests wait. It always returns by its deadline, also
 * while the database is unreachable, and never throws after the entry check; at shutdown
 * (module destroy) every wait ends at once.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isTerminal, type SagaStatus } from '#saga/core';
import { preparedQuery } from '#saga/persistence';
import { types } from 'pg';
import type { DataSource } from 'typeorm';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../../config/orchestrator-config';
import { RuntimeSignals } from '../../runtime/runtime-signals';
import { countSagas, type SagaCounts } from './saga-counts';
import { encodeCursor, searchSagas, type SagaSearchFilter, type SagaSearchRow } from './saga-search';
import type { HistoryEntryView, HistoryPageView, SagaListItemView, SagaPageView, SagaView, StepView, TimerEventView } from './saga-views';
import { TerminalStatusWaiter } from './terminal-status-waiter';
import { sagaView, summaryView } from './saga-view-assembly';

export { summaryView };

export const WAIT_POLL_MS = 250;

/** Why a wait ended early: this process committed a terminal status. */
const COMMITTED_HERE = 'terminal status committed here';

const STATUS_SQL = 'SELECT status FROM saga_instances WHERE id = $1';
const STATUSES_SQL = 'SELECT id, status FROM saga_instances WHERE id = ANY($1::uuid[])';

/** History entries as (id, entry json); the caller adds WHERE, ORDER and LIMIT. */
const HISTORY_ENTRIES = `
  SELECT h.id, json_build_object(
           'type', h.type, 'failureType', h.failure_type, 'at', h.at::text, 'step', h.step, 'direction', h.direction,
           'attempt', h.attempt, 'reason', h.reason, 'detail', h.detail) AS entry
    FROM saga_history h`;

/** The saga row with its steps (by position) and history (by id, i.e. commit order) as JSON
 *  arrays. Timestamps inside the arrays travel as PostgreSQL's text form and are parsed with
 *  the driver's own parser, so they come out exactly as the ORM's columns did. */
const SAGA_SQL = `
  SELECT i.definition_name, i.definition_version, i.status, i.input, i.failure, i.current_step, i.created_at, i.updated_at,
         i.definition_fingerprint, i.business_key,
         COALESCE((SELECT json_agg(json_build_object(
                     'name', s.name, 'status', s.status, 'attempt', s.attempt, 'compensationAttempt', s.compensation_attempt,
                     'waitingForRetry', s.waiting_for_retry, 'request', s.request, 'result', s.result, 'lastError', s.last_error,
                     'startedAt', s.started_at::text, 'finishedAt', s.finished_at::text,
                     'manual', coalesce((s.repair->>'manual')::boolean, false)) ORDER BY s.position)
                     FROM saga_steps s WHERE s.saga_id = i.id), '[]'::json) AS steps,
         COALESCE(latest.history, '[]'::json) AS history,
         -- Counted only when there is more than the page: one index scan of N + 1 entries otherwise.
         CASE WHEN latest.fetched > $2 THEN (SELECT count(*) FROM saga_history h WHERE h.saga_id = i.id)::int ELSE latest.fetched END AS history_total,
         latest.oldest_shown::text AS oldest_shown,
         COALESCE((SELECT json_agg(json_build_object('id', t.id, 'fireAt', t.fire_at::text, 'event', t.event) ORDER BY t.fire_at, t.id)
                     FROM saga_timers t WHERE t.saga_id = i.id), '[]'::json) AS timers
    FROM saga_instances i
    CROSS JOIN LATERAL (
      SELECT json_agg(page.entry ORDER BY page.id) FILTER (WHERE page.rank <= $2) AS history,
             count(*)::int AS fetched,
             min(page.id) FILTER (WHERE page.rank <= $2) AS oldest_shown
        FROM (SELECT entries.*, row_number() OVER (ORDER BY entries.id DESC) AS rank
                FROM (${HISTORY_ENTRIES} WHERE h.saga_id = i.id ORDER BY h.id DESC LIMIT $2 + 1) entries) page
    ) latest
   WHERE i.id = $1`;

/** $1 saga id, $2 the history id to page before (or null: the latest), $3 how many. One row per
 *  entry, newest first; none for a saga without such entries. */
const HISTORY_PAGE_SQL = `${HISTORY_ENTRIES} WHERE h.saga_id = $1 AND ($2::bigint IS NULL OR h.id < $2::bigint) ORDER BY h.id DESC LIMIT $3`;

interface SagaRow {
  definition_name: string;
  definition_version: number;
  definition_fingerprint: string | null;
  status: string;
  input: unknown;
  failure: SagaView['failure'];
  current_step: number;
  business_key: string | null;
  created_at: Date;
  updated_at: Date;
  steps: (Omit<StepView, 'startedAt' | 'finishedAt'> & { startedAt: string | null; finishedAt: string | null })[];
  history: StoredEntry[];
  history_total: number;
  timers: { id: string; fireAt: string; event: TimerEventView }[];
}

type StoredEntry = Omit<HistoryEntryView, 'at'> & { at: string };

/** The cursor of a history page: opaque to clients, the id of the oldest entry shown. */
function cursorBefore(id: string): string {
  return Buffer.from(`h:${id}`).toString('base64url');
}

/** The history id a cursor names, or undefined when it is not one of ours. */
export function historyCursor(cursor: string): string | undefined {
  const match = /^h:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return match?.[1];
}

function entryView(entry: StoredEntry): HistoryEntryView {
  return {
    type: entry.type,
    failureType: entry.failureType,
    at: isoOf(entry.at),
    step: entry.step,
    direction: entry.direction,
    attempt: entry.attempt,
    reason: entry.reason,
    detail: entry.detail,
  };
}

const parseTimestamptz = types.getTypeParser(types.builtins.TIMESTAMPTZ, 'text') as (text: string) => Date;
const isoOf = (text: string): string => parseTimestamptz(text).toISOString();
const isoOrNull = (text: string | null): string | null => (text === null ? null : isoOf(text));

@Injectable()
export class SagaQueries implements OnModuleDestroy {
  private readonly waits: TerminalStatusWaiter;
  private waiting = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly signals: RuntimeSignals,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: Pick<OrchestratorConfig, 'maxWaiters' | 'historyLimit'>,
  ) {
    this.waits = new TerminalStatusWaiter((ids) => preparedQuery(this.dataSource, STATUSES_SQL, [ids]), new Logger('SagaWaits'), WAIT_POLL_MS);
  }

  onModuleDestroy(): void {
    this.waits.close();
  }

  async status(id: string): Promise<SagaStatus | undefined> {
    const rows: { status: SagaStatus }[] = await preparedQuery<{ status: SagaStatus }>(this.dataSource, STATUS_SQL, [id]);
    return rows[0]?.status;
  }

  /** `knownStatus`: the caller just committed the saga with this status (a start), so the entry
   *  read is skipped; should it finish before this subscribes, the shared poll still sees it.
   *  Resolves false, at once, when `maxWaiters` requests already wait (the wait is skipped). */
  async waitForTerminal(id: string, waitMs: number, knownStatus?: SagaStatus): Promise<boolean> {
    if (this.waiting >= this.config.maxWaiters) return false;
    this.waiting++;
    try {
      await this.waitWithin(id, waitMs, knownStatus);
      return true;
    } finally {
      this.waiting--;
    }
  }

  private async waitWithin(id: string, waitMs: number, knownStatus?: SagaStatus): Promise<void> {
    const deadline = Date.now() + waitMs;
    // Listen before reading, so a commit between the read and the wait is not missed.
    const committedHere = new AbortController();
    const unsubscribe = this.signals.onSagaChanged(id.toLowerCase(), (status) => {
      if (isTerminal(status)) committedHere.abort(COMMITTED_HERE); // a reason of ours: abort() would build a DOMException
    });
    try {
      const status = knownStatus ?? (await this.status(id));
      if (status === undefined || isTerminal(status)) return;
      await this.waits.wait(id, deadline - Date.now(), committedHere.signal);
    } finally {
      unsubscribe();
    }
  }

  async findOne(id: string): Promise<SagaView | undefined> {
    const rows: (SagaRow & { oldest_shown: string | null })[] = await preparedQuery(this.dataSource, SAGA_SQL, [id, this.config.historyLimit]);
    const row = rows[0];
    if (!row) return undefined;
    const history: HistoryEntryView[] = row.history.map(entryView);
    return sagaView({
      id,
      name: row.definition_name,
      version: row.definition_version,
      status: row.status,
      fingerprint: row.definition_fingerprint,
      businessKey: row.business_key,
      input: row.input,
      failure: row.failure,
      currentStep: row.current_step >= 0 ? (row.steps[row.current_step]?.name ?? null) : null,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
      steps: row.steps.map((step) => ({
        name: step.name,
        status: step.status,
        attempt: step.attempt,
        compensationAttempt: step.compensationAttempt,
        waitingForRetry: step.waitingForRetry,
        request: step.request ?? null,
        result: step.result ?? null,
        lastError: step.lastError,
        startedAt: isoOrNull(step.startedAt),
        finishedAt: isoOrNull(step.finishedAt),
        manual: step.manual,
      })),
      history,
      historyTotal: row.history_total,
      historyNext: row.history_total > history.length && row.oldest_shown !== null ? cursorBefore(row.oldest_shown) : null,
      timers: row.timers.map((timer) => ({ id: timer.id, fireAt: isoOf(timer.fireAt), event: timer.event })),
    });
  }

  /** A page of a saga's history before `before` (a cursor; none: the latest), oldest first;
   *  undefined when the saga does not exist. */
  async historyPage(id: string, before: string | undefined, limit: number): Promise<HistoryPageView | undefined> {
    const rows = await preparedQuery<{ id: string; entry: StoredEntry }>(this.dataSource, HISTORY_PAGE_SQL, [id, before ?? null, limit + 1]);
    if (rows.length === 0 && (await this.status(id)) === undefined) return undefined;
    const page = rows.slice(0, limit).reverse();
    return { sagaId: id, entries: page.map((row) => entryView(row.entry)), next: rows.length > limit ? cursorBefore(page[0].id) : null };
  }

  /** One page of a search (saga-search.ts): summaries and the cursor to the next page. */
  /** One page of the search as rows (the bulk actions walk them). */
  searchRows(filter: SagaSearchFilter): Promise<{ rows: SagaSearchRow[]; more: boolean }> {
    return searchSagas(this.dataSource, filter);
  }

  async search(filter: SagaSearchFilter): Promise<SagaPageView> {
    const { rows, more } = await searchSagas(this.dataSource, filter);
    const last = rows.at(-1);
    return { items: rows.map(listItemView), next: more && last ? encodeCursor({ updatedAt: last.cursor_at, id: last.id }) : null };
  }

  counts(): Promise<SagaCounts> {
    return countSagas(this.dataSource);
  }
}

function listItemView(row: SagaSearchRow): SagaListItemView {
  return {
    ...summaryView({ id: row.id, name: row.definition_name, version: row.definition_version, status: row.status }),
    businessKey: row.business_key,
    currentStep: row.step_name,
    attempt: row.attempt,
    compensationAttempt: row.compensation_attempt,
    hasExceptions: row.has_exceptions,
    failure: row.failure,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
