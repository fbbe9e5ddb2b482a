/**
 * Processes one incoming command end to end inside ONE PostgreSQL transaction (SPEC S4):
 * read → advisory lock on (saga id, step) → dedupe/tombstone/expiry decision → handler →
 * dedupe record → commit. It returns what to send (a reply, or a dead-letter reason); the
 * consumer publishes that and only then acks.
 *
 * Guarantees:
 * - A malformed message, an unknown pattern or a direction that does not match the pattern's
 *   declaration is never processed: the result is a dead-letter with the reason.
 * - Data failing the handler's schema is answered with the terminal failure INVALID_COMMAND (so
 *   the saga rolls back promptly; an action's answer is stored for dedupe) AND the result asks
 *   for a copy in the dead-letter queue, reason = the validation error, so an operator sees it.
 *   A replay of a stored INVALID_COMMAND asks for the copy again: at least once, never lost to a
 *   crash between the commit and the copy's confirm.
 * - The handler's writes and the dedupe record commit together or not at all; a failure outcome
 *   keeps none of the handler's writes (rolled back to a savepoint before the record is stored).
 * - A handler that throws is answered retryable and its transaction rolls back entirely.
 * - A stored outcome is replied in its stored form, so duplicates get identical replies.
 * - Database trouble around the handler (connect, lock, lookup, store, commit) is thrown as
 *   ProcessingInfrastructureError, so the message is requeued rather than answered: a commit whose
 *   result is unknown is resolved by the redelivery hitting the dedupe record.
 */
import { readCommand, type IncomingCommand, type ReplyOutcome } from '#saga/core';
import type { AmqpLogger } from '#saga/messaging';
import type { DataSource, QueryRunner } from 'typeorm';
import { decideProcessing, settleOutcome, type ProcessingDecision } from './decision';
import { ProcessingInfrastructureError } from './errors';
import type { CommandContext, HandlerRegistry, ParticipantHandler } from './handlers';
import { fail, retry, ToolkitCodes, type HandlerOutcome, type StoredOutcome } from './outcomes';
import { findProcessedPair, insertProcessed, lockStep } from './processed-commands';

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

export interface CommandProcessorOptions {
  dataSource: DataSource;
  handlers: HandlerRegistry;
  clock?: () => number;
  logger?: AmqpLogger;
}

const SAVEPOINT = 'participant_handler';

export class CommandProcessor {
  private readonly clock: () => number;

  constructor(private readonly options: CommandProcessorOptions) {
    this.clock = options.clock ?? Date.now;
  }

  async process(content: Buffer, properties: AmqpProperties): Promise<ProcessResult> {
    const read = readCommand(content, properties);
    if (!read.ok) return { kind: 'dead-letter', reason: `malformed command: ${read.reason}` };
    const command = read.command;
    const handler = this.options.handlers.get(command.pattern);
    if (!handler) return { kind: 'dead-letter', reason: `no handler for pattern "${command.pattern}"` };
    if (handler.kind !== command.direction) {
      return { kind: 'dead-letter', reason: `"${command.pattern}" is handled as ${handler.kind} but x-saga-direction is "${command.direction}"` };
    }
    const runner = this.options.dataSource.createQueryRunner();
    try {
      await infra('begin transaction', async () => {
        await runner.connect();
        await runner.startTransaction();
      });
      return await this.inTransaction(runner, command, handler);
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      await runner.release().catch(() => undefined);
    }
  }

  private async inTransaction(runner: QueryRunner, command: IncomingCommand, handler: ParticipantHandler): Promise<ProcessResult> {
    const manager = runner.manager;
    const decision: ProcessingDecision = await infra('look up processed commands', async () => {
      await lockStep(manager, command.sagaId, command.step);
      const { existing, counterpart } = await findProcessedPair(manager, command.sagaId, command.step, command.direction);
      return decideProcessing({
        direction: command.direction,
        pattern: command.pattern,
        undoes: handler.kind === 'compensation' ? handler.undoes : undefined,
        now: this.clock(),
        expiresAt: command.expiresAt,
        existing,
        counterpart,
      });
    });
    switch (decision.kind) {
      case 'reject':
        return { kind: 'dead-letter', reason: decision.reason };
      case 'replay':
        return reply(command, decision.outcome, 'replayed');
      case 'reply':
        return reply(command, decision.outcome, decision.outcome.kind === 'expired' ? 'expired' : 'rolled-back');
      case 'record': {
        const stored = await this.store(runner, command, decision.outcome);
        return reply(command, stored, 'recorded');
      }
      case 'run-action':
      case 'run-compensation': {
        const context: CommandContext = {
          sagaId: command.sagaId,
          step: command.step,
          attempt: command.attempt,
          messageId: command.messageId,
          pattern: command.pattern,
          expiresAt: command.expiresAt,
          manager,
        };
        const fullContext = decision.kind === 'run-compensation' ? { ...context, action: decision.action } : context;
        await infra('create savepoint', () => manager.query(`SAVEPOINT ${SAVEPOINT}`));
        const outcome = await this.runHandler(handler, command, fullContext);
        const settlement = settleOutcome(command.direction, outcome);
        if (settlement.kind === 'rollback') return reply(command, settlement.outcome, 'rolled-back');
        const keep = settlement.kind === 'apply';
        await infra('settle handler writes', () => manager.query(keep ? `RELEASE SAVEPOINT ${SAVEPOINT}` : `ROLLBACK TO SAVEPOINT ${SAVEPOINT}`));
        const stored = await this.store(runner, command, settlement.outcome);
        return reply(command, stored, keep ? 'applied' : 'failed');
      }
    }
  }

  private async runHandler(handler: ParticipantHandler, command: IncomingCommand, context: CommandContext): Promise<HandlerOutcome> {
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
      this.options.logger?.warn(`Handler for "${command.pattern}" (${command.messageId}) threw; rolling back: ${describe(error)}`);
      return retry(ToolkitCodes.handlerError, describe(error).slice(0, 2000));
    }
  }

  /** Inserts the dedupe record and commits; returns the outcome as stored. */
  private async store(runner: QueryRunner, command: IncomingCommand, outcome: StoredOutcome): Promise<StoredOutcome> {
    return infra('store the outcome and commit', async () => {
      const stored = await insertProcessed(runner.manager, {
        messageId: command.messageId,
        sagaId: command.sagaId,
        step: command.step,
        direction: command.direction,
        pattern: command.pattern,
        attempt: command.attempt,
        outcome,
        request: command.data,
      });
      await runner.commitTransaction();
      return stored;
    });
  }
}

function reply(command: IncomingCommand, outcome: ReplyOutcome, disposition: Disposition): ProcessResult {
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function infra<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw new ProcessingInfrastructureError(`${what} failed: ${describe(error)}`, { cause: error });
  }
}
