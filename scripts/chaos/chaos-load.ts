/**
 * The chaos run's load: place-order starts at a steady rate, round-robin over the orchestrator
 * replicas' HTTP ports, each with its own Idempotency-Key. A start that fails (its replica was
 * just killed, paused, or answered 5xx) is retried on the next replica with the SAME key, so a
 * start is accepted at most once whatever the faults.
 *
 * Guarantees: saga i's input and expected outcome depend only on i (the same mix as
 * test/e2e/place-order-workload.ts: 80% succeed, 10% payment declined, 10% out of stock);
 * a start retries for at most START_RETRY_MS, after which it counts as refused (never as
 * accepted); stop() resolves once every start in flight settled.
 */

export type Kind = 'ok' | 'declined' | 'short';

export const kindOf = (i: number): Kind => (i % 10 === 3 ? 'declined' : i % 10 === 7 ? 'short' : 'ok');
export const expectedStatus = (i: number): 'COMPLETED' | 'COMPENSATED' => (kindOf(i) === 'ok' ? 'COMPLETED' : 'COMPENSATED');

export const inputOf = (i: number, tag: string) => ({
  customerId: `${tag}-${i}`,
  items: [{ sku: `sku-${(i % 3) + 1}`, quantity: kindOf(i) === 'short' ? 5_000_000 : (i % 4) + 1 }],
  // Above the payment service's default limit (10,000): declined, steps 2 and 1 roll back.
  amount: kindOf(i) === 'declined' ? 25_000 : 10 + (i % 50),
});

const START_RETRY_MS = 30_000;
const REQUEST_TIMEOUT_MS = 3_000;

export interface Accepted {
  index: number;
  id: string;
  acceptedAt: number;
  /** Attempts it took (1 = no retry). */
  attempts: number;
}

export class ChaosLoad {
  readonly accepted: Accepted[] = [];
  refused = 0;
  retries = 0;
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
    const deadline = Date.now() + START_RETRY_MS;
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
          this.accepted.push({ index, id, acceptedAt: Date.now(), attempts });
          if (attempts > 1) this.retries += attempts - 1;
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
}
