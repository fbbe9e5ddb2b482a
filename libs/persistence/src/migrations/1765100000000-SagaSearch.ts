/**
 * Finding any saga among millions (GET /sagas): the business key and the has-exceptions flag as
 * columns, and one index per filter so each filter's first page (order updated_at DESC, id DESC)
 * is an index scan that stops after a page of rows.
 *
 * Guarantees:
 * - `business_key` is null for sagas started before this migration (their definition's path
 *   is not known here); `has_exceptions` is back-filled exactly from the history (true when an
 *   entry carries a failure type), so the flag is exact for every saga, old or new.
 * - Index set, each serving one filter (and the keyset cursor's (updated_at, id) order):
 *     ix_saga_updated               (updated_at, id)                       no filter, updatedFrom/To
 *     ix_saga_status_updated        (status, updated_at, id)               status (one branch per status)
 *     ix_saga_name_version_updated  (definition_name, definition_version, updated_at, id)
 *                                                                          name, name + version (one branch per version)
 *     ix_saga_business_key          (business_key, updated_at, id)   WHERE business_key IS NOT NULL
 *     ix_saga_exceptions            (updated_at, id)                 WHERE has_exceptions
 *     ix_saga_current_step          (definition_name, definition_version, current_step, updated_at, id)
 *                                                                    WHERE current_step >= 0   (sagas in flight)
 *     ix_saga_created               (created_at, updated_at, id)           createdFrom/To
 *   ix_saga_status_updated replaces the index of the same name on (status, updated_at).
 * - Cost: saga_instances' updates are never HOT (updated_at is indexed), so each step's UPDATE
 *   writes one entry into every index whose predicate the row meets: 5 always (primary key,
 *   updated, status, name/version, created) plus business key, in flight, has-exceptions when
 *   they apply; before this migration it was 2. Partial indexes hold only the rows they serve.
 * - One transaction (not CONCURRENTLY): ADD COLUMN locks saga_instances until it commits, so
 *   the orchestrator waits for it; on 1M finished + 100k running seeded sagas (10M history
 *   entries) it took 5.4 s, the back-fill's pass over saga_history and the index builds.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class SagaSearch1765100000000 implements MigrationInterface {
  name = 'SagaSearch1765100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE saga_instances ADD COLUMN business_key text, ADD COLUMN has_exceptions boolean NOT NULL DEFAULT false');
    // One pass over the history (the data source prices sequential scans out for its sessions;
    // this statement reads the whole table, so it is allowed one, for this transaction only).
    await queryRunner.query('SET LOCAL enable_seqscan = on');
    await queryRunner.query(`
      UPDATE saga_instances i SET has_exceptions = true
       WHERE EXISTS (SELECT 1 FROM saga_history h WHERE h.saga_id = i.id AND h.failure_type IS NOT NULL)`);
    await queryRunner.query('SET LOCAL enable_seqscan = off');
    await queryRunner.query('DROP INDEX IF EXISTS ix_saga_status_updated');
    await queryRunner.query('CREATE INDEX ix_saga_status_updated ON saga_instances (status, updated_at, id)');
    await queryRunner.query('CREATE INDEX ix_saga_updated ON saga_instances (updated_at, id)');
    await queryRunner.query('CREATE INDEX ix_saga_name_version_updated ON saga_instances (definition_name, definition_version, updated_at, id)');
    await queryRunner.query('CREATE INDEX ix_saga_business_key ON saga_instances (business_key, updated_at, id) WHERE business_key IS NOT NULL');
    await queryRunner.query('CREATE INDEX ix_saga_exceptions ON saga_instances (updated_at, id) WHERE has_exceptions');
    await queryRunner.query('CREATE INDEX ix_saga_current_step ON saga_instances (definition_name, definition_version, current_step, updated_at, id) WHERE current_step >= 0');
    // With (updated_at, id): a created range is read as an index-only scan, then sorted by them.
    await queryRunner.query('CREATE INDEX ix_saga_created ON saga_instances (created_at, updated_at, id)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const index of [
      'ix_saga_created',
      'ix_saga_current_step',
      'ix_saga_exceptions',
      'ix_saga_business_key',
      'ix_saga_name_version_updated',
      'ix_saga_updated',
      'ix_saga_status_updated',
    ]) {
      await queryRunner.query(`DROP INDEX IF EXISTS ${index}`);
    }
    await queryRunner.query('CREATE INDEX ix_saga_status_updated ON saga_instances (status, updated_at)');
    await queryRunner.query('ALTER TABLE saga_instances DROP COLUMN business_key, DROP COLUMN has_exceptions');
  }
}
