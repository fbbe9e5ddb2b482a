/**
 * Lets retention delete a finished saga's inbox keys by saga id (finished-saga-retention.ts)
 * without reading the whole inbox.
 * Guarantees: additive only (one index); down() drops it.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RetentionIndexes1765510000000 implements MigrationInterface {
  name = 'RetentionIndexes1765510000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE INDEX IF NOT EXISTS ix_saga_inbox_saga ON saga_inbox (saga_id)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX IF EXISTS ix_saga_inbox_saga');
  }
}
