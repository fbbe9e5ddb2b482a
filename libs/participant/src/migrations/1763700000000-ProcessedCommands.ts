/**
 * The participant's inbox: one row per command message id it answered for good (docs/semantics.md S4).
 *
 * Guarantees: message_id (deterministic from saga id, step, direction) is the primary key, so a
 * command is recorded at most once; (saga_id, step, direction) is unique too, which is how an
 * action finds its compensation (the tombstone) and vice versa; only final answers are stored
 * (CHECK on outcome kind: success or failure, never retryable or expired).
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ProcessedCommands1763700000000 implements MigrationInterface {
  name = 'ProcessedCommands1763700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE processed_commands (
        message_id text PRIMARY KEY,
        saga_id    text NOT NULL,
        step       text NOT NULL,
        direction  text NOT NULL CHECK (direction IN ('action', 'compensation')),
        pattern    text NOT NULL,
        attempt    integer NOT NULL,
        outcome    jsonb NOT NULL CHECK (outcome->>'kind' IN ('success', 'failure')),
        request    jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT processed_commands_saga_step_direction UNIQUE (saga_id, step, direction)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE processed_commands');
  }
}
