/**
 * Saga definitions stored in PostgreSQL, so every replica and every restart runs the same
 * versions; and the fingerprint of the definition each saga started on.
 *
 * Guarantees: (name, version) is the key and rows are never updated or deleted by the
 * application (a version is immutable); old saga rows keep a NULL fingerprint. The partial index
 * serves the one GROUP BY that finds unfinished sagas of a version this process has not loaded.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class StoredDefinitions1765400000000 implements MigrationInterface {
  name = 'StoredDefinitions1765400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE saga_definitions (
        name text NOT NULL,
        version int NOT NULL,
        fingerprint text NOT NULL,
        definition jsonb NOT NULL,
        source text NOT NULL,
        registered_by text NOT NULL,
        registered_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_saga_definitions PRIMARY KEY (name, version)
      )`);
    await queryRunner.query('ALTER TABLE saga_instances ADD COLUMN definition_fingerprint text');
    await queryRunner.query(`CREATE INDEX ix_saga_unfinished_definition ON saga_instances (definition_name, definition_version) WHERE status IN ('RUNNING', 'COMPENSATING')`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX IF EXISTS ix_saga_unfinished_definition');
    await queryRunner.query('ALTER TABLE saga_instances DROP COLUMN IF EXISTS definition_fingerprint');
    await queryRunner.query('DROP TABLE IF EXISTS saga_definitions');
  }
}
