/**
 * Group commit in the participant toolkit, against real PostgreSQL (and RabbitMQ for the
 * consumer): a batch of commands in ONE transaction gives every command exactly the reply,
 * effects and dedupe record it gets on its own; it costs one commit and fewer round trips; a
 * batch that cannot commit keeps nothing, and its commands then succeed or fail one by one.
 */
import { commandMessageId, SagaHeaders, type Direction } from '#saga/core';
import {
  CommandProcessor,
  defineAction,
  defineCompensation,
  fail,
  HandlerRegistry,
  ok,
  ParticipantConfigError,
  ParticipantConsumer,
  retry,
  type AcceptedCommand,
  type ProcessResult,
} from '#saga/participant';
import type { EntityManager } from 'typeorm';
import { z } from 'zod';
import { AmqpHarness, type CommandSpec } from './harness';
import { commandMessage, openProcessorDb, type ProcessorDb } from './processor-harness';
import { createTestVhost, runId, waitFor } from '../support/infra';

let env: ProcessorDb;
let processor: CommandProcessor;
const gates = new Map<string, Promise<void>>();

const effect = (manager: EntityManager, sagaId: string, note: string) => manager.query('INSERT INTO probe_effects (saga_id, note) VALUES ($1, $2)', [sagaId, note]);

const act = defineAction<{ mode: string }, unknown>('batch.act', {
  schema: z.object({ mode: z.string() }),
  handle: async ({ mode }, { manager, query, sagaId, attempt }) => {
    if (mode === 'gate') await gates.get(sagaId);
    // 'write' goes through context.query (the savepoint switch rides along with it); the other
    // writing modes through TypeORM's manager (the switch is sent just before).
    if (mode === 'write') await query('INSERT INTO probe_effects (saga_id, note) VALUES ($1, $2)', [sagaId, 'act']);
    else if (mode !== 'noop') await effect(manager, sagaId, 'act');
    switch (mode) {
      case 'fail':
        return fail('NOPE', 'business says no');
      case 'retry':
        return retry('BUSY', 'try later');
      case 'throw':
        throw new Error('boom');
      case 'nested':
        await manager.transaction((inner) => effect(inner, sagaId, 'nested'));
        return ok({ nested: true });
      case 'aborted':
        await manager.query('SELECT 1 / 0').catch(() => undefined); // leaves the transaction aborted, then claims success
        return ok({ done: true });
      default:
        return ok({ mode, attempt });
    }
  },
});

const undo = defineCompensation('batch.undo', 'batch.act', {
  handle: async (_data: unknown, { manager, sagaId, action }) => {
    await effect(manager, sagaId, 'undo');
    return ok({ undid: action.result });
  },
});

beforeAll(async () => {
  env = await openProcessorDb('batches');
  processor = new CommandProcessor({ dataSource: env.dataSource, handlers: new HandlerRegistry([act, undo]) });
});

afterAll(async () => {
  await env?.cleanup();
});

let counter = 0;
const LONG_EXPIRED = Date.now() - 60_000; // one instant, so replies naming it compare equal
const action = (mode: unknown, extra: Partial<CommandSpec> = {}): CommandSpec => ({
  sagaId: `b-${++counter}`,
  step: 'act',
  direction: 'action',
  pattern: 'batch.act',
  data: { mode },
  ...extra,
});
const compensation = (sagaId: string): CommandSpec => ({ sagaId, step: 'act', direction: 'compensation', pattern: 'batch.undo', data: null });

function accepted(spec: CommandSpec): AcceptedCommand {
  const result = processor.accept(...commandMessage(spec));
  if (result.kind !== 'accepted') throw new Error(`not accepted: ${result.reason}`);
  return result;
}

async function effects(sagaId: string): Promise<string[]> {
  const { rows } = await env.db.query('SELECT note FROM probe_effects WHERE saga_id = $1 ORDER BY note', [sagaId]);
  return rows.map((row) => row.note as string);
}

async function stored(sagaId: string, direction: Direction): Promise<unknown> {
  const { rows } = await env.db.query('SELECT outcome FROM processed_commands WHERE message_id = $1', [commandMessageId({ sagaId, step: 'act', direction })]);
  return rows[0]?.outcome ?? null;
}

/** How many transactions wrote the dedupe records of these commands. */
async function transactionsOf(specs: CommandSpec[]): Promise<number> {
  const { rows } = await env.db.query('SELECT count(DISTINCT xmin::text)::int AS n FROM processed_commands WHERE saga_id = ANY($1)', [specs.map((spec) => spec.sagaId)]);
  return rows[0].n as number;
}

/** What a command's processing amounts to, with its saga id left out so two sagas compare. */
async function observed(spec: CommandSpec, result: ProcessResult) {
  const reply = result.kind === 'reply' ? { disposition: result.disposition, outcome: result.outcome, deadLetter: result.deadLetterReason ?? null } : result;
  return { reply, effects: await effects(spec.sagaId), action: await stored(spec.sagaId, 'action'), compensation: await stored(spec.sagaId, 'compensation') };
}

