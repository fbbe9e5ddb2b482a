/**
 * The closed loop: `concurrency` clients, each starting one saga over REST and waiting until
 * it is terminal (GET /sagas/{id}?waitMs) before starting the next, until `total` have run.
 *
 * Guarantees: at most `concurrency` sagas are in flight; the latency of a saga is measured from
 * just before its POST to the moment the client sees its terminal state (what a caller waits);
 * any non-202 start or a saga not terminal after the wait stops the run with the reason.
 * Progress is drawn on stderr (a bar on a terminal, a line every 2 s otherwise).
 */
import { performance } from 'node:perf_hooks';

export interface LoopResult {
  latenciesMs: number[];
  statuses: Record<string, number>;
  ids: string[];
  seconds: number;
}

export type InputFor = (index: number) => unknown;

const WAIT_MS = 60_000;

function drawProgress(label: string, done: number, total: number, startedAt: number, force = false): void {
  const elapsed = (performance.now() - startedAt) / 1000;
  const rate = elapsed > 0 ? done / elapsed : 0;
  if (process.stderr.isTTY) {
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(`\r  ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${rate.toFixed(0)} sagas/s `);
    if (done === total) process.stderr.write('\n');
  } else if (force) {
    process.stderr.write(`  ${label}: ${done}/${total} after ${elapsed.toFixed(1)} s (${rate.toFixed(0)} sagas/s)\n`);
  }
}

export async function runClosedLoop(baseUrl: string, definition: string, total: number, concurrency: number, inputFor: InputFor, label: string): Promise<LoopResult> {
  const latenciesMs: number[] = new Array(total);
  const ids: string[] = new Array(total);
  const statuses: Record<string, number> = {};
  let next = 0;
  let done = 0;
  const startedAt = performance.now();
  let lastLine = startedAt;
  const ticker = setInterval(() => {
    const force = performance.now() - lastLine >= 2_000;
    if (force) lastLine = performance.now();
    drawProgress(label, done, total, startedAt, force);
  }, 200);
  const client = async () => {
    while (next < total) {
      const index = next++;
      const t0 = performance.now();
      const started = await fetch(`${baseUrl}/sagas/${definition}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(inputFor(index)),
      });
      if (started.status !== 202) throw new Error(`saga ${index}: POST answered ${started.status}: ${await started.text()}`);
      const { id } = (await started.json()) as { id: string };
      const read = await fetch(`${baseUrl}/sagas/${id}?waitMs=${WAIT_MS}`);
      if (read.status !== 200) throw new Error(`saga ${id}: GET answered ${read.status}: ${await read.text()}`);
      const { status } = (await read.json()) as { status: string };
      if (status === 'RUNNING' || status === 'COMPENSATING') throw new Error(`saga ${id} still ${status} after ${WAIT_MS} ms`);
      latenciesMs[index] = performance.now() - t0;
      ids[index] = id;
      statuses[status] = (statuses[status] ?? 0) + 1;
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, client));
  } finally {
    clearInterval(ticker);
  }
  drawProgress(label, done, total, startedAt, true);
  return { latenciesMs, statuses, ids, seconds: (performance.now() - startedAt) / 1000 };
}
