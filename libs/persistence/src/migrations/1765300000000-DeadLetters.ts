/**
 * The dead letters the orchestrator takes from `<prefix>.dead-letter` (one row per parked
 * message) and the audit of what operators did with them.
 *
 * Guarantees: `message_key` is unique, so a message the queue redelivers (or a second replica
 * takes) is one row; `state` is parked | replayed | discarded and only moves away from parked;
 * an audit row names an existing dead letter. Indexes serve the list's filters, each in the
 * list's keyset order (id descending): by state, by source queue, by saga.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class DeadLetters1765300000000 implements MigrationInterface {
  name = 'DeadLetters1765300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE dead_letters (
        id bigserial PRIMARY KEY,
        message_key text NOT NULL CONSTRAINT uq_dead_letters_message_key UNIQUE,
        source_queue text,
        reason text,
        reason_origin text NOT NULL CONSTRAINT ck_dead_letters_reason_origin CHECK (reason_origin IN ('ours', 'broker', 'unknown')),
        death_count int,
        saga_id text,
        step text,
        direction text,
        attempt int,
        kind text NOT NULL CONSTRAINT ck_dead_letters_kind CHECK (kind IN ('command', 'reply', 'unknown')),
        pattern text,
        message_id text,
        correlation_id text,
        content_type text,
        properties jsonb NOT NULL,
        headers jsonb,
        body bytea NOT NULL,
        replay_of bigint,
        storage_note text,
        dead_lettered_at timestamptz NOT NULL,
        stored_at timestamptz NOT NULL,
        state text NOT NULL DEFAULT 'parked' CONSTRAINT ck_dead_letters_state CHECK (state IN ('parked', 'replayed', 'discarded')),
        resolved_by text,
        resolved_at timestamptz,
        resolved_reason text,
        saga_noted boolean NOT NULL DEFAULT false
      )`);
    await queryRunner.query(`CREATE INDEX ix_dead_letters_state ON dead_letters (state, id)`);
    await queryRunner.query(`CREATE INDEX ix_dead_letters_source ON dead_letters (source_queue, id)`);
    await queryRunner.query(`CREATE INDEX ix_dead_letters_saga ON dead_letters (saga_id, id) WHERE saga_id IS NOT NULL`);
    await queryRunner.query(`
      CREATE TABLE dead_letter_actions (
        id bigserial PRIMARY KEY,
        dead_letter_id bigint NOT NULL REFERENCES dead_letters (id),
        action text NOT NULL CONSTRAINT ck_dead_letter_actions_action CHECK (action IN ('replay', 'discard')),
        actor text NOT NULL,
        reason text NOT NULL,
        at timestamptz NOT NULL,
        outcome text NOT NULL,
        detail text
      )`);
    await queryRunner.query(`CREATE INDEX ix_dead_letter_actions_dead_letter ON dead_letter_actions (dead_letter_id, id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE IF EXISTS dead_letter_actions');
    await queryRunner.query('DROP TABLE IF EXISTS dead_letters');
  }
}
