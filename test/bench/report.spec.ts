/**
 * The bench's table says what its PostgreSQL figures count: commits per saga (pg_stat_database,
 * in all and per database of the run) and, apart and labelled as not commits, the server's
 * transaction ids per saga, with a note on how the commits were read; its first line says when
 * every start carried an Idempotency-Key; with a floor, the path floor (the cost model's hops in
 * a row at their medians) and the run's p50 as a multiple of it.
 */
import { pathFloorMs } from '../../scripts/bench/floor';
import { COMMITS_NOTE, renderReport, type BenchResult } from '../../scripts/bench/report';

const result: BenchResult = {
  startedAt: '2026-12-01T00:00:00.000Z',
  machine: { cpus: 2, node: 'v24' },
  options: { definition: 'bench', concurrency: 64, durationS: null },
  seeded: null,
  sagas: 1000,
  seconds: 4,
  sagasPerSecond: 250,
  statuses: { COMPLETED: 900, COMPENSATED: 100 },
  endToEndMs: { p50: 10, p90: 20, p99: 30, max: 40 },
  steps: [],
  processes: {},
  machineCpu: { services: {}, driverCpuSeconds: 1, busyShare: 0.9 },
  postgresCommitsPerSaga: { total: 6.25, byDatabase: { orchestrator: 2.5, orders: 1.25, inventory: 1.5, payments: 1 } },
  postgresTransactionIdsPerSaga: 9.5,
  messagesPerSaga: { commands: 3, replies: 3, total: 6 },
  consistency: { ok: true, sagas: 1000, problems: [] },
  floor: null,
};

describe('renderReport', () => {
  it('says in its first line when every start carried an Idempotency-Key, and the queue type', () => {
    expect(renderReport(result).split('\n')[1]).toBe('1000 "bench" sagas, 64 in flight, quorum queues, 4.00 s');
    expect(renderReport({ ...result, options: { ...result.options, idempotencyKeys: true, queueType: 'classic' } }).split('\n')[1]).toBe(
      '1000 "bench" sagas, 64 in flight, an Idempotency-Key on every start, classic queues, 4.00 s',
    );
  });

  it('shows commits per saga in all and per database, and transaction ids apart as not commits', () => {
    const lines = renderReport(result).split('\n');
    expect(lines.find((line) => line.includes('PostgreSQL commits per saga'))).toMatch(
      /PostgreSQL commits per saga\s+6\.3 \(orchestrator 2\.5, orders 1\.3, inventory 1\.5, payments 1\.0\)/,
    );
    expect(lines.find((line) => line.includes('PostgreSQL transaction ids per saga'))).toMatch(/9\.5 \(write transactions \+ savepoints, whole server: not commits\)/);
    expect(renderReport(result)).toContain(COMMITS_NOTE);
    expect(COMMITS_NOTE).toMatch(/xact_commit of the bench's 4 databases \(every committed transaction, read-only ones included, savepoints never\)/);
  });

  it('shows the path floor from the medians of the floor and the p50 against it', () => {
    const ceiling = (opsPerSecond: number, p50Ms: number) => ({ opsPerSecond, p50Ms, p99Ms: p50Ms * 2, operations: 100 });
    const measured = { postgresCommit: ceiling(3000, 0.25), postgresTransaction: ceiling(1300, 0.75), amqpRoundTrip: ceiling(860, 1.25) };
    const path = { commits: 4, transactions: 3, roundTrips: 3 };
    expect(pathFloorMs(measured, path)).toBeCloseTo(4 * 0.25 + 3 * 0.75 + 3 * 1.25, 9);
    const lines = renderReport({
      ...result,
      floor: {
        postgresTransactionsPerSecond: 1300,
        amqpRoundTripsPerSecond: 860,
        perSaga: { postgresTransactions: 7, amqpRoundTrips: 3 },
        ceilingSagasPerSecond: 185.7,
        fractionOfCeiling: 0.4,
        postgresCommitP50Ms: 0.25,
        postgresTransactionP50Ms: 0.75,
        amqpRoundTripP50Ms: 1.25,
        path,
        pathFloorMs: pathFloorMs(measured, path),
        p50OverPathFloor: 10 / pathFloorMs(measured, path),
      },
    }).split('\n');
    expect(lines.find((line) => line.includes('PostgreSQL one-statement commit, median'))).toMatch(/0\.25 ms/);
    expect(lines.find((line) => line.includes('PostgreSQL step-like transaction, median'))).toMatch(/0\.75 ms/);
    expect(lines.find((line) => line.includes('AMQP confirmed round trip, median'))).toMatch(/1\.25 ms/);
    expect(lines.find((line) => line.includes('path floor (4 commits + 3 transactions + 3 round trips in a row)'))).toMatch(/7\.0 ms/);
    expect(lines.find((line) => line.includes('end-to-end p50 / path floor'))).toMatch(/1\.43×/);
  });
});
