/**
 * The bench's result: one plain object (written as JSON) and its rendering as a table.
 *
 * Guarantees: the JSON holds every figure the table shows, with units in the key names; the
 * table is derived from the object only, so the two never disagree. PostgreSQL commits
 * (pg_stat_database, per database) and transaction ids (which savepoints take too) are shown
 * apart, each labelled with what it counts. Per process, the JSON holds
 * the RSS series' checkpoints (each minute, or each 10 % of a shorter run) and its summary; the
 * table shows, per process, min / median / max RSS and the largest deviation from the median,
 * over the whole run and after warm-up, the spread after warm-up and `flat: yes/no` (see
 * rss-series.ts for the definitions; `n/a` when the run is too short for a verdict).
 */
import type { ConsistencyResult } from './consistency';
import type { Percentiles, StepLatency } from './bench-stats';
import type { MachineFigures, ProcessFigures } from './bench-processes';
import { FLAT_SPREAD_PCT, type RssStats } from './rss-series';
import type { PathModel } from './floor';

export interface BenchResult {
  startedAt: string;
  machine: { cpus: number; node: string };
  options: Record<string, unknown>;
  seeded: { finished: number; waiting: number; seconds: number } | null;
  sagas: number;
  seconds: number;
  sagasPerSecond: number;
  statuses: Record<string, number>;
  endToEndMs: Percentiles;
  steps: StepLatency[];
  processes: Record<string, ProcessFigures>;
  /** Where the rest of the machine's CPU went in the same window (shared services, the driver). */
  machineCpu: MachineFigures;
  /** Transactions committed in the bench's four databases during the measured run, per saga
   *  (pg_stat_database.xact_commit: read-only ones included, savepoints never): in all, and per
   *  database (orchestrator, orders, inventory, payments). */
  postgresCommitsPerSaga: { total: number; byDatabase: Record<string, number> };
  /** Transaction ids assigned on the whole server during the run, per saga: one per write
   *  transaction and one per savepoint that wrote, so NOT a count of commits. */
  postgresTransactionIdsPerSaga: number;
  messagesPerSaga: { commands: number; replies: number; total: number };
  consistency: ConsistencyResult;
  floor: {
    postgresTransactionsPerSecond: number;
    amqpRoundTripsPerSecond: number;
    perSaga: { postgresTransactions: number; amqpRoundTrips: number };
    ceilingSagasPerSecond: number;
    fractionOfCeiling: number;
    /** Medians of the floor's one-statement commit, transaction and round trip, at the run's concurrency. */
    postgresCommitP50Ms: number;
    postgresTransactionP50Ms: number;
    amqpRoundTripP50Ms: number;
    /** A saga's path, and its hops in a row at those medians (floor.ts pathFloorMs); the run's
     *  end-to-end p50 as a multiple of it. */
    path: PathModel;
    pathFloorMs: number;
    p50OverPathFloor: number;
  } | null;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const seconds = (value: number) => `${Number(value.toFixed(1))} s`;
const rss = (s: RssStats) => `${s.minMiB.toFixed(0)} / ${s.medianMiB.toFixed(0)} / ${s.maxMiB.toFixed(0)} MiB, ±${s.maxDeviationPct.toFixed(1)} %`;

function rssLines(processes: Record<string, ProcessFigures>): string[] {
  const entries = Object.entries(processes);
  if (entries.length === 0) return [];
  const first = entries[0][1].rss;
  const lines = [
    `\nRSS over the run (sampled every ${seconds(first.sampleEveryS)}; warm-up = first ${seconds(first.stepS)}; flat = spread ≤ ${FLAT_SPREAD_PCT} % of the median after warm-up)`,
  ];
  lines.push(
    table([
      ['process', 'whole run: min / median / max, max dev. from median', `after ${seconds(first.stepS)}: min / median / max, max dev.`, 'spread', 'flat'],
      ...entries.map(([name, { rss: r }]) => [
        name,
        rss(r.wholeRun),
        r.afterWarmup.samples > 0 ? rss(r.afterWarmup) : 'no samples',
        r.afterWarmup.samples > 0 ? `${r.afterWarmup.spreadPct.toFixed(1)} %` : '-',
        r.afterWarmup.flat === null ? 'n/a (run too short)' : r.afterWarmup.flat ? 'yes' : 'no',
      ]),
    ]),
  );
  lines.push(`  RSS (MiB) at ${first.checkpoints.map((c) => seconds(c.atS)).join(' / ')}`);
  lines.push(table(entries.map(([name, { rss: r }]) => [name, r.checkpoints.map((c) => c.rssMiB.toFixed(0)).join(' → ')])));
  return lines;
}

/** What the commits figure counts, printed under the table. */
export const COMMITS_NOTE =
  "  commits: pg_stat_database.xact_commit of the bench's 4 databases (every committed transaction, read-only ones included, savepoints never),\n" +
  "  as PostgreSQL publishes them: each reading misses up to ~1 s of a busy connection's commits, so over a run of T seconds the figure is\n" +
  '  off by up to about 1/T of itself (--duration-s 30 or more for a close figure)';

function commitsCell({ total, byDatabase }: BenchResult['postgresCommitsPerSaga']): string {
  const parts = Object.entries(byDatabase).map(([name, perSaga]) => `${name} ${perSaga.toFixed(1)}`);
  return `${total.toFixed(1)} (${parts.join(', ')})`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => '  ' + row.map((cell, column) => cell.padEnd(widths[column])).join('  ')).join('\n');
}

