/**
 * The toolkit inlines message values into its SQL (one simple-protocol query per round trip):
 * against real PostgreSQL, saga ids, step names, patterns and payloads full of quotes,
 * backslashes, dollar quotes and unicode are stored and replied exactly (no injection, replays
 * byte-identical), the advisory lock key is the one a bound parameter gives, a NUL is refused as
 * infrastructure trouble, and the lookup waits for the step lock and then sees what its holder
 * committed.
 */
import { commandMessageId, replyBody } from '#saga/core';
import {
  ADVISORY_LOCK_NAMESPACE,
  CommandProcessor,
  defineAction,
  defineCompensation,
  HandlerRegistry,
  ok,
  ProcessingInfrastructureError,
  type ProcessResult,
} from '#saga/participant';
import { waitFor } from '../support/infra';
import type { CommandSpec } from './harness';
import { commandMessage, openProcessorDb, type ProcessorDb } from './processor-harness';

const NASTY = [
  `it's`,
  `''; DROP TABLE processed_commands; --`,
  `back\\slash \\' \\\\ E'\\x41'`,
  `$$ dollar $$ $tag$ $1 $2`,
  `"double" \`tick\` ; -- /* comment */`,
  `ünïcødé 日本語 😀 \u2028 \t tab\nnewline`,
  `\\u0041 is not A`,
].join(' | ');

const PATTERN = `probe.it's \\ $$.act`;
const UNDO = `probe.it's \\ $$.undo`;

let env: ProcessorDb;
let processor: CommandProcessor;
const undone: unknown[] = [];
let lockHeld: unknown;
let ran = 0;

const act = defineAction(PATTERN, {
  handle: async (data: unknown, { manager, sagaId, step }) => {
    ran++;
    await manager.query('INSERT INTO probe_effects (saga_id, note) VALUES ($1, $2)', [sagaId, step]);
    const [{ held }] = await manager.query(
      `SELECT count(*)::int AS held FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
          AND classid = $1::oid AND objid = (hashtext($2)::bigint & 4294967295)::oid AND objsubid = 2`,
      [ADVISORY_LOCK_NAMESPACE, JSON.stringify([sagaId, step])],
    );
    lockHeld = held;
    return ok({ echo: data, sagaId, step, [NASTY]: NASTY });
  },
});

const undo = defineCompensation(UNDO, PATTERN, {
  handle: async (data: unknown, { action }) => {
    undone.push(action);
    return ok({ undid: data });
  },
});

beforeAll(async () => {
  env = await openProcessorDb('literals');
  processor = new CommandProcessor({ dataSource: env.dataSource, handlers: new HandlerRegistry([act, undo]) });
});

afterAll(async () => {
  await env?.cleanup();
});

const handle = (spec: CommandSpec): Promise<ProcessResult> => processor.process(...commandMessage(spec));
const replyText = (result: ProcessResult) => {
  if (result.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(result)}`);
  return JSON.stringify(replyBody(result.outcome));
};

it('stores and replies quotes, backslashes, $$ and unicode exactly, duplicates byte-identical', async () => {
  const sagaId = `saga ${NASTY}`;
  const step = `step ${NASTY}`;
  const data = { [NASTY]: [NASTY, { nested: NASTY, n: 1.5, t: true, z: null }], plain: 'x' };
  const spec: CommandSpec = { sagaId, step, direction: 'action', pattern: PATTERN, data };

  const first = await handle(spec);
  expect(first).toMatchObject({ disposition: 'applied', outcome: { kind: 'success', result: { echo: data, sagaId, step, [NASTY]: NASTY } } });
  expect(lockHeld).toBe(1); // the inlined lock key is the one a bound parameter gives

  const { rows } = await env.db.query('SELECT * FROM processed_commands WHERE saga_id = $1', [sagaId]);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({
    message_id: commandMessageId({ sagaId, step, direction: 'action' }),
    saga_id: sagaId,
    step,
    direction: 'action',
    pattern: PATTERN,
    attempt: 1,
    request: data,
  });
  expect(rows[0].outcome).toEqual({ kind: 'success', result: { echo: data, sagaId, step, [NASTY]: NASTY } });
  const { rows: effects } = await env.db.query('SELECT note FROM probe_effects WHERE saga_id = $1', [sagaId]);
  expect(effects).toEqual([{ note: step }]);

  const again = await handle({ ...spec, attempt: 2 });
  expect(again).toMatchObject({ disposition: 'replayed' });
  expect(replyText(again)).toBe(replyText(first));
  expect(ran).toBe(1);

  const compensated = await handle({ sagaId, step, direction: 'compensation', pattern: UNDO, data: NASTY });
  expect(compensated).toMatchObject({ disposition: 'applied', outcome: { result: { undid: NASTY } } });
  expect(undone).toEqual([{ pattern: PATTERN, request: data, result: { echo: data, sagaId, step, [NASTY]: NASTY } }]);
  const replayedUndo = await handle({ sagaId, step, direction: 'compensation', pattern: UNDO, data: NASTY, attempt: 3 });
  expect(replyText(replayedUndo)).toBe(replyText(compensated));

  const { rows: tables } = await env.db.query(`SELECT count(*)::int AS n FROM processed_commands`);
  expect(tables[0].n).toBe(2);
});

it('refuses a NUL in a step name as infrastructure trouble (requeued), storing nothing', async () => {
  const spec: CommandSpec = { sagaId: 'nul-saga', step: 'st\u0000ep', direction: 'action', pattern: PATTERN, data: null };
  const error = await handle(spec).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ProcessingInfrastructureError);
  expect((error as Error).message).toBe('look up processed commands failed: text with a NUL character cannot be sent to PostgreSQL');
  const { rows } = await env.db.query(`SELECT count(*)::int AS n FROM processed_commands WHERE saga_id = 'nul-saga'`);
  expect(rows[0].n).toBe(0);
  expect((await handle({ ...spec, sagaId: 'after-nul', step: 'fine' })).kind).toBe('reply');
});

it('waits for the step lock, then sees the record its holder committed (no second run)', async () => {
  const sagaId = `locked '${NASTY}`;
  const step = `s$$'\\`;
  const spec: CommandSpec = { sagaId, step, direction: 'action', pattern: PATTERN, data: { x: 1 } };
  const holder = env.db;
  await holder.query('BEGIN');
  await holder.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2))', [ADVISORY_LOCK_NAMESPACE, JSON.stringify([sagaId, step])]);
  const runsBefore = ran;
  const pending = handle(spec);
  await waitFor(async () => {
    const { rows } = await env.db.query(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
        WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted`);
    return rows[0].n === 1;
  }, 'the processor to wait for the step lock');
  const outcome = { kind: 'success', result: { by: 'the lock holder' } };
  await holder.query(`INSERT INTO processed_commands (message_id, saga_id, step, direction, pattern, attempt, outcome, request) VALUES ($1, $2, $3, 'action', $4, 1, $5, 'null')`, [
    commandMessageId({ sagaId, step, direction: 'action' }),
    sagaId,
    step,
    PATTERN,
    JSON.stringify(outcome),
  ]);
  await holder.query('COMMIT');
  expect(await pending).toMatchObject({ disposition: 'replayed', outcome });
  expect(ran).toBe(runsBefore);
});