/** One scenario per entry: what runs before (on its own) and the command under test. */
const scenarios: Record<string, () => { before: CommandSpec[]; command: CommandSpec }> = {
  applied: () => ({ before: [], command: action('write') }),
  'applied through the manager': () => ({ before: [], command: action('manager') }),
  'applied without SQL': () => ({ before: [], command: action('noop') }),
  'business failure': () => ({ before: [], command: action('fail') }),
  'handler threw': () => ({ before: [], command: action('throw') }),
  retryable: () => ({ before: [], command: action('retry') }),
  expired: () => ({ before: [], command: action('write', { expiresAt: LONG_EXPIRED }) }),
  'invalid data': () => ({ before: [], command: action(42) }),
  'nested transaction': () => ({ before: [], command: action('nested') }),
  duplicate: () => {
    const command = action('write');
    return { before: [command], command };
  },
  'undo of an applied action': () => {
    const done = action('write');
    return { before: [done], command: compensation(done.sagaId) };
  },
  'undo of a failed action': () => {
    const done = action('fail');
    return { before: [done], command: compensation(done.sagaId) };
  },
  'undo before its action (tombstone)': () => ({ before: [], command: compensation(`b-${++counter}`) }),
  'action after its tombstone': () => {
    const sagaId = `b-${++counter}`;
    return { before: [compensation(sagaId)], command: action('write', { sagaId }) };
  },
};

describe('a batch', () => {
  it('gives every command the reply, effects and record it gets on its own', async () => {
    const names = Object.keys(scenarios);
    const alone = names.map((name) => scenarios[name]());
    const together = names.map((name) => scenarios[name]());
    for (const { before } of [...alone, ...together]) for (const spec of before) await processor.process(...commandMessage(spec));

    const single: unknown[] = [];
    for (const { command } of alone) single.push(await observed(command, await processor.process(...commandMessage(command))));
    const results = await processor.processBatch(together.map(({ command }) => accepted(command)));
    const batched: unknown[] = [];
    for (const [index, { command }] of together.entries()) batched.push(await observed(command, results[index]));

    const byName = (list: unknown[]) => Object.fromEntries(names.map((name, index) => [name, list[index]]));
    expect(byName(batched)).toEqual(byName(single));
    // And the shared view is the one each path is meant to give (a few spot checks).
    expect(byName(batched)).toMatchObject({
      applied: { reply: { disposition: 'applied' }, effects: ['act'] },
      'business failure': { reply: { disposition: 'failed' }, effects: [], action: { kind: 'failure', code: 'NOPE' } },
      'handler threw': { reply: { disposition: 'rolled-back', outcome: { kind: 'retryable' } }, effects: [], action: null },
      expired: { reply: { disposition: 'expired' }, effects: [], action: null },
      'invalid data': { reply: { disposition: 'failed', deadLetter: expect.stringContaining('INVALID_COMMAND') }, effects: [] },
      duplicate: { reply: { disposition: 'replayed' }, effects: ['act'] },
      'undo of an applied action': { reply: { disposition: 'applied' }, effects: ['act', 'undo'] },
      'action after its tombstone': { reply: { disposition: 'recorded', outcome: { kind: 'failure', code: 'ALREADY_COMPENSATED' } }, effects: [] },
    });
  });

  it('commits once, in fewer round trips than one transaction per command', async () => {
    await processor.processBatch([action('write'), action('write')].map(accepted)); // this connection has prepared everything
    const measure = async (mode: string) => {
      const specs = Array.from({ length: 10 }, () => action(mode));
      let results: ProcessResult[] = [];
      const queries = await env.roundTrips.during(async () => (results = await processor.processBatch(specs.map(accepted))));
      expect(results.map((result) => (result.kind === 'reply' ? result.disposition : result.kind))).toEqual(Array(10).fill('applied'));
      expect(queries.filter((text) => /\bCOMMIT\b/.test(text))).toHaveLength(1);
      expect(await transactionsOf(specs)).toBe(1);
      for (const spec of specs) expect(await effects(spec.sagaId)).toEqual(['act']);
      return queries;
    };
    // BEGIN + locks + lookups + savepoint; one statement per handler, from the second on carrying
    // the savepoint switch; records + COMMIT. One transaction per command would be 3 each: 30.
    const folded = await measure('write');
    expect(folded).toHaveLength(1 + 10 + 1);
    expect(folded.filter((text) => text.startsWith('RELEASE SAVEPOINT participant_handler;\nSAVEPOINT participant_handler;\nEXECUTE f_'))).toHaveLength(9);
    // Through TypeORM's manager the switch cannot ride along: a round trip of its own.
    expect(await measure('manager')).toHaveLength(1 + 10 + 9 + 1);
  });

  it('keeps nothing when it cannot commit; its commands then stand or fall one by one', async () => {
    const specs = [action('write'), action('aborted'), action('write')];
    await expect(processor.processBatch(specs.map(accepted))).rejects.toThrow('the savepoint before "batch.act" was not confirmed'); // the next command's statement failed to carry it
    for (const spec of specs) {
      expect(await effects(spec.sagaId)).toEqual([]);
      expect(await stored(spec.sagaId, 'action')).toBeNull();
    }
    const alone = await Promise.allSettled(specs.map((spec) => processor.process(...commandMessage(spec))));
    expect(alone.map((settled) => (settled.status === 'fulfilled' && settled.value.kind === 'reply' ? settled.value.disposition : settled.status))).toEqual([
      'applied',
      'rejected',
      'applied',
    ]);
  });

  it('refuses two commands for one (saga id, step), and more than it can hold', async () => {
    const spec = action('write');
    await expect(processor.processBatch([accepted(spec), accepted(compensation(spec.sagaId))])).rejects.toThrow('at most one command per (saga id, step)');
    await expect(processor.processBatch(Array.from({ length: 33 }, () => accepted(action('write'))))).rejects.toThrow('at most 32 commands');
    expect(await effects(spec.sagaId)).toEqual([]);
  });
});

