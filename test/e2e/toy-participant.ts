/**
 * A participant built on the toolkit (ParticipantConsumer) for the poison-message e2e test:
 * queue `saga.toy`, action `toy.do` and its undo `toy.undo`, plus the `toy-flow` saga that uses
 * them, as JSON files for SAGA_DEFINITIONS_DIR.
 *
 * `toy.do` data is `{ mode, tag }`, checked by a hand-written schema (so the validation error
 * text is known): mode `ok` records an effect; `hold` waits until the test releases it;
 * `dangling` records an effect whose foreign key is checked at COMMIT (deferred) and missing, so
 * the database refuses every commit of that command: an infrastructure failure outside the
 * handler, on every delivery.
 *
 * Guarantees: its own database (created and dropped here) and the test's vhost; stop() stops
 * the consumer, closes the data source and drops the database.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineAction, defineCompensation, ok, ParticipantConsumer, PARTICIPANT_TOOLKIT_MIGRATIONS, type DataSchema } from '#saga/participant';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createTestDatabase } from '../support/infra';

export const TOY_QUEUE = 'saga.toy';
const MODES = ['ok', 'hold', 'dangling'] as const;
export type ToyMode = (typeof MODES)[number];
export interface ToyData {
  mode: ToyMode;
  tag: string;
}

export const TOY_MODE_ERROR = `mode must be one of ${MODES.join(', ')}`;

class ToyTables1763700000300 implements MigrationInterface {
  name = 'ToyTables1763700000300';
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE TABLE toy_refs (id text PRIMARY KEY)');
    await queryRunner.query(
      'CREATE TABLE toy_effects (tag text NOT NULL, step text NOT NULL, ref text, CONSTRAINT toy_effects_ref_fkey FOREIGN KEY (ref) REFERENCES toy_refs (id) DEFERRABLE INITIALLY DEFERRED)',
    );
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE toy_effects');
    await queryRunner.query('DROP TABLE toy_refs');
  }
}

const toyData: DataSchema<ToyData> = {
  parse(data: unknown): ToyData {
    const { mode, tag } = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
    if (!MODES.includes(mode as ToyMode)) throw new Error(TOY_MODE_ERROR);
    if (typeof tag !== 'string' || tag.length === 0) throw new Error('tag must be a non-empty string');
    return { mode: mode as ToyMode, tag };
  },
};

/** The toy-flow saga: `prepare` (toy.do ok, undone by toy.undo), then `finish` (toy.do with the input's mode). */
export function toyFlowDefinition(version: number): object {
  const retry = { maxAttempts: 1, backoff: { initialMs: 100, multiplier: 2, maxMs: 1000 } };
  return {
    name: 'toy-flow',
    version,
    inputSchema: { type: 'object', required: ['mode', 'tag'], properties: { mode: { type: 'string' }, tag: { type: 'string' } } },
    steps: [
      {
        name: 'prepare',
        action: { command: 'toy.do', payload: { mode: 'ok', tag: '$.input.tag' } },
        compensation: { command: 'toy.undo', payload: { tag: '$.input.tag' } },
        timeoutMs: 60_000,
        retry,
      },
      { name: 'finish', action: { command: 'toy.do', payload: { mode: '$.input.mode', tag: '$.input.tag' } }, timeoutMs: 60_000, retry },
    ],
  };
}

/** Writes the toy catalog and toy-flow@version into `folder` (created if missing). */
export async function writeToyDefinitions(folder: string, version: number): Promise<void> {
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'toy.participants.json'), JSON.stringify({ participants: { toy: { queue: TOY_QUEUE, commands: ['toy.do', 'toy.undo'] } } }));
  await writeFile(join(folder, 'toy-flow.saga.json'), JSON.stringify(toyFlowDefinition(version), null, 2));
}

export class ToyParticipant {
  /** Commands of mode `hold` wait for this; `holding` counts those waiting. */
  private gate: Promise<void> = Promise.resolve();
  private releaseGate: () => void = () => undefined;
  holding = 0;

  private constructor(
    private readonly dataSource: DataSource,
    private readonly dropDatabase: () => Promise<void>,
  ) {}

  private consumer!: ParticipantConsumer;

  static async start(runId: string, amqpUrl: string): Promise<ToyParticipant> {
    const database = await createTestDatabase(runId, 'toy');
    const dataSource = new DataSource({ type: 'postgres', url: database.url, migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS, ToyTables1763700000300] });
    await dataSource.initialize();
    await dataSource.runMigrations();
    const toy = new ToyParticipant(dataSource, database.drop);
    const doIt = defineAction<ToyData, { tag: string; step: string }>('toy.do', {
      schema: toyData,
      handle: async ({ mode, tag }, { manager, step }) => {
        if (mode === 'hold') {
          toy.holding += 1;
          await toy.gate;
        }
        await manager.query('INSERT INTO toy_effects (tag, step, ref) VALUES ($1, $2, $3)', [tag, step, mode === 'dangling' ? 'no-such-ref' : null]);
        return ok({ tag, step });
      },
    });
    const undo = defineCompensation<{ tag: string }, { undone: number }>('toy.undo', 'toy.do', {
      handle: async ({ tag }, { manager, step }) => {
        const [, undone] = (await manager.query('DELETE FROM toy_effects WHERE tag = $1 AND step = $2', [tag, step])) as [unknown, number];
        return ok({ undone });
      },
    });
    toy.consumer = await ParticipantConsumer.start({ amqpUrl, amqpPrefix: 'saga', queue: TOY_QUEUE, connectionName: 'toy-participant', dataSource, handlers: [doIt, undo] });
    return toy;
  }

  /** From now on, `hold` commands wait until release() is called. */
  hold(): void {
    this.gate = new Promise<void>((resolve) => (this.releaseGate = resolve));
  }

  release(): void {
    this.releaseGate();
  }

  async effects(tag: string): Promise<{ step: string; ref: string | null }[]> {
    return this.dataSource.query('SELECT step, ref FROM toy_effects WHERE tag = $1 ORDER BY step', [tag]);
  }

  /** Adds a row `dangling` commands refer to: from then on they commit. */
  async addRef(id: string): Promise<void> {
    await this.dataSource.query('INSERT INTO toy_refs (id) VALUES ($1) ON CONFLICT DO NOTHING', [id]);
  }

  async processed(messageId: string): Promise<{ outcome: unknown } | undefined> {
    const rows = (await this.dataSource.query('SELECT outcome FROM processed_commands WHERE message_id = $1', [messageId])) as { outcome: unknown }[];
    return rows[0];
  }

  async stop(): Promise<void> {
    this.release();
    await this.consumer?.stop().catch(() => undefined);
    await this.dataSource.destroy().catch(() => undefined);
    await this.dropDatabase();
  }
}
