/**
 * The participant's AMQP side: declares its queue (and the dead-letter exchange/queue it relies
 * on), consumes with manual ack, publishes each reply with publisher confirms, then acks.
 *
 * Guarantees:
 * - A message is acked only after its transaction committed AND its reply (or dead-letter copy)
 *   was confirmed by the broker; anything failing before that requeues the message, and the
 *   redelivery is answered from the dedupe record.
 * - The reply goes to the command's `replyTo` carrying only its `correlationId` (JSON, persistent).
 * - Never looping (docs/semantics.md S4): a malformed command, an unknown pattern, a direction mismatch and
 *   an oversized body are dead-lettered at once with the reason; a command whose processing
 *   keeps failing (e.g. the database refuses its commit) after DEFAULT_POISON_AFTER failed
 *   deliveries, counted by the broker too, with the last error; one that crashes the process on
 *   every delivery by the broker, at the queue's delivery limit (topology.ts). Other commands
 *   keep flowing meanwhile (prefetch > 1, a failing one is returned after a pause). An
 *   unreachable database, or a reply the broker does not take now (no connection, a nack while
 *   a cluster node is down), is not the command's fault: retried in place, never parked.
 * - Data failing a handler's schema gets BOTH the INVALID_COMMAND reply and a copy in the
 *   dead-letter queue (reason: the validation error); both are confirmed before the ack.
 * - The queue is declared with exactly the arguments the orchestrator uses (declareTopology), so
 *   either side may start first.
 * - Group commit: commands that arrive while a batch is being processed are processed together
 *   in ONE transaction (command-pipeline.ts), at most `maxBatchSize`, at most one per (saga id,
 *   step), one batch at a time; a batch that fails is retried command by command, so each
 *   message gets its own outcome. With maxBatchSize 1, commands are processed concurrently
 *   (up to prefetch), each in a transaction of its own.
 * - stop() cancels the consumer, waits (bounded) for the messages in progress to finish and ack,
 *   then closes the connection; anything unfinished is redelivered later.
 */
import { replyBody } from '#saga/core';
import {
  AmqpClient,
  deadLetter,
  isPublishFailure,
  RepeatedFailureError,
  declareTopology,
  topologyNames,
  verifyTopology,
  type AmqpLogger,
  type PoisonError,
  type QueueType,
  type TopologyNames,
} from '#saga/messaging';
import { GroupCommit } from '#saga/batching';
import { faultPoint } from '#saga/fault-points';
import { isDatabaseUnavailable } from '#saga/persistence';
import type { ConsumeMessage } from 'amqplib';
import type { DataSource } from 'typeorm';
import { ConsumerStateError, ParticipantConfigError } from './errors';
import { HandlerRegistry, type ParticipantHandler } from './handlers';
import { MAX_BATCH_COMMANDS } from './command-pipeline';
import { CommandProcessor, type AcceptedCommand, type ProcessResult } from './processor';
import { stepLockKey } from './processed-commands';

export const DEFAULT_PARTICIPANT_PREFETCH = 32;
export const DEFAULT_MAX_BATCH_SIZE = 32;

export interface ParticipantConsumerOptions {
  amqpUrl: string;
  /** Names the shared topology: `<prefix>.dlx`, `<prefix>.dead-letter`, `<prefix>.replies`. */
  amqpPrefix: string;
  /** This participant's command queue, e.g. `saga.inventory`. */
  queue: string;
  /** The deployment's queue type (AMQP_QUEUE_TYPE, libs/messaging topology.ts; default quorum):
   *  the orchestrator and every participant must use the same. */
  queueType?: QueueType;
  /** Shown in the broker's connection list. */
  connectionName: string;
  dataSource: DataSource;
  handlers: readonly ParticipantHandler[];
  /** Unacked messages the broker hands over at once (default 32). With maxBatchSize 1, the
   *  messages processed concurrently: keep it at or below the DB pool size then. */
  prefetch?: number;
  /** The most commands one transaction processes (group commit; default 32, at most
   *  MAX_BATCH_COMMANDS). Handlers of a batch run one after another: a handler that waits long
   *  (on a remote call, say) holds up the others, so such a service should set 1. */
  maxBatchSize?: number;
  /** Handlers' own statements also run with sequential scans priced out (default false; the
   *  toolkit's own statements always do). For services whose handlers read by key only. */
  indexReadsForHandlers?: boolean;
  /** How long stop() waits for in-flight messages (default 10 s). */
  shutdownTimeoutMs?: number;
  logger?: AmqpLogger;
  clock?: () => number;
  /** Called after every processed message (tests and metrics). */
  onProcessed?: (result: ProcessResult) => void;
}

