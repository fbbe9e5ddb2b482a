/**
 * The JSON shapes the saga endpoints return, with their OpenAPI description.
 *
 * Guarantees: times are ISO-8601 strings; statuses are docs/semantics.md S2's names; history is in commit
 * order, nothing filtered out, bounded to its latest entries (a step retried forever would grow
 * it without end) with a cursor to the rest; `exceptions` is exactly the history entries
 * returned that carry a failure type, in the same order.
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

const SAGA_STATUSES = ['RUNNING', 'COMPLETED', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED', 'RESOLVED_MANUALLY'];
const FAILURE_TYPES = ['timeout', 'business', 'retryable', 'expired', 'malformed', 'duplicate', 'late', 'operator'];
const STEP_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'UNKNOWN', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED'];

export class StepErrorView {
  @ApiProperty({ example: 'DECLINED' }) code: string;
  @ApiProperty({ example: 'amount 12000 is above the limit 10000' }) message: string;
}

export class SagaFailureView {
  @ApiProperty({ nullable: true, type: String, example: 'charge-payment' }) step: string | null;
  @ApiProperty({ enum: FAILURE_TYPES, example: 'business' }) type: string;
  @ApiProperty({ example: 'DECLINED' }) code: string;
  @ApiProperty() message: string;
}

export class StepView {
  @ApiProperty({ example: 'reserve-inventory' }) name: string;
  @ApiProperty({ enum: STEP_STATUSES }) status: string;
  @ApiProperty({ description: 'Attempts of the action sent so far' }) attempt: number;
  @ApiProperty({ description: 'Attempts of the compensation sent so far' }) compensationAttempt: number;
  @ApiProperty({ description: 'Whether the step is waiting out a retry backoff' }) waitingForRetry: boolean;
  @ApiProperty({ description: 'The action payload as sent', nullable: true }) request: unknown;
  @ApiProperty({ description: 'What the action returned', nullable: true }) result: unknown;
  @ApiProperty({ type: StepErrorView, nullable: true }) lastError: StepErrorView | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) startedAt: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) finishedAt: string | null;
  @ApiProperty({ description: 'Set by an operator repair: the undo was skipped by hand, or the saga was resolved while the step was in flight' }) manual: boolean;
}

export class HistoryEntryView {
  @ApiProperty({ example: 'COMMAND_SENT' }) type: string;
  @ApiProperty({ nullable: true, enum: FAILURE_TYPES, description: 'Set on failure entries (the exception log), null otherwise' }) failureType: string | null;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ nullable: true, type: String }) step: string | null;
  @ApiProperty({ nullable: true, enum: ['action', 'compensation'] }) direction: string | null;
  @ApiProperty({ nullable: true, type: Number }) attempt: number | null;
  @ApiProperty({ nullable: true, type: String, description: 'Failure entries: the outcome or error code' }) reason: string | null;
  @ApiProperty({ nullable: true, type: Object }) detail: Record<string, unknown> | null;
}

/** One failure entry of the history, flattened for a person triaging the saga (docs/semantics.md S5). */
export class ExceptionView {
  @ApiProperty({ enum: FAILURE_TYPES, example: 'timeout' }) type: string;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ description: 'The history entry it comes from', example: 'ATTEMPT_TIMED_OUT' }) entry: string;
  @ApiProperty({ nullable: true, type: String, example: 'charge-payment' }) step: string | null;
  @ApiProperty({ nullable: true, enum: ['action', 'compensation'] }) direction: string | null;
  @ApiProperty({ nullable: true, type: Number }) attempt: number | null;
  @ApiProperty({ nullable: true, type: String, description: 'Error code or outcome', example: 'TIMEOUT' }) reason: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'no reply to attempt 1 in time' }) message: string | null;
}

export class SagaLinksView {
  @ApiProperty({ example: '/sagas/7b0c…' }) self: string;
}

export class TimerEventView {
  @ApiProperty({ enum: ['ATTEMPT_TIMED_OUT', 'RETRY_DUE', 'DEADLINE_REACHED'] }) type: string;
  @ApiPropertyOptional() step?: string;
  @ApiPropertyOptional({ enum: ['action', 'compensation'] }) direction?: string;
  @ApiPropertyOptional() attempt?: number;
}

/** A timer the saga is waiting for: what happens when. */
export class PendingTimerView {
  @ApiProperty({ example: '7b0c…/charge-payment/action/1/timeout' }) id: string;
  @ApiProperty({ format: 'date-time' }) fireAt: string;
  @ApiProperty({ type: TimerEventView }) event: TimerEventView;
}

/** A page of a saga's history, oldest first, and the cursor to the entries before it. */
export class HistoryPageView {
  @ApiProperty({ format: 'uuid' }) sagaId: string;
  @ApiProperty({ type: [HistoryEntryView] }) entries: HistoryEntryView[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as ?before= for the page of older entries; null when there are none' }) next: string | null;
}

export class SagaSummaryView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'place-order' }) name: string;
  @ApiProperty({ example: 1 }) version: number;
  @ApiProperty({ enum: SAGA_STATUSES }) status: string;
  @ApiProperty({ type: SagaLinksView }) links: SagaLinksView;
}

