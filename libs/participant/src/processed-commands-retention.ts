/**
 * Retention of the participant's inbox, processed_commands (docs/operations.md "Retention"): a
 * record not received for RETENTION_PROCESSED_COMMANDS (default 7 days) is deleted.
 *
 * The rule. A record must exist whenever the orchestrator may still send its command, or the
 * counterpart that reads it (the undo of a recorded action): a duplicate of a forgotten action
 * would run again, and an undo whose action was forgotten would be a tombstone that undoes
 * nothing. The toolkit refreshes a record's `last_seen_at` whenever a duplicate arrives
 * (command-pipeline.ts), so the window need only exceed the longest gap between two sends that
 * read one record:
 *   window > max(timeout + grace + max backoff of any step)       (retries of one command)
 *          + the longest time a saga may spend between a step's action and its undo
 *          + the longest orchestrator or broker outage tolerated.
 * Expired copies do not count: a command past its `x-saga-expires-at` is refused unread.
 * MIN_PROCESSED_COMMANDS_RETENTION_MS (1 day) is the floor accepted at start-up; the default
 * (7 days) leaves room for an outage over a long weekend.
 *
 * Guarantees: deletes only records whose last_seen_at is older than the window, in batches of
 * BATCH rows per statement, each row once across replicas (FOR UPDATE SKIP LOCKED); a duplicate
 * being processed holds its row and is skipped. Runs every `intervalMs` (default 10 min, the first
 * one interval after the start), never two runs at once; stop() waits for a run in progress. Failures are
 * logged and retried at the next run.
 *
 * Vacuum (churn-vacuum.ts, docs/operations.md "Vacuum when autovacuum is off"): after each run,
 * with `vacuum` `auto` (RETENTION_VACUUM, the default) and the server's autovacuum off,
 * processed_commands is vacuumed, so the space of the pruned records is used again instead of
 * the table growing on disk; the runs go on for vacuum alone when the window is null. start()
 * checks once and warns when autovacuum is off (a failed check is logged, never thrown).
 */
import { ChurnVacuum, DAY_MS, parseRetention, type ChurnVacuumSetting } from '#saga/persistence';
import type { DataSource } from 'typeorm';

export const DEFAULT_PROCESSED_COMMANDS_RETENTION_MS = 7 * DAY_MS;
export const MIN_PROCESSED_COMMANDS_RETENTION_MS = DAY_MS;
const BATCH = 1000;
const MAX_BATCHES_PER_RUN = 50;
export const DEFAULT_PRUNE_INTERVAL_MS = 10 * 60_000;
/** The toolkit's table that churns: inserted per command, refreshed per duplicate, pruned. */
export const PARTICIPANT_CHURNED_TABLES = ['processed_commands'] as const;

const PRUNE = `
  DELETE FROM processed_commands WHERE message_id IN (
    SELECT message_id FROM processed_commands WHERE last_seen_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`;

/** RETENTION_PROCESSED_COMMANDS: ms, an ISO-8601 duration or 0/off; null means never prune.
 *  Throws RetentionSettingError below the minimum, unless `allowShort` (RETENTION_TEST_SHORT_WINDOWS:
 *  soak and chaos runs that must see the table stay flat within minutes). */
export function processedCommandsRetention(value: string | undefined, allowShort = false): number | null {
  const minimum = allowShort ? 0 : MIN_PROCESSED_COMMANDS_RETENTION_MS;
  return parseRetention('RETENTION_PROCESSED_COMMANDS', value, DEFAULT_PROCESSED_COMMANDS_RETENTION_MS, minimum);
}

/** Deletes up to `batch` records last seen before `cutoff`; returns how many went. */
export async function pruneProcessedCommands(dataSource: DataSource, cutoff: Date, batch = BATCH): Promise<number> {
  const result: [unknown[], number] = await dataSource.query(PRUNE, [cutoff, batch]);
  return result[1];
}

export interface PrunerLogger {
  log(message: string): void;
  warn(message: string): void;
}

export class ProcessedCommandsPruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private checked: Promise<unknown> | undefined;
  private readonly vacuum: ChurnVacuum;

  /** `windowMs` null: nothing is pruned (the runs only vacuum, when `vacuum` is `auto`). */
  constructor(
    private readonly dataSource: DataSource,
    private readonly windowMs: number | null,
    private readonly logger: PrunerLogger,
    private readonly intervalMs = DEFAULT_PRUNE_INTERVAL_MS,
    vacuum: ChurnVacuumSetting = 'auto',
  ) {
    this.vacuum = new ChurnVacuum(dataSource, vacuum, PARTICIPANT_CHURNED_TABLES, intervalMs);
  }

  /** The first run comes one interval after the start, not at once: a participant back from an
   *  outage first takes the copies that queued up meanwhile (and refreshes their records). With
   *  nothing to prune nor vacuum, only the autovacuum check runs. */
  start(): void {
    this.checked = this.vacuum.warnIfAutovacuumOff(this.logger);
    if (this.windowMs !== null || this.vacuum.setting === 'auto') this.schedule(this.intervalMs);
  }

  /** One run: batches until one is not full (or MAX_BATCHES_PER_RUN), then the vacuum when
   *  needed (not once stop() was called); returns the rows deleted. */
  async runOnce(now = Date.now()): Promise<number> {
    const total = this.windowMs === null ? 0 : await this.prune(new Date(now - this.windowMs));
    if (!this.stopped) await this.vacuum.run();
    return total;
  }

  private async prune(cutoff: Date): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN && !this.stopped; batch++) {
      const deleted = await pruneProcessedCommands(this.dataSource, cutoff);
      total += deleted;
      if (deleted < BATCH) break;
    }
    if (total > 0) this.logger.log(`processed commands pruned: ${total} not seen since ${cutoff.toISOString()}`);
    return total;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.warn(`processed commands retention run failed: ${(error as Error).message}`))
        .finally(() => {
          this.running = undefined;
          this.schedule(this.intervalMs);
        });
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all([this.running, this.checked]);
  }
}
