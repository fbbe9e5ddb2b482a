/**
 * The JSON shapes the admin UI reads from the API. Types only (no code, no DOM), so the
 * orchestrator's type-check can prove them assignable from the API's own view classes
 * (apps/orchestrator/src/api/ui/ui-view-shapes.ts): a field the API renames breaks the build.
 */
export type SagaStatus = 'RUNNING' | 'COMPLETED' | 'COMPENSATING' | 'COMPENSATED' | 'COMPENSATION_FAILED' | 'RESOLVED_MANUALLY';

export interface WhoAmI {
  name: string;
  role: string;
  may: { read: boolean; start: boolean; repair: boolean; deadLetters: boolean; registerDefinitions: boolean };
}

export interface FieldError {
  field: string;
  message: string;
}

/** Any error body of the API (400 adds `errors`, a refused repair `reason`). */
export interface ErrorBody {
  statusCode?: number;
  error?: string;
  message?: string | string[];
  errors?: FieldError[];
  reason?: string;
}

export interface SagaFailure {
  step: string | null;
  type: string;
  code: string;
  message: string;
}

export interface SagaListItem {
  id: string;
  name: string;
  version: number;
  status: string;
  businessKey: string | null;
  currentStep: string | null;
  attempt: number | null;
  compensationAttempt: number | null;
  hasExceptions: boolean;
  failure: SagaFailure | null;
  createdAt: string;
  updatedAt: string;
}

export interface SagaPage {
  items: SagaListItem[];
  next: string | null;
}

export interface SagaCounts {
  byStatus: { status: string; count: number; exact: boolean }[];
  byDefinition: { name: string; version: number; status: string; count: number }[];
}

export interface StepState {
  name: string;
  status: string;
  attempt: number;
  compensationAttempt: number;
  waitingForRetry: boolean;
  request: unknown;
  result: unknown;
  lastError: { code: string; message: string } | null;
  startedAt: string | null;
  finishedAt: string | null;
  manual: boolean;
}

export interface HistoryEntry {
  type: string;
  failureType: string | null;
  at: string;
  step: string | null;
  direction: string | null;
  attempt: number | null;
  reason: string | null;
  detail: Record<string, unknown> | null;
}

export interface PendingTimer {
  id: string;
  fireAt: string;
  event: { type: string; step?: string; direction?: string; attempt?: number };
}

export interface Saga {
  id: string;
  name: string;
  version: number;
  status: string;
  definition: { name: string; version: number; fingerprint: string | null };
  businessKey: string | null;
  input: unknown;
  failure: SagaFailure | null;
  currentStep: string | null;
  createdAt: string;
  updatedAt: string;
  steps: StepState[];
  history: HistoryEntry[];
  historyTotal: number;
  historyNext: string | null;
  timers: PendingTimer[];
}

export interface HistoryPage {
  entries: HistoryEntry[];
  next: string | null;
}

export interface Health {
  status: string;
  outboxBacklog: number;
  compensationFailed: number;
  deadLettersParked: number;
  definitionsMissing: { name: string; version: number; sagas: number }[];
}

export interface RepairResult {
  action: string;
  done: string;
  by: string;
  reason: string;
  step: string | null;
  status: string;
}

export interface DeadLetterSummary {
  id: number;
  state: string;
  sourceQueue: string | null;
  reason: string | null;
  kind: string;
  pattern: string | null;
  sagaId: string | null;
  step: string | null;
  direction: string | null;
  attempt: number | null;
  ageSeconds: number;
  deadLetteredAt: string;
  links: { self: string; saga: string | null };
}

export interface DeadLetterPage {
  items: DeadLetterSummary[];
  next: string | null;
}

export interface DeadLetter extends DeadLetterSummary {
  messageId: string | null;
  correlationId: string | null;
  properties: Record<string, unknown>;
  headers: Record<string, unknown> | null;
  bodyEncoding: 'json' | 'base64';
  body: unknown;
  replayOf: number | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
  resolvedReason: string | null;
  actions: { action: string; actor: string; reason: string; at: string; outcome: string; detail: string | null }[];
}

export interface DeadLetterCounts {
  byState: Record<string, number>;
  bySourceQueue: { state: string; sourceQueue: string | null; count: number }[];
}

export interface DefinitionSummary {
  name: string;
  version: number;
  description: string | null;
  steps: string[];
  fingerprint: string;
  source: string;
  registeredBy: string | null;
  registeredAt: string | null;
}

export interface CommandDefinition {
  command: string;
}

export interface StepDefinition {
  name: string;
  description?: string;
  action: CommandDefinition;
  compensation?: CommandDefinition;
  pivot?: boolean;
}

export interface DefinitionVersion {
  definition: { name: string; version: number; description?: string; steps: StepDefinition[] };
  fingerprint: string;
  routes: { step: string; action: { command: string; queue: string }; compensation: { command: string; queue: string } | null }[];
  policies: { step: string; timeoutMs: number; retry: { maxAttempts: number }; compensationTimeoutMs: number; compensationRetry: { maxAttempts: number } }[];
}

export interface JsonChange {
  path: string;
  kind: string;
  from?: unknown;
  to?: unknown;
}

export interface DefinitionDiff {
  name: string;
  from: { version: number; fingerprint: string; unfinishedSagas: number };
  to: { version: number; fingerprint: string; unfinishedSagas: number };
  identical: boolean;
  fields: JsonChange[];
  steps: {
    added: { name: string; position: number }[];
    removed: { name: string; position: number }[];
    changed: { name: string; fromPosition: number; toPosition: number; changes: JsonChange[] }[];
  };
}

export interface StoredVersion {
  name: string;
  version: number;
  fingerprint: string;
  source: string;
  registeredBy: string | null;
  registeredAt: string | null;
}

export interface BulkResult {
  action: string;
  dryRun: boolean;
  matched: number;
  more: boolean;
  ids: string[];
  done: number;
  replayed: number;
  refused: { id: string; reason: string }[];
  failed: { id: string; reason: string }[];
}
