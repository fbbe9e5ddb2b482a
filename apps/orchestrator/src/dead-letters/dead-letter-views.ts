/**
 * The JSON shapes the dead-letter endpoints return, with their OpenAPI description, and the
 * mapping from stored rows.
 *
 * Guarantees: times are ISO-8601 strings and ages whole seconds at the time of the answer; the
 * body comes back as JSON when it parses as JSON, else base64 (`bodyEncoding` says which), never
 * changed; the list cursor is opaque (the id of the last row shown).
 */
import { ApiProperty } from '@nestjs/swagger';
import type { DeadLetterAction, DeadLetterRow, DeadLetterSummary } from '#saga/persistence';
import { isSagaUuid } from './dead-letter-record';
import { DEAD_LETTER_STATES } from './dead-letter-requests.dto';

export class DeadLetterLinksView {
  @ApiProperty({ example: '/dead-letters/42' }) self: string;
  @ApiProperty({ nullable: true, type: String, example: '/sagas/7b0c…', description: 'The saga the message names, when its id is a saga id' }) saga: string | null;
}

export class DeadLetterSummaryView {
  @ApiProperty({ example: 42 }) id: number;
  @ApiProperty({ enum: DEAD_LETTER_STATES }) state: string;
  @ApiProperty({ nullable: true, type: String, example: 'saga.inventory' }) sourceQueue: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'processing failed on 5 deliveries: …' }) reason: string | null;
  @ApiProperty({ enum: ['ours', 'broker', 'unknown'], description: 'ours: x-dead-letter-reason; broker: x-first-death-reason (rejected, delivery_limit…)' })
  reasonOrigin: string;
  @ApiProperty({ nullable: true, type: Number, description: "The broker's x-death count, when the broker dead-lettered it" }) deathCount: number | null;
  @ApiProperty({ enum: ['command', 'reply', 'unknown'] }) kind: string;
  @ApiProperty({ nullable: true, type: String, example: 'inventory.reserve', description: "A command's pattern" }) pattern: string | null;
  @ApiProperty({ nullable: true, type: String }) sagaId: string | null;
  @ApiProperty({ nullable: true, type: String }) step: string | null;
  @ApiProperty({ nullable: true, enum: ['action', 'compensation'] }) direction: string | null;
  @ApiProperty({ nullable: true, type: Number }) attempt: number | null;
  @ApiProperty({ description: 'Seconds since it was dead-lettered' }) ageSeconds: number;
  @ApiProperty({ format: 'date-time' }) deadLetteredAt: string;
  @ApiProperty({ format: 'date-time', description: 'When the orchestrator took it from the queue' }) storedAt: string;
  @ApiProperty({ type: DeadLetterLinksView }) links: DeadLetterLinksView;
}

export class DeadLetterPageView {
  @ApiProperty({ type: [DeadLetterSummaryView], description: 'Newest first' }) items: DeadLetterSummaryView[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as ?cursor= for the next page; null when this is the last' }) next: string | null;
}

export class DeadLetterActionView {
  @ApiProperty({ enum: ['replay', 'discard'] }) action: string;
  @ApiProperty() actor: string;
  @ApiProperty() reason: string;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ example: 'replayed', description: 'replayed, discarded, or why it was refused (already-resolved, source-queue-missing, publish-failed, no-source-queue)' })
  outcome: string;
  @ApiProperty({ nullable: true, type: String }) detail: string | null;
}

export class DeadLetterView extends DeadLetterSummaryView {
  @ApiProperty({ nullable: true, type: String }) messageId: string | null;
  @ApiProperty({ nullable: true, type: String }) correlationId: string | null;
  @ApiProperty({ nullable: true, type: String }) contentType: string | null;
  @ApiProperty({ type: Object, description: 'The AMQP properties other than headers' }) properties: Record<string, unknown>;
  @ApiProperty({ nullable: true, type: Object, description: 'The AMQP headers as JSON (null: the message had none)' }) headers: Record<string, unknown> | null;
  @ApiProperty({ enum: ['json', 'base64'] }) bodyEncoding: 'json' | 'base64';
  @ApiProperty({ description: 'The message body: parsed JSON, or a base64 string when it is not JSON' }) body: unknown;
  @ApiProperty({ nullable: true, type: Number, description: 'The dead letter this message was a replay of' }) replayOf: number | null;
  @ApiProperty({ nullable: true, type: String, description: 'What could not be stored exactly as received' }) storageNote: string | null;
  @ApiProperty({ nullable: true, type: String }) resolvedBy: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) resolvedAt: string | null;
  @ApiProperty({ nullable: true, type: String }) resolvedReason: string | null;
  @ApiProperty({ type: [DeadLetterActionView], description: 'The audit: every replay or discard tried on it, oldest first' }) actions: DeadLetterActionView[];
}

