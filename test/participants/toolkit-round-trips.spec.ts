/**
 * Pins what the participant toolkit costs the database per command, against real PostgreSQL:
 * two round trips of its own whatever the decision (handler statements come on top; a
 * connection's first command adds one to prepare the toolkit's statements), and the
 * failure paths of those batched round trips (nothing half-committed, the connection comes back
 * clean, database trouble is ProcessingInfrastructureError). Also that handlers keep working
 * inside the toolkit's transaction, nested TypeORM transactions included.
 */
import { commandMessageId, type Direction } from '#saga/core';
import { CommandProcessor, defineAction, defineCompensation, fail, HandlerRegistry, ok, ProcessingInfrastructureError, retry, type ProcessResult } from '#saga/participant';
import type { EntityManager } from 'typeorm';
import type { CommandSpec } from './harness';
import { commandMessage, openProcessorDb, type ProcessorDb } from './processor-harness';

let env: ProcessorDb;
let processor: CommandProcessor;
const ran: string[] = [];
const TOOLKIT_LOOKUP_SQL = 'SELECT message_id, direction, pattern, outcome, request FROM processed_commands WHERE message_id IN ($1::text, $2::text)';

const effect = (manager: EntityManager, sagaId: string, note: string) => manager.query('INSERT INTO probe_effects (saga_id, note) VALUES ($1, $2)', [sagaId, note]);

const probe = defineAction<{ mode: string }, unknown>('probe.act', {
  handle: async ({ mode }, { manager, sagaId }) => {
    ran.push(sagaId);
    switch (mode) {
      case 'noop':
        return ok({ done: true });
      case 'write':
        await effect(manager, sagaId, 'act');
        return ok({ done: true });
      case 'fail':
        await effect(manager, sagaId, 'act');
        return fail('NOPE', 'business says no');
      case 'retry':
        return retry('BUSY', 'try later');
      case 'throw':
        throw new Error('boom');
      case 'nested':
        await manager.transaction((inner) => effect(inner, sagaId, 'nested'));
        return ok({ active: manager.queryRunner?.isTransactionActive });
      case 'nested-fail':
        await manager.transaction((inner) => effect(inner, sagaId, 'nested'));
        return fail('NOPE', 'after a nested transaction');
      case 'aborted':
        await manager.query('SELECT 1 / 0').catch(() => undefined); // leaves the transaction aborted
        return ok({ done: true });
      case 'plans': {
        // The plan the toolkit's lookup gets under the toolkit's planner setting, and, for
        // comparison, the one a copy of it prepared and run with the server's defaults would keep
        // in the plan cache.
        const explain = async (name: string) =>
          ((await manager.query(`EXPLAIN EXECUTE ${name}('a', 'b')`)) as { 'QUERY PLAN': string }[]).map((row) => row['QUERY PLAN']).join('\n');
        await manager.query('SET LOCAL enable_seqscan = off');
        const inToolkit = await explain('toolkit_lookup');
        await manager.query('SET LOCAL enable_seqscan = on');
        const prepared: unknown[] = await manager.query(`SELECT 1 FROM pg_prepared_statements WHERE name = 'probe_lookup'`);
        if (prepared.length === 0) await manager.query(`PREPARE probe_lookup AS ${TOOLKIT_LOOKUP_SQL}`);
        for (let i = 0; i < 6; i++) await manager.query(`EXECUTE probe_lookup('a', 'b')`); // enough runs for the plan cache to settle
        return ok({ inToolkit, cached: await explain('probe_lookup') });
      }
      case 'planner':
        return ok({ seqscan: ((await manager.query('SHOW enable_seqscan')) as { enable_seqscan: string }[])[0].enable_seqscan });
      case 'unstorable':
        await effect(manager, sagaId, 'act');
        return ok({ text: 'nul \u0000 inside' }); // JSON carries it, jsonb refuses it
      default:
        return ok(null);
    }
  },
});

const undo = defineCompensation('probe.undo', 'probe.act', {
  handle: async (_data: unknown, { manager, sagaId }) => {
    await effect(manager, sagaId, 'undo');
    return ok({ undone: true });
  },
});

beforeAll(async () => {
  env = await openProcessorDb('round_trips');
  processor = new CommandProcessor({ dataSource: env.dataSource, handlers: new HandlerRegistry([probe, undo]) });
});

afterAll(async () => {
  await env?.cleanup();
});

let counter = 0;
const action = (mode: string, extra: Partial<CommandSpec> = {}): CommandSpec => ({
  sagaId: `rt-${++counter}`,
  step: 'act',
  direction: 'action',
  pattern: 'probe.act',
  data: { mode },
  ...extra,
});
const compensation = (sagaId: string): CommandSpec => ({ sagaId, step: 'act', direction: 'compensation', pattern: 'probe.undo', data: null });

