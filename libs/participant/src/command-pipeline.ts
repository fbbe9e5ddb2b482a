/**
 * The participant's ONE command pipeline (docs/semantics.md S3, S4): any number of commands, at
 * most one per (saga id, step), in ONE PostgreSQL transaction; one command is a batch of one.
 * Per command: plan (lock, look up, decide) → run the handler in a savepoint → settle (keep or
 * discard its writes, store the record). In round trips:
 *
 *   [BEGIN; lock every (saga id, step) in key order; look up every record; SAVEPOINT]
 *   then per handler its own statements, the first of them carrying the statements that settle
 *   the last handler and open a fresh savepoint (handler-statements.ts); finally
 *   [settle the last; INSERT every record; refresh the duplicates' last_seen_at; COMMIT]. One command costs two round trips of the
 *   toolkit's own; N commands with one statement each N + 2 instead of 3N.
 *
 * Guarantees:
 * - Every handler runs inside its own savepoint: a failure outcome, a throw or a retryable
 *   outcome discards that command's writes and nothing else; a kept outcome's writes and its
 *   dedupe record commit together with the rest of the batch, or not at all.
 * - All or nothing: the batch commits whole and resolves with one result per command, in order,
 *   or throws having kept nothing (release() rolls it back); the caller then processes each
 *   command alone (GroupCommit), so a command that spoils a batch fails alone. Database trouble
 *   is thrown as ProcessingInfrastructureError (requeued, never answered).
 * - The advisory locks are taken in one order (by key text) before any handler runs; the records
 *   are looked up by statements that start after every lock is granted, so each lookup sees
 *   everything committed before.
 * - The planner setting that keeps the toolkit's prepared lookups on their indexes however the
 *   table grew (enable_seqscan off: a generic plan cached while the table was small would
 *   otherwise read the whole table forever after) applies to the toolkit's own statements only;
 *   handlers run with the session's own setting unless the service opts in (indexReadsForHandlers).
 * - A handler that leaves a nested transaction open fails the batch (never committed half-open),
 *   and so does any failed round trip that carried a savepoint switch.
 * - At most MAX_BATCH_COMMANDS commands: each writing handler adds a subtransaction, and beyond
 *   PostgreSQL's 64 cached subtransactions per transaction every snapshot in the server slows.
 */
import type { AmqpLogger } from '#saga/messaging';
import { PipelinedSession } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { handlerContext, infra, recordOf, reply, runHandler, type AcceptedCommand, type Disposition, type ProcessResult } from './command-steps';
import { decideProcessing, settleOutcome, type ProcessingDecision } from './decision';
import { ProcessingInfrastructureError } from './errors';
import { HandlerStatements } from './handler-statements';
import type { StoredOutcome } from './outcomes';
import { commandMessageId } from '#saga/core';
import { insertProcessed, lockStep, lookupPair, stepLockKey, TOOLKIT_STATEMENTS, touchProcessed } from './processed-commands';

/** The most commands one batch may hold (see the header: subtransactions). */
export const MAX_BATCH_COMMANDS = 32;

export interface PipelineOptions {
  dataSource: DataSource;
  now: () => number;
  logger?: AmqpLogger;
  /** Handlers' statements too run with sequential scans priced out (their reads are by key). */
  indexReadsForHandlers?: boolean;
}

const SAVEPOINT = 'participant_handler';
const OPEN = `SAVEPOINT ${SAVEPOINT}`;
const RELEASE = `RELEASE SAVEPOINT ${SAVEPOINT}`;
const DISCARD = [`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`, RELEASE];
/** Prices sequential scans out for the whole transaction. */
const INDEX_READS = 'SET LOCAL enable_seqscan = off';
/** The same for the toolkit's lookups only: the session's setting is kept, and restored after them. */
const INDEX_READS_FOR_LOOKUPS = ["SELECT set_config('saga_toolkit.seqscan', current_setting('enable_seqscan'), true)", INDEX_READS];
const SESSION_PLANNER = "SELECT set_config('enable_seqscan', current_setting('saga_toolkit.seqscan'), true)";

/** A record to insert with the COMMIT, and how to reply once it is stored. */
interface PendingStore {
  index: number;
  outcome: StoredOutcome;
  disposition: Disposition;
}