export class DeadLetterCountView {
  @ApiProperty({ enum: DEAD_LETTER_STATES }) state: string;
  @ApiProperty({ nullable: true, type: String }) sourceQueue: string | null;
  @ApiProperty() count: number;
}

export class DeadLetterCountsView {
  @ApiProperty({ example: { parked: 3, replayed: 1, discarded: 0 } }) byState: Record<string, number>;
  @ApiProperty({ type: [DeadLetterCountView] }) bySourceQueue: DeadLetterCountView[];
}

export class DeadLetterActionResultView {
  @ApiProperty() id: number;
  @ApiProperty({ enum: ['replayed', 'discarded'] }) state: string;
  @ApiProperty({ description: 'Whether a DEAD_LETTER_REPLAYED / DEAD_LETTER_DISCARDED entry was added to the history of the saga it names' }) sagaNoted: boolean;
  @ApiProperty({ type: DeadLetterLinksView }) links: DeadLetterLinksView;
}

export class BulkReplayFailureView {
  @ApiProperty() id: number;
  @ApiProperty({ example: 'source-queue-missing' }) outcome: string;
  @ApiProperty() message: string;
}

export class BulkReplayView {
  @ApiProperty() dryRun: boolean;
  @ApiProperty({ description: 'Parked dead letters matching the filter' }) matched: number;
  @ApiProperty({ type: [Number], description: 'Dry run: the ids a real run would replay, oldest first; otherwise the ids replayed' }) ids: number[];
  @ApiProperty() replayed: number;
  @ApiProperty({ type: [BulkReplayFailureView] }) failed: BulkReplayFailureView[];
}

export function deadLetterLinks(row: { id: number; sagaId: string | null }): DeadLetterLinksView {
  return { self: `/dead-letters/${row.id}`, saga: isSagaUuid(row.sagaId) ? `/sagas/${row.sagaId}` : null };
}

export function summaryView(row: DeadLetterSummary, now: number): DeadLetterSummaryView {
  return {
    id: row.id,
    state: row.state,
    sourceQueue: row.sourceQueue,
    reason: row.reason,
    reasonOrigin: row.reasonOrigin,
    deathCount: row.deathCount,
    kind: row.kind,
    pattern: row.pattern,
    sagaId: row.sagaId,
    step: row.step,
    direction: row.direction,
    attempt: row.attempt,
    ageSeconds: Math.max(0, Math.floor((now - row.deadLetteredAt.getTime()) / 1000)),
    deadLetteredAt: row.deadLetteredAt.toISOString(),
    storedAt: row.storedAt.toISOString(),
    links: deadLetterLinks(row),
  };
}

function bodyOf(content: Buffer): { bodyEncoding: 'json' | 'base64'; body: unknown } {
  try {
    return { bodyEncoding: 'json', body: JSON.parse(content.toString('utf8')) as unknown };
  } catch {
    return { bodyEncoding: 'base64', body: content.toString('base64') };
  }
}

export function deadLetterView(row: DeadLetterRow, actions: DeadLetterAction[], now: number): DeadLetterView {
  return {
    ...summaryView(row, now),
    messageId: row.messageId,
    correlationId: row.correlationId,
    contentType: row.contentType,
    properties: row.properties,
    headers: row.headers,
    ...bodyOf(row.body),
    replayOf: row.replayOf,
    storageNote: row.storageNote,
    resolvedBy: row.resolvedBy,
    resolvedAt: row.resolvedAt?.toISOString() ?? null,
    resolvedReason: row.resolvedReason,
    actions: actions.map((action) => ({
      action: action.action,
      actor: action.actor,
      reason: action.reason,
      at: action.at.toISOString(),
      outcome: action.outcome,
      detail: action.detail,
    })),
  };
}

/** The cursor after `id`: opaque to clients. */
export function cursorAfter(id: number): string {
  return Buffer.from(`d:${id}`).toString('base64url');
}

/** The id a cursor names, or undefined when it is not one of ours. */
export function cursorId(cursor: string): number | undefined {
  const match = /^d:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}
