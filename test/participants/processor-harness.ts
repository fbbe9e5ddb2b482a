/**
 * Test-side driver for the participant's CommandProcessor on its own, against real PostgreSQL
 * (no broker): builds each command exactly as the orchestrator publishes it (commandEnvelope)
 * and counts the SQL round trips the processor's connections make.
 *
 * Guarantees: a fresh database per test file, dropped by cleanup; the processor's DataSource has
 * a pool of ONE connection, so a connection left inside a transaction would break the next
 * command; the round-trip counter sees every query any pg Client sends, except the test's own
 * inspection client, and is removed by cleanup.
 */
import { PARTICIPANT_TOOLKIT_MIGRATIONS, type AmqpProperties } from '#saga/participant';
import { Client } from 'pg';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createTestDatabase, runId } from '../support/infra';
import { envelopeFor, type CommandSpec } from './harness';

class ProbeEffects1763700000200 implements MigrationInterface {
  name = 'ProbeEffects1763700000200';
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE TABLE probe_effects (saga_id text NOT NULL, note text NOT NULL)');
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE probe_effects');
  }
}

export interface ProcessorDb {
  dataSource: DataSource;
  /** The test's own connection, to look at tables; its queries are not counted. */
  db: Client;
  roundTrips: RoundTrips;
  cleanup(): Promise<void>;
}

/** A fresh database with processed_commands and probe_effects (saga_id, note). */
export async function openProcessorDb(label: string): Promise<ProcessorDb> {
  const database = await createTestDatabase(runId(), label);
  const dataSource = new DataSource({ type: 'postgres', url: database.url, migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS, ProbeEffects1763700000200], extra: { max: 1 } });
  await dataSource.initialize();
  await dataSource.runMigrations();
  const db = new Client({ connectionString: database.url });
  await db.connect();
  const roundTrips = RoundTrips.watch(db);
  return {
    dataSource,
    db,
    roundTrips,
    cleanup: async () => {
      roundTrips.stop();
      await dataSource.destroy();
      await db.end();
      await database.drop();
    },
  };
}

/** The body and AMQP properties of a command, as the orchestrator would publish it. */
export function commandMessage(spec: CommandSpec): [Buffer, AmqpProperties] {
  const envelope = envelopeFor(spec, 'probe.queue', 'probe.replies');
  return [Buffer.from(JSON.stringify(envelope.body)), envelope.properties];
}

/** Counts pg queries (one query = one round trip) and keeps their text. */
export class RoundTrips {
  readonly texts: string[] = [];
  private constructor(private readonly restore: () => void) {}

  static watch(ignore: Client): RoundTrips {
    const prototype = Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = prototype.query;
    const counter: RoundTrips = new RoundTrips(() => (prototype.query = original));
    prototype.query = function (this: Client, ...args: unknown[]) {
      if (this !== ignore) {
        const query = args[0] as string | { text?: string };
        counter.texts.push(typeof query === 'string' ? query : (query?.text ?? '?'));
      }
      return original.apply(this, args);
    };
    return counter;
  }

  /** The queries sent while `work` ran. */
  async during(work: () => Promise<unknown>): Promise<string[]> {
    const start = this.texts.length;
    await work();
    return this.texts.slice(start);
  }

  stop(): void {
    this.restore();
  }
}