/** `body of N bytes is over the L-byte limit`, `processing failed on N deliveries: <last error>`, or `returned to its queue N times …`. */
function poisonReason(error: PoisonError): string {
  return error instanceof RepeatedFailureError ? `processing ${error.message}` : error.message;
}

export class ParticipantConsumer {
  private stopping = false;
  private readonly batches: GroupCommit<AcceptedCommand, ProcessResult> | undefined;

  private constructor(
    private readonly options: ParticipantConsumerOptions,
    private readonly processor: CommandProcessor,
    private readonly names: TopologyNames,
    private readonly client: AmqpClient,
  ) {
    const maxSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    this.batches =
      maxSize === 1
        ? undefined
        : new GroupCommit<AcceptedCommand, ProcessResult>(
            { batch: (commands) => processor.processBatch(commands), single: (command) => processor.processOne(command) },
            { key: ({ command }) => stepLockKey(command), maxSize, maxBatches: 1 },
          );
  }

  /** Validates the handlers, connects, declares the topology and starts consuming. */
  static async start(options: ParticipantConsumerOptions): Promise<ParticipantConsumer> {
    const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1 || maxBatchSize > MAX_BATCH_COMMANDS) {
      throw new ParticipantConfigError(`maxBatchSize must be an integer from 1 to ${MAX_BATCH_COMMANDS}, got ${maxBatchSize}`);
    }
    const registry = new HandlerRegistry(options.handlers);
    const names = topologyNames(options.amqpPrefix);
    const processor = new CommandProcessor({
      dataSource: options.dataSource,
      handlers: registry,
      clock: options.clock,
      logger: options.logger,
      indexReadsForHandlers: options.indexReadsForHandlers,
    });
    const client = await AmqpClient.connect({
      url: options.amqpUrl,
      connectionName: options.connectionName,
      logger: options.logger,
      setupTopology: async (channel) => {
        await declareTopology(channel, names, [options.queue], options.queueType);
        await verifyTopology(channel, names, [options.queue]);
      },
    });
    const consumer = new ParticipantConsumer(options, processor, names, client);
    try {
      await client.consume(options.queue, (message) => consumer.handle(message), {
        prefetch: options.prefetch ?? DEFAULT_PARTICIPANT_PREFETCH,
        queueType: options.queueType,
        onPoison: (message, error) => consumer.park(message, poisonReason(error)),
        // An outage is not the command's fault: retried in place, never parked. That covers the
        // database and the reply's publish (no connection, or nacked while a cluster node is down
        // and a quorum queue elects a new leader: checked with test/adapters/cluster-failover).
        isTransient: (error) => isDatabaseUnavailable(error) || isPublishFailure(error),
      });
    } catch (error) {
      await client.close();
      throw error;
    }
    options.logger?.log(`Consuming ${options.queue} (patterns: ${registry.patterns.join(', ')})`);
    return consumer;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  private async handle(message: ConsumeMessage): Promise<void> {
    const result = await this.process(message);
    if (result.kind === 'dead-letter') {
      await this.park(message, result.reason);
    } else {
      faultPoint('participant.after-commit-before-reply'); // its transaction committed (or the dedupe record answered)
      if (result.deadLetterReason !== undefined) await this.park(message, result.deadLetterReason);
      await this.client.publish('', result.replyTo, Buffer.from(JSON.stringify(replyBody(result.outcome))), {
        correlationId: result.correlationId,
        contentType: 'application/json',
        persistent: true,
      });
    }
    this.options.onProcessed?.(result);
  }

  private async process(message: ConsumeMessage): Promise<ProcessResult> {
    const accepted = this.processor.accept(message.content, message.properties);
    if (accepted.kind !== 'accepted') return accepted;
    return this.batches ? this.batches.submit(accepted) : this.processor.processOne(accepted);
  }

  private async park(message: ConsumeMessage, reason: string): Promise<void> {
    this.options.logger?.warn(`Dead-lettering a message from ${this.options.queue}: ${reason}`);
    await deadLetter(this.client, this.names.deadLetterExchange, message, this.options.queue, reason);
  }

  /** Stops taking messages (the consumer is cancelled), lets the ones in progress commit, reply
   *  and ack within shutdownTimeoutMs, then closes; anything unfinished is redelivered later. */
  async stop(): Promise<void> {
    if (this.stopping) throw new ConsumerStateError(`consumer of ${this.options.queue} is already stopped`);
    this.stopping = true;
    await this.client.close(this.options.shutdownTimeoutMs ?? 10_000);
  }
}
