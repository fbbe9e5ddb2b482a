/**
 * Processes incoming commands end to end inside PostgreSQL transactions (SPEC S4): read →
 * advisory lock on (saga id, step) → dedupe/tombstone/expiry decision → handler → dedupe record
 * → commit. It returns what to send (a reply, or a dead-letter reason); the consumer publishes
 * that and only then acks. process() and processOne() take one command per transaction;
 * processBatch() several (group commit, batch-processor.ts), with the same guarantees per command.
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
import type { AmqpLogger } from '#saga/messaging';
import { BatchedTransaction } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { processBatch } from './batch-processor';
import {
  accept,
  HANDLER_SAVEPOINT,
  handlerContext,
  INDEX_READS_ONLY,
  infra,
  recordOf,
  reply,
  runHandler,
  type AcceptedCommand,
  type Acceptance,
  type AmqpProperties,
  type ProcessResult,
} from './command-steps';
import { decideProcessing, settleOutcome, type ProcessingDecision } from './decision';
import { ProcessingInfrastructureError } from './errors';
import type { HandlerRegistry } from './handlers';
import type { StoredOutcome } from './outcomes';
import { insertProcessed, lockAndLookup, TOOLKIT_STATEMENTS } from './processed-commands';

export type { AcceptedCommand, Acceptance, AmqpProperties, Disposition, ProcessResult } from './command-steps';

export interface CommandProcessorOptions {
  dataSource: DataSource;
  handlers: HandlerRegistry;
  clock?: () => number;
  logger?: AmqpLogger;
}

export class CommandProcessor {
  private readonly clock: () => number;

  constructor(private readonly options: CommandProcessorOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Checks a message without touching the database (see command-steps.ts accept). */
  accept(content: Buffer, properties: AmqpProperties): Acceptance {
    return accept(this.options.handlers, content, properties);
  }

  async process(content: Buffer, properties: AmqpProperties): Promise<ProcessResult> {
    const accepted = this.accept(content, properties);
    return accepted.kind === 'accepted' ? this.processOne(accepted) : accepted;
  }

  /** One command in its own transaction. */
  async processOne(accepted: AcceptedCommand): Promise<ProcessResult> {
    const transaction = await infra('begin transaction', () => BatchedTransaction.open(this.options.dataSource));
    try {
      return await this.inTransaction(transaction, accepted);
    } finally {
      await transaction.release(); // rolls back whatever was not committed
    }
  }

  /** Several commands, at most one per (saga id, step), in ONE transaction, all or nothing: on
   *  any error nothing of the batch is kept and the error is thrown (the caller then processes
   *  each command with processOne). */
  async processBatch(commands: readonly AcceptedCommand[]): Promise<ProcessResult[]> {
    return processBatch({ dataSource: this.options.dataSource, now: this.clock, logger: this.options.logger }, commands);
  }

  private async inTransaction(transaction: BatchedTransaction, { command, handler }: AcceptedCommand): Promise<ProcessResult> {
    // Only an action's failure is stored while its writes are discarded: a compensation's
    // outcome is either applied whole or rolled back whole, so it needs no savepoint.
    const savepoint = command.direction === 'action';
    const decision: ProcessingDecision = await infra('look up processed commands', async () => {
      await transaction.prepare(Object.values(TOOLKIT_STATEMENTS)); // a round trip only on a connection's first command
      const lookup = lockAndLookup(transaction, command);
      const results = await transaction.begin([INDEX_READS_ONLY, ...lookup.statements, ...(savepoint ? [`SAVEPOINT ${HANDLER_SAVEPOINT}`] : [])]);
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
        const context = handlerContext(transaction, command, decision.kind === 'run-compensation' ? decision.action : undefined);
        const outcome = await runHandler(handler, command, context, this.options.logger);
        const settlement = settleOutcome(command.direction, outcome);
        if (settlement.kind === 'rollback') return reply(command, settlement.outcome, 'rolled-back');
        const keep = settlement.kind === 'apply';
        // COMMIT keeps the savepoint's writes; a failure discards them first, in the same round trip.
        const settle = keep ? [] : [`ROLLBACK TO SAVEPOINT ${HANDLER_SAVEPOINT}`];
        if (!keep && !savepoint) throw new ProcessingInfrastructureError(`cannot discard the writes of "${command.pattern}": no savepoint`);
        const stored = await this.store(transaction, command, settlement.outcome, settle);
        return reply(command, stored, keep ? 'applied' : 'failed');
      }
    }
  }

  /** Runs `before`, inserts the dedupe record and commits, in one round trip; returns the
   *  outcome as stored. */
  private async store(transaction: BatchedTransaction, command: AcceptedCommand['command'], outcome: StoredOutcome, before: string[]): Promise<StoredOutcome> {
    return infra('store the outcome and commit', async () => {
      const insert = insertProcessed(transaction, recordOf(command, outcome));
      const results = await transaction.commit([...before, ...insert.statements]);
      return insert.read(results.slice(before.length));
    });
  }
}
