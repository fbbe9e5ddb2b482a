/**
 * Vacuum of the tables this product churns, for servers whose autovacuum is off
 * (docs/operations.md "Vacuum when autovacuum is off"). Retention keeps the row counts flat, but
 * a deleted or updated row stays on its page until VACUUM records the space as free; with
 * autovacuum off nothing does, new rows go to new pages and the tables grow on disk without bound
 * (a soak run doubled every saga table's bytes in 2.5 minutes at flat row counts). We never
 * reconfigure the server; the retention loops call run() instead.
 *
 * Guarantees:
 * - Does nothing unless the setting is `auto` and the server answers that autovacuum is off. It
 *   asks on every run (one cheap query): a reload may turn autovacuum on or off. Autovacuum counts
 *   as off when `track_counts` is off too: the autovacuum launcher does not work without it.
 * - Only the caller's fixed table names are vacuumed (constants, never input), each checked
 *   against /^[a-z_]+$/ when the runner is built: a bad one throws ChurnVacuumConfigError.
 * - One `VACUUM` statement per table, outside any transaction (`DataSource.query` outside a
 *   transaction runs on a pooled connection in autocommit, which VACUUM requires).
 * - `SKIP_LOCKED`: a table that another session holds in a conflicting lock (another replica
 *   vacuuming it, a migration) is skipped at once (the server sends a warning), never waited
 *   for; the next run takes it. Replicas vacuuming at once therefore never wait on each other.
 * - `ANALYZE` goes with a table's VACUUM when autovacuum would have analysed it: more rows changed
 *   since its last analysis (`pg_stat_user_tables.n_mod_since_analyze`) than the server's own
 *   `autovacuum_analyze_threshold + autovacuum_analyze_scale_factor × rows`. Without it the
 *   statistics go stale and plans drift as the tables grow; with it on every run, each table would
 *   be sampled (up to 30,000 random pages) every RETENTION_INTERVAL_MS even when nothing changed.
 *   VACUUM itself is cheap on a quiet table: the visibility map skips pages with no dead rows,
 *   and the indexes are not scanned when there is next to nothing to remove.
 * - warnIfAutovacuumOff() never throws: a failed check is logged and start-up goes on.
 */
export const CHURN_VACUUM_SETTINGS = ['auto', 'off'] as const;
/** RETENTION_VACUUM: `auto` vacuums the churned tables when the server's autovacuum is off. */
export type ChurnVacuumSetting = (typeof CHURN_VACUUM_SETTINGS)[number];

export class ChurnVacuumConfigError extends Error {
  readonly code = 'INVALID_CHURN_VACUUM';
}

/** What runs the statements: a TypeORM DataSource (its `query` is autocommit outside a transaction). */
export interface VacuumSession {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

export interface VacuumLogger {
  warn(message: string): void;
}

const TABLE_NAME = /^[a-z_]+$/;

const AUTOVACUUM_WORKS = `SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on' AS autovacuum_works`;

/** The tables among $1 whose changes since their last analysis exceed autovacuum's analyze rule
 *  (also every table when track_counts is off: nothing is counted then, so analyse always). */
const STALE_STATISTICS = `
  SELECT t.name
    FROM unnest($1::text[]) AS t(name)
    LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
   WHERE current_setting('track_counts') = 'off'
      OR s.n_mod_since_analyze IS NULL
      OR s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::float8
                                 + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)`;

/** Whether the server's autovacuum works: `autovacuum` (SHOW autovacuum) and `track_counts` on. */
export async function serverAutovacuumOn(session: VacuumSession): Promise<boolean> {
  const [row] = (await session.query(AUTOVACUUM_WORKS)) as { autovacuum_works: boolean }[];
  return row.autovacuum_works;
}

export class ChurnVacuum {
  private readonly tables: readonly string[];

  /** `tables`: the caller's constants; `intervalMs`: how often run() is called (for the warning). */
  constructor(
    private readonly session: VacuumSession,
    readonly setting: ChurnVacuumSetting,
    tables: readonly string[],
    private readonly intervalMs: number,
  ) {
    if (!CHURN_VACUUM_SETTINGS.includes(setting)) throw new ChurnVacuumConfigError(`vacuum setting ${JSON.stringify(setting)}: give auto or off`);
    const bad = tables.filter((table) => !TABLE_NAME.test(table));
    if (tables.length === 0 || bad.length > 0) throw new ChurnVacuumConfigError(`tables to vacuum must be plain lower-case names: ${JSON.stringify(tables)}`);
    this.tables = [...tables];
  }

  /** VACUUMs every table (ANALYZE too where statistics are stale) when the setting is `auto` and
   *  the server's autovacuum is off; returns whether it did (a table skipped as locked counts). */
  async run(): Promise<boolean> {
    if (this.setting === 'off' || (await serverAutovacuumOn(this.session))) return false;
    const stale = new Set(((await this.session.query(STALE_STATISTICS, [this.tables])) as { name: string }[]).map((row) => row.name));
    for (const table of this.tables) await this.session.query(`VACUUM (${stale.has(table) ? 'ANALYZE, ' : ''}SKIP_LOCKED) ${table}`);
    return true;
  }

  /** Once at start: a WARN when the server's autovacuum is off, saying what this process does
   *  about it. Returns whether autovacuum is off (undefined when the check failed). */
  async warnIfAutovacuumOff(logger: VacuumLogger): Promise<boolean | undefined> {
    let on: boolean;
    try {
      on = await serverAutovacuumOn(this.session);
    } catch (error) {
      logger.warn(`could not ask PostgreSQL whether autovacuum is on (${(error as Error).message}); going on`);
      return undefined;
    }
    if (!on) logger.warn(autovacuumOffWarning(this.setting, this.tables, this.intervalMs));
    return !on;
  }
}

/** The start-up warning for a server whose autovacuum is off. */
export function autovacuumOffWarning(setting: ChurnVacuumSetting, tables: readonly string[], intervalMs: number): string {
  const own = tables.join(', ');
  if (setting === 'auto') {
    return (
      `PostgreSQL's autovacuum is off (SHOW autovacuum, or track_counts off): this process vacuums its own tables (${own}) ` +
      `every RETENTION_INTERVAL_MS (${intervalMs} ms, RETENTION_VACUUM=auto); the other tables of the database are not vacuumed ` +
      `and grow on disk with every update and delete. Turn autovacuum on (docs/operations.md "Vacuum when autovacuum is off")`
    );
  }
  return (
    `PostgreSQL's autovacuum is off (SHOW autovacuum, or track_counts off) and RETENTION_VACUUM=off: nothing vacuums this process's ` +
    `tables (${own}); they will grow on disk without bound, however many rows retention deletes. Turn autovacuum on, ` +
    `or set RETENTION_VACUUM=auto (docs/operations.md "Vacuum when autovacuum is off")`
  );
}
