/**
 * Creates the orchestrator's tables: instances, steps, history, outbox, inbox, timers.
 * Guarantees: matches the entities in ../entities (synchronize is never used), plus a foreign
 * key from saga_steps to saga_instances that the entities do not model.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateSagaTables1763700000000 implements MigrationInterface {
  name = 'CreateSagaTables1763700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE saga_instances (
        id uuid PRIMARY KEY,
        definition_name text NOT NULL,
        definition_version int NOT NULL,
        status text NOT NULL,
        input jsonb NOT NULL,
        current_step int NOT NULL,
        past_pivot boolean NOT NULL,
        failure jsonb,
        idempotency_key text,
        input_hash text NOT NULL,
        version int NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX uq_saga_idempotency ON saga_instances (definition_name, idempotency_key) WHERE idempotency_key IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX ix_saga_status_updated ON saga_instances (status, updated_at)`);
    await queryRunner.query(`
      CREATE TABLE saga_steps (
        saga_id uuid NOT NULL REFERENCES saga_instances (id) ON DELETE CASCADE,
        position int NOT NULL,
        name text NOT NULL,
        status text NOT NULL,
        attempt int NOT NULL,
        compensation_attempt int NOT NULL,
        waiting_for_retry boolean NOT NULL,
        request jsonb,
        result jsonb,
        last_error jsonb,
        started_at timestamptz,
        finished_at timestamptz,
        PRIMARY KEY (saga_id, position)
      )`);
    await queryRunner.query(`
      CREATE TABLE saga_history (
        id bigserial PRIMARY KEY,
        saga_id uuid NOT NULL,
        type text NOT NULL,
        failure_type text CONSTRAINT ck_saga_history_failure_type CHECK ("failure_type" IN ('timeout', 'business', 'retryable', 'expired', 'malformed', 'duplicate', 'late', 'operator')),
        at timestamptz NOT NULL,
        step text,
        direction text,
        attempt int,
        reason text,
        detail jsonb
      )`);
    await queryRunner.query(`CREATE INDEX ix_saga_history_saga ON saga_history (saga_id, id)`);
    await queryRunner.query(`
      CREATE TABLE saga_outbox (
        id bigserial PRIMARY KEY,
        saga_id uuid NOT NULL,
        queue text NOT NULL,
        body jsonb NOT NULL,
        properties jsonb NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`
      CREATE TABLE saga_inbox (
        message_key text PRIMARY KEY,
        saga_id uuid NOT NULL,
        received_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`
      CREATE TABLE saga_timers (
        id text PRIMARY KEY,
        saga_id uuid NOT NULL,
        fire_at timestamptz NOT NULL,
        event jsonb NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX ix_saga_timers_fire_at ON saga_timers (fire_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['saga_timers', 'saga_inbox', 'saga_outbox', 'saga_history', 'saga_steps', 'saga_instances']) {
      await queryRunner.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