export function renderReport(result: BenchResult): string {
  const lines: string[] = [];
  const timed = typeof result.options.durationS === 'number' ? ` (--duration-s ${result.options.durationS}: no start after it, then the last in flight finished)` : '';
  const keyed = result.options.idempotencyKeys === true ? ', an Idempotency-Key on every start' : '';
  const queues = `${String(result.options.queueType ?? 'quorum')} queues`;
  lines.push(
    `\n${result.sagas} "${String(result.options.definition)}" sagas, ${String(result.options.concurrency)} in flight${keyed}, ${queues}, ${result.seconds.toFixed(2)} s${timed}`,
  );
  lines.push(
    table([
      ['figure', 'value'],
      ['throughput', `${result.sagasPerSecond.toFixed(1)} sagas/s`],
      ['end to end p50 / p90 / p99 / max', [result.endToEndMs.p50, result.endToEndMs.p90, result.endToEndMs.p99, result.endToEndMs.max].map(ms).join(' / ')],
      [
        'statuses',
        Object.entries(result.statuses)
          .map(([status, n]) => `${status} ${n}`)
          .join(', '),
      ],
      ['PostgreSQL commits per saga', commitsCell(result.postgresCommitsPerSaga)],
      ['PostgreSQL transaction ids per saga', `${result.postgresTransactionIdsPerSaga.toFixed(1)} (write transactions + savepoints, whole server: not commits)`],
      [
        'AMQP messages per saga',
        `${result.messagesPerSaga.total.toFixed(1)} (${result.messagesPerSaga.commands.toFixed(1)} commands, ${result.messagesPerSaga.replies.toFixed(1)} replies)`,
      ],
      ['consistency', result.consistency.ok ? `ok (${result.consistency.sagas} sagas checked)` : `FAILED: ${result.consistency.problems.join('; ')}`],
      ...(result.seeded ? [['seeded before the run', `${result.seeded.finished} finished + ${result.seeded.waiting} waiting sagas`]] : []),
    ]),
  );
  lines.push(COMMITS_NOTE);
  lines.push('\nper step (command decided → reply handled)');
  lines.push(
    table([
      ['step', 'direction', 'count', 'p50', 'p90', 'p99', 'max'],
      ...result.steps.map((s) => [s.step, s.direction, String(s.count), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)]),
    ]),
  );
  lines.push('\nprocesses (during the measured run)');
  lines.push(
    table([
      ['process', 'CPU s', 'CPU s/saga', 'peak RSS', 'RSS start → end'],
      ...Object.entries(result.processes).map(([name, p]) => [
        name,
        p.cpuSeconds.toFixed(2),
        `${((p.cpuSeconds / result.sagas) * 1000).toFixed(2)} ms`,
        `${p.peakRssMiB.toFixed(0)} MiB`,
        `${p.rssStartMiB.toFixed(0)} → ${p.rssEndMiB.toFixed(0)} MiB`,
      ]),
    ]),
  );
  const m = result.machineCpu;
  const others: [string, number][] = [...Object.entries(m.services), ['bench driver (HTTP clients)', m.driverCpuSeconds]];
  lines.push(
    table([['also on this machine', 'CPU s', 'CPU s/saga'], ...others.map(([name, seconds]) => [name, seconds.toFixed(2), `${((seconds / result.sagas) * 1000).toFixed(2)} ms`])]),
  );
  lines.push(`  all cores busy ${(m.busyShare * 100).toFixed(0)} % of the run`);
  lines.push(...rssLines(result.processes));
  if (result.floor) {
    const f = result.floor;
    lines.push('\nfloor (this machine, same drivers, measured in this run)');
    lines.push(
      table([
        ['figure', 'value'],
        ['PostgreSQL step-like transactions', `${f.postgresTransactionsPerSecond.toFixed(0)} /s`],
        ['AMQP confirmed round trips', `${f.amqpRoundTripsPerSecond.toFixed(0)} /s`],
        ['cost model per saga', `${f.perSaga.postgresTransactions} transactions, ${f.perSaga.amqpRoundTrips} round trips`],
        ['derived ceiling', `${f.ceilingSagasPerSecond.toFixed(0)} sagas/s`],
        ['orchestrator throughput / ceiling', `${(f.fractionOfCeiling * 100).toFixed(0)} %`],
        ['PostgreSQL one-statement commit, median', `${f.postgresCommitP50Ms.toFixed(2)} ms`],
        ['PostgreSQL step-like transaction, median', `${f.postgresTransactionP50Ms.toFixed(2)} ms`],
        ['AMQP confirmed round trip, median', `${f.amqpRoundTripP50Ms.toFixed(2)} ms`],
        [`path floor (${f.path.commits} commits + ${f.path.transactions} transactions + ${f.path.roundTrips} round trips in a row)`, ms(f.pathFloorMs)],
        ['end-to-end p50 / path floor', `${f.p50OverPathFloor.toFixed(2)}×`],
      ]),
    );
    lines.push("  the path floor is the least p50 a saga can have at 1 in flight; at higher concurrency it includes the floor's own queueing");
  }
  return lines.join('\n');
}
