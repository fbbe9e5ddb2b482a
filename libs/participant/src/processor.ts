/**
 * Processes incoming commands end to end inside PostgreSQL transactions (docs/semantics.md S4):
 * accept (no database) → the command pipeline (command-pipeline.ts: lock, dedupe / tombstone /
 * expiry decision, handler, dedupe record, commit). It returns what to send (a reply, or a
 * dead-letter reason); the consumer publishes that and only then acks.
 *
 * Guarantees:
 * - A malformed message, an unknown pattern or a direction that does not match the pattern's
 *   declaration is never processed: the result is a dead-letter with the reason.
 * - One command and a batch of commands take the same pipeline, with the same decisions; a batch
 *   is all or nothing (see command-pipeline.ts), one command is a batch of one.
 * - Database trouble around the handler (connect, lock, lookup, store, commit) is thrown as
 *   ProcessingInfrastructureError, so the message is requeued rather than answered: a commit whose
 *   result is unknown is resolved by the redelivery hitting the dedupe record.
 */
import type { AmqpLogger } from '#saga/messaging';
import type { DataSource } from 'typeorm';
import { processCommands, type PipelineOptions } from './command-pipeline';
import { accept, type AcceptedCommand, type Acceptance, type AmqpProperties, type ProcessResult } from './command-steps';
import type { HandlerRegistry } from './handlers';

export type { AcceptedCommand, Acceptance, AmqpProperties, Disposition, ProcessResult } from './command-steps';

export interface CommandProcessorOptions {
  dataSource: DataSource;
  handlers: HandlerRegistry;
  clock?: () => number;
  logger?: AmqpLogger;
  /** Handlers' own statements also run with sequential scans priced out (off by default: the
   *  toolkit's statements always do). For services whose handler reads are all by key. */
  indexReadsForHandlers?: boolean;
}

export class CommandProcessor {
  private readonly pipeline: PipelineOptions;

  constructor(private readonly options: CommandProcessorOptions) {
    this.pipeline = { dataSource: options.dataSource, now: options.clock ?? Date.now, logger: options.logger, indexReadsForHandlers: options.indexReadsForHandlers };
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
    return (await processCommands(this.pipeline, [accepted]))[0];
  }

  /** Several commands, at most one per (saga id, step), in ONE transaction, all or nothing: on
   *  any error nothing of the batch is kept and the error is thrown (the caller then processes
   *  each command with processOne). */
  async processBatch(commands: readonly AcceptedCommand[]): Promise<ProcessResult[]> {
    return processCommands(this.pipeline, commands);
  }
}
