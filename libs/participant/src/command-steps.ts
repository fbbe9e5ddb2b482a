/**
 * The steps of handling one command around the pipeline's transaction (command-pipeline.ts):
 * checking a message before any transaction, the handler's context, running the handler, and
 * building the result the consumer sends.
 *
 * Guarantees:
 * - accept() never touches the database: a malformed message, an unknown pattern or a direction
 *   that does not match the pattern's declaration becomes a dead-letter result with the reason.
 * - runHandler() turns everything a handler can do into an outcome value: data failing the
 *   schema is the terminal failure INVALID_COMMAND, a throw is retryable HANDLER_ERROR, a value
 *   that is not an outcome is retryable too. The one exception is the database being
 *   unreachable: that is thrown as ProcessingInfrastructureError (requeued, retried in place),
 *   never spent as a saga retry.
 * - A reply carrying INVALID_COMMAND also asks for a copy in the dead-letter queue (the reason
 *   names the validation error), replayed or not.
 * - infra() rewraps any failure of the toolkit's own SQL as ProcessingInfrastructureError.
 */
import { readCommand, type IncomingCommand, type ReplyOutcome } from '#saga/core';
import type { AmqpLogger } from '#saga/messaging';
import { isDatabaseUnavailable } from '#saga/persistence';
import type { EntityManager } from 'typeorm';
import { ProcessingInfrastructureError } from './errors';
import type { HandlerStatements } from './handler-statements';
import type { AppliedAction, CommandContext, CompensationContext, HandlerRegistry, ParticipantHandler } from './handlers';
import { fail, retry, ToolkitCodes, type HandlerOutcome, type StoredOutcome } from './outcomes';
import type { NewProcessedCommand } from './processed-commands';

export type Disposition = 'replayed' | 'recorded' | 'applied' | 'failed' | 'rolled-back' | 'expired';

export type ProcessResult =
  | {
      kind: 'reply';
      replyTo: string;
      correlationId: string;
      outcome: ReplyOutcome;
      disposition: Disposition;
      command: IncomingCommand;
      /** Set when a copy of the command must also go to the dead-letter queue, with this reason. */
      deadLetterReason?: string;
    }
  | { kind: 'dead-letter'; reason: string };

export interface AmqpProperties {
  correlationId?: unknown;
  replyTo?: unknown;
  headers?: Record<string, unknown>;
}

/** A readable command and the handler registered for it, not yet processed. */
export interface AcceptedCommand {
  kind: 'accepted';
  command: IncomingCommand;
  handler: ParticipantHandler;
}

export type Acceptance = AcceptedCommand | { kind: 'dead-letter'; reason: string };

export function accept(handlers: HandlerRegistry, content: Buffer, properties: AmqpProperties): Acceptance {
  const read = readCommand(content, properties);
  if (!read.ok) return { kind: 'dead-letter', reason: `malformed command: ${read.reason}` };
  const command = read.command;
  const handler = handlers.get(command.pattern);
  if (!handler) return { kind: 'dead-letter', reason: `no handler for pattern "${command.pattern}"` };
  if (handler.kind !== command.direction) {
    return { kind: 'dead-letter', reason: `"${command.pattern}" is handled as ${handler.kind} but x-saga-direction is "${command.direction}"` };
  }
  return { kind: 'accepted', command, handler };
}

/** What the handler gets: the command's address, the transaction's manager and query. */
export function handlerContext(statements: HandlerStatements, manager: EntityManager, command: IncomingCommand, action?: AppliedAction): CommandContext {
  const context: CommandContext = {
    sagaId: command.sagaId,
    step: command.step,
    attempt: command.attempt,
    messageId: command.messageId,
    pattern: command.pattern,
    expiresAt: command.expiresAt,
    manager,
    query: (sql, params) => statements.query(sql, params ?? []),
  };
  return action === undefined ? context : ({ ...context, action } as CompensationContext);
}

export async function runHandler(handler: ParticipantHandler, command: IncomingCommand, context: CommandContext, logger?: AmqpLogger): Promise<HandlerOutcome> {
  let data: unknown;
  try {
    data = handler.schema ? handler.schema.parse(command.data) : command.data;
  } catch (error) {
    return fail(ToolkitCodes.invalidCommand, `invalid data for "${command.pattern}": ${describe(error)}`.slice(0, 2000));
  }
  try {
    const outcome = await (handler.handle as (data: unknown, context: CommandContext) => Promise<HandlerOutcome>)(data, context);
    if (!isHandlerOutcome(outcome)) throw new TypeError('handler must return ok(), fail() or retry()');
    return outcome;
  } catch (error) {
    // The database went away under the handler: not the command's fault, and no answer for
    // the saga (a retryable reply would spend its retries on our outage). Requeued instead.
    if (isDatabaseUnavailable(error)) throw new ProcessingInfrastructureError(`the handler of "${command.pattern}" lost the database: ${describe(error)}`, { cause: error });
    logger?.warn(`Handler for "${command.pattern}" (${command.messageId}) threw; rolling back: ${describe(error)}`);
    return retry(ToolkitCodes.handlerError, describe(error).slice(0, 2000));
  }
}

/** The dedupe record of a command with this outcome. */
export function recordOf(command: IncomingCommand, outcome: StoredOutcome): NewProcessedCommand {
  return {
    messageId: command.messageId,
    sagaId: command.sagaId,
    step: command.step,
    direction: command.direction,
    pattern: command.pattern,
    attempt: command.attempt,
    outcome,
    request: command.data,
  };
}

export function reply(command: IncomingCommand, outcome: ReplyOutcome, disposition: Disposition): ProcessResult {
  const result: ProcessResult = { kind: 'reply', replyTo: command.replyTo, correlationId: command.correlationId, outcome, disposition, command };
  if (outcome.kind === 'failure' && outcome.code === ToolkitCodes.invalidCommand) {
    result.deadLetterReason = `payload failed validation (replied ${ToolkitCodes.invalidCommand}): ${outcome.message}`.slice(0, 1000);
  }
  return result;
}

function isHandlerOutcome(value: unknown): value is HandlerOutcome {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'success' || kind === 'failure' || kind === 'retryable';
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function infra<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw new ProcessingInfrastructureError(`${what} failed: ${describe(error)}`, { cause: error });
  }
}