async function run(spec: CommandSpec): Promise<{ result: ProcessResult; queries: string[] }> {
  let result!: ProcessResult;
  const queries = await env.roundTrips.during(async () => (result = await processor.process(...commandMessage(spec))));
  return { result, queries };
}

const disposition = (result: ProcessResult) => (result.kind === 'reply' ? result.disposition : result.kind);

async function effects(sagaId: string): Promise<string[]> {
  const { rows } = await env.db.query('SELECT note FROM probe_effects WHERE saga_id = $1 ORDER BY note', [sagaId]);
  return rows.map((row) => row.note as string);
}

async function stored(sagaId: string, direction: Direction): Promise<unknown> {
  const { rows } = await env.db.query('SELECT outcome FROM processed_commands WHERE message_id = $1', [commandMessageId({ sagaId, step: 'act', direction })]);
  return rows[0]?.outcome;
}

/** The pool has one connection: this command only works if the previous one left it clean. */
async function expectConnectionClean(): Promise<void> {
  const { result } = await run(action('noop'));
  expect(disposition(result)).toBe('applied');
}

describe('round trips per command (the toolkit itself)', () => {
  it('is two for every decision, plus the handler statements', async () => {
    const applied = action('noop');
    const counts: Record<string, [string, number]> = {};
    const measure = async (name: string, spec: CommandSpec) => {
      const { result, queries } = await run(spec);
      counts[name] = [disposition(result), queries.length];
      return queries;
    };
    // The connection's first command also prepares the toolkit's statements: one round trip, once.
    const preparing = await run(action('noop'));
    expect(preparing.queries).toHaveLength(3);
    expect(preparing.queries[0]).toMatch(/^PREPARE toolkit_lock_step AS .*;\nPREPARE toolkit_lookup AS .*;\nPREPARE toolkit_insert_processed AS .*$/s);
    const first = await measure('applied, handler without SQL', applied);
    await measure('duplicate', applied);
    await measure('applied, handler with one statement', action('write'));
    await measure('business failure', action('fail'));
    await measure('retryable', action('retry'));
    await measure('handler threw', action('throw'));
    await measure('expired', action('noop', { expiresAt: Date.now() - 1_000 }));
    const undone = action('write');
    await run(undone);
    await measure('compensation', compensation(undone.sagaId));
    await measure('tombstone', compensation(`rt-${++counter}`));
    expect(counts).toEqual({
      'applied, handler without SQL': ['applied', 2],
      duplicate: ['replayed', 2],
      'applied, handler with one statement': ['applied', 3],
      'business failure': ['failed', 3],
      retryable: ['rolled-back', 2],
      'handler threw': ['rolled-back', 2],
      expired: ['expired', 2],
      compensation: ['applied', 3],
      tombstone: ['recorded', 2],
    });
    expect(first[0]).toMatch(
      /^BEGIN ISOLATION LEVEL READ COMMITTED;\nSELECT set_config\('saga_toolkit.seqscan', current_setting\('enable_seqscan'\), true\);\nSET LOCAL enable_seqscan = off;\nEXECUTE toolkit_lock_step\('23146', '.*'\);\nEXECUTE toolkit_lookup\('.*', '.*'\);\nSELECT set_config\('enable_seqscan', current_setting\('saga_toolkit.seqscan'\), true\);\nSAVEPOINT participant_handler$/s,
    );
    expect(first[1]).toMatch(/^RELEASE SAVEPOINT participant_handler;\nEXECUTE toolkit_insert_processed\(.*\);\nCOMMIT$/s);
  });
});

describe('planner settings', () => {
  it("price sequential scans out for the toolkit's own statements only, unless the service opts its handlers in", async () => {
    const seqscan = (result: ProcessResult) => (result.kind === 'reply' && result.outcome.kind === 'success' ? (result.outcome.result as { seqscan: string }).seqscan : undefined);
    expect(seqscan((await run(action('planner'))).result)).toBe('on');
    const optedIn = new CommandProcessor({ dataSource: env.dataSource, handlers: new HandlerRegistry([probe, undo]), indexReadsForHandlers: true });
    expect(seqscan(await optedIn.process(...commandMessage(action('planner'))))).toBe('off');
    // The session's own setting is what handlers get back, whatever it is.
    await env.dataSource.query('SET enable_seqscan = off'); // the pool's one connection
    expect(seqscan((await run(action('planner'))).result)).toBe('off');
    await env.dataSource.query('SET enable_seqscan = on');
  });
});

