/**
 * Retention of the participant's inbox (docs/operations.md "Retention"): `last_seen_at` is when the
 * command was last received (its first processing, or the latest duplicate, which refreshes it),
 * and the index lets the pruner find the records not seen for the retention window cheaply.
 *
 * Guarantees: additive; rows that exist already get the migration's time as their last sighting
 * (a full window from the upgrade, never less than they had); down() drops both.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ProcessedCommandsLastSeen1765510000000 implements MigrationInterface {
  name = 'ProcessedCommandsLastSeen1765510000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE processed_commands ADD COLUMN IF NOT EXISTS last_seen_at timestamptz NOT NULL DEFAULT now()');
    await queryRunner.query('CREATE INDEX IF NOT EXISTS ix_processed_commands_last_seen ON processed_commands (last_seen_at)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX IF EXISTS ix_processed_commands_last_seen');
    await queryRunner.query('ALTER TABLE processed_commands DROP COLUMN IF EXISTS last_seen_at');
  }
}
