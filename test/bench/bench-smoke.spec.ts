/**
 * `npm run bench` works end to end (CI runs it short; the figures themselves are benchmark
 * targets, not asserted): four real processes, the closed loop, the floor, the JSON file, and a
 * consistency check that passes. Counts that follow from the run's shape are asserted exactly.
 * The run is 300 sagas (a few seconds), not fewer: PostgreSQL publishes a busy connection's
 * commit counts at most once a second, so a run shorter than that may see none of them yet.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchResult } from '../../scripts/bench/report';

const run = promisify(execFile);

describe('npm run bench (short run)', () => {
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'saga-bench-'));
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('runs 300 bench sagas at 8 in flight with the floor, prints the table and writes a consistent JSON result', async () => {
    const jsonPath = join(folder, 'result.json');
    const args = ['dist/scripts/bench.js', '--sagas', '300', '--concurrency', '8', '--warmup', '10', '--fail-share', '0.1', '--floor', '--floor-ms', '500', '--json', jsonPath];
    const { stdout } = await run(process.execPath, args, { cwd: join(__dirname, '..', '..'), maxBuffer: 10 * 1024 * 1024 });
    expect(stdout).toContain('throughput');
    expect(stdout).toContain('orchestrator throughput / ceiling');
    const result = JSON.parse(await readFile(jsonPath, 'utf8')) as BenchResult;

    expect(result.consistency).toMatchObject({ ok: true, sagas: 310, problems: [] });
    expect(result.statuses).toEqual({ COMPLETED: 270, COMPENSATED: 30 });
    // A completed saga: 3 commands and 3 replies; a failed one adds 2 compensations and their replies.
    expect(result.messagesPerSaga).toEqual({ commands: (270 * 3 + 30 * 5) / 300, replies: (270 * 3 + 30 * 5) / 300, total: (270 * 6 + 30 * 10) / 300 });
    expect(result.steps.map((s) => [s.step, s.direction, s.count])).toEqual([
      ['order', 'action', 300],
      ['payment', 'action', 300],
      ['stock', 'action', 300],
      ['order', 'compensation', 30],
      ['stock', 'compensation', 30],
    ]);
    expect(result.sagasPerSecond).toBeGreaterThan(0);
    expect(result.endToEndMs.p50).toBeGreaterThan(0);
    expect(result.endToEndMs.max).toBeGreaterThanOrEqual(result.endToEndMs.p99);
    expect(Object.keys(result.processes).sort()).toEqual(['inventory-service', 'orchestrator', 'order-service', 'payment-service']);
    for (const figures of Object.values(result.processes)) expect(figures.peakRssMiB).toBeGreaterThan(20);
    // Transaction ids: at least the durable minimum (the start, and per step one orchestrator and one participant commit).
    expect(result.postgresTransactionIdsPerSaga).toBeGreaterThanOrEqual(7);
    // Commits, per database of the run: every one of the four committed, and the total is their sum.
    expect(Object.keys(result.postgresCommitsPerSaga.byDatabase)).toEqual(['orchestrator', 'orders', 'inventory', 'payments']);
    for (const perSaga of Object.values(result.postgresCommitsPerSaga.byDatabase)) expect(perSaga).toBeGreaterThan(0);
    expect(result.postgresCommitsPerSaga.total).toBeCloseTo(
      Object.values(result.postgresCommitsPerSaga.byDatabase).reduce((sum, n) => sum + n, 0),
      9,
    );
    expect(stdout).toContain('PostgreSQL commits per saga');
    expect(result.floor!.postgresTransactionsPerSecond).toBeGreaterThan(0);
    expect(result.floor!.amqpRoundTripsPerSecond).toBeGreaterThan(0);
    expect(result.floor!.fractionOfCeiling).toBeCloseTo(result.sagasPerSecond / result.floor!.ceilingSagasPerSecond, 6);
    const floor = result.floor!;
    for (const median of [floor.postgresCommitP50Ms, floor.postgresTransactionP50Ms, floor.amqpRoundTripP50Ms]) expect(median).toBeGreaterThan(0);
    expect(floor.path).toEqual({ commits: 4, transactions: 3, roundTrips: 3 });
    expect(floor.pathFloorMs).toBeCloseTo(4 * floor.postgresCommitP50Ms + 3 * floor.postgresTransactionP50Ms + 3 * floor.amqpRoundTripP50Ms, 6);
    expect(floor.p50OverPathFloor).toBeCloseTo(result.endToEndMs.p50 / floor.pathFloorMs, 6);
    expect(stdout).toMatch(/path floor \(4 commits \+ 3 transactions \+ 3 round trips in a row\)/);
  }, 180_000);
});
