/**
 * Group commit for a participant: several commands, at most one per (saga id, step), processed
 * in ONE PostgreSQL transaction, each with exactly the decisions and guarantees it would get on
 * its own (processor.ts), for a fraction of the commits and round trips:
 *
 *   [BEGIN; SET LOCAL; lock every (saga id, step), in key order; look up every record; SAVEPOINT]
 *   then per handler its own statements, the first of them carrying the statements that settle
 *   the last handler and open a fresh savepoint ([RELEASE] or [ROLLBACK TO; RELEASE], then
 *   SAVEPOINT; BatchedTransaction.defer); finally [settle the last; INSERT every record; COMMIT].
 *   With handlers of one statement each, N commands cost N + 2 round trips instead of 3N.
 *
 * Guarantees:
 * - Every command's handler runs inside its own savepoint: a failure outcome, a throw or a
 *   retryable outcome discards that command's writes and nothing else; a kept outcome's writes
 *   and its dedupe record commit together with the rest of the batch, or not at all.
 * - All or nothing: the batch either commits whole and resolves with one result per command, in
 *   order, or throws having kept nothing (release() rolls it back). The caller then processes
 *   each command in a transaction of its own (GroupCommit), so a command that spoils a batch
 *   (say its handler leaves the transaction aborted, or a deadlock) fails alone. The database
 *   being unreachable is thrown as ProcessingInfrastructureError, as on the single path.
 * - The advisory locks are taken in one order (by key text) before any handler runs; the records
 *   are looked up in statements that start after every lock is granted, so each lookup sees
 *   everything committed before, as on the single path. Two batches of one process never run at
 *   once (the consumer keeps one in flight); two processes' batches whose handlers lock the same
 *   rows in opposite orders can deadlock, which PostgreSQL breaks by failing one batch, whose
 *   commands are then processed one by one.
 * - A handler that leaves a nested transaction open fails the batch (never committed half-open),
 *   and so does any failed round trip that carried a savepoint switch: whether the switch ran is
 *   unknown, so the batch is not committed (its commands are then processed one by one).
 * - At most MAX_BATCH_COMMANDS commands: each writing handler adds a subtransaction, and beyond
 *   PostgreSQL's 64 cached subtransactions per transaction every snapshot in the server slows.
 */
import type { AmqpLogger } from '#saga/messaging';
import { BatchedTransaction } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { HANDLER_SAVEPOINT, handlerContext, INDEX_READS_ONLY, infra, recordOf, reply, runHandler, type AcceptedCommand, type Disposition, type ProcessResult } from './command-steps';
import { decideProcessing, settleOutcome, type ProcessingDecision } from './decision';
import { ProcessingInfrastructureError } from './errors';
import type { StoredOutcome } from './outcomes';
import { insertProcessed, lockStep, lookupPair, stepLockKey, TOOLKIT_STATEMENTS, type Batch } from './processed-commands';

/** The most commands one batch may hold (see the header: subtransactions). */
export const MAX_BATCH_COMMANDS = 32;

export interface BatchProcessing {
  dataSource: DataSource;
  now: () => number;
  logger?: AmqpLogger;
}

/** A record to insert with the COMMIT, and how to reply once it is stored. */
interface PendingStore {
  index: number;
  outcome: StoredOutcome;
  disposition: Disposition;
}

const RELEASE = `RELEASE SAVEPOINT ${HANDLER_SAVEPOINT}`;
const DISCARD = [`ROLLBACK TO SAVEPOINT ${HANDLER_SAVEPOINT}`, RELEASE];

export async function processBatch(processing: BatchProcessing, commands: readonly AcceptedCommand[]): Promise<ProcessResult[]> {
  if (commands.length === 0) return [];
  if (commands.length > MAX_BATCH_COMMANDS) throw new RangeError(`a batch holds at most ${MAX_BATCH_COMMANDS} commands, got ${commands.length}`);
  const keys = new Set(commands.map(({ command }) => stepLockKey(command)));
  if (keys.size !== commands.length) throw new RangeError('a batch holds at most one command per (saga id, step)');
  const transaction = await infra('begin transaction', () => BatchedTransaction.open(processing.dataSource));
  try {
    return await inTransaction(processing, transaction, commands);
  } finally {
    await transaction.release(); // rolls back whatever was not committed
  }
}

