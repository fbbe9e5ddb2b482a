/**
 * Processes one incoming command end to end inside ONE PostgreSQL transaction (SPEC S4):
 * read → advisory lock on (saga id, step) → dedupe/tombstone/expiry decision → handler →
 * dedupe record → commit. It returns what to send (a reply, or a dead-letter reason); the
 * consumer publishes that and only then acks.
 *
 * The toolkit's own SQL costs two round trips per command, whatever the decision (the handler's
 * statements come on top): [BEGIN; lock; lookup; SAVEPOINT (actions only)] then either
 * [ROLLBACK TO SAVEPOINT (failures only); INSERT record; COMMIT] or a ROLLBACK
 * (libs/persistence batched-transaction.ts, processed-commands.ts).
 *
 * Guarantees:
 * - A malformed message, an unknown pattern or a direction that does not match the pattern's
 *   declaration is never processed: the result is a dead-letter with the reason.
 * - Data failing the handler's schema is answered with the terminal failure INVALID_COMMAND (so
 *   the saga rolls back promptly; an action's answer is stored for dedupe) AND the result asks
 *   for a copy in the dead-letter queue, reason = the validation error, so an operator sees it.
 *   A replay of a stored INVALID_COMMAND asks for the copy again: at least once, never lost to a
 *   crash between the commit and the copy's confirm.
 * - The handler's writes and the dedupe record commit together (one COMMIT, also of the open
 *   savepoint) or not at all; a failure outcome keeps none of the handler's writes (an action's
 *   are rolled back to a savepoint before its record is stored; a failed compensation stores
 *   nothing and rolls back entirely).
 * - A handler that throws is answered retryable and its transaction rolls back entirely, unless
 *   what it threw is the database being unreachable: that is thrown as
 *   ProcessingInfrastructureError (requeued, retried in place), never spent as a saga retry.
 * - A stored outcome is replied in its stored form, so duplicates get identical replies.
 * - Database trouble around the handler (connect, lock, lookup, store, commit) is thrown as
 *   ProcessingInfrastructureError, so the message is requeued rather than answered: a commit whose
 *   result is unknown is resolved by the redelivery hitting the dedupe record.
 */
import { readCommand, type IncomingCommand, type ReplyOutcome } from '#saga/core';
import type { AmqpLogger } from '#saga/messaging';
import type { DataSource } from 'typeorm';
import { decideProcessing, settleOutcome, type ProcessingDecision } from './decision';
import { ProcessingInfrastructureError } from './errors';
import type { CommandContext, HandlerRegistry, ParticipantHandler } from './handlers';
import { fail, retry, ToolkitCodes, type HandlerOutcome, type StoredOutcome } from './outcomes';
import { insertProcessed, lockAndLookup, TOOLKIT_STATEMENTS } from './processed-commands';
import { BatchedTransaction, isDatabaseUnavailable } from '#saga/persistence';

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

/**
 * Prepared statements (the toolkit's and context.query's) are parsed once per connection and,
 * after a few runs, planned once too (PostgreSQL's generic plan). A generic plan cached while a
 * table was small would be a sequential scan, kept until the table is analysed, which with
 * autovacuum off is never: every command would then read the whole table. With sequential scans
 * priced out, the cached plan reads through the indexes whatever the table's size. Re-planning
 * every run (force_custom_plan) would also be safe, but cost ~15 % of the database's CPU.
 * For this transaction only.
 */
const INDEX_READS_ONLY = 'SET LOCAL enable_seqscan = off';

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
    const transaction = await infra('begin transaction', () => BatchedTransaction.open(this.options.dataSource));
    try {
      return await this.inTransaction(transaction, command, handler);
    } finally {
      await transaction.release(); // rolls back whatever was not committed
    }
  }

  private async inTransaction(transaction: BatchedTransaction, command: IncomingCommand, handler: ParticipantHandler): Promise<ProcessResult> {
    // Only an action's failure is stored while its writes are discarded: a compensation's
    // outcome is either applied whole or rolled back whole, so it needs no savepoint.
    const savepoint = command.direction === 'action';
    const decision: ProcessingDecision = await infra('look up processed commands', async () => {
      await transaction.prepare(Object.values(TOOLKIT_STATEMENTS)); // a round trip only on a connection's first command
      const lookup = lockAndLookup(transaction, command);
      const results = await transaction.begin([INDEX_READS_ONLY, ...lookup.statements, ...(savepoint ? [`SAVEPOINT ${SAVEPOINT}`] : [])]);
      const { existing, counterpart } = lookup.read(results.slice(1));
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
        const stored = await this.store(transaction, command, decision.outcome, []);
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
          manager: transaction.manager,
          query: (sql, params) => transaction.preparedQuery(sql, params ?? []),
        };
        const fullContext = decision.kind === 'run-compensation' ? { ...context, action: decision.action } : context;
        const outcome = await this.runHandler(handler, command, fullContext);
        const settlement = settleOutcome(command.direction, outcome);
        if (settlement.kind === 'rollback') return reply(command, settlement.outcome, 'rolled-back');
        const keep = settlement.kind === 'apply';
        // COMMIT keeps the savepoint's writes; a failure discards them first, in the same round trip.
        const settle = keep ? [] : [`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`];
        if (!keep && !savepoint) throw new ProcessingInfrastructureError(`cannot discard the writes of "${command.pattern}": no savepoint`);
        const stored = await this.store(transaction, command, settlement.outcome, settle);
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
      // The database went away under the handler: not the command's fault, and no answer for
      // the saga (a retryable reply would spend its retries on our outage). Requeued instead.
      if (isDatabaseUnavailable(error)) throw new ProcessingInfrastructureError(`the handler of "${command.pattern}" lost the database: ${describe(error)}`, { cause: error });
      this.options.logger?.warn(`Handler for "${command.pattern}" (${command.messageId}) threw; rolling back: ${describe(error)}`);
      return retry(ToolkitCodes.handlerError, describe(error).slice(0, 2000));
    }
  }

  /** Runs `before`, inserts the dedupe record and commits, in one round trip; returns the
   *  outcome as stored. */
  private async store(transaction: BatchedTransaction, command: IncomingCommand, outcome: StoredOutcome, before: string[]): Promise<StoredOutcome> {
    return infra('store the outcome and commit', async () => {
      const insert = insertProcessed(transaction, {
        messageId: command.messageId,
        sagaId: command.sagaId,
        step: command.step,
        direction: command.direction,
        pattern: command.pattern,
        attempt: command.attempt,
        outcome,
        request: command.data,
      });
      const results = await transaction.commit([...before, ...insert.statements]);
      return insert.read(results.slice(before.length));
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
