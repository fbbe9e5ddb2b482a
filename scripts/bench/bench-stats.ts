/**
 * Figures the bench reads after (or around) the measured run: latency percentiles, per-step
 * latency from the sagas' own history, PostgreSQL commits, transaction ids and AMQP messages per
 * saga.
 *
 * Guarantees: only the measured sagas count (their ids are passed in, as ONE uuid[] parameter,
 * so 100k ids make one query, not 100k placeholders). Commits are PostgreSQL's own count per
 * database (pg_stat_database.xact_commit) of the bench's databases only, so other work on the
 * server does not count; read the way PostgreSQL publishes them (see commitCounts). Transaction
 * ids are counted exactly from the server's counter, on the whole server (so it should be quiet);
 * they include savepoints, so they are NOT commits.
 */
import { Client } from 'pg';

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles; NaN for no values. Sorts a Float64Array copy (the input is not mutated). */
export function percentiles(values: ArrayLike<number>): Percentiles {
  if (values.length === 0) return { p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return { p50: at(50), p90: at(90), p99: at(99), max: sorted[sorted.length - 1] };
}

export interface StepLatency extends Percentiles {
  step: string;
  direction: string;
  count: number;
}

/** Command decided → its reply handled, per step and direction, from the history timestamps. */
export async function stepLatencies(databaseUrl: string, ids: string[]): Promise<StepLatency[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ step: string; direction: string; n: number; p50: number; p90: number; p99: number; max: number }>(
      `SELECT c.step, c.direction, count(*)::int AS n,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) AS p90,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max
         FROM (SELECT c.step, c.direction, EXTRACT(EPOCH FROM (r.at - c.at)) * 1000 AS ms
                 FROM saga_history c
                 JOIN saga_history r ON r.saga_id = c.saga_id AND r.step = c.step AND r.direction = c.direction AND r.attempt = c.attempt AND r.type = 'REPLY_RECEIVED'
                WHERE c.saga_id = ANY($1::uuid[]) AND c.type IN ('COMMAND_SENT', 'COMPENSATION_SENT')) AS c
        GROUP BY c.step, c.direction
        ORDER BY min(c.direction) , c.step`,
      [ids],
    );
    return rows.map((row) => ({ step: row.step, direction: row.direction, count: row.n, p50: Number(row.p50), p90: Number(row.p90), p99: Number(row.p99), max: Number(row.max) }));
  } finally {
    await client.end();
  }
}

/** Commands sent and replies received by the measured sagas (each one AMQP message). */
export async function messageCounts(databaseUrl: string, ids: string[]): Promise<{ commands: number; replies: number }> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ commands: number; replies: number }>(
      `SELECT count(*) FILTER (WHERE type IN ('COMMAND_SENT', 'COMPENSATION_SENT'))::int AS commands,
              count(*) FILTER (WHERE type IN ('REPLY_RECEIVED', 'LATE_REPLY_IGNORED', 'DUPLICATE_REPLY_IGNORED', 'MALFORMED_REPLY_PARKED'))::int AS replies
         FROM saga_history WHERE saga_id = ANY($1::uuid[])`,
      [ids],
    );
    return rows[0];
  } finally {
    await client.end();
  }
}

/**
 * Transactions committed so far in each of `databases` (by name): pg_stat_database.xact_commit,
 * which counts every committed top-level transaction, read-only ones (a lone SELECT) included,
 * and never a savepoint. PostgreSQL publishes a connection's counts when it ends a transaction a
 * second or more after its last report, or about 10 s after the connection went idle: a reading
 * taken right after a busy phase misses up to about the last second of each busy connection's
 * commits. The reading connection itself is to another database, so it counts in none of these.
 */
export async function commitCounts(adminUrl: string, databases: readonly string[]): Promise<Record<string, number>> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; commits: string }>(
      'SELECT datname AS name, xact_commit::text AS commits FROM pg_stat_database WHERE datname = ANY($1::text[])',
      [databases],
    );
    const found = new Map(rows.map((row) => [row.name, Number(row.commits)]));
    return Object.fromEntries(databases.map((name) => [name, found.get(name) ?? 0]));
  } finally {
    await client.end();
  }
}

/**
 * The next transaction id the server will assign. The difference between two readings is the
 * number of transaction ids assigned in between, on the whole server: one per write transaction
 * AND one per savepoint (subtransaction) that wrote, so more than the commits; read-only
 * transactions get none, and reading it assigns none. Exact and immediate; the bench runs on a
 * quiet server.
 */
export async function nextTransactionId(adminUrl: string): Promise<number> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
    return Number(rows[0].xmax);
  } finally {
    await client.end();
  }
}
