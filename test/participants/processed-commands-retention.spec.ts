/**
 * Retention of the participant's inbox (libs/participant/src/processed-commands-retention.ts)
 * against real PostgreSQL.
 *
 * Proves: a duplicate refreshes its record's last_seen_at (the window restarts) and is still
 * answered from the record; pruning deletes exactly the records not seen since the cutoff, in
 * batches, and keeps the rest (a command inside the window is still deduplicated); two pruners at
 * once (two replicas) delete each record once; a record pruned is forgotten (its command would run
 * again: why the window must outlive every send, docs/operations.md "Retention"); the pruner's
 * candidate search plans on ix_processed_commands_last_seen; a database made before
 * last_seen_at existed is upgraded by ProcessedCommandsLastSeen1765510000000 (its rows get a full
 * window from the upgrade); after each run processed_commands is vacuumed exactly when the
 * server's autovacuum is off and the setting is auto (also with no window: the runs then only
 * vacuum), never with off; start() warns once exactly when autovacuum is off.
 */
import { commandMessageId } from '#saga/core';
import {
  CommandProcessor,
  defineAction,
  HandlerRegistry,
  ok,
  ProcessedCommandsLastSeen1765510000000,
  ProcessedCommandsPruner,
  pruneProcessedCommands,
  type ProcessResult,
} from '#saga/participant';
import { DataSource } from 'typeorm';
import type { CommandSpec } from './harness';
import { commandMessage, openProcessorDb, type ProcessorDb } from './processor-harness';

const DAY = 86_400_000;
let env: ProcessorDb;
let processor: CommandProcessor;
const ran: string[] = [];

const act = defineAction<unknown, unknown>('keep.act', {
  handle: async (_data, { sagaId }) => {
    ran.push(sagaId);
    return ok({ done: true });
  },
});

beforeAll(async () => {
  env = await openProcessorDb('retention');
  processor = new CommandProcessor({ dataSource: env.dataSource, handlers: new HandlerRegistry([act]) });
});

afterAll(async () => {
  await env?.cleanup();
});

let counter = 0;
const command = (): CommandSpec => ({ sagaId: `keep-${++counter}`, step: 'act', direction: 'action', pattern: 'keep.act', data: null });
const idOf = (spec: CommandSpec) => commandMessageId(spec);
const disposition = (result: ProcessResult) => (result.kind === 'reply' ? result.disposition : result.kind);

async function lastSeen(spec: CommandSpec): Promise<{ created: Date; seen: Date } | undefined> {
  const { rows } = await env.db.query('SELECT created_at AS created, last_seen_at AS seen FROM processed_commands WHERE message_id = $1', [idOf(spec)]);
  return rows[0];
}

/** Moves a record's last sighting `days` into the past. */
async function age(spec: CommandSpec, days: number): Promise<void> {
  await env.db.query(`UPDATE processed_commands SET last_seen_at = now() - make_interval(days => $2::int) WHERE message_id = $1`, [idOf(spec), days]);
}

/** `n` records last seen `days` ago, written directly (prefix names them). */
async function insertOld(prefix: string, n: number, days: number): Promise<void> {
  await env.db.query(
    `INSERT INTO processed_commands (message_id, saga_id, step, direction, pattern, attempt, outcome, last_seen_at)
     SELECT $1 || g || '/act/action', $1 || g, 'act', 'action', 'keep.act', 1, '{"kind":"success","response":null}', now() - make_interval(days => $3::int)
       FROM generate_series(1, $2::int) AS g`,
    [prefix, n, days],
  );
}

/** Whether the server's autovacuum is off, asked by the test itself (track_counts off disables it too). */
async function autovacuumOff(): Promise<boolean> {
  const { rows } = await env.db.query(`SELECT current_setting('autovacuum') = 'off' OR current_setting('track_counts') = 'off' AS off`);
  return rows[0].off;
}

async function vacuumCount(): Promise<number> {
  await env.db.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await env.db.query(`SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'processed_commands'`);
  return Number(rows[0].vacuum_count);
}

