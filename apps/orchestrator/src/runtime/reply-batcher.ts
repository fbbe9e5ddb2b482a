/**
 * Groups replies that arrive while others are being handled into one transaction per batch
 * (group commit): under load, N replies cost one lock, one read, one write and one commit
 * instead of N of each; with one reply at a time it adds no wait at all.
 *
 * Guarantees:
 * - A batch holds at most one reply per saga, and a saga is in at most one running batch; later
 *   replies for it wait in arrival order for the next batch (a saga's events apply one at a time).
 * - At most `maxBatches` batches run at once, each of at most `maxSize` replies.
 * - Each submit() settles once: with its result when its batch committed, or, if the batch
 *   failed (nothing of it was written), with the outcome of handling that reply on its own, so
 *   one bad reply never takes others down with it and the caller sees that reply's own error.
 */
import type { HandleResult, ReplyItem } from './saga-runtime.service';

interface Pending {
  item: ReplyItem;
  resolve: (result: HandleResult) => void;
  reject: (error: unknown) => void;
}

export interface ReplyBatchHandlers {
  batch(items: ReplyItem[]): Promise<HandleResult[]>;
  single(item: ReplyItem): Promise<HandleResult>;
}

export class ReplyBatcher {
  private pending: Pending[] = [];
  private readonly busy = new Set<string>();
  private running = 0;

  constructor(
    private readonly handlers: ReplyBatchHandlers,
    private readonly maxSize: number,
    private readonly maxBatches: number,
  ) {}

  submit(item: ReplyItem): Promise<HandleResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.maxBatches && this.pending.length > 0) {
      const batch: Pending[] = [];
      const rest: Pending[] = [];
      const sagas = new Set<string>();
      for (const entry of this.pending) {
        const { sagaId } = entry.item;
        if (batch.length < this.maxSize && !sagas.has(sagaId) && !this.busy.has(sagaId)) {
          batch.push(entry);
          sagas.add(sagaId);
        } else {
          rest.push(entry);
        }
      }
      if (batch.length === 0) return; // everything waiting is for sagas a running batch holds
      this.pending = rest;
      for (const sagaId of sagas) this.busy.add(sagaId);
      this.running++;
      void this.run(batch).finally(() => {
        this.running--;
        for (const sagaId of sagas) this.busy.delete(sagaId);
        this.pump();
      });
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    try {
      const results = await this.handlers.batch(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => entry.resolve(results[index]));
      return;
    } catch (error) {
      if (batch.length === 1) return batch[0].reject(error);
    }
    // Nothing of the batch was written: each reply on its own, so each gets its own outcome.
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