export async function processCommands(options: PipelineOptions, commands: readonly AcceptedCommand[]): Promise<ProcessResult[]> {
  if (commands.length === 0) return [];
  if (commands.length > MAX_BATCH_COMMANDS) throw new RangeError(`a batch holds at most ${MAX_BATCH_COMMANDS} commands, got ${commands.length}`);
  const keys = new Set(commands.map(({ command }) => stepLockKey(command)));
  if (keys.size !== commands.length) throw new RangeError('a batch holds at most one command per (saga id, step)');
  const session = await infra('begin transaction', () => PipelinedSession.open(options.dataSource));
  try {
    return await inTransaction(options, session, commands);
  } finally {
    await session.release(); // rolls back whatever was not committed
  }
}

async function inTransaction(options: PipelineOptions, session: PipelinedSession, commands: readonly AcceptedCommand[]): Promise<ProcessResult[]> {
  const decisions = await plan(options, session, commands);
  const statements = new HandlerStatements(session);
  const results = new Array<ProcessResult>(commands.length);
  const stores: PendingStore[] = [];
  const touches: string[] = []; // duplicates: their records' retention restarts (sent with the COMMIT)
  let settle: string[] = []; // settles the last handler; sent before the next one or with the COMMIT
  let savepointFresh = true; // opened by plan(), nothing written under it yet

  for (const [index, decision] of decisions.entries()) {
    const { command, handler } = commands[index];
    switch (decision.kind) {
      case 'reject':
        results[index] = { kind: 'dead-letter', reason: decision.reason };
        break;
      case 'replay':
        touches.push(touchProcessed(session, commandMessageId(command)));
        results[index] = reply(command, decision.outcome, 'replayed');
        break;
      case 'reply':
        results[index] = reply(command, decision.outcome, decision.outcome.kind === 'expired' ? 'expired' : 'rolled-back');
        break;
      case 'record':
        stores.push({ index, outcome: decision.outcome, disposition: 'recorded' });
        break;
      case 'run-action':
      case 'run-compensation': {
        if (!savepointFresh) statements.defer([...settle, OPEN]);
        settle = [];
        savepointFresh = false;
        const context = handlerContext(statements, session.manager, command, decision.kind === 'run-compensation' ? decision.action : undefined);
        const outcome = await runHandler(handler, command, context, options.logger);
        if (session.depth !== 1) throw new ProcessingInfrastructureError(`the handler of "${command.pattern}" left a nested transaction open`);
        if (statements.spoiledByDeferred) throw new ProcessingInfrastructureError(`the savepoint before "${command.pattern}" was not confirmed`);
        const settlement = settleOutcome(command.direction, outcome);
        if (settlement.kind === 'rollback') {
          settle = DISCARD;
          results[index] = reply(command, settlement.outcome, 'rolled-back');
        } else {
          settle = settlement.kind === 'apply' ? [RELEASE] : DISCARD;
          stores.push({ index, outcome: settlement.outcome, disposition: settlement.kind === 'apply' ? 'applied' : 'failed' });
        }
        break;
      }
    }
  }

  await infra('store the outcome and commit', async () => {
    const inserts = stores.map((pending) => insertProcessed(session, recordOf(commands[pending.index].command, pending.outcome)));
    const stored = await statements.commit([...settle, ...inserts.flatMap((insert) => insert.statements), ...touches]);
    stores.forEach((pending, position) => {
      const at = settle.length + position;
      results[pending.index] = reply(commands[pending.index].command, inserts[position].read(stored.slice(at, at + 1)), pending.disposition);
    });
  });
  return results;
}

/** One round trip: BEGIN, every lock in key order, every lookup, the first savepoint; then the
 *  decision of each command. */
async function plan(options: PipelineOptions, session: PipelinedSession, commands: readonly AcceptedCommand[]): Promise<ProcessingDecision[]> {
  return infra('look up processed commands', async () => {
    await session.prepare(Object.values(TOOLKIT_STATEMENTS)); // a round trip only on a connection's first command
    const locks = commands
      .map(({ command }) => ({ command, key: stepLockKey(command) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map(({ command }) => lockStep(session, command));
    const lookups = commands.map(({ command }) => lookupPair(session, command));
    const [before, after] = options.indexReadsForHandlers ? [[INDEX_READS], []] : [INDEX_READS_FOR_LOOKUPS, [SESSION_PLANNER]];
    const results = await session.begin([...before, ...locks, ...lookups.flatMap((lookup) => lookup.statements), ...after, OPEN]);
    const found = results.slice(before.length + locks.length);
    const now = options.now();
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
