/**
 * The chaos run's load: place-order starts at a steady rate, round-robin over the orchestrator
 * replicas' HTTP ports, each with its own Idempotency-Key. A start that fails (its replica was
 * just killed, paused, or answered 5xx) is retried on the next replica with the SAME key, so a
 * start is accepted at most once whatever the faults. One saga in ten is cancelled through the
 * API a little after it was accepted: early enough that some cancels land while it runs, late
 * enough that others find it finished.
 *
 * Guarantees: saga i's input, its kind and the delay of its cancel depend only on i (the mix of
 * test/e2e/place-order-workload.ts, with one "ok" in ten turned into a cancel: 70% succeed, 10%
 * payment declined, 10% out of stock, 10% cancelled); a start or a cancel retries for at most
 * RETRY_MS, after which the start counts as refused (never as accepted) and the cancel as
 * unknown; stop() resolves once every start and cancel in flight settled.
 */

export type Kind = 'ok' | 'declined' | 'short' | 'cancel';

export const kindOf = (i: number): Kind => (i % 10 === 3 ? 'declined' : i % 10 === 7 ? 'short' : i % 10 === 5 ? 'cancel' : 'ok');
/** The status the input alone leads to (a cancel's saga has an "ok" input). */
export const inputStatus = (i: number): 'COMPLETED' | 'COMPENSATED' => (kindOf(i) === 'declined' || kindOf(i) === 'short' ? 'COMPENSATED' : 'COMPLETED');
/** How long after its start was accepted saga i is cancelled: 0-149 ms, spread by i. */
export const cancelDelayMs = (i: number): number => (Math.floor(i / 10) * 37) % 150;

export const inputOf = (i: number, tag: string) => ({
  customerId: `${tag}-${i}`,
  items: [{ sku: `sku-${(i % 3) + 1}`, quantity: kindOf(i) === 'short' ? 5_000_000 : (i % 4) + 1 }],
  // Above the payment service's default limit (10,000): declined, steps 2 and 1 roll back.
  amount: kindOf(i) === 'declined' ? 25_000 : 10 + (i % 50),
});

const RETRY_MS = 30_000;
const REQUEST_TIMEOUT_MS = 3_000;

export interface Accepted {
  index: number;
  id: string;
  acceptedAt: number;
  /** Attempts it took (1 = no retry). */
  attempts: number;
  /** For a cancelled saga, what the cancel got: 202 (applied), 409 (refused, with the status the
   *  saga had and whether an earlier attempt may have been applied unseen), or no answer. */
  cancel?: { outcome: 'applied' } | { outcome: 'refused'; status: string; afterLostAttempt: boolean } | { outcome: 'unknown' };
}

export class ChaosLoad {
  readonly accepted: Accepted[] = [];
  refused = 0;
  retries = 0;
  readonly cancels = { applied: 0, refused: 0, unknown: 0 };
  private next = 0;
  private replica = 0;
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly ports: number[],
    private readonly tag: string,
    private readonly log: (line: string) => void,
  ) {}

  get started(): number {
    return this.next;
  }

  begin(rate: number): void {
    this.timer = setInterval(() => {
      const start = this.startOne(this.next++);
      this.inFlight.add(start);
      void start.finally(() => this.inFlight.delete(start));
    }, 1000 / rate);
  }

  /** No new one from now on (what is in progress is left to finish or be cut by the clean-up). */
  halt(): void {
    clearInterval(this.timer);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
  }

  private async startOne(index: number): Promise<void> {
    const deadline = Date.now() + RETRY_MS;
    let attempts = 0;
    let last = '';
    while (Date.now() < deadline) {
      const port = this.ports[this.replica++ % this.ports.length];
      attempts++;
      try {
        const response = await fetch(`http://127.0.0.1:${port}/sagas/place-order`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `${this.tag}-${index}` },
          body: JSON.stringify(inputOf(index, this.tag)),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        if (response.status === 202 || response.status === 200) {
          const { id } = (await response.json()) as { id: string };
          const accepted: Accepted = { index, id, acceptedAt: Date.now(), attempts };
          this.accepted.push(accepted);
          if (attempts > 1) this.retries += attempts - 1;
          if (kindOf(index) === 'cancel') {
            await new Promise((resolve) => setTimeout(resolve, cancelDelayMs(index)));
            accepted.cancel = await this.cancelOne(id);
            this.cancels[accepted.cancel.outcome]++;
          }
          return;
        }
        last = `HTTP ${response.status}`;
        await response.text();
        if (response.status < 500 && response.status !== 429) break;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    this.refused++;
    this.log(`start ${index} refused after ${attempts} attempts (${last})`);
  }

  /** POST /sagas/{id}/cancel until it gets an answer (202 or 409), on the next replica after a failure. */
  private async cancelOne(id: string): Promise<NonNullable<Accepted['cancel']>> {
    const deadline = Date.now() + RETRY_MS;
    let lostAttempt = false;
    while (Date.now() < deadline) {
      const port = this.ports[this.replica++ % this.ports.length];
      try {
        const response = await fetch(`http://127.0.0.1:${port}/sagas/${id}/cancel`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ reason: 'chaos run cancel' }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const body = (await response.json().catch(() => ({}))) as { status?: string };
        if (response.status === 202) return { outcome: 'applied' };
        if (response.status === 409) return { outcome: 'refused', status: body.status ?? 'unknown', afterLostAttempt: lostAttempt };
        if (response.status < 500 && response.status !== 429) {
          this.log(`cancel of ${id} answered HTTP ${response.status}`);
          return { outcome: 'unknown' };
        }
      } catch {
        // A request cut by a fault may still have been applied.
      }
      lostAttempt = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return { outcome: 'unknown' };
  }
}
