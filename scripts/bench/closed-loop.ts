/**
 * The closed loop: `concurrency` clients, each starting one saga over REST and waiting until
 * it is terminal (POST /sagas/{name}?waitMs: one request; GET /sagas/{id}?waitMs if that wait
 * ran out) before starting the next, until the loop's length is reached: a number of sagas
 * (`{ sagas }`), or a time (`{ durationMs }`) after which no client starts a new saga; the loop
 * then ends when the sagas in flight have finished, and every saga started is counted.
 *
 * Guarantees: at most `concurrency` sagas are in flight; the latency of a saga is measured from
 * just before its POST to the moment the client sees its terminal state (what a caller waits);
 * any start answered other than 200/202 or a saga not terminal after the wait stops the run with
 * the reason. With `keyFor`, each start carries the Idempotency-Key `keyFor(index)`; a start
 * answered as a replay (Idempotent-Replayed) stops the run too, since every key is new. On success `ids[i]` and `latenciesMs[i]` belong to the i-th saga started (the index
 * its input was made from), for every i < ids.length, and the statuses add up to ids.length.
 * Per saga only its id and its latency (8 bytes in a Float64Array) are kept.
 * Progress is drawn on stderr (a bar on a terminal, a line otherwise: every 2 s, or every 1/60
 * of the duration when that is longer): sagas done of the total, or seconds elapsed of the
 * duration, and the rate so far.
 * The clients use node:http with keep-alive connections (one per client): the driver shares the
 * machine with what it measures, so it should cost as little CPU as it can (its CPU seconds
 * are reported beside the processes').
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

interface HttpAnswer {
  status: number;
  body: string;
  replayed: boolean;
}

function call(agent: Agent, url: URL, method: 'GET' | 'POST', token: string | undefined, body?: string, idempotencyKey?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    const req = request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), replayed: res.headers['idempotent-replayed'] === 'true' }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface LoopResult {
  latenciesMs: Float64Array;
  statuses: Record<string, number>;
  ids: string[];
  seconds: number;
}

export type InputFor = (index: number) => unknown;

/** The Idempotency-Key the start of saga `index` carries. */
export type KeyFor = (index: number) => string;

/** How long the loop runs: a number of sagas, or a time after which no new saga starts. */
export type LoopLength = { sagas: number } | { durationMs: number };

const WAIT_MS = 60_000;

interface Progress {
  label: string;
  length: LoopLength;
  startedAt: number;
  done: number;
  inFlight: number;
}

/** One progress line (without the leading `\r` or newline). */
export function progressLine(p: Progress, now: number, bar: boolean): string {
  const elapsed = (now - p.startedAt) / 1000;
  const rate = `${(elapsed > 0 ? p.done / elapsed : 0).toFixed(0)} sagas/s`;
  const width = 30;
  const drawn = (share: number) => (bar ? `[${'#'.repeat(Math.round(Math.min(1, share) * width)).padEnd(width, '.')}] ` : '');
  if ('sagas' in p.length) {
    return `${p.label}: ${drawn(p.done / p.length.sagas)}${p.done}/${p.length.sagas} sagas after ${elapsed.toFixed(1)} s (${rate})`;
  }
  const total = p.length.durationMs / 1000;
  const draining = elapsed >= total && p.inFlight > 0 ? `, waiting for the last ${p.inFlight} in flight` : '';
  return `${p.label}: ${drawn(elapsed / total)}${Math.min(elapsed, total).toFixed(0)}/${total.toFixed(0)} s, ${p.done} sagas (${rate})${draining}`;
}

function drawProgress(p: Progress, line: boolean, last = false): void {
  if (process.stderr.isTTY)
    process.stderr.write(`\r  ${progressLine(p, performance.now(), true)}\x1b[K${last ? '\n' : ''}`); // \x1b[K: clear the rest of the line
  else if (line || last) process.stderr.write(`  ${progressLine(p, performance.now(), false)}\n`);
}

/** `token`: the bearer token the clients send (a client role suffices); `keyFor`: an
 *  Idempotency-Key for each start (none when omitted). */
export async function runClosedLoop(
  baseUrl: string,
  definition: string,
  length: LoopLength,
  concurrency: number,
  inputFor: InputFor,
  label: string,
  token?: string,
  keyFor?: KeyFor,
): Promise<LoopResult> {
  const bySagas = 'sagas' in length;
  let latencies = new Float64Array(bySagas ? length.sagas : 1_024); // doubled as needed
  const ids: string[] = bySagas ? new Array<string>(length.sagas) : [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const startedAt = performance.now();
  const deadline = bySagas ? Infinity : startedAt + length.durationMs;
  const progress: Progress = { label, length, startedAt, done: 0, inFlight: 0 };
  const lineEveryMs = bySagas ? 2_000 : Math.max(2_000, length.durationMs / 60);
  let lastLine = startedAt;
  const ticker = setInterval(() => {
    const line = performance.now() - lastLine >= lineEveryMs;
    if (line) lastLine = performance.now();
    drawProgress(progress, line);
  }, 200);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const startUrl = new URL(`${baseUrl}/sagas/${definition}?waitMs=${WAIT_MS}`);
  const another = () => (bySagas ? next < length.sagas : performance.now() < deadline);
  const client = async () => {
    while (another()) {
      const index = next++;
      progress.inFlight++;
      const t0 = performance.now();
      // One request: start, and answer once the saga is terminal (200) or the wait ran out (202).
      const started = await call(agent, startUrl, 'POST', token, JSON.stringify(inputFor(index)), keyFor?.(index));
      if (started.status !== 200 && started.status !== 202) throw new Error(`saga ${index}: POST answered ${started.status}: ${started.body}`);
      if (started.replayed) throw new Error(`saga ${index}: its new Idempotency-Key was answered as a replay: ${started.body}`);
      let { id, status } = JSON.parse(started.body) as { id: string; status: string };
      if (started.status === 202) {
        const read = await call(agent, new URL(`${baseUrl}/sagas/${id}?waitMs=${WAIT_MS}`), 'GET', token);
        if (read.status !== 200) throw new Error(`saga ${id}: GET answered ${read.status}: ${read.body}`);
        ({ status } = JSON.parse(read.body) as { status: string });
      }
      if (status === 'RUNNING' || status === 'COMPENSATING') throw new Error(`saga ${id} still ${status} after ${WAIT_MS} ms`);
      if (index >= latencies.length) {
        const grown = new Float64Array(Math.max(index + 1, latencies.length * 2));
        grown.set(latencies);
        latencies = grown;
      }
      latencies[index] = performance.now() - t0;
      ids[index] = id;
      statuses[status] = (statuses[status] ?? 0) + 1;
      progress.inFlight--;
      progress.done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: bySagas ? Math.min(concurrency, length.sagas) : concurrency }, client));
  } finally {
    clearInterval(ticker);
    agent.destroy();
  }
  drawProgress(progress, true, true);
  // Every saga started has finished (or the run threw): indexes 0..next-1 are all filled.
  return { latenciesMs: latencies.subarray(0, next), statuses, ids, seconds: (performance.now() - startedAt) / 1000 };
}
