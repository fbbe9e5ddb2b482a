/**
 * One shared poller for every request of this process waiting for sagas to end (GET
 * /sagas/{id}?waitMs=N): the cost of waiting is one status query per interval for all the
 * waited sagas together, not one per waiter.
 *
 * Guarantees: while anybody waits, at most one status query per interval and never two at
 * once, whatever the number of waiters; a waiter ends when a poll sees its saga terminal or
 * gone, when its abort signal fires, at its deadline, or at close(), whichever comes first, and
 * it ends once; a failed poll is logged (once per outage) and retried at the next tick, and it
 * rejects nobody; when nobody waits no timer is left, and no timer ever keeps the process alive.
 */
import { isTerminal, type SagaStatus } from '#saga/core';

/** Reads the current status of the given sagas; a saga that does not exist has no row. */
export type StatusLookup = (ids: string[]) => Promise<{ id: string; status: string }[]>;

export interface WaiterLogger {
  warn(message: string): void;
  log(message: string): void;
}

interface Waiter {
  finish(): void;
}

export class TerminalStatusWaiter {
  /** Waiters by saga id (lower case, as PostgreSQL prints a uuid). */
  private readonly waiters = new Map<string, Set<Waiter>>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private failing = false;
  private closed = false;

  constructor(
    private readonly lookup: StatusLookup,
    private readonly logger: WaiterLogger,
    readonly intervalMs = 250,
  ) {}

  /** How many waiters are registered right now. */
  get size(): number {
    let count = 0;
    for (const set of this.waiters.values()) count += set.size;
    return count;
  }

  /** Whether a poll is scheduled or running. */
  get active(): boolean {
    return this.timer !== undefined || this.polling;
  }

  /**
   * Resolves (never rejects) once saga `id` is seen terminal or missing by a poll, `abort` fires,
   * `waitMs` have passed, or the waiter is closed. The caller checks the status on entry.
   */
  wait(id: string, waitMs: number, abort?: AbortSignal): Promise<void> {
    if (this.closed || waitMs <= 0 || abort?.aborted) return Promise.resolve();
    const key = id.toLowerCase();
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        abort?.removeEventListener('abort', finish);
        const set = this.waiters.get(key);
        set?.delete(waiter);
        if (set?.size === 0) this.waiters.delete(key);
        if (this.waiters.size === 0) this.stop();
        resolve();
      };
      const waiter: Waiter = { finish };
      const deadline = setTimeout(finish, waitMs);
      deadline.unref();
      abort?.addEventListener('abort', finish, { once: true });
      const set = this.waiters.get(key) ?? new Set<Waiter>();
      set.add(waiter);
      this.waiters.set(key, set);
      this.schedule();
    });
  }

  /** Ends every waiter now and refuses new ones (they return at once). */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter.finish();
    this.stop();
  }

  private schedule(delayMs = this.intervalMs): void {
    if (this.timer !== undefined || this.polling || this.waiters.size === 0 || this.closed) return;
    this.timer = setTimeout(() => void this.poll(), delayMs);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    // Only the waiters registered before the query are ended by its answer.
    const batch = new Map([...this.waiters].map(([id, set]) => [id, [...set]]));
    if (batch.size === 0) return;
    const startedAt = Date.now();
    this.polling = true;
    try {
      const rows = await this.lookup([...batch.keys()]);
      const statuses = new Map(rows.map((row) => [String(row.id).toLowerCase(), row.status]));
      if (this.failing) this.logger.log('Status poll for waiting requests works again');
      this.failing = false;
      for (const [id, waiters] of batch) {
        const status = statuses.get(id);
        if (status === undefined || isTerminal(status as SagaStatus)) for (const waiter of waiters) waiter.finish();
      }
    } catch (error) {
      if (!this.failing) this.logger.warn(`Status poll for waiting requests failed, retrying every ${this.intervalMs} ms: ${(error as Error)?.message ?? String(error)}`);
      this.failing = true;
    } finally {
      this.polling = false;
      this.schedule(Math.max(0, this.intervalMs - (Date.now() - startedAt)));
    }
  }
}
