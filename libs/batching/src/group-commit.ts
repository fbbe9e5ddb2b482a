/**
 * Group commit: items that arrive while others are being handled are handed over together, so
 * one transaction (one lock round, one read, one write, one COMMIT) serves many of them. Used
 * by the orchestrator's reply consumer (key: saga id), its start writer and the participant toolkit (key: saga id
 * and step). With one item at a time it adds no wait at all: an item never waits for a batch
 * to fill, only for a running batch to finish.
 *
 * Guarantees:
 * - A batch holds at most one item per key, and a key is in at most one running batch; later
 *   items for it wait, in arrival order, for a later batch (one key's items apply one at a time).
 * - At most `maxBatches` batches run at once, each of at most `maxSize` items.
 * - Each submit() settles exactly once: with its result when its batch succeeded, or, if the
 *   batch failed (the handler promises that nothing of a failed batch was kept), with the outcome
 *   of handling that item on its own. One bad item never takes the others down with it, and its
 *   caller sees its own error, not the batch's.
 */

export interface GroupCommitHandlers<Item, Result> {
  /** Handles the items together, all or nothing; resolves with one result per item, in order. */
  batch(items: Item[]): Promise<Result[]>;
  /** Handles one item on its own (after its batch failed). */
  single(item: Item): Promise<Result>;
}

export interface GroupCommitOptions<Item> {
  /** Items with the same key are never in one batch nor in two running batches. */
  key(item: Item): string;
  maxSize: number;
  maxBatches: number;
}

interface Pending<Item, Result> {
  item: Item;
  key: string;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<Item, Result> {
  private pending: Pending<Item, Result>[] = [];
  private readonly busy = new Set<string>();
  private running = 0;

  constructor(
    private readonly handlers: GroupCommitHandlers<Item, Result>,
    private readonly options: GroupCommitOptions<Item>,
  ) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) throw new RangeError(`maxSize must be a positive integer, got ${options.maxSize}`);
    if (!Number.isInteger(options.maxBatches) || options.maxBatches < 1) throw new RangeError(`maxBatches must be a positive integer, got ${options.maxBatches}`);
  }

  /** Items waiting for a batch (not counting the running ones). */
  get waiting(): number {
    return this.pending.length;
  }

  submit(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, key: this.options.key(item), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.options.maxBatches && this.pending.length > 0) {
      const batch: Pending<Item, Result>[] = [];
      const rest: Pending<Item, Result>[] = [];
      const keys = new Set<string>();
      for (const entry of this.pending) {
        if (batch.length < this.options.maxSize && !keys.has(entry.key) && !this.busy.has(entry.key)) {
          batch.push(entry);
          keys.add(entry.key);
        } else {
          rest.push(entry);
        }
      }
      if (batch.length === 0) return; // everything waiting has its key in a running batch
      this.pending = rest;
      for (const key of keys) this.busy.add(key);
      this.running++;
      void this.run(batch).finally(() => {
        this.running--;
        for (const key of keys) this.busy.delete(key);
        this.pump();
      });
    }
  }

  private async run(batch: Pending<Item, Result>[]): Promise<void> {
    try {
      const results = await this.handlers.batch(batch.map((entry) => entry.item));
      if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} items returned ${results.length} results`);
      batch.forEach((entry, index) => entry.resolve(results[index]));
      return;
    } catch (error) {
      if (batch.length === 1) return batch[0].reject(error);
    }
    // Nothing of the batch was kept: each item on its own, so each gets its own outcome.
    await Promise.all(
      batch.map(async (entry) => {
        try {
          entry.resolve(await this.handlers.single(entry.item));
        } catch (error) {
          entry.reject(error);
        }
      }),
    );
  }
}
