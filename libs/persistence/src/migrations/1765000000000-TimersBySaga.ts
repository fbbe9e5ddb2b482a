/**
 * An index of the pending timers by saga, so `GET /sagas/{id}` can show what a saga waits for
 * (which timer fires when) without scanning every pending timer.
 * Guarantees: matches SagaTimerEntity's @Index; the table only ever holds pending timers, so the
 * index stays as small as the table.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class TimersBySaga1765000000000 implements MigrationInterface {
  name = 'TimersBySaga1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE INDEX ix_saga_timers_saga ON saga_timers (saga_id)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX IF EXISTS ix_saga_timers_saga');
  }
}