async function count(prefix: string): Promise<number> {
  const { rows } = await env.db.query(`SELECT count(*)::int AS n FROM processed_commands WHERE saga_id LIKE $1 || '%'`, [prefix]);
  return rows[0].n;
}

describe('processed_commands retention', () => {
  it('a duplicate is answered from the record and restarts its window', async () => {
    const spec = command();
    expect(disposition(await processor.process(...commandMessage(spec)))).toBe('applied');
    await age(spec, 3);
    const before = (await lastSeen(spec))!;
    expect(Date.now() - before.seen.getTime()).toBeGreaterThan(3 * DAY - 60_000);

    expect(disposition(await processor.process(...commandMessage(spec)))).toBe('replayed');
    const after = (await lastSeen(spec))!;
    expect(Date.now() - after.seen.getTime()).toBeLessThan(60_000);
    expect(after.created).toEqual(before.created);
    expect(ran.filter((id) => id === spec.sagaId)).toHaveLength(1);
  });

  it('prunes only records not seen since the cutoff; a command inside the window is still deduplicated', async () => {
    const old = command();
    const young = command();
    const refreshed = command();
    for (const spec of [old, young, refreshed]) await processor.process(...commandMessage(spec));
    await age(old, 8);
    await age(young, 6);
    await age(refreshed, 8);
    await processor.process(...commandMessage(refreshed)); // a duplicate: seen now

    const pruner = new ProcessedCommandsPruner(env.dataSource, 7 * DAY, { log: () => undefined, warn: () => undefined });
    expect(await pruner.runOnce()).toBeGreaterThanOrEqual(1);
    expect(await lastSeen(old)).toBeUndefined();
    expect(await lastSeen(young)).toBeDefined();
    expect(await lastSeen(refreshed)).toBeDefined();

    expect(disposition(await processor.process(...commandMessage(young)))).toBe('replayed');
    expect(ran.filter((id) => id === young.sagaId)).toHaveLength(1);
    // What pruning gives up: a forgotten command runs again. Hence the rule in the docs.
    expect(disposition(await processor.process(...commandMessage(old)))).toBe('applied');
    expect(ran.filter((id) => id === old.sagaId)).toHaveLength(2);
  });

  it('deletes in batches until nothing is left past the cutoff', async () => {
    await insertOld('batch-old-', 2_345, 10);
    await insertOld('batch-young-', 50, 1);
    expect(await pruneProcessedCommands(env.dataSource, new Date(Date.now() - 7 * DAY), 1000)).toBe(1000);
    const pruner = new ProcessedCommandsPruner(env.dataSource, 7 * DAY, { log: () => undefined, warn: () => undefined });
    expect(await pruner.runOnce()).toBe(1_345);
    expect(await count('batch-old-')).toBe(0);
    expect(await count('batch-young-')).toBe(50);
  });

  it('two replicas pruning at once delete each record once', async () => {
    await insertOld('twin-', 6_000, 10);
    const second = new DataSource({ type: 'postgres', url: (env.dataSource.options as { url: string }).url, extra: { max: 1 } } as never);
    await second.initialize();
    try {
      const cutoff = new Date(Date.now() - 7 * DAY);
      const drain = async (ds: DataSource) => {
        let total = 0;
        for (let deleted = -1; deleted !== 0; total += deleted) deleted = Math.max(0, await pruneProcessedCommands(ds, cutoff, 250));
        return total;
      };
      const [a, b] = await Promise.all([drain(env.dataSource), drain(second)]);
      expect(a + b).toBe(6_000);
      expect(await count('twin-')).toBe(0);
    } finally {
      await second.destroy();
    }
  });

  it('vacuums processed_commands after a run exactly when autovacuum is off and the setting is auto', async () => {
    const off = await autovacuumOff();
    const quiet = { log: () => undefined, warn: () => undefined };
    await insertOld('vacuum-old-', 30, 10);
    const before = await vacuumCount();
    expect(await new ProcessedCommandsPruner(env.dataSource, 7 * DAY, quiet, 60_000, 'auto').runOnce()).toBe(30);
    const afterAuto = await vacuumCount();
    expect(afterAuto - before).toBe(off ? 1 : 0);

    await insertOld('vacuum-setting-off-', 20, 10);
    expect(await new ProcessedCommandsPruner(env.dataSource, 7 * DAY, quiet, 60_000, 'off').runOnce()).toBe(20);
    expect(await vacuumCount()).toBe(afterAuto);

    // No window: nothing is pruned, the run only vacuums.
    await insertOld('vacuum-unpruned-', 10, 10);
    expect(await new ProcessedCommandsPruner(env.dataSource, null, quiet, 60_000, 'auto').runOnce()).toBe(0);
    expect(await count('vacuum-unpruned-')).toBe(10);
    expect((await vacuumCount()) - afterAuto).toBe(off ? 1 : 0);
    await env.db.query(`DELETE FROM processed_commands WHERE saga_id LIKE 'vacuum-unpruned-%'`);
  });

  it('start() warns once exactly when autovacuum is off, naming processed_commands; stop() waits for the check', async () => {
    const off = await autovacuumOff();
    for (const setting of ['auto', 'off'] as const) {
      const warnings: string[] = [];
      const pruner = new ProcessedCommandsPruner(
        env.dataSource,
        setting === 'auto' ? 7 * DAY : null,
        { log: () => undefined, warn: (line) => void warnings.push(line) },
        3_600_000,
        setting,
      );
      pruner.start();
      await pruner.stop();
      expect(warnings).toHaveLength(off ? 1 : 0);
      if (off) expect(warnings[0]).toMatch(setting === 'auto' ? /vacuums its own tables \(processed_commands\)/ : /RETENTION_VACUUM=off: .*grow on disk without bound/);
    }
  });

  it('finds candidates through ix_processed_commands_last_seen', async () => {
    await env.db.query('ANALYZE processed_commands');
    const { rows } = await env.db.query(`EXPLAIN SELECT message_id FROM processed_commands WHERE last_seen_at < now() - interval '7 days' LIMIT 1000 FOR UPDATE SKIP LOCKED`);
    const plan = rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/ix_processed_commands_last_seen/);
  });

  it('upgrades a table made before last_seen_at: existing rows get a full window from then', async () => {
    const old = command();
    await processor.process(...commandMessage(old));
    await env.db.query('CREATE TABLE legacy_processed (LIKE processed_commands INCLUDING DEFAULTS)');
    await env.db.query('ALTER TABLE legacy_processed DROP COLUMN last_seen_at');
    await env.db.query('ALTER TABLE processed_commands RENAME TO current_processed');
    await env.db.query('ALTER INDEX ix_processed_commands_last_seen RENAME TO current_last_seen');
    await env.db.query('ALTER TABLE legacy_processed RENAME TO processed_commands');
    try {
      await env.db.query(`INSERT INTO processed_commands (message_id, saga_id, step, direction, pattern, attempt, outcome, created_at)
                          VALUES ('legacy/act/action', 'legacy', 'act', 'action', 'keep.act', 1, '{"kind":"success","response":null}', now() - interval '90 days')`);
      const runner = env.dataSource.createQueryRunner();
      try {
        await new ProcessedCommandsLastSeen1765510000000().up(runner);
      } finally {
        await runner.release();
      }
      const { rows } = await env.db.query(`SELECT now() - last_seen_at < interval '1 minute' AS fresh FROM processed_commands WHERE message_id = 'legacy/act/action'`);
      expect(rows).toEqual([{ fresh: true }]);
      const { rows: indexes } = await env.db.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'processed_commands' AND indexname = 'ix_processed_commands_last_seen'`);
      expect(indexes).toHaveLength(1);
    } finally {
      await env.db.query('DROP TABLE processed_commands');
      await env.db.query('ALTER TABLE current_processed RENAME TO processed_commands');
      await env.db.query('ALTER INDEX current_last_seen RENAME TO ix_processed_commands_last_seen');
    }
  });
});
