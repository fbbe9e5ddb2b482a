/**
 * The bench's result: one plain object (written as JSON) and its rendering as a table.
 *
 * Guarantees: the JSON holds every figure the table shows, with units in the key names; the
 * table is derived from the object only, so the two never disagree.
 */
import type { ConsistencyResult } from './consistency';
import type { Percentiles, StepLatency } from './bench-stats';
import type { ProcessFigures } from './bench-processes';

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
  /** Transaction ids assigned on the server during the run, per saga: its write commits. */
  postgresWriteTransactionsPerSaga: number;
  messagesPerSaga: { commands: number; replies: number; total: number };
  consistency: ConsistencyResult;
  floor: {
    postgresTransactionsPerSecond: number;
    amqpRoundTripsPerSecond: number;
    perSaga: { postgresTransactions: number; amqpRoundTrips: number };
    ceilingSagasPerSecond: number;
    fractionOfCeiling: number;
  } | null;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => '  ' + row.map((cell, column) => cell.padEnd(widths[column])).join('  ')).join('\n');
}

export function renderReport(result: BenchResult): string {
  const lines: string[] = [];
  lines.push(`\n${result.sagas} "${String(result.options.definition)}" sagas, ${String(result.options.concurrency)} in flight, ${result.seconds.toFixed(2)} s`);
  lines.push(
    table([
      ['figure', 'value'],
      ['throughput', `${result.sagasPerSecond.toFixed(1)} sagas/s`],
      ['end to end p50 / p90 / p99 / max', [result.endToEndMs.p50, result.endToEndMs.p90, result.endToEndMs.p99, result.endToEndMs.max].map(ms).join(' / ')],
      ['statuses', Object.entries(result.statuses).map(([status, n]) => `${status} ${n}`).join(', ')],
      ['PostgreSQL write transactions per saga', result.postgresWriteTransactionsPerSaga.toFixed(1)],
      ['AMQP messages per saga', `${result.messagesPerSaga.total.toFixed(1)} (${result.messagesPerSaga.commands.toFixed(1)} commands, ${result.messagesPerSaga.replies.toFixed(1)} replies)`],
      ['consistency', result.consistency.ok ? `ok (${result.consistency.sagas} sagas checked)` : `FAILED: ${result.consistency.problems.join('; ')}`],
      ...(result.seeded ? [['seeded before the run', `${result.seeded.finished} finished + ${result.seeded.waiting} waiting sagas`]] : []),
    ]),
  );
  lines.push('\nper step (command decided → reply handled)');
  lines.push(table([['step', 'direction', 'count', 'p50', 'p90', 'p99', 'max'], ...result.steps.map((s) => [s.step, s.direction, String(s.count), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)])]));
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
      ]),
    );
  }
  return lines.join('\n');
}
