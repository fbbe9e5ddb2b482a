/**
 * The view of a finished saga built from what this process committed of it (runtime
 * saga-trails.ts), for a start that waited for its end: the answer without reading it back.
 *
 * Guarantees:
 * - The view is the one GET /sagas/{id} reads from the saga's rows at the trail's version: the
 *   same fields in the same order (saga-view-assembly.ts), every JSON value as PostgreSQL's
 *   jsonb gives it back (keys shorter first, then by their UTF-8 bytes; undefined left out),
 *   times as the ISO text of the stored milliseconds.
 * - No view (undefined) when the trail is not of a finished saga, or when it still has timer
 *   rows: their fire times are not kept here, so such a saga is read instead.
 */
import { isTerminal, setJsonKey, type HistoryEntry, type StepState } from '#saga/core';
import type { SagaTrail } from '../../runtime/saga-trails';
import { sagaView } from './saga-view-assembly';
import type { HistoryEntryView, SagaView, StepView } from './saga-views';

/** Whether `text` is ASCII: then its UTF-16 order is its byte order. */
const isAscii = (text: string): boolean => Buffer.byteLength(text) === text.length;

/** jsonb's order of object keys: shorter first, then bytewise (UTF-8). */
function jsonbKeyOrder(a: string, b: string): number {
  if (isAscii(a) && isAscii(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length - y.length || Buffer.compare(x, y);
}

/** A plain object or array (what JSON.parse makes); anything else goes through JSON.stringify. */
const isPlain = (value: object): boolean => Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null;

/** `value` (not undefined) as JSON.stringify + jsonb would keep it, without the text in between. */
function jsonbValue(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : null;
  if (value === null || typeof value !== 'object') return value;
  if (!isPlain(value)) {
    const text = JSON.stringify(value) as string | undefined; // a toJSON() may say undefined
    return text === undefined ? null : jsonbValue(JSON.parse(text));
  }
  if (Array.isArray(value)) return value.map((item) => (isOmitted(item) ? null : jsonbValue(item)));
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => !isOmitted(record[key]));
  keys.sort(jsonbKeyOrder);
  const copy: Record<string, unknown> = {};
  for (const key of keys) setJsonKey(copy, key, jsonbValue(record[key]));
  return copy;
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
const isOmitted = (value: unknown): boolean => value === undefined || typeof value === 'function' || typeof value === 'symbol';

/** `value` as a jsonb column stores and returns it (null for undefined, as a missing column). */
export function asJsonb(value: unknown): unknown {
  return isOmitted(value) ? null : jsonbValue(value);
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function stepView(step: StepState): StepView {
  return {
    name: step.name,
    status: step.status,
    attempt: step.attempt,
    compensationAttempt: step.compensationAttempt,
    waitingForRetry: step.waitingForRetry,
    request: asJsonb(step.request),
    result: asJsonb(step.result),
    lastError: asJsonb(step.lastError) as StepView['lastError'],
    startedAt: iso(step.startedAt ?? null),
    finishedAt: iso(step.finishedAt ?? null),
    manual: step.manual ?? false,
  };
}

function entryView(entry: HistoryEntry): HistoryEntryView {
  return {
    type: entry.type,
    failureType: entry.failureType ?? null,
    at: new Date(entry.at).toISOString(),
    step: entry.step ?? null,
    direction: entry.direction ?? null,
    attempt: entry.attempt ?? null,
    reason: entry.reason ?? null,
    detail: asJsonb(entry.detail) as HistoryEntryView['detail'],
  };
}

/** The finished saga's view at the trail's version, or undefined when it must be read. */
export function trailSagaView(trail: SagaTrail): SagaView | undefined {
  const { state } = trail;
  if (!isTerminal(state.status) || trail.timers.size > 0) return undefined;
  const history = trail.history.map(entryView);
  return sagaView({
    id: state.id,
    name: state.name,
    version: state.version,
    status: state.status,
    fingerprint: trail.start.definitionFingerprint,
    businessKey: trail.start.businessKey,
    input: asJsonb(state.input),
    failure: asJsonb(state.failure) as SagaView['failure'],
    currentStep: state.current >= 0 ? (state.steps[state.current]?.name ?? null) : null,
    createdAt: new Date(state.createdAt).toISOString(),
    // A start writes its creation time as the update time (START_SAGAS); later writes the state's.
    updatedAt: new Date(trail.version === 1 ? state.createdAt : state.updatedAt).toISOString(),
    steps: state.steps.map(stepView),
    history,
    historyTotal: history.length,
    historyNext: null,
    timers: [],
  });
}
