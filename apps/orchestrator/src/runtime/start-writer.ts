/**
 * Stores new sagas through the committer. Starts without an idempotency key that arrive while
 * another start is being written share ONE statement (GroupCommit over SagaCommitter.start): a
 * burst of N starts costs one round trip and one commit instead of N. A start with an idempotency
 * key is written on its own, so a duplicate key (unique violation 23505) is that request's answer.
 *
 * Guarantees:
 * - write() resolves only after the statement that stored its saga committed, with exactly the
 *   commands written for that saga (to publish now). The statement is atomic: the sagas of a
 *   batch are all stored or none is.
 * - A failed batch keeps nothing; each of its starts is then written alone, so one bad start
 *   fails alone and every caller sees its own outcome.
 * - At most two batches are written at once (one commits while the next gathers), each of at most
 *   `maxBatchSize` starts; a start never waits for a batch to fill, only for a running one to
 *   finish when two are running. maxBatchSize 1: each start its own statement.
 */
import { GroupCommit } from '#saga/batching';
import type { CommittedCommand, NewSaga, SagaCommitter } from '#saga/persistence';

/** With one batch at a time, starts queued behind a running commit: measured slower than two. */
const BATCHES_IN_FLIGHT = 2;

export class StartWriter {
  private readonly batcher: GroupCommit<NewSaga, CommittedCommand[]>;

  constructor(
    private readonly committer: SagaCommitter,
    maxBatchSize: number,
  ) {
    this.batcher = new GroupCommit<NewSaga, CommittedCommand[]>(
      { batch: (starts) => committer.start(starts), single: (start) => this.alone(start) },
      { key: (start) => start.decision.state.id, maxSize: maxBatchSize, maxBatches: BATCHES_IN_FLIGHT },
    );
  }

  /** Stores one new saga; rejects with the database's error (23505 for a duplicate idempotency key). */
  write(start: NewSaga): Promise<CommittedCommand[]> {
    return start.meta.idempotencyKey === null ? this.batcher.submit(start) : this.alone(start);
  }

  private async alone(start: NewSaga): Promise<CommittedCommand[]> {
    return (await this.committer.start([start]))[0]; // one statement: atomic on its own
  }
}
