/**
 * How an outgoing command becomes an AMQP message, and how a participant reads one back.
 *
 * The body is @nestjs/microservices' RMQ request shape `{ pattern, data, id }` so a stock Nest
 * `@MessagePattern(pattern)` handler receives `data` and replies to `replyTo` with the
 * `correlationId` it was given. Everything else travels in headers (headers.ts).
 *
 * Guarantees: pure functions; readCommand never throws and names what is wrong with a message.
 */
import type { OutgoingCommand } from '../engine/decision';
import { SagaHeaders } from './headers';
import { commandMessageId, type Direction } from './message-ids';

export interface CommandEnvelope {
  queue: string;
  body: { pattern: string; data: unknown; id: string };
  properties: {
    messageId: string;
    correlationId: string;
    replyTo: string;
    persistent: true;
    contentType: 'application/json';
    timestamp: number;
    headers: Record<string, string | number>;
  };
}

export function commandEnvelope(command: OutgoingCommand, queue: string, replyTo: string, now: number): CommandEnvelope {
  return {
    queue,
    body: { pattern: command.command, data: command.payload, id: command.messageId },
    properties: {
      messageId: command.messageId,
      correlationId: command.correlationId,
      replyTo,
      persistent: true,
      contentType: 'application/json',
      timestamp: Math.floor(now / 1000),
      headers: {
        [SagaHeaders.sagaId]: command.sagaId,
        [SagaHeaders.sagaName]: command.sagaName,
        [SagaHeaders.step]: command.step,
        [SagaHeaders.direction]: command.direction,
        [SagaHeaders.attempt]: command.attempt,
        [SagaHeaders.expiresAt]: command.expiresAt,
      },
    },
  };
}

/** A command as a participant sees it. */
export interface IncomingCommand {
  pattern: string;
  data: unknown;
  messageId: string;
  correlationId: string;
  replyTo: string;
  sagaId: string;
  step: string;
  direction: Direction;
  attempt: number;
  expiresAt: number;
}

export type ReadCommandResult = { ok: true; command: IncomingCommand } | { ok: false; reason: string };

interface AmqpLikeProperties {
  correlationId?: unknown;
  replyTo?: unknown;
  headers?: Record<string, unknown>;
}

export function readCommand(content: Buffer, properties: AmqpLikeProperties): ReadCommandResult {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not valid JSON' };
  }
  if (typeof body !== 'object' || body === null) return { ok: false, reason: 'body is not a JSON object' };
  const { pattern, data } = body as Record<string, unknown>;
  if (typeof pattern !== 'string' || pattern.length === 0) return { ok: false, reason: 'body has no "pattern"' };
  const headers = properties.headers ?? {};
  const sagaId = headers[SagaHeaders.sagaId];
  const step = headers[SagaHeaders.step];
  const direction = headers[SagaHeaders.direction];
  const attempt = Number(headers[SagaHeaders.attempt]);
  const expiresAt = Number(headers[SagaHeaders.expiresAt]);
  if (typeof sagaId !== 'string' || typeof step !== 'string') return { ok: false, reason: 'missing x-saga-id or x-saga-step header' };
  if (direction !== 'action' && direction !== 'compensation') return { ok: false, reason: 'x-saga-direction must be "action" or "compensation"' };
  if (!Number.isInteger(attempt) || attempt < 1) return { ok: false, reason: 'x-saga-attempt must be a positive integer' };
  if (!Number.isFinite(expiresAt)) return { ok: false, reason: 'x-saga-expires-at must be epoch milliseconds' };
  if (typeof properties.replyTo !== 'string' || typeof properties.correlationId !== 'string') {
    return { ok: false, reason: 'replyTo and correlationId properties are required' };
  }
  return {
    ok: true,
    command: {
      pattern,
      data: data ?? null,
      messageId: commandMessageId({ sagaId, step, direction }),
      correlationId: properties.correlationId,
      replyTo: properties.replyTo,
      sagaId,
      step,
      direction,
      attempt,
      expiresAt,
    },
  };
}
