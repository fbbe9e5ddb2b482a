/**
 * Consumes participant replies from `<prefix>.replies` and feeds them to the runtime.
 *
 * Guarantees (docs/semantics.md S4):
 * - A reply is acked only after the transaction it caused committed (the AMQP client acks when
 *   this handler resolves). Replies arriving together share one transaction (GroupCommit, keyed
 *   by saga id), one batch at a time.
 * - A reply that cannot be read (not JSON, no correlation id of ours, neither response nor err,
 *   over 1 MiB) goes to the dead-letter queue with the reason and is acked: it never loops.
 * - A reply whose handling keeps failing (say its saga is pinned to a definition version this
 *   orchestrator does not have) is parked after DEFAULT_POISON_AFTER failed deliveries, counted
 *   by the broker too, with the last error as the reason; one that crashes the process on every
 *   delivery is parked by the broker at the reply queue's delivery limit (topology.ts). An
 *   unreachable database is not the reply's fault: it is retried in place and never parked.
 * - Duplicates and late replies are recorded in the saga's history and change nothing; so is a
 *   parked reply whose correlation id names an existing saga (MALFORMED_REPLY_PARKED).
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { classifyReply, parseCorrelationId, type AttemptAddress } from '#saga/core';
import { deadLetter, RepeatedFailureError, type PoisonError } from '#saga/messaging';
import { GroupCommit } from '#saga/batching';
import { faultPoint } from '#saga/fault-points';
import { isDatabaseUnavailable, type CommitOutcome } from '#saga/persistence';
import type { ConsumeMessage } from 'amqplib';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { BrokerService } from './broker.service';
import { SagaRuntime, type ReplyItem } from './saga-runtime.service';
import { logLine } from '../logging/log-line';

/** Batches in flight at once. One: the replies that arrive while a batch commits all go into
 *  the next one, so under load each commit carries more of them (measured: fewer commits and
 *  less CPU per saga, higher throughput than with two); alone, a reply never waits. */
const BATCHES_IN_FLIGHT = 1;

/** Saga ids are UUIDs (the runtime creates them with randomUUID). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `body of N bytes is over the L-byte limit`, `reply handling failed on N deliveries: <last error>`, or `returned to its queue N times …`. */
function poisonReason(error: PoisonError): string {
  return error instanceof RepeatedFailureError ? `reply handling ${error.message}` : error.message;
}

/** The batch committed; its messages are acked once their handlers resolve, after this. */
function afterCommit(outcomes: CommitOutcome[]): CommitOutcome[] {
  faultPoint('orchestrator.after-commit-before-ack');
  return outcomes;
}

@Injectable()
export class ReplyConsumer implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReplyConsumer');
  private readonly batcher: GroupCommit<ReplyItem, CommitOutcome>;

  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    private readonly broker: BrokerService,
    private readonly runtime: SagaRuntime,
  ) {
    this.batcher = new GroupCommit<ReplyItem, CommitOutcome>(
      {
        batch: async (items) => afterCommit(await runtime.handleReplies(items)),
        single: async (item) => afterCommit(await runtime.handleReplies([item]))[0],
      },
      { key: (item) => item.sagaId, maxSize: config.replyBatchSize, maxBatches: BATCHES_IN_FLIGHT },
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    const queue = this.broker.names.replyQueue;
    await this.broker.client.consume(queue, (message) => this.onMessage(message), {
      prefetch: this.config.replyPrefetch,
      queueType: this.config.amqpQueueType,
      onPoison: (message, error) => this.park(message, poisonReason(error)),
      isTransient: isDatabaseUnavailable, // an outage is not the reply's fault: retried in place, never parked
    });
  }

  private async park(message: ConsumeMessage, reason: string, address?: AttemptAddress): Promise<void> {
    this.logger.warn(logLine('reply dead-lettered', { reason, sagaId: address?.sagaId, step: address?.step, direction: address?.direction, attempt: address?.attempt }));
    await deadLetter(this.broker.client, this.broker.names.deadLetterExchange, message, this.broker.names.replyQueue, reason);
  }

  /** Noted in the history of the saga it names (if that saga exists), then parked. In this
   *  order so that a database outage (retried in place) does not park one copy per retry. */
  private async parkForSaga(message: ConsumeMessage, address: AttemptAddress, reason: string): Promise<void> {
    await this.runtime.recordMalformedReply(address.sagaId, address, reason);
    await this.park(message, reason, address);
  }

  private async onMessage(message: ConsumeMessage): Promise<void> {
    const address = parseCorrelationId(message.properties.correlationId);
    if (!address || !UUID.test(address.sagaId)) {
      return this.park(message, `correlationId ${JSON.stringify(message.properties.correlationId ?? null)} is not a saga command's`);
    }
    let body: unknown;
    try {
      body = JSON.parse(message.content.toString('utf8'));
    } catch {
      return this.parkForSaga(message, address, 'reply body is not valid JSON');
    }
    const outcome = classifyReply(body);
    if (outcome.kind === 'malformed') return this.parkForSaga(message, address, outcome.reason);
    await this.batcher.submit({
      sagaId: address.sagaId,
      event: { type: 'REPLY', step: address.step, direction: address.direction, attempt: address.attempt, outcome },
      inboxKey: message.properties.correlationId as string,
    });
  }
}
