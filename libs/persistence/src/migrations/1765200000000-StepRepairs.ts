/**
 * What operator repairs leave on a step (docs/semantics.md S8): the attempts sent before a fresh
 * budget (`actionBudgetFrom`, `compensationBudgetFrom`) and the `manual` marker, as one jsonb
 * column that stays null on every step no operator touched.
 * Guarantees: matches SagaStepEntity's `repair` column; adding a nullable column rewrites no rows.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class StepRepairs1765200000000 implements MigrationInterface {
  name = 'StepRepairs1765200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE saga_steps ADD COLUMN repair jsonb');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE saga_steps DROP COLUMN IF EXISTS repair');
  }
}