/** One saga in a list (GET /sagas): what a person scanning many sagas needs to pick one. */
export class SagaListItemView extends SagaSummaryView {
  @ApiProperty({ nullable: true, type: String, description: "The definition's business key of the input (null: none)", example: 'customer-42' })
  businessKey: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The step in flight, if any', example: 'charge-payment' }) currentStep: string | null;
  @ApiProperty({ nullable: true, type: Number, description: "Attempts of the current step's action sent so far" }) attempt: number | null;
  @ApiProperty({ nullable: true, type: Number, description: "Attempts of the current step's compensation sent so far" }) compensationAttempt: number | null;
  @ApiProperty({ description: 'Whether its history has a failure entry (the exception log is not empty)' }) hasExceptions: boolean;
  @ApiPropertyOptional({ type: SagaFailureView, nullable: true, description: 'Why it rolled back' }) failure: SagaFailureView | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

/** A page of GET /sagas, most recently changed first, and the cursor to the next page. */
export class SagaPageView {
  @ApiProperty({ type: [SagaListItemView] }) items: SagaListItemView[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as ?cursor= (with the same filters) for the next page; null on the last page' })
  next: string | null;
}

export class StatusCountView {
  @ApiProperty({ enum: SAGA_STATUSES }) status: string;
  @ApiProperty({ example: 12 }) count: number;
  @ApiProperty({ description: "false: PostgreSQL's estimate from its statistics (finished sagas of a large table)" }) exact: boolean;
}

export class DefinitionCountView {
  @ApiProperty({ example: 'place-order' }) name: string;
  @ApiProperty({ example: 1 }) version: number;
  @ApiProperty({ enum: SAGA_STATUSES }) status: string;
  @ApiProperty({ example: 3 }) count: number;
}

export class SagaCountsView {
  @ApiProperty({ type: [StatusCountView], description: 'Every status; RUNNING, COMPENSATING, COMPENSATION_FAILED and RESOLVED_MANUALLY always exact' })
  byStatus: StatusCountView[];
  @ApiProperty({ type: [DefinitionCountView], description: 'Exact counts per definition version and status, for the statuses counted exactly' })
  byDefinition: DefinitionCountView[];
}

export class PinnedDefinitionView {
  @ApiProperty({ example: 'place-order' }) name: string;
  @ApiProperty({ example: 1 }) version: number;
  @ApiProperty({ nullable: true, type: String, description: 'SHA-256 of the definition it started on (null for sagas started before fingerprints were kept)' })
  fingerprint: string | null;
}

export class SagaView extends SagaSummaryView {
  @ApiProperty({ type: PinnedDefinitionView, description: 'The definition version the saga is pinned to' }) definition: PinnedDefinitionView;
  @ApiProperty({ nullable: true, type: String, description: "The definition's business key of the input (null: none)", example: 'customer-42' })
  businessKey: string | null;
  @ApiProperty({ description: 'The input the saga was started with' }) input: unknown;
  @ApiPropertyOptional({ type: SagaFailureView, nullable: true, description: 'Why it rolled back' }) failure: SagaFailureView | null;
  @ApiProperty({ nullable: true, type: String, description: 'The step in flight, if any' }) currentStep: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
  @ApiProperty({ type: [StepView] }) steps: StepView[];
  @ApiProperty({ type: [HistoryEntryView], description: 'The latest HISTORY_LIMIT entries of the history, oldest first' }) history: HistoryEntryView[];
  @ApiProperty({ description: 'How many entries the whole history has' }) historyTotal: number;
  @ApiProperty({ nullable: true, type: String, description: 'When older entries exist: GET /sagas/{id}/history?before=<this> pages through them' }) historyNext: string | null;
  @ApiProperty({ type: [ExceptionView], description: 'The exception log: every failure entry of the history returned, in order' }) exceptions: ExceptionView[];
  @ApiProperty({ type: [PendingTimerView], description: 'What the saga waits for: its pending timers, soonest first' }) timers: PendingTimerView[];
}

export class FieldErrorView {
  @ApiProperty({ example: 'items.0.quantity' }) field: string;
  @ApiProperty({ example: 'must be >= 1' }) message: string;
}

export class ValidationErrorView {
  @ApiProperty({ example: 400 }) statusCode: number;
  @ApiProperty({ example: 'Bad Request' }) error: string;
  @ApiProperty() message: string;
  @ApiProperty({ type: [FieldErrorView] }) errors: FieldErrorView[];
}

export class ErrorView {
  @ApiProperty() statusCode: number;
  @ApiProperty() error: string;
  @ApiProperty() message: string;
}
