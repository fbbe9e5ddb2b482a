/**
 * The bench's table says what its PostgreSQL figures count: commits per saga (pg_stat_database,
 * in all and per database of the run) and, apart and labelled as not commits, the server's
 * transaction ids per saga, with a note on how the commits were read; its first line says when
 * every start carried an Idempotency-Key.
 */
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
});
