/**
 * One way to put a saga's view together (GET /sagas/{id}, and a start that waited for its end),
 * whether its parts were read from the database (saga-queries.ts) or known from this process's
 * own commits (trail-saga-view.ts): the two answers have the same fields in the same order.
 *
 * Guarantees: the exception log is exactly the failure entries of the history shown, in order.
 */
import type { ExceptionView, HistoryEntryView, PendingTimerView, SagaFailureView, SagaSummaryView, SagaView, StepView } from './saga-views';

export interface SagaViewParts {
  id: string;
  name: string;
  version: number;
  status: string;
  fingerprint: string | null;
  businessKey: string | null;
  input: unknown;
  failure: SagaFailureView | null;
  currentStep: string | null;
  createdAt: string;
  updatedAt: string;
  steps: StepView[];
  history: HistoryEntryView[];
  historyTotal: number;
  historyNext: string | null;
  timers: PendingTimerView[];
}

export function summaryView(saga: { id: string; name: string; version: number; status: string }): SagaSummaryView {
  return { id: saga.id, name: saga.name, version: saga.version, status: saga.status, links: { self: `/sagas/${saga.id}` } };
}

function exceptionsOf(history: HistoryEntryView[]): ExceptionView[] {
  return history
    .filter((entry) => entry.failureType !== null)
    .map((entry) => ({
      type: entry.failureType!,
      at: entry.at,
      entry: entry.type,
      step: entry.step,
      direction: entry.direction,
      attempt: entry.attempt,
      reason: entry.reason,
      message: typeof entry.detail?.message === 'string' ? entry.detail.message : null,
    }));
}

export function sagaView(parts: SagaViewParts): SagaView {
  return {
    ...summaryView(parts),
    definition: { name: parts.name, version: parts.version, fingerprint: parts.fingerprint },
    businessKey: parts.businessKey,
    input: parts.input,
    failure: parts.failure,
    currentStep: parts.currentStep,
    createdAt: parts.createdAt,
    updatedAt: parts.updatedAt,
    steps: parts.steps,
    history: parts.history,
    historyTotal: parts.historyTotal,
    historyNext: parts.historyNext,
    exceptions: exceptionsOf(parts.history),
    timers: parts.timers,
  };
}