async function inTransaction(processing: BatchProcessing, transaction: BatchedTransaction, commands: readonly AcceptedCommand[]): Promise<ProcessResult[]> {
  const decisions = await lockAndDecide(processing, transaction, commands);
  const results: ProcessResult[] = new Array<ProcessResult>(commands.length);
  const stores: PendingStore[] = [];
  const store = (index: number, outcome: StoredOutcome, disposition: Disposition) => stores.push({ index, outcome, disposition });
  let settle: string[] = []; // settles the last handler; sent before the next one or with the COMMIT
  let savepointFresh = true; // opened by begin(), nothing written under it yet

  for (const [index, decision] of decisions.entries()) {
    const { command, handler } = commands[index];
    switch (decision.kind) {
      case 'reject':
        results[index] = { kind: 'dead-letter', reason: decision.reason };
        break;
      case 'replay':
        results[index] = reply(command, decision.outcome, 'replayed');
        break;
      case 'reply':
        results[index] = reply(command, decision.outcome, decision.outcome.kind === 'expired' ? 'expired' : 'rolled-back');
        break;
      case 'record':
        store(index, decision.outcome, 'recorded');
        break;
      case 'run-action':
      case 'run-compensation': {
        // Settling the last handler and opening this one's savepoint ride along with this
        // handler's first statement (BatchedTransaction.defer), not in a round trip of their own.
        if (!savepointFresh) transaction.defer([...settle, `SAVEPOINT ${HANDLER_SAVEPOINT}`]);
        settle = [];
        savepointFresh = false;
        const context = handlerContext(transaction, command, decision.kind === 'run-compensation' ? decision.action : undefined);
        const outcome = await runHandler(handler, command, context, processing.logger);
        if (transaction.depth !== 1) throw new ProcessingInfrastructureError(`the handler of "${command.pattern}" left a nested transaction open`);
        // The savepoint switch may not have run (it failed along with the handler's statement):
        // nothing of this transaction can be trusted any more.
        if (transaction.spoiledByDeferred) throw new ProcessingInfrastructureError(`the savepoint before "${command.pattern}" was not confirmed`);
        const settlement = settleOutcome(command.direction, outcome);
        if (settlement.kind === 'rollback') {
          settle = DISCARD;
          results[index] = reply(command, settlement.outcome, 'rolled-back');
        } else if (settlement.kind === 'apply') {
          settle = [RELEASE];
          store(index, settlement.outcome, 'applied');
        } else {
          settle = DISCARD;
          store(index, settlement.outcome, 'failed');
        }
        break;
      }
    }
  }

  // The same words as the single path's: a command failing here alone is reported alike.
  await infra('store the outcome and commit', async () => {
    const inserts: Batch<StoredOutcome>[] = stores.map((pending) => insertProcessed(transaction, recordOf(commands[pending.index].command, pending.outcome)));
    const stored = await transaction.commit([...settle, ...inserts.flatMap((insert) => insert.statements)]);
    stores.forEach((pending, position) => {
      const at = settle.length + position;
      results[pending.index] = reply(commands[pending.index].command, inserts[position].read(stored.slice(at, at + 1)), pending.disposition);
    });
  });
  return results;
}

/** One round trip: BEGIN, every lock in key order, every lookup, the first savepoint. */
async function lockAndDecide(processing: BatchProcessing, transaction: BatchedTransaction, commands: readonly AcceptedCommand[]): Promise<ProcessingDecision[]> {
  return infra('look up processed commands', async () => {
    await transaction.prepare(Object.values(TOOLKIT_STATEMENTS)); // a round trip only on a connection's first command
    const inLockOrder = commands.map(({ command }) => ({ command, key: stepLockKey(command) })).sort((a, b) => compare(a.key, b.key));
    const locks = inLockOrder.map(({ command }) => lockStep(transaction, command));
    const lookups = commands.map(({ command }) => lookupPair(transaction, command));
    const results = await transaction.begin([INDEX_READS_ONLY, ...locks, ...lookups.flatMap((lookup) => lookup.statements), `SAVEPOINT ${HANDLER_SAVEPOINT}`]);
    const found = results.slice(1 + locks.length);
    const now = processing.now();
    return commands.map(({ command, handler }, index) => {
      const { existing, counterpart } = lookups[index].read(found.slice(index, index + 1));
      return decideProcessing({
        direction: command.direction,
        pattern: command.pattern,
        undoes: handler.kind === 'compensation' ? handler.undoes : undefined,
        now,
        expiresAt: command.expiresAt,
        existing,
        counterpart,
      });
    });
  });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
