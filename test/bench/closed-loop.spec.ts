/**
 * The closed loop against a stand-in orchestrator (node:http, no database): a timed run starts no
 * saga after its duration, waits for those in flight, and counts every saga that ran; a counted
 * run starts exactly that many. At most `concurrency` sagas are ever in flight. Starts carry the
 * Idempotency-Key keyFor gives (none without it), and a new key answered as a replay stops the run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { progressLine, runClosedLoop } from '../../scripts/bench/closed-loop';

interface Stub {
  base: string;
  starts: number[];
  /** The Idempotency-Key of each start, in arrival order (undefined: none sent). */
  keys: (string | undefined)[];
  maxInFlight: number;
  server: Server;
}

/** Answers POST /sagas/bench after `delayMs` with a terminal saga (COMPENSATED for amount 20000);
 *  as a replay (Idempotent-Replayed) for the keys `replayed` names. */
async function stub(delayMs: number, replayed: (key: string) => boolean = () => false): Promise<Stub> {
  const state: Stub = { base: '', starts: [], keys: [], maxInFlight: 0, server: undefined as unknown as Server };
  let inFlight = 0;
  let n = 0;
  state.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      state.starts.push(performance.now());
      const key = req.headers['idempotency-key'] as string | undefined;
      state.keys.push(key);
      state.maxInFlight = Math.max(state.maxInFlight, ++inFlight);
      const input = JSON.parse(Buffer.concat(chunks).toString()) as { amount: number };
      setTimeout(() => {
        inFlight--;
        const replay = key !== undefined && replayed(key) ? { 'idempotent-replayed': 'true' } : {};
        res
          .writeHead(200, { 'content-type': 'application/json', ...replay })
          .end(JSON.stringify({ id: `saga-${n++}`, status: input.amount === 20_000 ? 'COMPENSATED' : 'COMPLETED' }));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.base = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

describe('runClosedLoop', () => {
  let server: Stub;
  afterEach(async () => {
    server.server.closeAllConnections();
    await new Promise((resolve) => server.server.close(resolve));
  });

  it('runs for a duration: no start after it, the last in flight finish, every saga counted', async () => {
    server = await stub(40);
    const begun = performance.now();
    const loop = await runClosedLoop(server.base, 'bench', { durationMs: 600 }, 4, (i) => ({ amount: i % 5 === 0 ? 20_000 : 25 }), 'test');
    const sagas = loop.ids.length;
    expect(sagas).toBe(server.starts.length);
    expect(sagas).toBeGreaterThan(20); // 4 clients × 600 ms / 40 ms ≈ 60
    expect(loop.latenciesMs).toBeInstanceOf(Float64Array);
    expect(loop.latenciesMs.length).toBe(sagas);
    expect([...loop.latenciesMs].every((ms) => ms >= 35)).toBe(true);
    expect(new Set(loop.ids).size).toBe(sagas);
    expect(loop.ids.every((id) => typeof id === 'string')).toBe(true);
    expect(loop.statuses).toEqual({ COMPLETED: sagas - Math.ceil(sagas / 5), COMPENSATED: Math.ceil(sagas / 5) });
    expect(Math.max(...server.starts) - begun).toBeLessThan(600 + 20);
    expect(loop.seconds).toBeGreaterThanOrEqual(0.6);
    expect(server.maxInFlight).toBeLessThanOrEqual(4);
  });

  it('runs a number of sagas exactly when given one', async () => {
    server = await stub(5);
    const loop = await runClosedLoop(server.base, 'bench', { sagas: 37 }, 8, () => ({ amount: 25 }), 'test');
    expect(server.starts.length).toBe(37);
    expect(loop.ids.length).toBe(37);
    expect(loop.latenciesMs.length).toBe(37);
    expect(loop.statuses).toEqual({ COMPLETED: 37 });
    expect(server.maxInFlight).toBeLessThanOrEqual(8);
  });

  it('sends no Idempotency-Key by default, and keyFor(index) with each start when given', async () => {
    server = await stub(1);
    await runClosedLoop(server.base, 'bench', { sagas: 5 }, 2, () => ({ amount: 25 }), 'test');
    expect(server.keys).toEqual(Array(5).fill(undefined));
    server.server.closeAllConnections();
    await new Promise((resolve) => server.server.close(resolve));

    server = await stub(1);
    await runClosedLoop(
      server.base,
      'bench',
      { sagas: 20 },
      4,
      () => ({ amount: 25 }),
      'test',
      undefined,
      (index) => `run-${index}`,
    );
    expect([...server.keys].sort()).toEqual(Array.from({ length: 20 }, (_, index) => `run-${index}`).sort());
  });

  it('stops the run when a start with a new key is answered as a replay', async () => {
    server = await stub(1, (key) => key === 'run-3');
    await expect(
      runClosedLoop(
        server.base,
        'bench',
        { sagas: 10 },
        1,
        () => ({ amount: 25 }),
        'test',
        undefined,
        (index) => `run-${index}`,
      ),
    ).rejects.toThrow(/saga 3: its new Idempotency-Key was answered as a replay/);
  });

  it('grows its latency store past its first allocation in a timed run', async () => {
    server = await stub(0);
    const loop = await runClosedLoop(server.base, 'bench', { durationMs: 1_500 }, 64, () => ({ amount: 25 }), 'test');
    expect(loop.ids.length).toBeGreaterThan(1_024); // the initial Float64Array size
    expect(loop.latenciesMs.length).toBe(loop.ids.length);
    expect(loop.latenciesMs.every((ms) => ms > 0)).toBe(true);
  }, 20_000);
});

describe('progressLine', () => {
  const base = { label: 'measured', startedAt: 0, inFlight: 0 };
  it('shows sagas done of the total in a counted run', () => {
    expect(progressLine({ ...base, length: { sagas: 2000 }, done: 500 }, 5_000, false)).toBe('measured: 500/2000 sagas after 5.0 s (100 sagas/s)');
  });
  it('shows seconds elapsed of the duration and the rate in a timed run, then the drain', () => {
    expect(progressLine({ ...base, length: { durationMs: 600_000 }, done: 9_000 }, 60_000, true)).toBe(
      `measured: [${'#'.repeat(3)}${'.'.repeat(27)}] 60/600 s, 9000 sagas (150 sagas/s)`,
    );
    expect(progressLine({ ...base, length: { durationMs: 600_000 }, done: 90_000, inFlight: 12 }, 600_500, false)).toBe(
      'measured: 600/600 s, 90000 sagas (150 sagas/s), waiting for the last 12 in flight',
    );
  });
});
