/**
 * A saga's timeline, built from its history: each attempt of each step with when it was sent,
 * when it was answered (or timed out), how long that took, the outcome and the error; the
 * actions in step order, then the compensations in the order they ran (so the reverse order of
 * the rollback is visible). Late, duplicate and malformed replies, dead letters and operator
 * actions are marked on their attempt with a text label (not colour alone).
 *
 * Built from the entries the page has (the latest HISTORY_LIMIT; older ones load on demand).
 */
import { duration, h, scroller, table, time, type Child } from '../dom.js';
import type { HistoryEntry, StepDefinition } from '../views.js';

export interface AttemptRow {
  step: string;
  direction: 'action' | 'compensation';
  attempt: number;
  sentAt: string | null;
  answeredAt: string | null;
  outcome: string | null;
  error: string | null;
  marks: { label: string; at: string; text: string }[];
}

const MARKS: Record<string, string> = {
  LATE_REPLY_IGNORED: 'LATE REPLY',
  DUPLICATE_REPLY_IGNORED: 'DUPLICATE REPLY',
  MALFORMED_REPLY_PARKED: 'MALFORMED REPLY',
  DEAD_LETTERED: 'DEAD-LETTERED',
  DEAD_LETTER_REPLAYED: 'DEAD LETTER REPLAYED',
  DEAD_LETTER_DISCARDED: 'DEAD LETTER DISCARDED',
  OPERATOR_ACTION: 'OPERATOR',
  OPERATOR_ACTION_REJECTED: 'OPERATOR (REFUSED)',
  RETRY_SCHEDULED: 'RETRY SCHEDULED',
};

const text = (value: unknown): string => (typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value));

/** Every attempt the history shows, in the order they were sent. */
export function attemptsOf(history: HistoryEntry[]): AttemptRow[] {
  const rows: AttemptRow[] = [];
  const byKey = new Map<string, AttemptRow>();
  /** Marks recorded before their attempt was sent (an operator's retry precedes the command it sends). */
  const early = new Map<string, AttemptRow['marks']>();
  const key = (step: string | null, direction: string | null, attempt: number | null) => `${step}|${direction}|${attempt}`;
  for (const entry of history) {
    const { step, direction, attempt } = entry;
    if (step === null || (direction !== 'action' && direction !== 'compensation')) continue;
    if (entry.type === 'COMMAND_SENT' || entry.type === 'COMPENSATION_SENT') {
      const row: AttemptRow = {
        step,
        direction,
        attempt: attempt ?? 0,
        sentAt: entry.at,
        answeredAt: null,
        outcome: null,
        error: null,
        marks: early.get(key(step, direction, attempt)) ?? [],
      };
      rows.push(row);
      byKey.set(key(step, direction, attempt), row);
      continue;
    }
    // A retry is scheduled for the next attempt: show it on the one that failed.
    const targetKey = key(step, direction, entry.type === 'RETRY_SCHEDULED' && attempt !== null ? attempt - 1 : attempt);
    let target = byKey.get(targetKey);
    if (!target) {
      if (!entry.type.startsWith('OPERATOR')) continue;
      const marks = early.get(targetKey) ?? [];
      early.set(targetKey, marks);
      target = { step, direction, attempt: attempt ?? 0, sentAt: null, answeredAt: null, outcome: null, error: null, marks };
    }
    switch (entry.type) {
      case 'REPLY_RECEIVED':
        target.answeredAt = entry.at;
        target.outcome = entry.reason === 'success' ? 'success' : `${entry.failureType ?? 'failure'}: ${entry.reason ?? ''}`;
        target.error = entry.reason === 'success' ? null : `${entry.reason ?? ''} ${text(entry.detail?.message)}`.trim();
        break;
      case 'ATTEMPT_TIMED_OUT':
        target.answeredAt = entry.at;
        target.outcome = 'timed out';
        target.error = text(entry.detail?.message) || 'no reply in time';
        break;
      case 'STEP_OUTCOME_UNKNOWN':
        target.outcome = target.outcome ?? 'unknown';
        break;
      case 'RETRY_SCHEDULED':
        target.marks.push({ label: MARKS.RETRY_SCHEDULED, at: entry.at, text: `attempt ${attempt} after ${duration(Number(entry.detail?.delayMs ?? 0))}` });
        break;
      default:
        if (MARKS[entry.type]) {
          const what = entry.type.startsWith('OPERATOR')
            ? `${text(entry.detail?.action)} by ${text(entry.detail?.by)}: ${text(entry.detail?.reason)}`
            : `${entry.reason ?? ''} ${text(entry.detail?.message)}`;
          target.marks.push({ label: MARKS[entry.type], at: entry.at, text: what.trim() });
        }
    }
  }
  return rows;
}

function row(a: AttemptRow): Child[] {
  const took = a.sentAt && a.answeredAt ? duration(new Date(a.answeredAt).getTime() - new Date(a.sentAt).getTime()) : a.sentAt ? 'waiting' : '—';
  return [
    a.step,
    String(a.attempt),
    time(a.sentAt),
    time(a.answeredAt),
    took,
    a.outcome ?? 'no answer yet',
    a.error ?? '',
    a.marks.length === 0
      ? ''
      : h(
          'ul',
          { class: 'marks' },
          a.marks.map((m) => h('li', null, h('strong', { class: 'mark' }, m.label), ' ', time(m.at), ' ', m.text)),
        ),
  ];
}

const HEADERS = ['Step', 'Attempt', 'Sent', 'Answered', 'Took', 'Outcome', 'Error', 'Marked'];

export function timeline(history: HistoryEntry[], steps: StepDefinition[] | null): HTMLElement {
  const attempts = attemptsOf(history);
  const order = new Map((steps ?? []).map((s, i) => [s.name, i]));
  const forward = attempts.filter((a) => a.direction === 'action').sort((x, y) => (order.get(x.step) ?? 0) - (order.get(y.step) ?? 0)); // stable: attempts stay in order
  const backward = attempts.filter((a) => a.direction === 'compensation'); // as they happened
  const rowsWithData = (list: AttemptRow[], id: string, caption: string) => {
    const t = table(caption, HEADERS, list.map(row), { id, class: 'timeline' });
    t.querySelectorAll('tbody tr').forEach((tr, i) => {
      if (!list[i]) return;
      tr.setAttribute('data-step', list[i].step);
      tr.setAttribute('data-attempt', String(list[i].attempt));
      if (list[i].marks.some((m) => m.label !== MARKS.RETRY_SCHEDULED)) tr.classList.add('marked');
    });
    return scroller(caption, t);
  };
  return h(
    'section',
    { 'aria-labelledby': 'timeline-title' },
    h('h2', { id: 'timeline-title' }, 'Timeline'),
    rowsWithData(forward, 'timeline-actions', 'Actions, in step order'),
    rowsWithData(backward, 'timeline-compensations', 'Compensations, in the order they ran'),
  );
}