describe('plans as tables grow', () => {
  it('plans the lookup for the table as it is now, never with a generic plan cached while it was small', async () => {
    // Warm the connection on a nearly empty table: enough runs for the plan cache to settle.
    for (let i = 0; i < 8; i++) await run(action('noop'));
    const before = await run(action('plans'));
    // The table grows (no ANALYZE, as on a server with autovacuum off).
    await env.dataSource.query(
      `INSERT INTO processed_commands (message_id, saga_id, step, direction, pattern, attempt, outcome, request)
       SELECT 'grown-' || n, 'grown-' || n, 'act', 'action', 'probe.act', 1, '{"kind":"success","result":null}', 'null' FROM generate_series(1, 20000) AS n`,
    );
    const after = await run(action('plans'));
    const plans = (result: ProcessResult) =>
      result.kind === 'reply' && result.outcome.kind === 'success' ? (result.outcome.result as { inToolkit: string; cached: string }) : undefined;
    expect(plans(after.result)!.inToolkit).toMatch(/(Index (Only )?Scan using|Bitmap Index Scan on) processed_commands_pkey/);
    expect(plans(after.result)!.inToolkit).not.toMatch(/Seq Scan/);
    // Without the toolkit's setting the same connection would keep reading the whole table.
    expect(plans(before.result)!.cached).toMatch(/Seq Scan on processed_commands/);
    expect(plans(after.result)!.cached).toMatch(/Seq Scan on processed_commands/);
  });
});

describe('batched transaction', () => {
  it('commits the handler writes with the record, and a failure keeps the record only', async () => {
    const good = action('write');
    expect(disposition((await run(good)).result)).toBe('applied');
    expect(await effects(good.sagaId)).toEqual(['act']);
    expect(await stored(good.sagaId, 'action')).toEqual({ kind: 'success', result: { done: true } });
    const bad = action('fail');
    expect(disposition((await run(bad)).result)).toBe('failed');
    expect(await effects(bad.sagaId)).toEqual([]);
    expect(await stored(bad.sagaId, 'action')).toEqual({ kind: 'failure', code: 'NOPE', message: 'business says no' });
    await expectConnectionClean();
  });

  it('runs a nested manager.transaction() inside the toolkit transaction', async () => {
    const nested = action('nested');
    const { result } = await run(nested);
    expect(result).toMatchObject({ disposition: 'applied', outcome: { kind: 'success', result: { active: true } } });
    expect(await effects(nested.sagaId)).toEqual(['nested']);
    const discarded = action('nested-fail');
    expect(disposition((await run(discarded)).result)).toBe('failed');
    expect(await effects(discarded.sagaId)).toEqual([]);
    expect(await stored(discarded.sagaId, 'action')).toMatchObject({ kind: 'failure', code: 'NOPE' });
    await expectConnectionClean();
  });

  it('commits nothing when the store fails, and answers infrastructure trouble (requeue)', async () => {
    const spec = action('unstorable');
    const error = await processor.process(...commandMessage(spec)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProcessingInfrastructureError);
    expect((error as Error).message).toMatch(/^store the outcome and commit failed: unsupported Unicode escape sequence/);
    expect(await effects(spec.sagaId)).toEqual([]);
    expect(await stored(spec.sagaId, 'action')).toBeUndefined();
    await expectConnectionClean();
  });

  it('treats a transaction the handler left aborted as infrastructure trouble, storing nothing', async () => {
    const spec = action('aborted');
    await expect(processor.process(...commandMessage(spec))).rejects.toThrow(/^store the outcome and commit failed: current transaction is aborted/);
    expect(await stored(spec.sagaId, 'action')).toBeUndefined();
    await expectConnectionClean();
  });

  it('rolls back a compensation entirely when the handler throws', async () => {
    const spec = action('write');
    await run(spec);
    const failing = new CommandProcessor({
      dataSource: env.dataSource,
      handlers: new HandlerRegistry([
        probe,
        defineCompensation('probe.undo', 'probe.act', {
          handle: async (_data: unknown, { manager, sagaId }) => {
            await effect(manager, sagaId, 'undo');
            throw new Error('undo broke');
          },
        }),
      ]),
    });
    const result = await failing.process(...commandMessage(compensation(spec.sagaId)));
    expect(result).toMatchObject({ disposition: 'rolled-back', outcome: { kind: 'retryable', code: 'HANDLER_ERROR' } });
    expect(await effects(spec.sagaId)).toEqual(['act']);
    expect(await stored(spec.sagaId, 'compensation')).toBeUndefined();
    await expectConnectionClean();
  });
});