describe('the consumer', () => {
  let amqp: AmqpHarness;
  let consumer: ParticipantConsumer;
  let dropVhost: () => Promise<void>;
  let amqpUrl: string;
  const queue = 'batch.queue';

  beforeAll(async () => {
    const vhost = await createTestVhost(runId());
    dropVhost = vhost.drop;
    amqpUrl = vhost.url;
    consumer = await ParticipantConsumer.start({ amqpUrl, amqpPrefix: 'batch', queue, connectionName: 'batches-test', dataSource: env.dataSource, handlers: [act, undo] });
    amqp = await AmqpHarness.open(amqpUrl, 'batch');
  });

  afterAll(async () => {
    await amqp?.close();
    await consumer?.stop().catch(() => undefined);
    await dropVhost?.();
  });

  /** Sends a command whose handler waits at a gate, and resolves once its batch holds its
   *  transaction open: whatever arrives meanwhile waits for the next batch. */
  async function holdABatchOpen(): Promise<{ firstReply: string; open: () => void }> {
    const first = action('gate');
    let open!: () => void;
    gates.set(first.sagaId, new Promise<void>((resolve) => (open = resolve)));
    const firstReply = await amqp.send(queue, first);
    await waitFor(
      async () => (await env.db.query('SELECT 1 FROM pg_stat_activity WHERE state = $1 AND query LIKE $2', ['idle in transaction', '%toolkit%'])).rowCount,
      'the first batch to hold its transaction open',
    );
    return { firstReply, open };
  }

  it('commits the commands that arrive during a batch together, and one bad command fails alone', async () => {
    const { firstReply, open } = await holdABatchOpen();
    const waiting = Array.from({ length: 12 }, (_, index) => action(index === 5 ? 'aborted' : 'write'));
    const replies = await Promise.all(waiting.map((spec) => amqp.send(queue, spec)));
    await new Promise((resolve) => setTimeout(resolve, 300)); // let them all arrive while the batch waits
    open();
    expect((await amqp.reply(firstReply)).classified.kind).toBe('success');
    const good = waiting.filter((_, index) => index !== 5);
    for (const [index, spec] of waiting.entries()) {
      if (index === 5) continue;
      expect((await amqp.reply(replies[index])).classified.kind).toBe('success');
      expect(await effects(spec.sagaId)).toEqual(['act']);
    }
    const parked = await amqp.nextDeadLetter(30_000); // it keeps failing on its own, never answered
    expect(String(parked.properties.headers?.[SagaHeaders.deadLetterReason])).toMatch(/^processing failed on 5 deliveries: .*current transaction is aborted/);
    expect(amqp.repliesFor(replies[5])).toEqual([]);
    // The batch failed once because of the bad command; the others then committed one by one
    // (11 transactions). Without the bad command they share one: see the next test.
    expect(await transactionsOf(good)).toBe(11);
  });

  it('answers a burst with fewer transactions than commands', async () => {
    const { firstReply, open } = await holdABatchOpen();
    const burst = Array.from({ length: 20 }, () => action('write'));
    const replies = await Promise.all(burst.map((spec) => amqp.send(queue, spec)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    open();
    await amqp.reply(firstReply);
    for (const correlationId of replies) expect((await amqp.reply(correlationId)).classified.kind).toBe('success');
    expect(await transactionsOf(burst)).toBe(1);
  });

  it('refuses a batch size it cannot honour', async () => {
    await expect(
      ParticipantConsumer.start({ amqpUrl, amqpPrefix: 'batch', queue, connectionName: 'batches-bad', dataSource: env.dataSource, handlers: [act, undo], maxBatchSize: 33 }),
    ).rejects.toThrow(ParticipantConfigError);
  });
});
