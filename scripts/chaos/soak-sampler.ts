/**
 * The soak run's samples: every interval, the rows and bytes of the tables retention keeps
 * bounded, the sagas finished in the interval, the sagas in flight, and the memory of the
 * processes.
 *
 * Guarantees: reads only the run's own databases (one connection per query, closed at once) and
 * /proc of the fleet's children; a sample that cannot be read is skipped, never invented.
 * "Finished in the interval" counts sagas whose last change was within it and that are
 * terminal: retention's window is longer than an interval, so none of them is pruned yet.
 */
import { readFileSync } from 'node:fs';
import type { Databases } from './chaos-effects';
import type { ChaosFleet } from './chaos-fleet';
import { queryRows } from './chaos-sql';

export const ORCHESTRATOR_TABLES = ['saga_instances', 'saga_steps', 'saga_history', 'saga_inbox'] as const;
export const PARTICIPANT_DATABASES = ['orders', 'inventory', 'payments'] as const;

export interface Sample {
  /** Seconds since the load began. */
  atS: number;
  finishedInInterval: number;
  inFlight: number;
  /** Table → rows and bytes (processed_commands per participant: `processed_commands@orders`). */
  tables: Record<string, { rows: number; bytes: number }>;
  /** Resident memory, MiB, summed per app. */
  rssMiB: Record<string, number>;
}

async function tableSizes(url: string, tables: readonly string[]): Promise<{ name: string; rows: number; bytes: number }[]> {
  const selects = tables.map((table) => `SELECT '${table}' AS name, (SELECT count(*) FROM ${table})::int AS rows, pg_total_relation_size('${table}')::bigint AS bytes`);
  const rows = await queryRows<{ name: string; rows: number; bytes: string }>(url, selects.join(' UNION ALL '));
  return rows.map((row) => ({ name: row.name, rows: row.rows, bytes: Number(row.bytes) }));
}

function rssMiB(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.replace(/\D+/g, '')) / 1024 : 0;
  } catch {
    return 0;
  }
}

export async function takeSample(databases: Databases, fleet: ChaosFleet, atS: number, intervalS: number): Promise<Sample> {
  const [activity] = await queryRows<{ finished: number; in_flight: number }>(
    databases.orchestrator,
    `SELECT count(*) FILTER (WHERE status IN ('COMPLETED', 'COMPENSATED') AND updated_at > now() - make_interval(secs => $1))::int AS finished,
            count(*) FILTER (WHERE status NOT IN ('COMPLETED', 'COMPENSATED'))::int AS in_flight
       FROM saga_instances`,
    [intervalS],
  );
  const tables: Sample['tables'] = {};
  for (const table of await tableSizes(databases.orchestrator, ORCHESTRATOR_TABLES)) tables[table.name] = table;
  for (const db of PARTICIPANT_DATABASES) {
    const [processed] = await tableSizes(databases[db], ['processed_commands']);
    tables[`processed_commands@${db}`] = processed;
  }
  const rss: Record<string, number> = {};
  for (const replica of fleet.replicas.values()) rss[replica.app] = (rss[replica.app] ?? 0) + rssMiB(replica.child?.pid);
  return { atS, finishedInInterval: activity.finished, inFlight: activity.in_flight, tables, rssMiB: rss };
}

const mib = (bytes: number) => (bytes / 1_048_576).toFixed(1);

/** One markdown table: a row per sample, rows (and MiB) per table, throughput, memory. */
export function renderSamples(samples: Sample[], intervalS: number): string {
  if (samples.length === 0) return '(no sample)';
  const tables = Object.keys(samples[0].tables);
  const apps = Object.keys(samples[0].rssMiB);
  const header = ['min', 'sagas/s', 'in flight', ...tables.map((t) => `${t} rows (MiB)`), ...apps.map((a) => `${a} RSS MiB, all replicas`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const sample of samples) {
    const cells = [
      (sample.atS / 60).toFixed(1),
      (sample.finishedInInterval / intervalS).toFixed(1),
      String(sample.inFlight),
      ...tables.map((t) => `${sample.tables[t]?.rows ?? '-'} (${sample.tables[t] ? mib(sample.tables[t].bytes) : '-'})`),
      ...apps.map((a) => (sample.rssMiB[a] ?? 0).toFixed(0)),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
